"""The year-to-date state knows its date and professional: yearly counters start again each calendar year, the
same-day counters each day (and, for the participation, with each professional) [S12b][S12c][S13]."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from parcours.rules.engine import Engine, RuleInputError
from parcours.rules.event import CareEvent, YearToDate
from parcours.rules.params import PARAMETERS_DIR, load_parameters

from .conftest import GP_RPPS, OTHER_RPPS, THIRD_RPPS, event, run

CAPPED = {"participation_paid": Decimal("50.00"), "franchises_paid": Decimal("50.00")}


def pf(state: YearToDate, **changes: object) -> int:
    return run(event(**changes), state).lines[0].participation


class TestYearlyCounters:
    def test_a_new_year_starts_from_zero(self) -> None:
        state = YearToDate(as_of="2025-12-31", **CAPPED)  # type: ignore[arg-type]
        assert pf(state, date="2026-01-01") == 200  # the 50 € cap of 2025 does not reach into 2026

    def test_the_same_year_keeps_the_cap(self) -> None:
        state = YearToDate(as_of="2026-01-01", **CAPPED)  # type: ignore[arg-type]
        assert pf(state, date="2026-03-02") == 0

    def test_teleexpertise_count_starts_again_each_year(self) -> None:
        state = YearToDate(as_of="2025-12-30", teleexpertise_acts={"TE2": 4})  # type: ignore[arg-type]
        e = event(
            date="2026-01-05", professional={"rpps": OTHER_RPPS, "specialty": "dermatology"}, acts=[{"code": "TE2"}]
        )
        assert run(e, state).lines[0].status == "paid"

    def test_teleexpertise_limit_is_per_patient_and_per_doctor(self) -> None:
        """4 téléexpertises a year for one patient with one doctor [S16a]; the count is kept per doctor."""

        def te2(rpps: str) -> CareEvent:
            return event(professional={"rpps": rpps, "specialty": "dermatology"}, acts=[{"code": "TE2"}])

        state = YearToDate(as_of="2026-03-01", teleexpertise_acts={f"TE2:{OTHER_RPPS}": 4})  # type: ignore[arg-type]
        refused = run(te2(OTHER_RPPS), state)
        assert (refused.lines[0].status, refused.lines[0].reason) == ("rejected", "teleexpertise_yearly_limit")
        assert "4 téléexpertises" in next(s.text for s in refused.explanation if s.rule.startswith("refusal"))
        other = run(te2(THIRD_RPPS), state)
        assert other.lines[0].status == "paid"
        assert other.state_after["teleexpertise_acts"] == {f"TE2:{OTHER_RPPS}": 4, f"TE2:{THIRD_RPPS}": 1}

    def test_a_teleexpertise_count_without_doctor_is_the_event_doctors(self) -> None:
        """A bare "TE2" (a state written before the per-doctor count) counts for the professional of the event."""
        state = YearToDate(teleexpertise_acts={"TE2": 3})  # type: ignore[arg-type]
        e = event(professional={"rpps": OTHER_RPPS, "specialty": "dermatology"}, acts=[{"code": "TE2"}])
        result = run(e, state)
        assert result.lines[0].status == "paid"
        assert result.state_after["teleexpertise_acts"] == {f"TE2:{OTHER_RPPS}": 4}

    def test_franchises_start_again_each_year(self) -> None:
        state = YearToDate(as_of="2025-06-01", **CAPPED)  # type: ignore[arg-type]
        e = event(
            date="2026-01-02",
            professional={"rpps": OTHER_RPPS, "profession": "pharmacist", "specialty": None},
            acts=[{"code": "PH7", "fee": 10}],
        )
        assert run(e, state).lines[0].franchise == 100


class TestSameDayCounters:
    def test_same_day_same_professional_keeps_the_four_a_day(self) -> None:
        state = YearToDate(as_of="2026-03-02", same_day_professional=GP_RPPS, same_day_participations=4)  # type: ignore[arg-type]
        assert pf(state) == 0

    def test_another_professional_the_same_day_starts_from_zero(self) -> None:
        state = YearToDate(as_of="2026-03-02", same_day_professional=OTHER_RPPS, same_day_participations=4)  # type: ignore[arg-type]
        assert pf(state) == 200

    def test_another_day_starts_from_zero(self) -> None:
        state = YearToDate(as_of="2026-03-01", same_day_professional=GP_RPPS, same_day_participations=4)  # type: ignore[arg-type]
        assert pf(state) == 200

    def test_daily_paramedical_cap_is_per_day_and_professional(self) -> None:
        """1 € per paramedical act, at most 4 € a day with the same professional [S13][R33]."""
        nurse = {"professional": {"rpps": OTHER_RPPS, "profession": "nurse", "specialty": None}}
        e = event(acts=[{"code": "AMI", "coefficient": 1}], **nurse)

        def taken(as_of: str, rpps: str) -> YearToDate:
            return YearToDate(as_of=as_of, same_day_professional=rpps, same_day_paramedical_franchises=Decimal(4))  # type: ignore[arg-type]

        assert run(e, taken("2026-03-02", OTHER_RPPS)).lines[0].franchise == 0  # this nurse's cap is reached
        assert run(e, taken("2026-03-02", THIRD_RPPS)).lines[0].franchise == 100  # another nurse's acts
        assert run(e, taken("2026-03-01", OTHER_RPPS)).lines[0].franchise == 100  # another day


class TestOldStates:
    def test_a_state_without_as_of_applies_whole(self) -> None:
        """States written before ``as_of`` existed are read as taken on the event's day with its professional."""
        assert pf(YearToDate(**CAPPED)) == 0  # type: ignore[arg-type]
        assert pf(YearToDate(same_day_participations=4)) == 0

    def test_state_after_records_its_date_and_professional(self) -> None:
        after = run(event()).state_after
        assert (after["as_of"], after["same_day_professional"], after["same_day_participations"]) == (
            "2026-03-02",
            GP_RPPS,
            1,
        )

    def test_chaining_state_after_across_new_year(self) -> None:
        december = run(event(date="2025-12-31"), YearToDate(participation_paid=Decimal("48.00")))
        assert december.lines[0].participation == 200
        january = run(event(date="2026-01-01"), YearToDate.model_validate(december.state_after))
        assert january.lines[0].participation == 200
        assert january.state_after["participation_paid"] == "2.00"


