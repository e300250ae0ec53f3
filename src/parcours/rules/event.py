"""The facts of a care event, as the rules need them, and the patient's year-to-date state.

These models are the input contract of the engine (CLI ``simulate``, the claims service, the web simulator).
Validation errors name the field (``patient.gp``, ``acts.0.code``) so that a caller can say what is wrong.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    field_validator,
    model_validator,
)

from parcours.rules.catalogue import Profession
from parcours.rules.identifiers import validate_rpps

Rpps = Annotated[str, AfterValidator(validate_rpps)]
Euros = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]


class Specialty(StrEnum):
    GENERAL_PRACTICE = "general_practice"
    GYNECOLOGY = "gynecology"
    OPHTHALMOLOGY = "ophthalmology"
    PSYCHIATRY = "psychiatry"
    NEUROPSYCHIATRY = "neuropsychiatry"
    NEUROLOGY = "neurology"
    PEDIATRICS = "pediatrics"
    STOMATOLOGY = "stomatology"
    ORAL_SURGERY = "oral_surgery"
    MAXILLOFACIAL_SURGERY = "maxillofacial_surgery"
    CARDIOLOGY = "cardiology"
    DERMATOLOGY = "dermatology"
    GERIATRICS = "geriatrics"
    RADIOLOGY = "radiology"
    MEDICAL_BIOLOGY = "medical_biology"
    ANATOMOPATHOLOGY = "anatomopathology"
    GENETICS = "genetics"
    OTHER = "other"


class Regime(StrEnum):
    GENERAL = "general"
    AME = "ame"
    MAYOTTE = "mayotte"
    FOREIGN_VISITOR = "foreign_visitor"
    ALSACE_MOSELLE = "alsace_moselle"  # régime local: higher rates (regimes.alsace_moselle)
    # Out of scope (regimes.out_of_scope): named so that the engine refuses them clearly (docs/rules.md, Scope).
    MINES = "mines"
    SNCF = "sncf"
    RATP = "ratp"
    CAMIEG = "camieg"
    ENIM = "enim"
    CRPCEN = "crpcen"
    BANQUE_DE_FRANCE = "banque_de_france"
    PARLIAMENT = "parliament"
    CAVIMAC = "cavimac"
    NEW_CALEDONIA = "new_caledonia"
    FRENCH_POLYNESIA = "french_polynesia"
    WALLIS_FUTUNA = "wallis_futuna"
    MONACO = "monaco"


class VisitReason(StrEnum):
    """Why the patient came, when the reason decides direct access (gynaecology, ophthalmology)."""

    PERIODIC_EXAM = "periodic_exam"
    SCREENING = "screening"
    CONTRACEPTION = "contraception"
    PREGNANCY_FOLLOW_UP = "pregnancy_follow_up"
    IVG = "ivg"
    GLASSES = "glasses"
    GLAUCOMA = "glaucoma"
    OTHER = "other"


class ExcludedContext(StrEnum):
    """Situations of art. D162-1-6 CSS, outside the pathway."""

    ADDICTION_CARE = "addiction_care"
    ORGANISED_SCREENING = "organised_screening"
    EXPERTISE = "expertise"
    PALLIATIVE_CARE = "palliative_care"
    IVG = "ivg"
    GENETICS = "genetics"
    MILITARY = "military"
    DETAINEE = "detainee"


class Institution(StrEnum):
    PRISON = "prison"
    NURSING_HOME = "nursing_home"
    DISABILITY_HOME = "disability_home"


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class Pregnancy(_Input):
    start: dt.date = Field(description="Date de début de grossesse")
    delivery: dt.date | None = Field(default=None, description="Date d'accouchement (réelle ou prévue)")

    @model_validator(mode="after")
    def _ordered(self) -> Pregnancy:
        if self.delivery is not None and self.delivery < self.start:
            raise ValueError("delivery : date d'accouchement antérieure au début de grossesse")
        return self


class Patient(_Input):
    birth_date: dt.date
    gp: Rpps | None = Field(default=None, description="RPPS du médecin traitant déclaré à la date des soins")
    c2s: bool = False
    ald: bool = Field(default=False, description="Affection de longue durée reconnue")
    regime: Regime = Regime.GENERAL
    pregnancy: Pregnancy | None = None
    institution: Institution | None = None
    invalidity_pension: bool = Field(default=False, description="Titulaire d'une pension d'invalidité")


class Professional(_Input):
    rpps: Rpps | None = None
    profession: Profession = Profession.PHYSICIAN
    specialty: Specialty | None = None
    sector: Literal["1", "2", "3"] = Field(
        default="1", description="Secteur : 1, 2 (honoraires libres) ou 3 (non conventionné, tarif d'autorité)"
    )
    optam: bool = False
    installed_on: dt.date | None = Field(default=None, description="Date d'installation (code J)")
    underserved_area: bool = Field(default=False, description="Installé en zone sous-dotée (code B)")

    @model_validator(mode="after")
    def _specialty_for_physicians(self) -> Professional:
        if self.profession == Profession.PHYSICIAN and self.specialty is None:
            raise ValueError("specialty : spécialité requise pour un médecin")
        if self.profession != Profession.PHYSICIAN and self.specialty is not None:
            raise ValueError("specialty : la spécialité ne concerne que les médecins")
        return self


DeviceClass = Literal["A", "B", "I", "II"]
Correction = Literal["simple", "complex", "very_complex"]
Basket = Literal["rac0", "moderate", "free"]


class Act(_Input):
    code: str = Field(min_length=1, max_length=16)
    fee: Euros | None = Field(default=None, description="Montant facturé ; par défaut le tarif conventionnel")
    quantity: int = Field(default=1, ge=1, le=99, description="Nombre de boîtes, d'actes ou de transports")
    coefficient: Decimal | None = Field(default=None, gt=0, le=1000, decimal_places=2)
    days: int | None = Field(default=None, ge=1, le=3650, description="Jours d'hospitalisation")
    device_class: DeviceClass | None = Field(default=None, description="Classe A/B (optique), I/II (audition)")
    correction: Correction | None = None
    basket: Basket | None = Field(default=None, description="Panier de prothèse dentaire")
    ear: Literal["left", "right"] | None = None
    psychiatry: bool = Field(default=False, description="Séjour en service de psychiatrie")
    costly_act: bool = Field(default=False, description="Séjour comprenant un acte coûteux (≥ 120 €)")
    # CCAM acts only (docs/rules.md, "CCAM"): the modifiers billed with the act and its association code.
    modifiers: list[str] = Field(default_factory=list, max_length=4, description="Modificateurs CCAM (F, P, S…)")
    association: Literal["1", "2", "3", "4", "5"] | None = Field(
        default=None, description="Code d'association CCAM ; par défaut selon le rang du tarif dans la séance"
    )

    @field_validator("code")
    @classmethod
    def _upper(cls, code: str) -> str:
        return code.strip().upper()

    @field_validator("modifiers")
    @classmethod
    def _modifiers_upper(cls, modifiers: list[str]) -> list[str]:
        return [m.strip().upper() for m in modifiers]


class CareEvent(_Input):
    """One visit or one delivery of care, on one date, by one professional, for one patient."""

    date: dt.date
    patient: Patient
    professional: Professional
    acts: list[Act] = Field(min_length=1, max_length=50)
    declares_gp: bool = Field(default=False, description="Le patient déclare ce médecin traitant à cette visite (N)")
    referred_by_gp: bool = False
    referred_by_other_doctor: bool = Field(default=False, description="Orienté par un autre médecin (M)")
    replacing_gp: bool = Field(default=False, description="Le médecin remplace le médecin traitant (R)")
    emergency: bool = False
    away_from_home: bool = False
    teleconsultation: bool = False
    last_in_person_visit: dt.date | None = Field(
        default=None, description="Dernière consultation en présentiel avec ce médecin (téléconsultation)"
    )
    in_person_history_on_record: bool = Field(
        default=False,
        description="La dernière consultation en présentiel vient du dossier : son absence signifie qu'il n'y en a "
        "pas eu (feuille de soins). Sinon, pour une simulation, un fait absent est supposé dans la situation usuelle "
        "(patient connu du médecin) et l'explication le dit",
    )
    gp_unavailable: bool = Field(default=False, description="Médecin traitant indisponible dans un délai compatible")
    visit_reason: VisitReason | None = None
    excluded_context: ExcludedContext | None = None
    ald_care: bool = Field(default=False, description="Soins en rapport avec l'ALD, prévus au protocole de soins")
    compulsory_child_exam: int | None = Field(
        default=None,
        ge=1,
        le=20,
        description="Numéro (1 à 20) de l'examen médical obligatoire de l'enfant (carnet de santé) que fait cette visite",
    )
    work_injury: bool = Field(
        default=False, description="Soins liés à un accident du travail ou une maladie professionnelle (AT-MP)"
    )
    tiers_payant: bool = Field(
        default=False,
        description="Tiers payant : l'Assurance Maladie paie le professionnel ; participation et franchises ne "
        "peuvent pas être retenues et restent dues",
    )

    def incoherences(self) -> list[tuple[str, str]]:
        """Facts that contradict each other, as (field, message in French)."""
        found = []
        if self.patient.birth_date > self.date:
            found.append(("patient.birth_date", "date de naissance postérieure à la date des soins"))
        if self.ald_care and not self.patient.ald:
            found.append(("ald_care", "soins en rapport avec une ALD alors que patient.ald est faux"))
        if self.last_in_person_visit is not None and self.last_in_person_visit > self.date:
            found.append(("last_in_person_visit", "date postérieure à la date des soins"))
        if self.patient.pregnancy is not None and self.patient.pregnancy.start > self.date:
            found.append(("patient.pregnancy.start", "début de grossesse postérieur à la date des soins"))
        if self.professional.installed_on is not None and self.professional.installed_on > self.date:
            found.append(("professional.installed_on", "date d'installation postérieure à la date des soins"))
        return found


class HearingAidHistory(_Input):
    left: dt.date | None = None
    right: dt.date | None = None


class YearToDate(_Input):
    """What the patient already bore this calendar year (and the last devices), so caps apply across claims.

    ``as_of`` is the date of care the state was taken on (``state_after`` sets it to the event's date) and
    ``same_day_professional`` the RPPS of the professional the ``same_day_participations`` counter concerns. Read
    against an event: the yearly counters (participations, franchises, téléexpertises) start again at zero when
    the event falls in another calendar year than ``as_of``; the same-day counters when it falls on another day;
    ``same_day_participations`` and ``same_day_paramedical_franchises`` also when the professional is another one. A state without ``as_of`` (the shape
    before these fields existed) is read as taken on the event's own day with its own professional: every
    counter applies as given.
    """

    as_of: dt.date | None = Field(default=None, description="Date des soins à laquelle cet état a été arrêté")
    same_day_professional: Rpps | None = Field(
        default=None, description="RPPS du professionnel auquel se rapporte same_day_participations"
    )
    participation_paid: Euros = Decimal(0)
    franchises_paid: Euros = Decimal(0)
    same_day_participations: NonNegativeInt = Field(
        default=0, description="Participations déjà retenues ce jour chez ce professionnel"
    )
    same_day_paramedical_franchises: Euros = Field(
        default=Decimal(0), description="Franchises paramédicales déjà retenues ce jour chez ce professionnel"
    )
    same_day_transport_franchises: Euros = Decimal(0)
    teleexpertise_acts: dict[str, NonNegativeInt] = Field(
        default_factory=dict,
        description="Téléexpertises de l'année par acte et professionnel (« TE2:RPPS ») ; « TE2 » seul : celles du "
        "professionnel des soins",
    )
    psychologist_sessions: NonNegativeInt = Field(
        default=0, description="Séances Mon soutien psy déjà prises en charge cette année civile"
    )
    last_optical_equipment: dt.date | None = None
    last_hearing_aid: HearingAidHistory = HearingAidHistory()
    # Owed across years until recovered: participations and franchises that could not be withheld (tiers payant).
    participation_owed: Euros = Field(default=Decimal(0), description="Participations dues non encore récupérées")
    franchises_owed: Euros = Field(default=Decimal(0), description="Franchises dues non encore récupérées")
