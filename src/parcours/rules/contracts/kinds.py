"""Kinds of care as contracts write them (tableau de garanties), and how an adjudicated line falls into one."""

from __future__ import annotations

from enum import StrEnum

from parcours.rules.catalogue import Category, Profession
from parcours.rules.event import CareEvent, Specialty
from parcours.rules.result import Line


class CareKind(StrEnum):
    GP_CONSULTATION = "gp_consultation"
    SPECIALIST_CONSULTATION = "specialist_consultation"
    TELECONSULTATION = "teleconsultation"
    TELEEXPERTISE = "teleexpertise"
    PHARMACY_FULL = "pharmacy_full"
    PHARMACY_MAJOR = "pharmacy_major"
    PHARMACY_MODERATE = "pharmacy_moderate"
    PHARMACY_LOW = "pharmacy_low"
    BIOLOGY = "biology"
    AUXILIARIES = "auxiliaries"
    DENTAL_CARE = "dental_care"
    DENTAL_PROSTHESIS_RAC0 = "dental_prosthesis_rac0"
    DENTAL_PROSTHESIS_MODERATE = "dental_prosthesis_moderate"
    DENTAL_PROSTHESIS_FREE = "dental_prosthesis_free"
    OPTICS_CLASS_A = "optics_class_a"
    OPTICS_CLASS_B = "optics_class_b"
    HEARING_CLASS_I = "hearing_class_i"
    HEARING_CLASS_II = "hearing_class_ii"
    HOSPITAL_FEES = "hospital_fees"
    DAILY_CHARGE = "daily_charge"
    PRIVATE_ROOM = "private_room"
    EMERGENCY_FLAT_FEE = "emergency_flat_fee"
    TRANSPORT = "transport"


LABELS = {
    CareKind.GP_CONSULTATION: "Consultation du médecin généraliste",
    CareKind.SPECIALIST_CONSULTATION: "Consultation d'un spécialiste",
    CareKind.TELECONSULTATION: "Téléconsultation",
    CareKind.TELEEXPERTISE: "Téléexpertise",
    CareKind.PHARMACY_FULL: "Médicaments remboursés à 100 %",
    CareKind.PHARMACY_MAJOR: "Médicaments remboursés à 65 %",
    CareKind.PHARMACY_MODERATE: "Médicaments remboursés à 30 %",
    CareKind.PHARMACY_LOW: "Médicaments remboursés à 15 %",
    CareKind.BIOLOGY: "Analyses de biologie",
    CareKind.AUXILIARIES: "Auxiliaires médicaux (infirmier, kinésithérapeute…)",
    CareKind.DENTAL_CARE: "Soins dentaires",
    CareKind.DENTAL_PROSTHESIS_RAC0: "Prothèses dentaires 100 % Santé",
    CareKind.DENTAL_PROSTHESIS_MODERATE: "Prothèses dentaires à tarifs maîtrisés",
    CareKind.DENTAL_PROSTHESIS_FREE: "Prothèses dentaires à tarifs libres",
    CareKind.OPTICS_CLASS_A: "Optique 100 % Santé (classe A)",
    CareKind.OPTICS_CLASS_B: "Optique à prix libres (classe B)",
    CareKind.HEARING_CLASS_I: "Aides auditives 100 % Santé (classe I)",
    CareKind.HEARING_CLASS_II: "Aides auditives à prix libres (classe II)",
    CareKind.HOSPITAL_FEES: "Hospitalisation : frais de séjour et honoraires",
    CareKind.DAILY_CHARGE: "Forfait journalier hospitalier",
    CareKind.PRIVATE_ROOM: "Chambre particulière",
    CareKind.EMERGENCY_FLAT_FEE: "Forfait patient urgences",
    CareKind.TRANSPORT: "Transport sanitaire",
}

