"""What the complementary contract pays on each adjudicated line, and what is left to the patient.

For every line: ``fee = amo + amc + out_of_pocket`` to the cent. The contract pays within its guarantee from what it
is allowed to cover: the ticket modérateur and the overruns — never the participation forfaitaire, the franchises,
and, for a contrat responsable, never the majoration hors parcours nor the secteur 1 dépassement autorisé
(L871-1 CSS). Yearly ceilings, yearly forfaits and per-day limits consume a year-to-date state, like the Sécurité
sociale caps, so that the same rule serves one simulation and a year of claims.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from parcours.rules.contracts.kinds import DOCTORS_FEES, LABELS, ZERO_REMAINDER, CareKind, kind_of
from parcours.rules.contracts.model import Contract, Guarantee
from parcours.rules.event import CareEvent
from parcours.rules.money import euros, format_eur, to_cents
from parcours.rules.params import SourceRef
from parcours.rules.result import Adjudication, Line, Step

L871_1 = (SourceRef(id="S17a"),)
PERCENT_BASIS = 100


@dataclass
class ContractYear:
    """What the contract already paid this calendar year, by kind of care (cents), and private-room days used."""

    year: int
    paid: dict[str, int] = field(default_factory=dict)
    days: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, on: dt.date) -> ContractYear:
        if not data or data.get("year") != on.year:
            return cls(on.year)
        paid = {k: to_cents(v) for k, v in data.get("paid", {}).items()}
        return cls(on.year, paid, dict(data.get("days", {})))

    def to_dict(self) -> dict[str, Any]:
        return {
            "year": self.year,
            "paid": {k: float(euros(v)) for k, v in sorted(self.paid.items())},
            "days": dict(sorted(self.days.items())),
        }


@dataclass(slots=True)
class Share:
    """The split of one line once the contract has paid."""

    line: Line
    kind: CareKind
    amc: int
    out_of_pocket: int
    not_covered: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.line.index,
            "code": self.line.code,
            "kind": self.kind.value,
            "kind_label": LABELS[self.kind],
            "fee": float(euros(self.line.fee)),
            "amo": float(euros(self.line.amo)),
            "amc": float(euros(self.amc)),
            "out_of_pocket": float(euros(self.out_of_pocket)),
            "not_covered": {k: float(euros(v)) for k, v in self.not_covered.items() if v},
        }


@dataclass(slots=True)
class ContractResult:
    contract: Contract
    shares: list[Share]
    explanation: list[Step]
    state_after: ContractYear

    @property
    def amc(self) -> int:
        return sum(share.amc for share in self.shares)

    @property
    def out_of_pocket(self) -> int:
        return sum(share.out_of_pocket for share in self.shares)


def _coverable(line: Line, responsable: bool) -> tuple[int, dict[str, int]]:
    """What the contract may pay on this line, and what stays with the patient whatever the contract."""
    excluded = {"participation": line.participation, "franchise": line.franchise}
    majoration = line.majoration
    overrun = line.overrun
    if responsable:
        excluded["majoration"] = majoration
        majoration = 0
        if line.overrun_kind == "authorised_overrun":
            excluded["authorised_overrun"] = overrun
            overrun = 0
    coverable = line.copayment + majoration + overrun
    if line.status != "paid":  # what the Sécurité sociale refused (renewal, limit), a contract does not pay either
        excluded["refused"] = line.fee - line.amo - sum(excluded.values())
        coverable = 0
    return coverable, excluded


def _allowance(line: Line, guarantee: Guarantee, kind: CareKind, event: CareEvent) -> int | None:
    """The most the contract pays on this line by its percentage or its forfait (None: no limit but coverable)."""
    if guarantee.full_price:
        return None
    total = 0
    percent = guarantee.percent or 0
    if kind in DOCTORS_FEES and event.professional.sector == "2" and not event.professional.optam:
        percent = guarantee.non_optam_percent if guarantee.non_optam_percent is not None else percent
    if percent:
        total = max(total, line.base * percent // PERCENT_BASIS - line.gross)
    if guarantee.amount is not None and guarantee.per in ("act", "day", "ear"):
        units = line.quantity if guarantee.per != "day" else int(line.attributes.get("days", line.quantity))
        total = max(total, to_cents(guarantee.amount) * units - line.gross)
    return max(0, total)


def apply_contract(
    contract: Contract,
    event: CareEvent,
    adjudication: Adjudication,
    state: ContractYear | None = None,
) -> ContractResult:
    state = state or ContractYear(event.date.year)
    state = ContractYear(state.year, dict(state.paid), dict(state.days))
    steps: list[Step] = []
    shares: list[Share] = []
    optics_b = [line for line in adjudication.lines if kind_of(line, event) is CareKind.OPTICS_CLASS_B]
    optics_allowance = _optics_allowance(contract, optics_b)
    for line in adjudication.lines:
        kind = kind_of(line, event)
        coverable, excluded = _coverable(line, contract.responsable)
        guarantee = contract.guarantee(kind)
        allowance: int | None
        if kind is CareKind.OPTICS_CLASS_B:
            allowance = optics_allowance.pop(line.index, 0)
        else:
            allowance = _allowance(line, guarantee, kind, event)
        amc = coverable if allowance is None else min(coverable, allowance)
        amc = _apply_yearly_limits(amc, line, kind, guarantee, state, steps)
        out_of_pocket = line.fee - line.amo - amc
        not_covered = {**excluded, "beyond_guarantee": coverable - amc}
        shares.append(Share(line, kind, amc, out_of_pocket, not_covered))
        steps.extend(_explain(contract, line, kind, guarantee, amc, out_of_pocket, not_covered))
        if amc:
            state.paid[kind.value] = state.paid.get(kind.value, 0) + amc
    total_amc = sum(s.amc for s in shares)
    steps.append(
        Step(
            "amc.total",
            f"{contract.label} : {format_eur(total_amc)} ; reste à charge : "
            f"{format_eur(sum(s.out_of_pocket for s in shares))}",
            amount=total_amc,
        )
    )
    return ContractResult(contract, shares, steps, state)


def _optics_allowance(contract: Contract, lines: list[Line]) -> dict[int, int]:
    """Class B glasses are reimbursed per equipment: the allowance by the strongest correction, frame first within
    its sub-limit, then the lenses."""
    guarantee = contract.optics_class_b
    if not lines or guarantee is None:
        return {line.index: 0 for line in lines}
    corrections = [line.attributes.get("correction", "simple") for line in lines if line.code != "FRAME"]
    order = ["simple", "complex", "very_complex"]
    strongest = max(corrections, key=order.index) if corrections else "simple"
    remaining = to_cents(getattr(guarantee, strongest)) - sum(line.gross for line in lines)
    frame_room = to_cents(guarantee.frame)
    allowance: dict[int, int] = {}
    for line in sorted(lines, key=lambda line: line.code != "FRAME"):
        room = max(0, remaining)
        if line.code == "FRAME":
            room = min(room, max(0, frame_room - line.gross))
        allowance[line.index] = room
        remaining -= min(room, line.copayment + line.overrun)
    return allowance


def _apply_yearly_limits(
    amc: int, line: Line, kind: CareKind, guarantee: Guarantee, state: ContractYear, steps: list[Step]
) -> int:
    used = state.paid.get(kind.value, 0)
    if guarantee.amount is not None and guarantee.per == "year":
        amc = min(amc, max(0, to_cents(guarantee.amount) - used))
    if guarantee.yearly_ceiling is not None:
        before = amc
        amc = min(amc, max(0, to_cents(guarantee.yearly_ceiling) - used))
        if amc < before:
            steps.append(
                Step(
                    "amc.yearly_ceiling",
                    f"{LABELS[kind]} : plafond annuel du contrat de {format_eur(to_cents(guarantee.yearly_ceiling))} "
                    f"({format_eur(used)} déjà versés cette année)",
                    amount=amc,
                    line=line.index,
                )
            )
    if guarantee.max_days is not None:
        days_used = state.days.get(kind.value, 0)
        days = int(line.attributes.get("days", line.quantity))
        allowed = max(0, min(days, guarantee.max_days - days_used))
        if allowed < days and days:
            amc = amc * allowed // days
            steps.append(
                Step(
                    "amc.max_days",
                    f"{LABELS[kind]} : au plus {guarantee.max_days} jours par an ({days_used} déjà pris en charge)",
                    amount=amc,
                    line=line.index,
                )
            )
        state.days[kind.value] = days_used + allowed
    return amc


_NOT_COVERED_TEXT = {
    "participation": "participation forfaitaire, jamais remboursée par un contrat responsable",
    "franchise": "franchise médicale, jamais remboursée par un contrat responsable",
    "majoration": "majoration hors parcours de soins, exclue des contrats responsables",
    "authorised_overrun": "dépassement autorisé hors parcours (secteur 1), exclu des contrats responsables",
    "beyond_guarantee": "au-delà de la garantie du contrat",
    "refused": "non remboursé par la Sécurité sociale, donc pas par le contrat",
}


def _guarantee_text(kind: CareKind, guarantee: Guarantee) -> str:
    if guarantee.full_price:
        return "prise en charge intégrale"
    parts = []
    if guarantee.percent:
        text = f"{guarantee.percent} % de la base"
        if kind in DOCTORS_FEES and guarantee.non_optam_percent is not None:
            text += f" ({guarantee.non_optam_percent} % hors OPTAM)"
        parts.append(text)
    if guarantee.amount is not None:
        unit = {"act": "par acte", "day": "par jour", "ear": "par oreille", "year": "par an"}[guarantee.per or "act"]
        parts.append(f"{format_eur(to_cents(guarantee.amount))} {unit}")
    return ", ".join(parts) or "aucune garantie"


def _explain(
    contract: Contract,
    line: Line,
    kind: CareKind,
    guarantee: Guarantee,
    amc: int,
    out_of_pocket: int,
    not_covered: dict[str, int],
) -> list[Step]:
    sources = L871_1 if contract.responsable else ()
    steps = [
        Step(
            f"amc.{kind.value}",
            f"{line.code} — {LABELS[kind]} : garantie « {_guarantee_text(kind, guarantee)} », "
            f"la complémentaire verse {format_eur(amc)}",
            amount=amc,
            line=line.index,
            sources=sources,
        )
    ]
    for reason, amount in not_covered.items():
        if amount:
            steps.append(
                Step(
                    f"amc.not_covered.{reason}",
                    f"{line.code} : {format_eur(amount)} restent à votre charge — {_NOT_COVERED_TEXT[reason]}",
                    amount=amount,
                    line=line.index,
                    sources=sources
                    if reason in ("participation", "franchise", "majoration", "authorised_overrun")
                    else (),
                )
            )
    if kind in ZERO_REMAINDER and contract.responsable and out_of_pocket == 0:
        steps.append(Step("amc.zero_remainder", f"{line.code} : panier sans reste à charge", amount=0, line=line.index))
    return steps
