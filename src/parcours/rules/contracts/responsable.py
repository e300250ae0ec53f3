"""The contrat responsable rules (art. L871-1 and R871-2 CSS) checked when a contract is loaded.

What a contract must not pay (participation forfaitaire, franchises, majoration hors parcours, dépassement autorisé of
a secteur 1 specialist out of the pathway) is enforced when it pays (``amc.py``); what it must pay and the ceilings it
must respect are checked here, against the parameters in force on the date given.
"""

from __future__ import annotations

import datetime as dt

from parcours.rules.contracts.kinds import DOCTORS_FEES, LABELS, TM_OPTIONAL, ZERO_REMAINDER, CareKind
from parcours.rules.contracts.model import Contract, ContractError, Guarantee
from parcours.rules.money import format_eur, to_cents
from parcours.rules.params import ParameterSet, Snapshot, default_parameters

FULL_TICKET_MODERATEUR = 100  # percent of the base, Sécurité sociale included: the whole TM and nothing above


def check_responsable(contract: Contract, on: dt.date, parameters: ParameterSet | None = None) -> None:
    """Raise ``ContractError`` naming the guarantee when a contract marked responsable breaks a rule."""
    if not contract.responsable:
        return
    p = (parameters or default_parameters()).at(on)
    for kind in CareKind:
        guarantee = contract.guarantee(kind)
        where = f"guarantees.{kind.value}"
        _check_yearly_limits(kind, guarantee, where)
        if kind in ZERO_REMAINDER:
            if not guarantee.full_price:
                raise ContractError(
                    where, f"{LABELS[kind]} : un contrat responsable prend en charge la totalité (full_price: true)"
                )
            continue
        if kind in TM_OPTIONAL or kind is CareKind.OPTICS_CLASS_B:
            continue
        if kind in DOCTORS_FEES and (guarantee.full_price or guarantee.amount is not None):
            # The non-OPTAM cap is a share of the base: a guarantee written otherwise could not respect it.
            field = "full_price" if guarantee.full_price else "amount"
            raise ContractError(
                f"{where}.{field}",
                f"{LABELS[kind]} : un contrat responsable exprime la garantie des honoraires médicaux en % de la base "
                "(percent, non_optam_percent), pour plafonner les dépassements hors OPTAM",
            )
        if kind is CareKind.HEARING_CLASS_II:
            _check_hearing(guarantee, where, p)
            continue
        if guarantee.full_price:
            continue
        if (guarantee.percent or 0) < FULL_TICKET_MODERATEUR:
            raise ContractError(
                where, f"{LABELS[kind]} : un contrat responsable couvre au moins le ticket modérateur (100 % BR)"
            )
        if kind in DOCTORS_FEES:
            _check_non_optam(
                guarantee.percent or 0,
                guarantee.non_optam_percent,
                where,
                p["contrat_responsable.non_optam_overrun_cap"],
                p["contrat_responsable.optam_gap"],
                kind,
            )
    _check_optics(contract, p)


def _check_yearly_limits(kind: CareKind, guarantee: Guarantee, where: str) -> None:
    """A contrat responsable pays the 100 % Santé baskets, the forfait journalier and the ticket modérateur in full:
    a yearly ceiling or envelope may only limit what it pays beyond them."""
    if guarantee.yearly_ceiling is None and guarantee.per != "year":
        return
    field = "yearly_ceiling" if guarantee.yearly_ceiling is not None else "per"
    if kind in ZERO_REMAINDER:
        raise ContractError(
            f"{where}.{field}",
            f"{LABELS[kind]} : pas de plafond annuel sur un panier sans reste à charge d'un contrat responsable",
        )
    only_tm = not guarantee.full_price and guarantee.amount is None and (guarantee.percent or 0) <= 100
    if guarantee.yearly_ceiling is not None and only_tm and kind not in TM_OPTIONAL:
        raise ContractError(
            f"{where}.yearly_ceiling",
            f"{LABELS[kind]} : la garantie ne paie que le ticket modérateur, qu'un contrat responsable doit toujours "
            "rembourser ; un plafond annuel ne peut pas le réduire",
        )


def _check_hearing(guarantee: Guarantee, where: str, p: Snapshot) -> None:
    """Hearing aids of class II: at least the ticket modérateur (100 % of the base per ear), at most the cap per ear,
    Sécurité sociale included."""
    base = p["tariffs.audiology.base_per_ear"]
    cap = p["contrat_responsable.hearing_class_ii_max"]
    if guarantee.full_price:
        raise ContractError(
            f"{where}.full_price",
            f"une aide auditive de classe II est prise en charge au plus {format_eur(cap)} par oreille",
        )
    per_ear = [base * (guarantee.percent or 0) // 100]
    if guarantee.amount is not None and guarantee.per in ("ear", "act"):
        per_ear.append(to_cents(guarantee.amount))
    if max(per_ear) < base:
        raise ContractError(
            where,
            f"{LABELS[CareKind.HEARING_CLASS_II]} : un contrat responsable couvre au moins le ticket modérateur "
            f"(100 % de la base de {format_eur(base)} par oreille, Sécurité sociale incluse)",
        )
    if max(per_ear) > cap:
        field = "amount" if guarantee.amount is not None and to_cents(guarantee.amount) > cap else "percent"
        raise ContractError(
            f"{where}.{field}",
            f"une aide auditive de classe II est prise en charge au plus {format_eur(cap)} par oreille",
        )


def _check_optics(contract: Contract, p: Snapshot) -> None:
    """Class B glasses: the floors and ceilings of R871-2 3° per equipment, Sécurité sociale included. The C2S pays
    class A glasses only (R8): no class B guarantee of its own."""
    optics = contract.optics_class_b
    if optics is None:
        if contract.c2s:
            return
        raise ContractError(
            "optics_class_b",
            "un contrat responsable prend en charge les lunettes de classe B entre un plancher et un plafond : "
            "indiquez simple, complex, very_complex et frame",
        )
    prefix = "contrat_responsable.optics_class_b"
    caps = {name: p[f"{prefix}.{name}_max"] for name in ("simple", "complex", "very_complex", "frame")}
    floors = {name: p[f"{prefix}.{name}_min"] for name in ("simple", "complex", "very_complex")}
    for name, cap in caps.items():
        if to_cents(getattr(optics, name)) > cap:
            raise ContractError(f"optics_class_b.{name}", f"plafond du contrat responsable : {format_eur(cap)}")
    for name, floor in floors.items():
        if to_cents(getattr(optics, name)) < floor:
            raise ContractError(f"optics_class_b.{name}", f"plancher du contrat responsable : {format_eur(floor)}")


def _check_non_optam(optam: int, non_optam: int | None, where: str, cap_bp: int, gap_bp: int, kind: CareKind) -> None:
    level = optam if non_optam is None else non_optam
    overrun_bp = (level - FULL_TICKET_MODERATEUR) * 100
    if overrun_bp <= 0:
        return
    if overrun_bp > cap_bp:
        raise ContractError(
            f"{where}.non_optam_percent",
            f"{LABELS[kind]} : les dépassements hors OPTAM sont pris en charge au plus à {cap_bp // 100} % de la base",
        )
    if (optam - level) * 100 < gap_bp:
        raise ContractError(
            f"{where}.non_optam_percent",
            f"{LABELS[kind]} : la prise en charge hors OPTAM reste inférieure d'au moins {gap_bp // 100} points "
            "à celle des médecins OPTAM",
        )
