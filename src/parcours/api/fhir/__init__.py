"""HL7 FHIR R4 (R4B models) views of parcours, served by the RESTful API at ``/fhir``."""
