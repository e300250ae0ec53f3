"""HTTP interface: FastAPI routers (thin, over the services) and HL7 FHIR R4 views."""
