"""What the engine returns: amounts per act, the pathway decision and every step that produced them.

Amounts are integer cents inside; ``to_dict`` gives euros with two decimals for JSON. Each step names the rule,
the parameters read (value, date in force, sources, unconfirmed flag) and the amount it produced, so that a
patient or an auditor can follow each euro back to a legal text.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from parcours.rules.catalogue import Category
from parcours.rules.money import euros, format_eur, format_rate
from parcours.rules.params import DatedValue, ParameterSet, Snapshot, SourceRef

LineStatus = Literal["paid", "rejected"]
OverrunKind = Literal[
    "optam_overrun",  # secteur 2 doctor adhering to OPTAM
    "non_optam_overrun",  # secteur 2 doctor outside OPTAM
    "non_contracted_overrun",  # secteur 3 (non conventionné): the fee above the tarif d'autorité
    "authorised_overrun",  # DA: secteur 1 specialist consulted out of the pathway, within 17.5 %
    "authorised_overrun_exceeded",  # a secteur 1 specialist out of the pathway billing beyond the DA ceiling
    "unauthorised_overrun",  # beyond what the doctor's sector allows (or DE, the patient's own demand)
    "device_price",  # price of a device or prosthesis above its base (optics, audiology, dental)
    "not_reimbursable",  # never reimbursed (private room)
]


@dataclass(frozen=True, slots=True)
class ParameterUse:
    path: str
    unit: str
    value: Any
    entry: DatedValue

    @classmethod
    def read(cls, snapshot: Snapshot, path: str) -> ParameterUse:
        """The value of ``path`` in force on the snapshot's date, with what an explanation cites of it."""
        entry = snapshot.entry(path)
        return cls(path, snapshot.unit(path), entry.value, entry)

    def display(self) -> str:
        if self.unit == "EUR":
            return format_eur(self.value)
        if self.unit == "percent":
            return format_rate(self.value)
        if self.unit == "codes":
            return ", ".join(sorted(self.value))
        return str(self.value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "value": self.display(),
            "valid_from": self.entry.valid_from.isoformat(),
            "unconfirmed": self.entry.unconfirmed,
            "sources": [_ref(r) for r in self.entry.sources],
        }


def _ref(ref: SourceRef) -> dict[str, Any]:
    return {"id": ref.id, "article": ref.article} if ref.article else {"id": ref.id}


@dataclass(slots=True)
class Step:
    """One step of the explanation."""

    rule: str
    text: str
    amount: int | None = None
    line: int | None = None
    parameters: tuple[ParameterUse, ...] = ()
    sources: tuple[SourceRef, ...] = ()

    def source_ids(self) -> set[str]:
        ids = {r.id for r in self.sources}
        for use in self.parameters:
            ids.update(r.id for r in use.entry.sources)
        return ids

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rule": self.rule, "text": self.text}
        if self.line is not None:
            out["line"] = self.line
        if self.amount is not None:
            out["amount"] = float(euros(self.amount))
        if self.parameters:
            out["parameters"] = [p.to_dict() for p in self.parameters]
        if self.sources:
            out["sources"] = [_ref(r) for r in self.sources]
        return out


@dataclass(slots=True)
class Line:
    """The Assurance Maladie's decision on one billed act."""

    index: int
    code: str
    label: str
    category: Category
    quantity: int
    fee: int
    base: int
    rate: int
    gross: int = 0
    majoration: int = 0
    participation: int = 0
    franchise: int = 0
    amo: int = 0
    overrun: int = 0
    overrun_kind: OverrunKind | None = None
    status: LineStatus = "paid"
    reason: str | None = None
    derived: bool = False
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def patient(self) -> int:
        """What is left for the patient before any complementary insurer."""
        return self.fee - self.amo

    @property
    def copayment(self) -> int:
        """Ticket modérateur: the part of the base the Assurance Maladie does not pay (before deductions)."""
        return max(0, self.base - self.gross)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "label": self.label,
            "category": self.category.value,
            "quantity": self.quantity,
            "fee": float(euros(self.fee)),
            "base": float(euros(self.base)),
            "rate": float(Decimal(self.rate) / 100),
            "gross": float(euros(self.gross)),
            "copayment": float(euros(self.copayment)),
            "majoration": float(euros(self.majoration)),
            "participation": float(euros(self.participation)),
            "franchise": float(euros(self.franchise)),
            "amo": float(euros(self.amo)),
            "overrun": float(euros(self.overrun)),
            "overrun_kind": self.overrun_kind,
            "patient": float(euros(self.patient)),
            "status": self.status,
        }
        if self.reason:
            out["reason"] = self.reason
        if self.derived:
            out["derived"] = True
        if self.attributes:
            out["attributes"] = {
                k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in self.attributes.items()
            }
        return out


@dataclass(slots=True)
class Adjudication:
    date: dt.date
    pathway: str | None
    in_pathway: bool | None
    pathway_rule: str
    lines: list[Line]
    explanation: list[Step]
    warnings: list[str]
    state_after: dict[str, Any]
    # Tiers payant: participation and franchises owed, not withheld; recovered: owed amounts taken from this
    # reimbursement (docs/rules.md, "Recovery"). ``paid`` is what the Assurance Maladie pays out for the event.
    deferred_participation: int = 0
    deferred_franchises: int = 0
    recovered_participation: int = 0
    recovered_franchises: int = 0
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def deferred(self) -> int:
        return self.deferred_participation + self.deferred_franchises

    @property
    def recovered(self) -> int:
        return self.recovered_participation + self.recovered_franchises

    @property
    def billed(self) -> int:
        return sum(line.fee for line in self.lines)

    @property
    def amo(self) -> int:
        return sum(line.amo for line in self.lines)

    @property
    def patient(self) -> int:
        return sum(line.patient for line in self.lines)

    @property
    def paid(self) -> int:
        """What the Assurance Maladie pays out: its share, plus what it could not withhold, less what it recovers."""
        return self.amo + self.deferred - self.recovered

    def to_dict(self, parameters: ParameterSet | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "date": self.date.isoformat(),
            "pathway": self.pathway,
            "in_pathway": self.in_pathway,
            "pathway_rule": self.pathway_rule,
            "billed": float(euros(self.billed)),
            "amo": float(euros(self.amo)),
            "patient_before_amc": float(euros(self.patient)),
            "lines": [line.to_dict() for line in self.lines],
            "explanation": [step.to_dict() for step in self.explanation],
            "warnings": list(self.warnings),
            "state_after": self.state_after,
        }
        if self.deferred or self.recovered:
            out |= {
                "deferred": float(euros(self.deferred)),
                "recovered": float(euros(self.recovered)),
                "paid": float(euros(self.paid)),
                "deferred_participation": float(euros(self.deferred_participation)),
                "deferred_franchises": float(euros(self.deferred_franchises)),
                "recovered_participation": float(euros(self.recovered_participation)),
                "recovered_franchises": float(euros(self.recovered_franchises)),
            }
        if parameters is not None:
            ids = sorted(set().union(*(s.source_ids() for s in self.explanation)))
            out["sources"] = {
                i: parameters.sources[i].model_dump(exclude_none=True) for i in ids if i in parameters.sources
            }
        return out
