"""Participations and franchises that could not be withheld (tiers payant at the pharmacy, the nurse's, the
hospital) stay owed, count toward the caps, are carried in the year-to-date state and recovered from a later
reimbursement paid to the patient [S12][S13]."""

from __future__ import annotations

from decimal import Decimal

from parcours.rules.event import YearToDate

from .conftest import OTHER_RPPS, event, run

PHARMACY = {"professional": {"rpps": None, "profession": "pharmacist", "specialty": None}}


def test_in_tiers_payant_the_franchise_is_owed_not_withheld() -> None:
    # 3 boxes at 65 %: 3 × 1 € of franchise (décret 16 Feb 2024) [S13][R33]
    result = run(event(acts=[{"code": "PH7", "fee": 10, "quantity": 3}], tiers_payant=True, **PHARMACY))
    line = result.lines[0]
    assert (line.gross, line.franchise, line.amo) == (650, 300, 350)
    assert (result.deferred, result.recovered, result.paid) == (300, 0, 650)  # the pharmacist is paid 6,50 €
    assert result.state_after["franchises_owed"] == "3.00"
    assert result.state_after["franchises_paid"] == "3.00"  # owed franchises count toward the 50 € cap
    step = next(s for s in result.explanation if s.rule == "recovery.deferred")
    assert "récupérées" in step.text
    assert {"S12", "S13"} <= step.source_ids()
    data = result.to_dict()
    assert (data["deferred"], data["paid"]) == (3.0, 6.5)


def test_what_is_owed_is_recovered_from_the_next_reimbursement() -> None:
    owed = YearToDate.model_validate(
        run(event(acts=[{"code": "PH7", "fee": 10, "quantity": 3}], tiers_payant=True, **PHARMACY)).state_after
    )
    later = run(event(date="2026-03-05"), owed)  # G 30 € × 70 % − 2 € = 19 € [S2]
    assert later.amo == 1900
    assert (later.recovered, later.paid) == (300, 1600)
    assert (later.state_after["franchises_owed"], later.state_after["participation_owed"]) == ("0.00", "0.00")
    assert "recovery" in [s.rule for s in later.explanation]


def test_a_small_reimbursement_recovers_part_and_carries_the_rest() -> None:
    state = YearToDate(participation_owed=Decimal(20), franchises_owed=Decimal(5))  # type: ignore[arg-type]
    later = run(event(), state)
    assert later.recovered == 1900  # the whole 19 €, participations first
    assert (later.state_after["participation_owed"], later.state_after["franchises_owed"]) == ("1.00", "5.00")
    assert "reste dû 6,00 €" in next(s.text for s in later.explanation if s.rule == "recovery")


def test_nothing_is_recovered_from_another_tiers_payant_and_the_debt_spans_years() -> None:
    state = YearToDate(as_of="2025-12-20", franchises_owed=Decimal(2))  # type: ignore[arg-type]
    nurse = {"professional": {"rpps": OTHER_RPPS, "profession": "nurse", "specialty": None}}
    result = run(event(acts=[{"code": "AMI", "coefficient": 1}], tiers_payant=True, **nurse), state)
    assert result.recovered == 0
    assert result.state_after["franchises_owed"] == "3.00"  # 2 € of 2025 + 1 € today
    assert result.state_after["franchises_paid"] == "1.00"  # the yearly cap starts again; the debt does not


def test_no_debt_no_recovery_step() -> None:
    result = run(event())
    assert (result.deferred, result.recovered, result.paid) == (0, 0, result.amo)
    assert "recovered" not in result.to_dict()
