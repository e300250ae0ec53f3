"""A complementary contract as a data file: one guarantee per kind of care, written the way contracts are.

* ``percent``: the total reimbursed, Sécurité sociale included, as a percentage of the base (100 = the ticket
  modérateur, 200 = the ticket modérateur and an overrun up to one base). Doctors' fees carry a second level,
  ``non_optam_percent``, for secteur 2 doctors outside OPTAM.
* ``amount`` with ``per`` (``act``, ``day``, ``ear``, ``year``): a forfait, Sécurité sociale included — the way the
  contrat responsable rules count optics and hearing aids. ``per: year`` is a yearly envelope.
* ``full_price``: everything left once the Sécurité sociale has paid (100 % Santé baskets, forfait journalier).
* ``yearly_ceiling``: at most this much from the contract for this kind of care in a calendar year.
* ``max_days``: for a per-day forfait (private room), at most this many days a year.
* Optics class B is written per equipment by correction (``simple``, ``complex``, ``very_complex``) with a
  ``frame`` sub-limit, all Sécurité sociale included.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from parcours.rules.contracts.kinds import CareKind

Per = Literal["act", "day", "ear", "year"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Guarantee(_Strict):
    percent: int | None = Field(default=None, ge=0, le=1000, description="% de la base, Sécurité sociale incluse")
    non_optam_percent: int | None = Field(default=None, ge=0, le=1000)
    amount: Decimal | None = Field(default=None, ge=0, le=100_000, description="forfait en euros, Sécu incluse")
    per: Per | None = None
    full_price: bool = False
    yearly_ceiling: Decimal | None = Field(default=None, ge=0, le=100_000)
    max_days: int | None = Field(default=None, ge=1, le=366)

    @model_validator(mode="after")
    def _coherent(self) -> Guarantee:
        if (self.amount is None) != (self.per is None):
            raise ValueError("« amount » et « per » vont ensemble")
        if self.max_days is not None and self.per != "day":
            raise ValueError("« max_days » ne s'applique qu'à un forfait par jour")
        return self


class OpticsGuarantee(_Strict):
    """Class B glasses: the most reimbursed for one equipment (frame + two lenses), Sécurité sociale included."""

    simple: Decimal = Field(ge=0)
    complex: Decimal = Field(ge=0)
    very_complex: Decimal = Field(ge=0)
    frame: Decimal = Field(ge=0, description="sous-plafond de la monture")


class Contract(_Strict):
    name: str = Field(min_length=1, max_length=60)
    label: str = Field(min_length=1, max_length=120)
    insurer: str | None = None
    description: str = ""
    responsable: bool = True
    c2s: bool = Field(default=False, description="la Complémentaire santé solidaire, pour ses seuls bénéficiaires")
    monthly_premium: Decimal | None = Field(default=None, ge=0, description="cotisation mensuelle indicative")
    guarantees: dict[CareKind, Guarantee] = Field(default_factory=dict)
    optics_class_b: OpticsGuarantee | None = None

    def guarantee(self, kind: CareKind) -> Guarantee:
        return self.guarantees.get(kind, NO_GUARANTEE)


NO_GUARANTEE = Guarantee()


class ContractError(ValueError):
    """A contract file that cannot be used, with the guarantee at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field} : {message}")
        self.field = field
        self.message = message


CATALOGUE = Path(__file__).with_name("catalogue")


def parse_contract(data: object, source: str = "contrat") -> Contract:
    try:
        return Contract.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or source
        raise ContractError(field, str(error["msg"]).removeprefix("Value error, ")) from None


def read_contract(path: Path) -> Contract:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ContractError(str(path), f"lecture impossible : {exc}") from None
    return parse_contract(data, str(path))


def catalogue_names() -> list[str]:
    return sorted(path.stem for path in CATALOGUE.glob("*.yaml"))
