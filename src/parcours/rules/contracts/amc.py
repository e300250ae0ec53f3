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

from parcours.rules.contracts.kinds import DOCTORS_FEES, LABELS, TM_OPTIONAL, ZERO_REMAINDER, CareKind, kind_of
from parcours.rules.contracts.model import Contract, Guarantee
from parcours.rules.event import CareEvent
from parcours.rules.money import apply_rate, euros, format_eur, format_rate, to_cents
from parcours.rules.params import ParameterSet, Snapshot, SourceRef, default_parameters
from parcours.rules.result import Adjudication, Line, ParameterUse, Step

L871_1 = (SourceRef(id="S17a"),)
PERCENT_BASIS = 100
FULL_RATE_BP = 10_000  # 100 % of the base, in basis points: the ticket modérateur included, no overrun
CORRECTIONS = ("simple", "complex", "very_complex")  # a lens's correction, weakest first


@dataclass
class ContractYear:
    """The contract's year-to-date state, in cents: by kind of care, what it paid that counts against its yearly
    ceilings (for a contrat responsable, what it paid beyond the ticket modérateur), what it drew from its yearly
    envelopes (``per: year``), and the per-day forfait days used."""

    year: int
    paid: dict[str, int] = field(default_factory=dict)
    days: dict[str, int] = field(default_factory=dict)
    envelopes: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, on: dt.date) -> ContractYear:
        if not data or data.get("year") != on.year:
            return cls(on.year)  # a new calendar year starts afresh
        paid = {k: to_cents(v) for k, v in data.get("paid", {}).items()}
        envelopes = {k: to_cents(v) for k, v in data.get("envelopes", {}).items()}
        return cls(on.year, paid, dict(data.get("days", {})), envelopes)

    def for_date(self, on: dt.date) -> ContractYear:
        """A copy for an event on this date: the same state within the year, an empty one in a new year."""
        if self.year != on.year:
            return ContractYear(on.year)
        return ContractYear(self.year, dict(self.paid), dict(self.days), dict(self.envelopes))

    def to_dict(self) -> dict[str, Any]:
        return {
            "year": self.year,
            "paid": {k: float(euros(v)) for k, v in sorted(self.paid.items())},
            "days": dict(sorted(self.days.items())),
            "envelopes": {k: float(euros(v)) for k, v in sorted(self.envelopes.items())},
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


def _coverable(line: Line, contract: Contract, event: CareEvent) -> tuple[int, dict[str, int]]:
    """What the contract may pay on this line, and what stays with the patient whatever the contract."""
    excluded = {"participation": line.participation, "franchise": line.franchise}
    majoration = line.majoration
    overrun = line.overrun
    if contract.responsable:
        if not contract.c2s:  # the C2S pays the out-of-pathway majoration of its beneficiaries [S5][S4]
            excluded["majoration"] = majoration
            majoration = 0
        if line.overrun_kind in ("authorised_overrun", "authorised_overrun_exceeded"):
            # the DA is excluded (R871-2); billed beyond its ceiling, the overrun is irregular: none of it is paid
            excluded[line.overrun_kind] = overrun
            overrun = 0
    if event.patient.c2s and overrun and line.overrun_kind != "device_price":
        # A doctor may not bill an overrun to a C2S beneficiary (L162-5-13 CSS): nobody reimburses it.
        excluded["c2s_overrun"] = overrun
        overrun = 0
    coverable = line.copayment + majoration + overrun
    if line.status != "paid":  # what the Sécurité sociale refused (renewal, limit), a contract does not pay either
        excluded["refused"] = line.fee - line.amo - sum(excluded.values())
        coverable = 0
    return coverable, excluded


def _is_non_optam(kind: CareKind, event: CareEvent) -> bool:
    return kind in DOCTORS_FEES and event.professional.sector == "2" and not event.professional.optam


def _allowance(line: Line, guarantee: Guarantee, kind: CareKind, event: CareEvent) -> int | None:
    """The most the contract pays on this line by its percentage or its forfait (None: no limit but coverable).
    A yearly envelope (``per: year``) is drawn on afterwards, on top of this."""
    if guarantee.full_price:
        return None
    total = 0
    percent = guarantee.percent or 0
    if _is_non_optam(kind, event):
        percent = guarantee.non_optam_percent if guarantee.non_optam_percent is not None else percent
    if percent:
        total = max(total, line.base * percent // PERCENT_BASIS - line.gross)
    if guarantee.amount is not None and guarantee.per in ("act", "day", "ear"):
        units = line.quantity if guarantee.per != "day" else int(line.attributes.get("days", line.quantity))
        total = max(total, to_cents(guarantee.amount) * units - line.gross)
    return max(0, total)


def _non_optam_cap(
    line: Line, guarantee: Guarantee, snapshot: Snapshot
) -> tuple[int, tuple[ParameterUse, ParameterUse]]:
    """The most a contrat responsable pays on a non-OPTAM doctor's fee (R871-2, brief S17b): the ticket modérateur
    plus an overrun of at most ``non_optam_overrun_cap`` of the base, and at least ``optam_gap`` points of the base
    below what it pays for an OPTAM doctor."""
    cap, gap = (ParameterUse.read(snapshot, path) for path in ("contrat_responsable.non_optam_overrun_cap",
                                                   "contrat_responsable.optam_gap"))  # fmt: skip
    level_bp = FULL_RATE_BP + cap.value
    if guarantee.percent is not None and not guarantee.full_price and guarantee.amount is None:
        level_bp = min(level_bp, max(FULL_RATE_BP, guarantee.percent * PERCENT_BASIS - gap.value))
    return max(0, apply_rate(line.base, level_bp) - line.gross), (cap, gap)


def apply_contract(
    contract: Contract,
    event: CareEvent,
    adjudication: Adjudication,
    state: ContractYear | None = None,
    parameters: ParameterSet | None = None,
) -> ContractResult:
    state = (state or ContractYear(event.date.year)).for_date(event.date)
    snapshot = (parameters or default_parameters()).at(event.date)
    steps: list[Step] = []
    shares: list[Share] = []
    optics_b = [line for line in adjudication.lines if kind_of(line, event) is CareKind.OPTICS_CLASS_B]
    optics_allowance = _optics_allowance(contract, optics_b)
    for line in adjudication.lines:
        kind = kind_of(line, event)
        coverable, excluded = _coverable(line, contract, event)
        guarantee = contract.guarantee(kind)
        allowance: int | None
        if kind is CareKind.OPTICS_CLASS_B:
            allowance = optics_allowance.pop(line.index, 0)
        else:
            allowance = _allowance(line, guarantee, kind, event)
        if contract.responsable and _is_non_optam(kind, event):
            cap, uses = _non_optam_cap(line, guarantee, snapshot)
            if allowance is None or cap < allowance:
                allowance = cap
                if coverable > cap:
                    steps.append(
                        Step(
                            "amc.non_optam_cap",
                            f"{line.code} : médecin non adhérent à l'OPTAM, un contrat responsable rembourse au plus "
                            f"{format_eur(cap + line.gross)} Sécurité sociale comprise (dépassement pris en charge "
                            f"dans la limite de {format_rate(uses[0].value)} de la base et inférieur d'au moins "
                            f"{format_rate(uses[1].value)} de la base à celui des médecins OPTAM)",
                            amount=cap,
                            line=line.index,
                            parameters=uses,
                            sources=L871_1,
                        )
                    )
        amc = coverable if allowance is None else min(coverable, allowance)
        floor = _floor(contract, kind, line, coverable)
        amc = max(amc, floor)
        envelope = _draw_envelope(coverable - amc, line, kind, guarantee, state, steps)
        above = _apply_yearly_limits(amc + envelope - floor, line, kind, guarantee, state, steps)
        amc = floor + above
        out_of_pocket = line.fee - line.amo - amc
        not_covered = {**excluded, "beyond_guarantee": coverable - amc}
        shares.append(Share(line, kind, amc, out_of_pocket, not_covered))
        steps.extend(_explain(contract, line, kind, guarantee, amc, out_of_pocket, not_covered, floor))
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


def _floor(contract: Contract, kind: CareKind, line: Line, coverable: int) -> int:
    """What a contrat responsable pays whatever its ceilings: all that is coverable in a 100 % Santé basket or the
    forfait journalier, else the ticket modérateur (except where R871-2 lets it go)."""
    if not contract.responsable or line.status != "paid":
        return 0
    if kind in ZERO_REMAINDER:
        return coverable
    if kind in TM_OPTIONAL:
        return 0
    if contract.c2s:  # the TM and, out of the pathway, the majoration deducted from the AMO [S5][S4]
        return min(coverable, line.copayment + line.majoration)
    return min(coverable, line.copayment)


def _optics_allowance(contract: Contract, lines: list[Line]) -> dict[int, int]:
    """Class B glasses are reimbursed per equipment: the allowance by the strongest correction, frame first within
    its sub-limit, then the lenses."""
    guarantee = contract.optics_class_b
    if not lines or guarantee is None:
        return {line.index: 0 for line in lines}
    corrections = [line.attributes.get("correction", "simple") for line in lines if line.code != "FRAME"]
    strongest = max(corrections, key=CORRECTIONS.index) if corrections else "simple"
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


def _draw_envelope(
    left: int, line: Line, kind: CareKind, guarantee: Guarantee, state: ContractYear, steps: list[Step]
) -> int:
    """A yearly envelope (``amount`` with ``per: year``) pays, on top of the percentage, what is still left on the
    line until the year's envelope is spent; it starts afresh each calendar year."""
    if guarantee.amount is None or guarantee.per != "year" or left <= 0:
        return 0
    envelope = to_cents(guarantee.amount)
    drawn = state.envelopes.get(kind.value, 0)
    paid = min(left, max(0, envelope - drawn))
    state.envelopes[kind.value] = drawn + paid
    steps.append(
        Step(
            "amc.yearly_envelope",
            f"{LABELS[kind]} : forfait annuel de {format_eur(envelope)} ({format_eur(drawn)} déjà utilisés cette "
            f"année) : {format_eur(paid)} versés sur ce forfait",
            amount=paid,
            line=line.index,
        )
    )
    return paid


def _apply_yearly_limits(
    above: int, line: Line, kind: CareKind, guarantee: Guarantee, state: ContractYear, steps: list[Step]
) -> int:
    """Day limits and the yearly ceiling, on what the contract pays beyond its floor (see ``_floor``)."""
    if guarantee.max_days is not None:
        days_used = state.days.get(kind.value, 0)
        days = int(line.attributes.get("days", line.quantity))
        allowed = max(0, min(days, guarantee.max_days - days_used))
        if allowed < days and days:
            above = above * allowed // days
            steps.append(
                Step(
                    "amc.max_days",
                    f"{LABELS[kind]} : au plus {guarantee.max_days} jours par an ({days_used} déjà pris en charge)",
                    amount=above,
                    line=line.index,
                )
            )
        state.days[kind.value] = days_used + allowed
    used = state.paid.get(kind.value, 0)
    if guarantee.yearly_ceiling is not None:
        ceiling = to_cents(guarantee.yearly_ceiling)
        before = above
        above = min(above, max(0, ceiling - used))
        if above < before:
            steps.append(
                Step(
                    "amc.yearly_ceiling",
                    f"{LABELS[kind]} : plafond annuel du contrat de {format_eur(ceiling)} "
                    f"({format_eur(used)} déjà versés cette année"
                    + (", ticket modérateur toujours remboursé)" if kind not in TM_OPTIONAL else ")"),
                    amount=above,
                    line=line.index,
                )
            )
    if above:
        state.paid[kind.value] = used + above
    return above


_NOT_COVERED_TEXT = {
    "participation": "participation forfaitaire, jamais remboursée par un contrat responsable",
    "franchise": "franchise médicale, jamais remboursée par un contrat responsable",
    "majoration": "majoration hors parcours de soins, exclue des contrats responsables",
    "authorised_overrun": "dépassement autorisé hors parcours (secteur 1), exclu des contrats responsables",
    "authorised_overrun_exceeded": "dépassement facturé au-delà du dépassement autorisé hors parcours (secteur 1) : "
    "exclu des contrats responsables, le médecin ne pouvait pas le facturer",
    "c2s_overrun": "dépassement d'honoraires interdit pour un bénéficiaire de la C2S (art. L162-5-13 CSS) : "
    "le médecin ne devait pas le facturer",
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
    floor: int,
) -> list[Step]:
    sources = L871_1 if contract.responsable else ()
    tm = ""
    majoration_paid = min(floor, line.majoration) if contract.c2s else 0
    if majoration_paid:
        tm = (f" (dont {format_eur(floor - majoration_paid)} de ticket modérateur et {format_eur(majoration_paid)} "
              "de majoration hors parcours, que la C2S prend en charge)")  # fmt: skip
    elif floor and kind not in ZERO_REMAINDER:
        tm = f" (dont {format_eur(floor)} de ticket modérateur, dû par un contrat responsable)"
    steps = [
        Step(
            f"amc.{kind.value}",
            f"{line.code} — {LABELS[kind]} : garantie « {_guarantee_text(kind, guarantee)} », "
            f"la complémentaire verse {format_eur(amc)}{tm}",
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
                    if reason
                    in ("participation", "franchise", "majoration", "authorised_overrun", "authorised_overrun_exceeded")
                    else (),
                )
            )
    if kind in ZERO_REMAINDER and contract.responsable and out_of_pocket == 0:
        steps.append(Step("amc.zero_remainder", f"{line.code} : panier sans reste à charge", amount=0, line=line.index))
    return steps
