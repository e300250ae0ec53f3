"""Complementary health contracts (mutuelles): guarantees as data, the contrat responsable rules, and the split of
what the Assurance Maladie left to the patient between the contract (``amc``) and the patient (``out_of_pocket``)."""
