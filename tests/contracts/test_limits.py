"""Floors, caps, ceilings and yearly envelopes, and the kinds of care the catalogue pays, worked by hand from the
brief's bases and rates and the guarantees. A contrat responsable always pays the ticket modérateur and the
100 % Santé baskets, whatever its ceilings; it never pays a non-OPTAM overrun beyond the R871-2 cap."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.contracts.conftest import amounts, by, pay
from tests.rules.conftest import event

from parcours.rules.contracts.amc import ContractYear
from parcours.rules.contracts.compare import year_cost
from parcours.rules.contracts.loader import load_contract
from parcours.rules.contracts.model import CATALOGUE, Contract, ContractError, parse_contract
from parcours.rules.engine import default_engine
from parcours.rules.params import default_parameters

DAY = dt.date(2026, 3, 2)
P = default_parameters().at(DAY)


def catalogue_data(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((CATALOGUE / f"{name}.yaml").read_text(encoding="utf-8"))
    return data


def unchecked(base: str = "confort", **guarantees: dict[str, Any]) -> Contract:
    """A contract as written, without the load-time checks: what the payment-time rules must still enforce."""
    data = catalogue_data(base)
    data["guarantees"].update(guarantees)
    return parse_contract(data)


def written(tmp_path: Path, data: dict[str, Any]) -> str:
    path = tmp_path / "contract.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return str(path)


FREE_CROWN = by("dentist", [{"code": "CROWN", "basket": "free", "fee": 800}])
CLASS_A_GLASSES = by(
    "optician",
    [
        {"code": "FRAME", "device_class": "A"},
        {"code": "LENS", "device_class": "A", "correction": "simple", "quantity": 2},
    ],
)
HEARING_II = by("hearing_aid_provider", [{"code": "HEARING_AID", "device_class": "II", "ear": "left", "fee": 1500}])
NON_OPTAM_G = event(professional={"sector": "2", "optam": False}, acts=[{"code": "G", "fee": 120}])


# 1. Yearly ceilings never cut the ticket modérateur nor a 100 % Santé basket.


def test_a_spent_ceiling_still_leaves_the_ticket_moderateur_of_every_crown_paid() -> None:
    # Essentiel: free crowns at 150 % of the 120 € base, 500 € a year. AMO 60 % = 72 €, TM 48 €, 60 € beyond it.
    state = None
    paid = []
    for _ in range(10):
        result = pay("essentiel", FREE_CROWN, state)
        paid.append(result.amc)
        state = result.state_after
    # eight crowns use 8 × 60 = 480 € of the ceiling, the ninth the last 20 €, the tenth only its TM
    assert paid == [4800 + 6000] * 8 + [4800 + 2000, 4800]
    assert state is not None
    assert state.paid == {"dental_prosthesis_free": 50000}


def test_a_ceiling_on_a_100_percent_sante_basket_does_not_reduce_it_at_payment() -> None:
    contract = unchecked(optics_class_a={"full_price": True, "yearly_ceiling": 10})
    result = pay(contract, CLASS_A_GLASSES, ContractYear(2026, {"optics_class_a": 100_000}))
    assert result.out_of_pocket == 0


@pytest.mark.parametrize(
    ("kind", "guarantee", "field"),
    [
        ("optics_class_a", {"full_price": True, "yearly_ceiling": 100}, "yearly_ceiling"),
        ("daily_charge", {"full_price": True, "amount": 100, "per": "year"}, "per"),
        ("pharmacy_major", {"percent": 100, "yearly_ceiling": 50}, "yearly_ceiling"),
        ("biology", {"percent": 100, "yearly_ceiling": 50}, "yearly_ceiling"),
    ],
)
def test_a_ceiling_on_what_a_responsable_contract_must_pay_is_refused(
    tmp_path: Path, kind: str, guarantee: dict[str, Any], field: str
) -> None:
    data = catalogue_data("confort")
    data["guarantees"][kind] = guarantee
    with pytest.raises(ContractError) as refused:
        load_contract(written(tmp_path, data), DAY)
    assert refused.value.field == f"guarantees.{kind}.{field}"
    assert load_contract(written(tmp_path, {**data, "responsable": False}), DAY).responsable is False


def test_a_ceiling_above_the_ticket_moderateur_is_accepted(tmp_path: Path) -> None:
    data = catalogue_data("confort")
    data["guarantees"]["auxiliaries"] = {"percent": 150, "yearly_ceiling": 100}
    assert load_contract(written(tmp_path, data), DAY).guarantee
    data["guarantees"]["private_room"] = {"amount": 200, "per": "year"}  # no TM on a private room
    assert load_contract(written(tmp_path, data), DAY).guarantee


# 2. The non-OPTAM overrun cap: refused at load, capped at payment.


@pytest.mark.parametrize(
    ("guarantee", "field"),
    [({"full_price": True}, "full_price"), ({"amount": 100, "per": "act"}, "amount")],
)
def test_doctors_fees_written_otherwise_than_in_percent_are_refused(
    tmp_path: Path, guarantee: dict[str, Any], field: str
) -> None:
    data = catalogue_data("confort")
    data["guarantees"]["gp_consultation"] = guarantee
    with pytest.raises(ContractError) as refused:
        load_contract(written(tmp_path, data), DAY)
    assert refused.value.field == f"guarantees.gp_consultation.{field}"


def test_a_non_optam_overrun_is_capped_at_payment_whatever_the_guarantee() -> None:
    # G billed 120 € by a non-OPTAM secteur 2 GP: base 23 €, AMO 70 % = 16,10 € − 2 € PF = 14,10 €.
    cap = P["contrat_responsable.non_optam_overrun_cap"]  # 100 % of the base
    assert cap == 10_000
    full = pay(unchecked(gp_consultation={"full_price": True}), NON_OPTAM_G)
    # at most 200 % × 23 € = 46 € Sécurité sociale included: 46 − 16,10 = 29,90 € (not the 103,90 € left)
    assert amounts(full) == (2990, 12000 - 1410 - 2990)
    assert "amc.non_optam_cap" in [step.rule for step in full.explanation]
    forfait = pay(unchecked(gp_consultation={"amount": 100, "per": "act"}), NON_OPTAM_G)
    assert forfait.amc == 2990
    # 150 % for OPTAM doctors and no separate level: 20 points below, 130 % × 23 = 29,90 − 16,10 = 13,80 €
    gap = pay(unchecked(gp_consultation={"percent": 150}), NON_OPTAM_G)
    assert gap.amc == 1380
    # the same contract marked non-responsable is not bound by the cap
    free = unchecked(gp_consultation={"full_price": True}).model_copy(update={"responsable": False})
    assert pay(free, NON_OPTAM_G).amc == 12000 - 1410 - 200


# 3. Yearly envelopes.


def test_a_yearly_envelope_alone_pays_until_spent_and_starts_again_next_year() -> None:
    contract = unchecked(private_room={"amount": 200, "per": "year"})
    room = by("hospital", [{"code": "PRIVATE_ROOM", "fee": 150, "days": 3}])
    first = pay(contract, room)
    assert amounts(first) == (15000, 0)
    second = pay(contract, room, first.state_after)
    assert amounts(second) == (5000, 10000)  # 50 € left of the 200 € envelope
    assert first.state_after.envelopes == {"private_room": 15000}
    spent = pay(contract, room, second.state_after)
    assert spent.amc == 0
    next_year = by("hospital", [{"code": "PRIVATE_ROOM", "fee": 150, "days": 3}], date="2027-01-15")
    assert pay(contract, next_year, spent.state_after).amc == 15000


def test_a_yearly_envelope_on_top_of_the_ticket_moderateur_of_a_class_ii_hearing_aid() -> None:
    contract = unchecked(hearing_class_ii={"percent": 100, "amount": 300, "per": "year"})
    # base 400 € per ear, AMO 60 % = 240 €, TM 160 €; the envelope pays 300 € more on the first ear
    left = pay(contract, HEARING_II)
    assert amounts(left) == (16000 + 30000, 150000 - 24000 - 46000)
    right = pay(contract, HEARING_II, left.state_after)
    assert right.amc == 16000  # envelope spent: the TM still paid


# 4. Class B floors (R871-2 3°) and hearing class II TM.


@pytest.mark.parametrize(
    ("optics", "field"),
    [
        (None, "optics_class_b"),
        ({"simple": 50, "complex": 150, "very_complex": 500, "frame": 30}, "optics_class_b.complex"),
        ({"simple": 50, "complex": 200, "very_complex": 150, "frame": 30}, "optics_class_b.very_complex"),
    ],
)
def test_class_b_glasses_must_be_covered_at_the_floors(
    tmp_path: Path, optics: dict[str, int] | None, field: str
) -> None:
    assert P["contrat_responsable.optics_class_b.complex_min"] == 20_000
    assert P["contrat_responsable.optics_class_b.very_complex_min"] == 20_000
    data = catalogue_data("ticket-moderateur")
    data["optics_class_b"] = optics
    with pytest.raises(ContractError) as refused:
        load_contract(written(tmp_path, data), DAY)
    assert refused.value.field == field


def test_the_c2s_pays_class_a_glasses_only() -> None:
    c2s = load_contract("c2s", DAY)
    assert c2s.optics_class_b is None
    glasses = by(
        "optician",
        [
            {"code": "FRAME", "device_class": "B", "fee": 120},
            {"code": "LENS", "device_class": "B", "correction": "simple", "quantity": 2, "fee": 180},
        ],
        patient={"c2s": True},
    )
    result = pay(c2s, glasses)
    assert result.amc == sum(share.line.copayment for share in result.shares)  # the TM, a few cents


@pytest.mark.parametrize(
    ("guarantee", "field"),
    [
        ({"amount": 100, "per": "ear"}, "guarantees.hearing_class_ii"),
        ({"percent": 50}, "guarantees.hearing_class_ii"),
        ({"percent": 500}, "guarantees.hearing_class_ii.percent"),
        ({"full_price": True}, "guarantees.hearing_class_ii.full_price"),
    ],
)
def test_hearing_class_ii_between_the_ticket_moderateur_and_the_cap(
    tmp_path: Path, guarantee: dict[str, Any], field: str
) -> None:
    data = catalogue_data("confort")
    data["guarantees"]["hearing_class_ii"] = guarantee
    with pytest.raises(ContractError) as refused:
        load_contract(written(tmp_path, data), DAY)
    assert refused.value.field == field


def test_the_ticket_moderateur_formula_pays_the_tm_of_a_class_ii_hearing_aid() -> None:
    # base 400 € per ear (R21), AMO 60 % = 240 €, TM 160 €; 1 500 − 240 − 160 = 1 100 € left
    assert amounts(pay("ticket-moderateur", HEARING_II)) == (16000, 110000)


def test_transport_ticket_moderateur_is_due(tmp_path: Path) -> None:
    data = catalogue_data("confort")
    data["guarantees"]["transport"] = {"percent": 0}
    with pytest.raises(ContractError) as refused:
        load_contract(written(tmp_path, data), DAY)
    assert refused.value.field == "guarantees.transport"
    # 50 € at 55 %: AMO 27,50 − 4 € franchise = 23,50 € ; TM 22,50 € ; the franchise stays
    trip = by("transport", [{"code": "TRANSPORT", "fee": 50}])
    assert amounts(pay("ticket-moderateur", trip)) == (2250, 400)


# 5. Each kind of care.


def test_teleconsultation() -> None:
    tele = event(teleconsultation=True, last_in_person_visit="2026-01-02", acts=[{"code": "TCG"}])
    # TCG 25 €, AMO 70 % = 17,50 − 2 € PF = 15,50 € ; TM 7,50 € ; the PF stays
    assert amounts(pay("ticket-moderateur", tele)) == (750, 200)
    assert amounts(pay("confort", tele)) == (750, 200)  # no overrun to pay at 150 %


def test_biology_and_auxiliaries() -> None:
    blood = by("laboratory", [{"code": "B", "coefficient": 120}])
    # B 120 = 30 € at 60 %: 18 − 2 € PF = 16 € ; TM 12 €
    assert amounts(pay("ticket-moderateur", blood)) == (1200, 200)
    physio = by("physiotherapist", [{"code": "AMK", "coefficient": 7.5}])
    # AMK 7,5 = 16,58 € at 60 % = 9,95 − 1 € franchise ; TM 6,63 € ; the franchise stays
    assert amounts(pay("confort", physio)) == (663, 100)


def test_pharmacy_30_and_100_percent() -> None:
    moderate = by("pharmacist", [{"code": "PH4", "fee": 10}])
    # 10 € at 30 % = 3 − 1 € franchise = 2 € ; TM 7 €
    assert amounts(pay("ticket-moderateur", moderate)) == (700, 100)
    full = by("pharmacist", [{"code": "PH1", "fee": 100}])
    # 100 %: 100 − 1 € franchise; no TM to pay, the franchise stays
    assert amounts(pay("renfort", full)) == (0, 100)


def test_moderate_prosthesis_basket() -> None:
    crown = by("dentist", [{"code": "CROWN", "basket": "moderate", "fee": 500}])
    # base 120 €, AMO 72 € ; Essentiel 150 % = 180 − 72 = 108 € ; 500 − 72 − 108 = 320 €
    assert amounts(pay("essentiel", crown)) == (10800, 32000)
    assert amounts(pay("ticket-moderateur", crown)) == (4800, 38000)  # the TM alone


def test_forfait_patient_urgences_is_paid_in_full() -> None:
    visit = by("hospital", [{"code": "FPU"}])
    fpu = P["tariffs.hospital.emergency_flat_fee"]
    assert fpu == 2300  # 23 € from 1 March 2026 (R25, R26)
    assert amounts(pay("ticket-moderateur", visit)) == (fpu, 0)


def test_a_stay_with_a_costly_act_bills_the_forfait_journalier_and_the_contract_pays_it() -> None:
    stay = by("hospital", [{"code": "HOSP_STAY", "fee": 3000, "days": 3, "costly_act": True}])
    result = pay("ticket-moderateur", stay)
    fees, daily = result.shares
    assert (fees.amc, daily.line.fee, daily.amc) == (2400, 3 * 2300, 3 * 2300)  # 24 € flat, 3 × 23 € FJ
    assert result.out_of_pocket == 0


def test_an_ald_stay_bills_the_forfait_journalier_and_the_contract_pays_it() -> None:
    stay = by("hospital", [{"code": "HOSP_STAY", "fee": 3000, "days": 3}], patient={"ald": True}, ald_care=True)
    result = pay("ticket-moderateur", stay)
    fees, daily = result.shares
    assert (fees.line.amo, fees.amc) == (300000, 0)  # 100 % for the ALD
    assert (daily.line.fee, daily.amc, result.out_of_pocket) == (6900, 6900, 0)


def test_class_b_very_complex_glasses() -> None:
    glasses = by(
        "optician",
        [
            {"code": "FRAME", "device_class": "B", "fee": 200},
            {"code": "LENS", "device_class": "B", "correction": "very_complex", "quantity": 2, "fee": 600},
        ],
    )
    amo = sum(line.amo for line in default_engine().adjudicate(glasses).lines)  # a few cents (R1)
    # Confort: 500 € per very complex equipment, Sécurité sociale included, frame at most 100 €
    confort = pay("confort", glasses)
    assert confort.amc == 50000 - amo
    assert confort.shares[0].amc + confort.shares[0].line.amo == 10000
    # the legal floor of 200 € for the ticket-moderateur formula, frame at most 30 €
    assert pay("ticket-moderateur", glasses).amc == 20000 - amo


# 6. Year-to-date state.


def test_ceilings_start_again_in_a_new_year() -> None:
    spent = ContractYear(2025, {"dental_prosthesis_free": 100_000})
    assert pay("confort", FREE_CROWN, spent).amc == 22800  # 250 % × 120 − 72, the 2025 ceiling is gone
    assert ContractYear.from_dict(spent.to_dict(), DAY).paid == {}


def test_a_year_of_care_carries_the_contract_state_across_events() -> None:
    # Essentiel: private room 30 € a day, 15 days a year
    stays = [
        by("hospital", [{"code": "PRIVATE_ROOM", "fee": 500, "days": 10}], date=day)
        for day in ("2026-02-02", "2026-06-01", "2027-01-11")
    ]
    cost = year_cost(load_contract("essentiel", DAY), stays)
    assert cost.amc == 30000 + 15000 + 30000  # 10 days, the 5 days left, then a new year
    assert cost.out_of_pocket == 3 * 50000 - cost.amc
