"""Rank contracts by what a year of care would leave to the patient, premium included when the contract gives one.

The year is either a list of care events, or built from the four needs of the simulator (``needs.yaml``: optique,
dentaire, hospitalisation, soins courants, each low / medium / high). Events run in date order through the
Sécurité sociale engine and each contract, carrying both year-to-date states, so annual caps and ceilings apply.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from parcours.rules.catalogue import Profession
from parcours.rules.contracts.amc import ContractYear, apply_contract
from parcours.rules.contracts.model import Contract
from parcours.rules.engine import Engine, default_engine
from parcours.rules.event import CareEvent, YearToDate
from parcours.rules.money import euros, to_cents

Level = Literal["low", "medium", "high"]
NEEDS = ("optique", "dentaire", "hospitalisation", "soins_courants")
NEEDS_FILE = Path(__file__).with_name("needs.yaml")
MONTHS = 12

GP_RPPS = "10101010105"
# The professionals of the typical year: what the engine needs to know of them.
PROFESSIONALS: dict[str, dict[str, Any]] = {
    "gp": {"rpps": GP_RPPS, "specialty": "general_practice", "sector": "1"},
    "specialist_optam": {"specialty": "dermatology", "sector": "2", "optam": True},
    "specialist_non_optam": {"specialty": "dermatology", "sector": "2", "optam": False},
    "pharmacy": {"profession": "pharmacist"},
    "laboratory": {"profession": "laboratory"},
    "physiotherapist": {"profession": "physiotherapist"},
    "optician": {"profession": "optician"},
    "dentist": {"profession": "dentist"},
    "hospital": {"profession": "hospital"},
}


def needs_table() -> dict[str, dict[str, list[dict[str, Any]]]]:
    data: dict[str, dict[str, list[dict[str, Any]]]] = yaml.safe_load(NEEDS_FILE.read_text(encoding="utf-8"))
    return data


def typical_year(
    levels: dict[str, Level], year: int, birth_date: dt.date | None = None, c2s: bool = False
) -> list[CareEvent]:
    """The events of a typical year for these needs levels, spread over the year in a fixed order; for a C2S
    beneficiary (``c2s``), as ``as_c2s_beneficiary`` bills them."""
    table = needs_table()
    templates = [t for need in NEEDS for t in table[need][levels.get(need, "low")] for _ in range(t.get("times", 1))]
    events = []
    for index, template in enumerate(templates):
        day = dt.date(year, 1, 2) + dt.timedelta(days=(index * 360) // max(1, len(templates)))
        events.append(
            CareEvent.model_validate(
                {
                    "date": day,
                    "patient": {"birth_date": birth_date or dt.date(year - 45, 6, 1), "gp": GP_RPPS},
                    "professional": PROFESSIONALS[template["professional"]],
                    "referred_by_gp": template.get("referred", False),
                    "acts": template["acts"],
                }
            )
        )
    return [as_c2s_beneficiary(event) for event in events] if c2s else events


def as_c2s_beneficiary(event: CareEvent) -> CareEvent:
    """The same care for a beneficiary of the Complémentaire santé solidaire: no participation forfaitaire and no
    franchise (the engine reads ``patient.c2s``), and doctors bill their tariff, since they may not bill overruns
    to a C2S beneficiary (L162-5-13 CSS, brief R54)."""
    patient = event.patient.model_copy(update={"c2s": True})
    acts = event.acts
    if event.professional.profession is Profession.PHYSICIAN:
        acts = [act.model_copy(update={"fee": None}) for act in acts]
    return event.model_copy(update={"patient": patient, "acts": acts})


@dataclass(frozen=True)
class YearCost:
    contract: Contract
    billed: int
    amo: int
    amc: int
    out_of_pocket: int
    premiums: int | None

    @property
    def total(self) -> int:
        return self.out_of_pocket + (self.premiums or 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "contract": self.contract.name,
            "label": self.contract.label,
            "billed": float(euros(self.billed)),
            "amo": float(euros(self.amo)),
            "amc": float(euros(self.amc)),
            "out_of_pocket": float(euros(self.out_of_pocket)),
            "yearly_premium": None if self.premiums is None else float(euros(self.premiums)),
            "total_cost": float(euros(self.total)),
        }


def year_cost(contract: Contract, events: list[CareEvent], engine: Engine | None = None) -> YearCost:
    engine = engine or default_engine()
    state: YearToDate | None = None
    contract_state: ContractYear | None = None
    billed = amo = amc = out_of_pocket = 0
    for event in sorted(events, key=lambda e: e.date):
        if state is not None and contract_state is not None and contract_state.year != event.date.year:
            state, contract_state = None, None
        adjudication = engine.adjudicate(event, state)
        result = apply_contract(contract, event, adjudication, contract_state)
        state = YearToDate.model_validate(adjudication.state_after)
        contract_state = result.state_after
        billed += adjudication.billed
        amo += adjudication.amo
        amc += result.amc
        out_of_pocket += result.out_of_pocket
    premiums = None if contract.monthly_premium is None else to_cents(contract.monthly_premium) * MONTHS
    return YearCost(contract, billed, amo, amc, out_of_pocket, premiums)


def rank(contracts: list[Contract], events: list[CareEvent], engine: Engine | None = None) -> list[YearCost]:
    """Contracts from the cheapest year (out of pocket + premiums) to the dearest. The C2S is priced for one of its
    beneficiaries (see ``as_c2s_beneficiary``), the other contracts for the events as given."""
    c2s_events = [as_c2s_beneficiary(event) for event in events]
    costs = [year_cost(contract, c2s_events if contract.c2s else events, engine) for contract in contracts]
    return sorted(costs, key=lambda cost: (cost.total, cost.out_of_pocket, cost.contract.name))
