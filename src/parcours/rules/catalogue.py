"""The nomenclature: which acts exist, who may bill them, how their base is found, how each kind of care is treated.

Kept as data (``nomenclature/acts.yaml``) beside the dated parameters it points to, and loaded as strictly.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from parcours.rules.params import ParameterError, ParameterSet, read_yaml

CATALOGUE_FILE = Path(__file__).with_name("nomenclature") / "acts.yaml"
# The CCAM technical acts: written by ``parcours params import-ccam`` from the official release (docs/rules.md).
CCAM_FILE = Path(__file__).with_name("nomenclature") / "ccam.yaml"
# Where a CCAM act's tariffs are: one parameter per tariff grid (``tariffs.ccam.DEQP003.grid_1``).
CCAM_TARIFFS = "tariffs.ccam"
CCAM_GRIDS = ("grid_1", "grid_2")


class Profession(StrEnum):
    PHYSICIAN = "physician"
    DENTIST = "dentist"
    MIDWIFE = "midwife"
    NURSE = "nurse"
    PHYSIOTHERAPIST = "physiotherapist"
    SPEECH_THERAPIST = "speech_therapist"
    PODIATRIST = "podiatrist"
    PHARMACIST = "pharmacist"
    LABORATORY = "laboratory"
    OPTICIAN = "optician"
    HEARING_AID_PROVIDER = "hearing_aid_provider"
    HOSPITAL = "hospital"
    TRANSPORT = "transport"
    PSYCHOLOGIST = "psychologist"


class Category(StrEnum):
    CONSULTATION = "consultation"
    TECHNICAL_ACT = "technical_act"
    TELEEXPERTISE = "teleexpertise"
    DENTAL_CARE = "dental_care"
    DENTAL_PROSTHESIS = "dental_prosthesis"
    PARAMEDICAL = "paramedical"
    BIOLOGY = "biology"
    MEDICINE = "medicine"
    OPTICS = "optics"
    AUDIOLOGY = "audiology"
    HOSPITAL_STAY = "hospital_stay"
    PRIVATE_ROOM = "private_room"
    EMERGENCY_VISIT = "emergency_visit"
    TRANSPORT = "transport"
    PSYCHOLOGY = "psychology"


FranchiseKind = Literal["medicine", "paramedical", "transport"]
BaseKind = Literal["tariff", "ccam", "letter", "fee", "device", "none"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CategoryRule(_Strict):
    """How the Assurance Maladie treats one kind of care."""

    description: str
    rate: str | None
    # A profession whose own rate differs for this kind of care (sages-femmes: rates.midwife).
    rate_by_profession: dict[Profession, str] = {}
    participation: bool
    # Professions that never bear the participation forfaitaire on this kind of care (sages-femmes).
    participation_exempt_professions: list[Profession] = []
    franchise: FranchiseKind | None
    pathway_majoration: bool
    # The flat participation on costly acts (« forfait 24 € », art. R160-16 CSS) replaces the ticket modérateur of
    # an act of this kind whose tariff reaches tariffs.hospital.costly_act_threshold.
    costly_act_participation: bool = False
    sources: list[str]


class ActDefinition(_Strict):
    label: str
    category: Category
    category_by_profession: dict[Profession, Category] = {}
    professions: list[Profession]
    base: BaseKind
    tariff: str | None = None
    # Majorations always billed with the act (MPC with CS): parameter paths added to the tariff.
    supplements: list[str] = []
    # Coordination majoration (MCS, MCC), billable only when the patient is inside the pathway: a parameter path
    # added to the tariff unless the event is out of the pathway (docs/rules.md).
    coordination: str | None = None
    non_optam_tariff: str | None = None
    letter: str | None = None
    rate: str | None = None
    # False for a majoration billed with a consultation (MEG): the participation is due once, on the consultation.
    participation: bool = True
    full_rate: bool = False
    teleconsultation_only: bool = False
    min_age: int | None = None
    max_age: int | None = None
    # CCAM only: the regroupement code of the release (ADI imagerie, ADE échographie, ATM, ADC chirurgie…).
    regroupement: str | None = None

    @model_validator(mode="after")
    def _base_has_what_it_needs(self) -> ActDefinition:
        if self.base in ("tariff", "ccam") and self.tariff is None:
            raise ValueError(f"base '{self.base}' needs a tariff parameter")
        if self.base == "letter" and self.letter is None:
            raise ValueError("base 'letter' needs a letter parameter")
        return self

    def category_for(self, profession: Profession) -> Category:
        return self.category_by_profession.get(profession, self.category)

    def rate_path(self, rule: CategoryRule, profession: Profession) -> str | None:
        """The rate parameter of this act billed by ``profession``: the act's own, the profession's, the category's."""
        return self.rate or rule.rate_by_profession.get(profession, rule.rate)

    def bears_participation(self, rule: CategoryRule, profession: Profession) -> bool:
        return self.participation and rule.participation and profession not in rule.participation_exempt_professions


