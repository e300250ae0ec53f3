"""One event through the Sécurité sociale and a complementary contract: the three amounts and their explanation."""

from __future__ import annotations

from typing import Any

from parcours.rules.contracts.amc import ContractResult, ContractYear, apply_contract
from parcours.rules.contracts.model import Contract
from parcours.rules.engine import Engine, default_engine
from parcours.rules.event import CareEvent, YearToDate
from parcours.rules.money import euros
from parcours.rules.result import Adjudication


def simulate(
    event: CareEvent,
    contract: Contract,
    state: YearToDate | None = None,
    contract_state: dict[str, Any] | None = None,
    engine: Engine | None = None,
) -> tuple[Adjudication, ContractResult]:
    engine = engine or default_engine()
    adjudication = engine.adjudicate(event, state)
    result = apply_contract(contract, event, adjudication, ContractYear.from_dict(contract_state, event.date))
    return adjudication, result


def to_dict(adjudication: Adjudication, result: ContractResult, engine: Engine | None = None) -> dict[str, Any]:
    """The JSON of ``parcours simulate --contract``: the Sécurité sociale answer plus ``amc`` and ``out_of_pocket``,
    per line and in total (billed = amo + amc + out_of_pocket)."""
    out = adjudication.to_dict((engine or default_engine()).parameters)
    for line, share in zip(out["lines"], result.shares, strict=True):
        line.update(
            kind=share.kind.value,
            amc=float(euros(share.amc)),
            out_of_pocket=float(euros(share.out_of_pocket)),
            not_covered={k: float(euros(v)) for k, v in share.not_covered.items() if v},
        )
    out["contract"] = {"name": result.contract.name, "label": result.contract.label,
                       "responsable": result.contract.responsable}  # fmt: skip
    out["amc"] = float(euros(result.amc))
    out["out_of_pocket"] = float(euros(result.out_of_pocket))
    out["explanation"] = out["explanation"] + [step.to_dict() for step in result.explanation]
    out["contract_state_after"] = result.state_after.to_dict()
    return out