def test_a_state_taken_after_the_event_is_refused() -> None:
    with pytest.raises(RuleInputError) as raised:
        run(event(date="2026-03-02"), YearToDate(as_of="2026-03-03"))  # type: ignore[arg-type]
    assert raised.value.field == "year_to_date.as_of"


@pytest.mark.parametrize(
    "e",
    [
        event(),
        event(
            professional={"rpps": None, "profession": "optician", "specialty": None},
            acts=[{"code": "FRAME", "device_class": "A"}],
        ),
        event(
            professional={"rpps": OTHER_RPPS, "profession": "hearing_aid_provider", "specialty": None},
            acts=[{"code": "HEARING_AID", "device_class": "I", "ear": "left"}],
        ),
        event(professional={"rpps": OTHER_RPPS, "specialty": "dermatology"}, acts=[{"code": "TE2"}]),
        event(
            professional={"rpps": OTHER_RPPS, "profession": "nurse", "specialty": None},
            acts=[{"code": "AMI", "coefficient": 1}] * 5,
        ),
    ],
)
def test_state_after_is_a_valid_state_in_its_json_form(e: object) -> None:
    """The engine builds ``state_after`` directly: it must be exactly what the model would dump."""
    after = run(e, YearToDate(participation_paid=Decimal("12.50"))).state_after  # type: ignore[arg-type]
    assert YearToDate.model_validate(after).model_dump(mode="json") == after


def test_a_renewal_period_not_in_force_is_an_error_naming_the_date(tmp_path: Path) -> None:
    """Parameters whose hearing-aid renewal period starts after the date of care (a copy, shifted): a clear error
    on ``date``, not an uncaught NoValueInForceError."""
    shutil.copytree(PARAMETERS_DIR, tmp_path / "p")
    audiology = tmp_path / "p" / "tariffs" / "audiology.yaml"
    text = audiology.read_text(encoding="utf-8")
    shifted = text.replace("2019-01-01: {value: 4, sources: [R23]}", "2023-01-01: {value: 4, sources: [R23]}")
    assert shifted != text
    audiology.write_text(shifted, encoding="utf-8")
    e = event(
        date="2022-03-02",
        professional={"rpps": OTHER_RPPS, "profession": "hearing_aid_provider", "specialty": None},
        acts=[{"code": "HEARING_AID", "device_class": "I", "ear": "left"}],
    )
    state = YearToDate(last_hearing_aid={"left": "2020-01-02"})  # type: ignore[arg-type]
    with pytest.raises(RuleInputError) as raised:
        Engine(load_parameters(tmp_path / "p")).adjudicate(e, state)
    assert raised.value.field == "date"
    assert "2022-03-02" in str(raised.value)
