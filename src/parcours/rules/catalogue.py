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


class Category(StrEnum):
    CONSULTATION = "consultation"
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


FranchiseKind = Literal["medicine", "paramedical", "transport"]
BaseKind = Literal["tariff", "letter", "fee", "device", "none"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CategoryRule(_Strict):
    """How the Assurance Maladie treats one kind of care."""

    description: str
    rate: str | None
    participation: bool
    franchise: FranchiseKind | None
    pathway_majoration: bool
    sources: list[str]


class ActDefinition(_Strict):
    label: str
    category: Category
    category_by_profession: dict[Profession, Category] = {}
    professions: list[Profession]
    base: BaseKind
    tariff: str | None = None
    non_optam_tariff: str | None = None
    letter: str | None = None
    rate: str | None = None
    full_rate: bool = False
    teleconsultation_only: bool = False
    min_age: int | None = None
    max_age: int | None = None

    @model_validator(mode="after")
    def _base_has_what_it_needs(self) -> ActDefinition:
        if self.base == "tariff" and self.tariff is None:
            raise ValueError("base 'tariff' needs a tariff parameter")
        if self.base == "letter" and self.letter is None:
            raise ValueError("base 'letter' needs a letter parameter")
        return self

    def category_for(self, profession: Profession) -> Category:
        return self.category_by_profession.get(profession, self.category)


class Catalogue(_Strict):
    categories: dict[Category, CategoryRule]
    acts: dict[str, ActDefinition]

    def check_against(self, parameters: ParameterSet) -> None:
        """Every parameter the catalogue names must exist, and every category must be described."""
        missing_categories = set(Category) - set(self.categories)
        if missing_categories:
            raise ParameterError(f"acts.yaml: categories without rules: {sorted(missing_categories)}")
        for name, rule in self.categories.items():
            if rule.rate is not None and rule.rate not in parameters:
                raise ParameterError(f"acts.yaml: category {name}: unknown parameter {rule.rate}")
            for source in rule.sources:
                if source not in parameters.sources:
                    raise ParameterError(f"acts.yaml: category {name}: unknown source {source}")
        for code, act in self.acts.items():
            for path in (act.tariff, act.non_optam_tariff, act.letter, act.rate):
                if path is not None and path not in parameters:
                    raise ParameterError(f"acts.yaml: act {code}: unknown parameter {path}")


def load_catalogue(path: Path = CATALOGUE_FILE) -> Catalogue:
    try:
        return Catalogue.model_validate(read_yaml(path))
    except ValidationError as exc:
        raise ParameterError(f"{path.name}: {exc}") from None


@lru_cache(maxsize=1)
def default_catalogue() -> Catalogue:
    return load_catalogue()