class Catalogue(_Strict):
    categories: dict[Category, CategoryRule]
    acts: dict[str, ActDefinition]

    def check_against(self, parameters: ParameterSet) -> None:
        """Every parameter the catalogue names must exist, and every category must be described."""
        missing_categories = set(Category) - set(self.categories)
        if missing_categories:
            raise ParameterError(f"acts.yaml: categories without rules: {sorted(missing_categories)}")
        for name, rule in self.categories.items():
            for path in (rule.rate, *rule.rate_by_profession.values()):
                if path is not None and path not in parameters:
                    raise ParameterError(f"acts.yaml: category {name}: unknown parameter {path}")
            for source in rule.sources:
                if source not in parameters.sources:
                    raise ParameterError(f"acts.yaml: category {name}: unknown source {source}")
        for code, act in self.acts.items():
            for path in (act.tariff, act.non_optam_tariff, act.letter, act.rate, act.coordination, *act.supplements):
                if path is not None and path not in parameters:
                    raise ParameterError(f"acts.yaml: act {code}: unknown parameter {path}")


class CcamAct(_Strict):
    """One act of the CCAM as ``nomenclature/ccam.yaml`` holds it; its tariffs are dated parameters, one per grid."""

    label: str
    category: Category
    professions: list[Profession]
    regroupement: str
    activity: int = 1
    phase: int = 0

    def definition(self, code: str) -> ActDefinition:
        return ActDefinition(
            label=self.label,
            category=self.category,
            professions=self.professions,
            base="ccam",
            tariff=ccam_tariff(code, CCAM_GRIDS[0]),
            non_optam_tariff=ccam_tariff(code, CCAM_GRIDS[1]),
            regroupement=self.regroupement,
        )


def ccam_tariff(code: str, grid: str) -> str:
    return f"{CCAM_TARIFFS}.{code}.{grid}"


def load_ccam(path: Path = CCAM_FILE) -> dict[str, CcamAct]:
    raw = read_yaml(path) or {}
    if not isinstance(raw, dict) or not isinstance(raw.get("acts", {}), dict):
        raise ParameterError(f"{path.name}: must hold an 'acts' mapping")
    try:
        return {str(code): CcamAct.model_validate(act) for code, act in (raw.get("acts") or {}).items()}
    except ValidationError as exc:
        raise ParameterError(f"{path.name}: {exc}") from None


def load_catalogue(path: Path = CATALOGUE_FILE, ccam_path: Path | None = CCAM_FILE) -> Catalogue:
    """The NGAP and internal acts of ``path`` and the CCAM acts of ``ccam_path`` (a code in both is an error)."""
    raw = read_yaml(path)
    if ccam_path is not None and isinstance(raw, dict) and isinstance(raw.get("acts"), dict):
        for code, act in load_ccam(ccam_path).items():
            if code in raw["acts"]:
                raise ParameterError(f"{ccam_path.name}: act {code} is already in {path.name}")
            raw["acts"][code] = act.definition(code).model_dump(exclude_defaults=True)
    try:
        return Catalogue.model_validate(raw)
    except ValidationError as exc:
        raise ParameterError(f"{path.name}: {exc}") from None


@lru_cache(maxsize=1)
def default_catalogue() -> Catalogue:
    return load_catalogue()
