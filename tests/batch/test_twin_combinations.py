"""The twin decides what does not depend on the amounts, the days or the order once per distinct combination of the
columns it reads (``ColumnarEngine._stateless``: codes, flags, the span of dates between two changes of the
parameters, the age band, the date facts), then gathers it by row. Rows of one combination that differ in what it
leaves out (the date within a span, the age within a band, the fee, the quantity…) still get their own answer,
equal to the scalar engine's; rows on both sides of a change of the parameters take the value in force on their
own date of care.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.batch.test_differential import KEY_DATES, LAST_HEARING, LAST_OPTICAL, SCHEMA, TWIN, both, claim_rows

from parcours.rules.params import default_parameters

PARAMETERS = default_parameters()
ONE_DAY = dt.timedelta(days=1)


def _shifted(value: dt.date | None, old: dt.date, new: dt.date) -> dt.date | None:
    return None if value is None else value + (new - old)


@st.composite
def look_alike_batches(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Copies of one to three drawn claims that differ only in what a combination leaves out: the date (around the
    parameters' changes; the dates of the claim moved with it), the birth date, the fee, the quantity, the
    coefficient, the days of a stay, the patient and the professional."""
    templates = [draw(claim_rows(0)) for _ in range(draw(st.integers(1, 3)))]
    rows = []
    for claim_id in range(draw(st.integers(2, 30))):
        row = dict(draw(st.sampled_from(templates)))
        date = draw(st.sampled_from(KEY_DATES))
        for name in ("installed_on", "last_in_person_visit", "pregnancy_start", "delivery_date"):
            row[name] = _shifted(row.get(name), row["date"], date)
        if draw(st.booleans()):
            row["birth_date"] = date - dt.timedelta(days=draw(st.integers(0, 95 * 366)))
        else:
            row["birth_date"] = _shifted(row["birth_date"], row["date"], date)
        row["date"] = date
        row["claim_id"] = claim_id
        row["patient_id"] = draw(st.integers(0, 3))
        row["professional_id"] = draw(st.integers(0, 2))
        row["last_optical_equipment"] = LAST_OPTICAL[row["patient_id"]]
        row["last_hearing_aid_left"], row["last_hearing_aid_right"] = LAST_HEARING[row["patient_id"]]
        if draw(st.booleans()):
            row["quantity"] = draw(st.integers(1, 3))
        if row.get("fee") is not None and draw(st.booleans()):
            row["fee"] = draw(st.integers(0, 20_000))
        if row.get("coefficient") is not None and draw(st.booleans()):
            row["coefficient"] = draw(st.sampled_from([1.0, 2.5, 70.0]))
        if row.get("days") is not None or draw(st.integers(0, 5)) == 0:
            row["days"] = draw(st.integers(1, 40))
        rows.append(row)
    return rows


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(look_alike_batches())
def test_rows_of_one_combination_get_their_own_answers(rows: list[dict[str, Any]]) -> None:
    twin, scalar, _ = both(rows)
    for got, expected in zip(twin, scalar, strict=True):
        assert got == expected


def _consultation(claim_id: int, patient: int, day: dt.date, birth: dt.date, gp: bool = True) -> dict[str, Any]:
    return {"claim_id": claim_id, "patient_id": patient, "professional_id": 1, "date": day, "birth_date": birth,
            "has_gp": gp, "seen_by_gp": gp, "profession": "physician", "specialty": "general_practice",
            "act_code": "G"}  # fmt: skip


def test_a_year_across_a_tariff_change_takes_the_value_in_force_on_each_date() -> None:
    """One patient profile, one act, on the days around the G tariff's change (22 December 2024) and the
    participation's (15 May 2024): each row its date's tariff and participation, as the scalar engine."""
    days = [dt.date(2024, 5, 14), dt.date(2024, 5, 15), dt.date(2024, 12, 21), dt.date(2024, 12, 22),
            dt.date(2024, 12, 23), dt.date(2024, 5, 13)]  # fmt: skip
    rows = [_consultation(i, i, day, dt.date(1970, 3, 1)) for i, day in enumerate(days)]
    twin, scalar, answered = both(rows)
    assert answered == len(rows)
    assert twin == scalar
    for row, day in zip(twin, days, strict=True):
        p = PARAMETERS.at(day)
        assert row["base"] == p["tariffs.ngap.G"]
        assert row["participation"] == p["participation.amount"]
        assert row["amo"] == row["gross"] - row["participation"]
    tariffs = {PARAMETERS.at(day)["tariffs.ngap.G"] for day in days}
    participations = {PARAMETERS.at(day)["participation.amount"] for day in days}
    assert len(tariffs) == 2  # the days do straddle both changes
    assert len(participations) == 2


def test_ages_either_side_of_a_threshold_are_told_apart() -> None:
    """Patients of one profile (no médecin traitant) aged just under and just over the pathway's minimum age and
    the participation's exemption age: each their own pathway (a minor is not out of it), majoration and
    participation, as the scalar engine."""
    day = dt.date(2025, 3, 10)
    p = PARAMETERS.at(day)
    ages = sorted({p["pathway.minimum_age"] - 1, p["pathway.minimum_age"], p["participation.exempt_under_age"] - 1,
                   p["participation.exempt_under_age"], 40})  # fmt: skip
    rows = []
    for i, age in enumerate(ages):  # born on that day ``age`` years ago, and the day after ``age + 1`` years ago
        for j, birth in enumerate((day.replace(year=day.year - age), day.replace(year=day.year - age - 1) + ONE_DAY)):
            rows.append(_consultation(2 * i + j, 2 * i + j, day, birth, gp=False))
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    twin, scalar, answered = both(rows)
    assert answered == len(rows)
    assert twin == scalar
    result = TWIN.run(table)
    for k in range(len(rows)):
        age = ages[k // 2]
        exempt = age < p["participation.exempt_under_age"]
        assert twin[k]["participation"] == (0 if exempt else p["participation.amount"])
        minor = age < p["pathway.minimum_age"]
        assert result.pathway_rule[k] == result.pathway_rule[0 if minor else len(rows) - 1]
        assert (twin[k]["majoration"] > 0) == (not minor)
    assert result.pathway_rule[0] != result.pathway_rule[len(rows) - 1]
