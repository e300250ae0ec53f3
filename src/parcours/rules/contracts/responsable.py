"""The contrat responsable rules (art. L871-1 and R871-2 CSS) checked when a contract is loaded.

What a contract must not pay (participation forfaitaire, franchises, majoration hors parcours, dépassement autorisé of
a secteur 1 specialist out of the pathway) is enforced when it pays (``amc.py``); what it must pay and the ceilings it
must respect are checked here, against the parameters in force on the date given.
"""

from __future__ import annotations

import datetime as dt

from parcours.rules.contracts.kinds import DOCTORS_FEES, LABELS, ZERO_REMAINDER, CareKind
from parcours.rules.contracts.model import Contract, ContractError
from parcours.rules.money import format_eur, to_cents
from parcours.rules.params import ParameterSet, default_parameters

FULL_TICKET_MODERATEUR = 100  # percent of the base, Sécurité sociale included: the whole TM and nothing above
# Kinds of care whose ticket modérateur a contrat responsable may leave to the patient (R871-2 1°, drugs at 15 %).
TM_OPTIONAL = frozenset({CareKind.PHARMACY_LOW, CareKind.TELEEXPERTISE, CareKind.PRIVATE_ROOM, CareKind.TRANSPORT})


def check_responsable(contract: Contract, on: dt.date, parameters: ParameterSet | None = None) -> None:
    """Raise ``ContractError`` naming the guarantee when a contract marked responsable breaks a rule."""
    if not contract.responsable:
        return
    p = (parameters or default_parameters()).at(on)
    for kind in CareKind:
        guarantee = contract.guarantee(kind)
        where = f"guarantees.{kind.value}"
        if kind in ZERO_REMAINDER:
            if not guarantee.full_price:
                raise ContractError(
                    where, f"{LABELS[kind]} : un contrat responsable prend en charge la totalité (full_price: true)"
                )
            continue
        if kind in TM_OPTIONAL or kind is CareKind.OPTICS_CLASS_B or kind is CareKind.HEARING_CLASS_II:
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
    hearing = contract.guarantee(CareKind.HEARING_CLASS_II)
    hearing_cap = p["contrat_responsable.hearing_class_ii_max"]
    if hearing.amount is not None and to_cents(hearing.amount) > hearing_cap:
        raise ContractError(
            f"guarantees.{CareKind.HEARING_CLASS_II.value}.amount",
            f"une aide auditive de classe II est prise en charge au plus {format_eur(hearing_cap)} par oreille",
        )
    if contract.optics_class_b is not None:
        optics = contract.optics_class_b
        limits = {
            "simple": p["contrat_responsable.optics_class_b.simple_max"],
            "complex": p["contrat_responsable.optics_class_b.complex_max"],
            "very_complex": p["contrat_responsable.optics_class_b.very_complex_max"],
            "frame": p["contrat_responsable.optics_class_b.frame_max"],
        }
        for name, cap in limits.items():
            if to_cents(getattr(optics, name)) > cap:
                raise ContractError(f"optics_class_b.{name}", f"plafond du contrat responsable : {format_eur(cap)}")
        floor = p["contrat_responsable.optics_class_b.simple_min"]
        if to_cents(optics.simple) < floor:
            raise ContractError("optics_class_b.simple", f"plancher du contrat responsable : {format_eur(floor)}")


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
