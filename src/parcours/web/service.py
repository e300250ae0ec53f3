"""What the simulator and comparator pages and their JSON twins compute: input models, validation, results."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from parcours.errors import FieldError, field_errors
from parcours.rules.contracts.compare import Level, rank, typical_year
from parcours.rules.contracts.loader import load_contract
from parcours.rules.contracts.model import Contract, ContractError, catalogue_names
from parcours.rules.contracts.simulation import simulate, to_dict
from parcours.rules.engine import RuleInputError
from parcours.web.presets import BY_KEY, CareType, Sector, build_event

PUBLIC_ONLY = "c2s"
# The labels of the form fields, for messages a person reads (the JSON twins keep the technical names).
FIELD_LABELS = {
    "care_type": "Type de soins",
    "act": "Soin",
    "fee": "Montant facturé",
    "days": "Nombre de jours",
    "costly_act": "Acte coûteux",
    "ald": "Affection de longue durée",
    "age": "Âge",
    "gp_declared": "Médecin traitant déclaré",
    "referred": "Adressé par le médecin traitant",
    "c2s": "Complémentaire santé solidaire",
    "sector": "Secteur du médecin",
    "contract": "Formule",
    "date": "Date des soins",
    "optique": "Optique",
    "dentaire": "Dentaire",
    "hospitalisation": "Hospitalisation",
    "soins_courants": "Soins courants",
    "year": "Année",
}


class InputError(Exception):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


class SimulationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    care_type: CareType | None = Field(default=None, description="Type de soins (déduit du soin choisi)")
    act: str = Field(description="Soin choisi (voir GET /api/contracts → presets)")
    fee: Decimal | None = Field(default=None, ge=0, le=100_000, description="Montant facturé en euros")
    days: int | None = Field(default=None, ge=1, le=365, description="Nombre de jours (hospitalisation)")
    costly_act: bool = Field(default=False, description="Séjour comprenant un acte coûteux (≥ 120 €)")
    ald: bool = Field(default=False, description="Soins en rapport avec une affection de longue durée")
    age: int = Field(default=40, ge=0, le=120)
    gp_declared: bool = Field(default=True, description="Médecin traitant déclaré")
    referred: bool = Field(default=False, description="Adressé par le médecin traitant")
    c2s: bool = Field(default=False, description="Bénéficiaire de la C2S : elle tient lieu de complémentaire")
    sector: Sector = "1"
    contract: str = Field(default="confort", description="Formule de complémentaire")
    date: dt.date | None = None

    @field_validator("act")
    @classmethod
    def _known_act(cls, act: str) -> str:
        if act not in BY_KEY:
            raise ValueError(f"soin inconnu : {act}")
        return act

    @model_validator(mode="after")
    def _type_of_the_act(self) -> SimulationIn:
        # The act decides the type of care: a form sent without its script may pair any type with any act.
        self.care_type = BY_KEY[self.act].care_type
        return self


class ComparisonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    optique: Level = "low"
    dentaire: Level = "low"
    hospitalisation: Level = "low"
    soins_courants: Level = "low"
    c2s: bool = False
    year: int | None = Field(default=None, ge=2024, le=2100)


def parse(model: type[BaseModel], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InputError(field_errors(exc)) from None


def _contract(name: str, on: dt.date) -> Contract:
    try:
        return load_contract(name, on)
    except ContractError as exc:
        raise InputError([FieldError("contract", exc.message)]) from None


def run_simulation(data: SimulationIn) -> dict[str, Any]:
    on = data.date or dt.date.today()
    if data.contract not in catalogue_names():
        raise InputError([FieldError("contract", f"formule inconnue : {data.contract}")])
    try:
        event = build_event(BY_KEY[data.act], on=on, age=data.age, fee=data.fee, gp_declared=data.gp_declared,
                            referred=data.referred, c2s=data.c2s, sector=data.sector, days=data.days,
                            costly_act=data.costly_act, ald=data.ald)  # fmt: skip
    except ValidationError as exc:
        raise InputError(field_errors(exc)) from None
    # A C2S beneficiary has no other complementary: the C2S pays.
    contract = _contract(PUBLIC_ONLY if data.c2s else data.contract, on)
    try:
        adjudication, result = simulate(event, contract)
    except RuleInputError as exc:
        raise InputError([FieldError(exc.field, exc.message)]) from None
    return to_dict(adjudication, result)


def run_comparison(data: ComparisonIn) -> dict[str, Any]:
    year = data.year or dt.date.today().year
    needs: dict[str, Level] = {"optique": data.optique, "dentaire": data.dentaire,
                               "hospitalisation": data.hospitalisation, "soins_courants": data.soins_courants}  # fmt: skip
    events = typical_year(needs, year)  # rank() prices the C2S for one of its beneficiaries
    names = [n for n in catalogue_names() if data.c2s or n != PUBLIC_ONLY]
    contracts = [_contract(name, dt.date(year, 1, 1)) for name in names]
    ranking = rank(contracts, events)
    return {"needs": needs, "year": year, "events": len(events), "ranking": [cost.to_dict() for cost in ranking]}


def contracts_listing(on: dt.date | None = None) -> list[dict[str, Any]]:
    on = on or dt.date.today()
    return [
        {
            "name": c.name,
            "label": c.label,
            "description": c.description,
            "responsable": c.responsable,
            "monthly_premium": None if c.monthly_premium is None else float(c.monthly_premium),
        }
        for c in (_contract(name, on) for name in catalogue_names())
    ]


Outcome = Literal["ok", "error"]
