"""Coordination services: patients, professionals, médecin traitant declarations, referrals, téléexpertise, claims."""
