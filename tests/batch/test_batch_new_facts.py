"""The batch carries the whole year-to-date state of the engine and reads the newer facts of a claim: the
paramedical franchise's daily cap per professional, téléexpertises per expert, Mon soutien psy sessions, amounts
owed after a tiers payant (recovered from the next reimbursement, also across files), AT-MP and the other new
columns — each checked against the scalar engine fed the same events, in one file and across two."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pyarrow as pa
import pytest

from parcours.batch.kernel import STATE_SCHEMA, adjudicate_partition, input_schema
from parcours.rules.columnar import event_from_rows
from parcours.rules.engine import default_engine
from parcours.rules.event import YearToDate

SCHEMA = input_schema()
ENGINE = default_engine()
DAY = dt.date(2025, 3, 4)
AMOUNTS = ("franchise", "participation", "amo", "deferred", "recovered")


def row(claim_id: int, **facts: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "claim_id": claim_id,
        "line_number": 1,
        "patient_id": 7,
        "professional_id": 1,
        "date": DAY,
        "birth_date": dt.date(1970, 1, 1),
        "profession": "nurse",
        "act_code": "AMI",
        "coefficient": 1.0,
        "quantity": 3,
    }
    return {**base, **facts}


def run(rows: list[dict[str, Any]], state: pa.Table | None = None) -> Any:
    return adjudicate_partition(pa.Table.from_pylist(rows, schema=SCHEMA), state)


def lines(result: Any) -> list[dict[str, Any]]:
    keys = ["claim_id", "line_number", "franchise", "participation", "amo", "status", "reason"]
    keys += ["deferred", "recovered"]
    return result.lines.sort_by([("claim_id", "ascending")]).select(keys).to_pylist()


def by_engine(rows: list[dict[str, Any]]) -> list[tuple[int, int, int, int, int]]:
    """(franchise, participation, amo, deferred, recovered) of each one-line claim through the scalar engine, the
    state carried as the engine writes it (``state_after``, with ``as_of`` and the professional)."""
    state: YearToDate | None = None
    out = []
    for r in rows:
        result = ENGINE.adjudicate(event_from_rows([r]), state)
        state = YearToDate.model_validate(result.state_after)
        line = result.lines[0]
        out.append((line.franchise, line.participation, result.amo, result.deferred, result.recovered))
    return out


def test_the_paramedical_cap_is_per_professional_in_a_file_and_across_files() -> None:
    # Nurse 1 (3 acts: 3 €), nurse 2 (3 acts: 3 €, a cap of its own), nurse 1 again (1 € left of its 4 €).
    rows = [row(1), row(2, professional_id=2), row(3)]
    whole = run(rows)
    assert [x["franchise"] for x in lines(whole)] == [300, 300, 100]
    assert [tuple(x[k] for k in AMOUNTS) for x in lines(whole)[:2]] == by_engine(rows[:2])
    first = run(rows[:2])
    assert first.states.schema.equals(STATE_SCHEMA)
    assert first.states.column("same_day_paramedical").to_pylist() == ['{"1": 300, "2": 300}']
    second = run(rows[2:], first.states)
    assert lines(second) == lines(whole)[2:]


def test_teleexpertise_is_counted_per_expert() -> None:
    tele = {"profession": "physician", "specialty": "cardiology", "act_code": "TE2", "quantity": 1,
            "coefficient": None}  # fmt: skip
    rows = [row(i, **tele, date=DAY + dt.timedelta(days=i)) for i in range(1, 6)]
    rows.append(row(6, **tele, professional_id=2, date=DAY + dt.timedelta(days=6)))
    result = lines(run(rows))
    assert [x["status"] for x in result] == ["paid"] * 4 + ["rejected", "paid"]
    assert result[4]["reason"] == "teleexpertise_yearly_limit"


def test_psychologist_sessions_are_carried_across_files() -> None:
    psy = {"profession": "psychologist", "act_code": "PSYS", "quantity": 8, "coefficient": None}
    rows = [row(1, **psy), row(2, **psy, date=DAY + dt.timedelta(days=30))]
    whole = run(rows)
    first = run(rows[:1])
    assert json.loads(first.states.column("details")[0].as_py())["psychologist_sessions"] == 8
    second = run(rows[1:], first.states)
    assert lines(second) == lines(whole)[1:]
    assert [x["status"] for x in lines(whole)] == ["paid", "rejected"]  # 12 sessions a year at most


@pytest.mark.parametrize("split", [False, True])
def test_tiers_payant_owed_is_recovered_from_the_next_reimbursement(split: bool) -> None:
    gp = {"profession": "physician", "specialty": "general_practice", "act_code": "G", "quantity": 1,
          "coefficient": None, "has_gp": True, "seen_by_gp": True}  # fmt: skip
    rows = [row(1, **gp, tiers_payant=True), row(2, **gp, date=DAY + dt.timedelta(days=3))]
    expected = by_engine(rows)
    assert expected[0][3] == expected[0][1] > 0  # the participation of the first visit is owed
    assert expected[1][4] == expected[0][3]  # and recovered from the second reimbursement
    if split:
        first = run(rows[:1])
        assert json.loads(first.states.column("details")[0].as_py())["participation_owed"] == expected[0][1]
        got = lines(first) + lines(run(rows[1:], first.states))
    else:
        got = lines(run(rows))
    assert [tuple(x[k] for k in AMOUNTS) for x in got] == expected
    assert {x["status"] for x in got} == {"paid"}


def test_work_injury_and_invalidity_are_read_and_routed_to_the_scalar_engine() -> None:
    rows = [row(1, work_injury=True), row(2, invalidity_pension=True, patient_id=8)]
    result = run(rows)
    assert result.rejects.num_rows == 0
    assert set(result.lines.column("engine").to_pylist()) == {"scalar"}
    assert [tuple(x[k] for k in AMOUNTS) for x in lines(result)] == [by_engine([r])[0] for r in rows]
