"""Builders shared by the contract tests: an event of the rules tests, paid by a contract with the invariant
billed = amo + amc + out_of_pocket checked on every line."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.rules.conftest import OTHER_RPPS, event

from parcours.rules.contracts.amc import ContractResult, ContractYear, apply_contract
from parcours.rules.contracts.loader import load_contract
from parcours.rules.contracts.model import Contract
from parcours.rules.engine import default_engine
from parcours.rules.event import CareEvent

DAY = dt.date(2026, 3, 2)


def pay(contract: Contract | str, e: CareEvent, state: ContractYear | None = None) -> ContractResult:
    """``contract`` by name (loaded with the rules in force on the date of care) or as loaded."""
    if isinstance(contract, str):
        contract = load_contract(contract, e.date)
    result = apply_contract(contract, e, default_engine().adjudicate(e), state)
    for share in result.shares:
        assert share.line.fee == share.line.amo + share.amc + share.out_of_pocket
    return result


def by(profession: str, acts: list[dict[str, Any]], **changes: Any) -> CareEvent:
    return event(professional={"rpps": OTHER_RPPS, "profession": profession, "specialty": None}, acts=acts, **changes)


def amounts(result: ContractResult) -> tuple[int, int]:
    return result.amc, result.out_of_pocket
