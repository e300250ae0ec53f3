"""What the simulator and comparator pages and their JSON twins compute: input models, validation, results."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from parcours.errors import FieldError, field_errors
from parcours.rules.contracts.compare import Level, rank, typical_year
from parcours.rules.contracts.loader import load_contract
from parcours.rules.contracts.model import Contract, ContractError, catalogue_names
from parcours.rules.contracts.simulation import simulate, to_dict
from parcours.rules.engine import RuleInputError
from parcours.web.presets import BY_KEY, CARE_TYPES, CareType, Sector, build_event

PUBLIC_ONLY = "c2s"


class InputError(Exception):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


class SimulationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    care_type: CareType = Field(description="Type de soins")
    act: str = Field(description="Soin choisi (voir GET /api/contracts → presets)")
    fee: Decimal | None = Field(default=None, ge=0, le=100_000, description="Montant facturé en euros")
    days: int | None = Field(default=None, ge=1, le=365, description="Nombre de jours (hospitalisation)")
    age: int = Field(default=40, ge=0, le=120)
    gp_declared: bool = Field(default=True, description="Médecin traitant déclaré")
    referred: bool = Field(default=False, description="Adressé par le médecin traitant")
    c2s: bool = False
    sector: Sector = "1"
    contract: str = Field(default="confort", description="Formule de complémentaire")
    date: dt.date | None = None

    @model_validator(mode="after")
    def _act_of_type(self) -> SimulationIn:
        preset = BY_KEY.get(self.act)
        if preset is None:
            raise ValueError(f"soin inconnu : {self.act}")
        if preset.care_type != self.care_type:
            raise ValueError(f"ce soin ne relève pas de « {CARE_TYPES[self.care_type]} »")
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
                            referred=data.referred, c2s=data.c2s, sector=data.sector, days=data.days)  # fmt: skip
    except ValidationError as exc:
        raise InputError(field_errors(exc)) from None
    contract = _contract(data.contract, on)
    try:
        adjudication, result = simulate(event, contract)
    except RuleInputError as exc:
        raise InputError([FieldError(exc.field, exc.message)]) from None
    return to_dict(adjudication, result)


def run_comparison(data: ComparisonIn) -> dict[str, Any]:
    year = data.year or dt.date.today().year
    needs: dict[str, Level] = {"optique": data.optique, "dentaire": data.dentaire,
                               "hospitalisation": data.hospitalisation, "soins_courants": data.soins_courants}  # fmt: skip
    events = typical_year(needs, year)
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
