"""The shared record (DMP-like): documents, consent, access control, audit trail."""
