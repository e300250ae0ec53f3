"""French labels of the codes the spaces show (specialties, professions, states), as Jinja filters."""

from __future__ import annotations

SPECIALTIES = {
    "general_practice": "médecine générale", "gynecology": "gynécologie", "ophthalmology": "ophtalmologie",
    "psychiatry": "psychiatrie", "neuropsychiatry": "neuropsychiatrie", "neurology": "neurologie",
    "pediatrics": "pédiatrie", "stomatology": "stomatologie", "oral_surgery": "chirurgie orale",
    "maxillofacial_surgery": "chirurgie maxillo-faciale", "cardiology": "cardiologie", "dermatology": "dermatologie",
    "geriatrics": "gériatrie", "radiology": "radiologie", "medical_biology": "biologie médicale",
    "anatomopathology": "anatomopathologie", "genetics": "génétique", "other": "autre spécialité",
}  # fmt: skip
PROFESSIONS = {"physician": "médecin", "dentist": "chirurgien-dentiste", "midwife": "sage-femme",
               "nurse": "infirmier(ère)", "physiotherapist": "masseur-kinésithérapeute"}  # fmt: skip
REFERRAL_STATES = {"requested": "demandé", "accepted": "accepté", "seen": "patient vu", "closed": "clos (compte rendu reçu)",
                   "cancelled": "annulé"}  # fmt: skip
TELEEXPERTISE_STATES = {"requested": "en attente de réponse", "answered": "répondue", "cancelled": "annulée",
                        "expired": "sans réponse dans le délai"}  # fmt: skip
CLAIM_STATES = {"paid": "payée", "rejected": "refusée", "cancelled": "annulée", "replaced": "remplacée"}
URGENCY = {"routine": "normale", "urgent": "urgente"}
ACTIONS = {"read": "consultation", "write": "écriture"}
ROLES = {"patient": "patient", "professional": "professionnel de santé", "insurer_agent": "agent de l'assurance",
         "administrator": "administrateur", "system": "système"}  # fmt: skip


def label(table: dict[str, str]) -> object:
    def lookup(code: str | None) -> str:
        return "" if code is None else table.get(code, code)

    return lookup


FILTERS = {
    "specialty_fr": label(SPECIALTIES),
    "profession_fr": label(PROFESSIONS),
    "referral_state_fr": label(REFERRAL_STATES),
    "te_state_fr": label(TELEEXPERTISE_STATES),
    "claim_state_fr": label(CLAIM_STATES),
    "urgency_fr": label(URGENCY),
    "action_fr": label(ACTIONS),
    "role_fr": label(ROLES),
}
# short labels of the engine's refusal codes (the full French text is the claim's explanation step)
REFUSAL_REASONS = {
    "teleconsultation_not_oriented": "Téléconsultation sans orientation du médecin traitant",
    "teleconsultation_unknown_patient": "Téléconsultation : patient non connu du médecin",
    "early_renewal": "Renouvellement anticipé d'un équipement",
    "teleexpertise_yearly_limit": "Limite annuelle de téléexpertises atteinte",
    "age_condition": "Acte réservé à une autre tranche d'âge",
    "psychology_yearly_limit": "Mon soutien psy : limite annuelle de séances atteinte",
    "psychology_not_referred": "Mon soutien psy : séance sans orientation d'un médecin",
    "psychology_age": "Mon soutien psy : patient de moins de 3 ans",
}
RESOURCE_TYPES = {
    "DocumentReference": "document", "AllergyIntolerance": "allergie", "MedicationStatement": "traitement",
    "Condition": "antécédent", "Immunization": "vaccination", "Observation": "mesure ou résultat",
    "Bundle": "liste des entrées du dossier", "AuditEvent": "historique des accès", "RecordControl": "réglages du dossier",
    "Consent": "consentement", "GpDeclaration": "déclaration de médecin traitant", "Patient": "fiche patient",
    "Claim": "feuille de soins", "ServiceRequest": "adressage ou téléexpertise", "EmergencyAccess": "accès en urgence",
    "Practitioner": "professionnel",
}  # fmt: skip
FILTERS["resource_fr"] = label(RESOURCE_TYPES)