# The baskets where the law leaves nothing to pay under a contrat responsable (100 % Santé, forfait journalier).
ZERO_REMAINDER = frozenset(
    {
        CareKind.DENTAL_PROSTHESIS_RAC0,
        CareKind.OPTICS_CLASS_A,
        CareKind.HEARING_CLASS_I,
        CareKind.DAILY_CHARGE,
        CareKind.EMERGENCY_FLAT_FEE,
    }
)
# Kinds of care whose ticket modérateur a contrat responsable may leave to the patient: drugs at 15 % (R871-2 1°,
# mapping of its exclusions unconfirmed), téléexpertise (paid 100 % by the Sécurité sociale) and the private room
# (no base, no ticket modérateur). Transport is not among the R871-2 exclusions: its TM is due.
TM_OPTIONAL = frozenset({CareKind.PHARMACY_LOW, CareKind.TELEEXPERTISE, CareKind.PRIVATE_ROOM})
DOCTORS_FEES = frozenset(
    {
        CareKind.GP_CONSULTATION,
        CareKind.SPECIALIST_CONSULTATION,
        CareKind.TELECONSULTATION,
        CareKind.HOSPITAL_FEES,
    }
)
PHARMACY_KINDS = {
    "PH1": CareKind.PHARMACY_FULL,
    "PH7": CareKind.PHARMACY_MAJOR,
    "PH4": CareKind.PHARMACY_MODERATE,
    "PH2": CareKind.PHARMACY_LOW,
}
_PROSTHESIS = {
    "rac0": CareKind.DENTAL_PROSTHESIS_RAC0,
    "moderate": CareKind.DENTAL_PROSTHESIS_MODERATE,
    "free": CareKind.DENTAL_PROSTHESIS_FREE,
}
CATEGORY_KINDS = {
    Category.TELEEXPERTISE: CareKind.TELEEXPERTISE,
    Category.BIOLOGY: CareKind.BIOLOGY,
    Category.PARAMEDICAL: CareKind.AUXILIARIES,
    Category.DENTAL_CARE: CareKind.DENTAL_CARE,
    Category.PRIVATE_ROOM: CareKind.PRIVATE_ROOM,
    Category.EMERGENCY_VISIT: CareKind.EMERGENCY_FLAT_FEE,
    Category.TRANSPORT: CareKind.TRANSPORT,
    # Mon soutien psy: contracts' tables of guarantees have no line of their own for it yet; its ticket modérateur
    # is paid as the auxiliaries' one (docs/contracts.md).
    Category.PSYCHOLOGY: CareKind.AUXILIARIES,
}


def kind_of(line: Line, event: CareEvent) -> CareKind:
    category = line.category
    if category in CATEGORY_KINDS:
        return CATEGORY_KINDS[category]
    if category is Category.TECHNICAL_ACT:
        # Contracts write doctors' fees (consultations and technical acts) as one line: the GP's or the specialist's.
        if event.professional.specialty is Specialty.GENERAL_PRACTICE:
            return CareKind.GP_CONSULTATION
        return CareKind.SPECIALIST_CONSULTATION
    if category is Category.CONSULTATION:
        if event.professional.profession is Profession.DENTIST:
            return CareKind.DENTAL_CARE
        if event.teleconsultation:
            return CareKind.TELECONSULTATION
        if event.professional.specialty is Specialty.GENERAL_PRACTICE:
            return CareKind.GP_CONSULTATION
        return CareKind.SPECIALIST_CONSULTATION
    if category is Category.MEDICINE:
        return PHARMACY_KINDS.get(line.code, CareKind.PHARMACY_MAJOR)
    if category is Category.DENTAL_PROSTHESIS:
        return _PROSTHESIS[line.attributes.get("basket", "free")]
    if category is Category.OPTICS:
        return CareKind.OPTICS_CLASS_A if line.attributes.get("device_class") == "A" else CareKind.OPTICS_CLASS_B
    if category is Category.AUDIOLOGY:
        return CareKind.HEARING_CLASS_I if line.attributes.get("device_class") == "I" else CareKind.HEARING_CLASS_II
    if category is Category.HOSPITAL_STAY:
        return CareKind.DAILY_CHARGE if line.attributes.get("daily_charge") else CareKind.HOSPITAL_FEES
    raise ValueError(f"no kind of care for category {category}")
