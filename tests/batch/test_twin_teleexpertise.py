"""Téléexpertise in the twin: the yearly limit of 4 acts per patient and per doctor (avenant 9 à la convention
médicale [S16a]) taken in columns, the count carried across files in the batch state, equal to the scalar engine.

TE2 (the expert's act) is 20 € in 2025 [S16a], reimbursed at 100 % (rates.full) without participation forfaitaire
(participation.applies_to_teleexpertise, false [R51]); beyond the 4th of the year, the act is refused and the fee
is the patient's.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from tests.batch.split_files import second_file_equal_to_whole

from parcours.batch.kernel import OUTPUT_SCHEMA, adjudicate_partition, input_schema, states_from_table
from parcours.rules.params import default_parameters

SCHEMA = input_schema()
TE2_2025 = 2000  # cents: TE2 at 20,00 € [S16a]


def te(claim_id: int, day: dt.date, professional: int | None = 7, code: str = "TE2", **extra: Any) -> dict[str, Any]:
    return {"claim_id": claim_id, "patient_id": 1, "professional_id": professional, "date": day,
            "birth_date": dt.date(1970, 1, 1), "profession": "physician", "specialty": "cardiology",
            "act_code": code, **extra}  # fmt: skip


def same_as_scalar(table: pa.Table, state: pa.Table | None = None) -> list[dict[str, Any]]:
    """The kernel's lines, checked equal on every column (the state before each claim included) and in the states
    after to the scalar engine alone."""
    mixed = adjudicate_partition(table, state)
    scalar = adjudicate_partition(table, state, scalar_only=True)
    columns = [name for name in OUTPUT_SCHEMA.names if name != "engine"]
    assert mixed.lines.select(columns).to_pylist() == scalar.lines.select(columns).to_pylist()
    assert states_from_table(mixed.states) == states_from_table(scalar.states)
    lines: list[dict[str, Any]] = mixed.lines.to_pylist()
    return lines


def test_the_fifth_teleexpertise_of_the_year_by_one_doctor_is_refused_in_the_twin() -> None:
    p = default_parameters().at(dt.date(2025, 6, 1))
    assert p["tariffs.ngap.TE2"] == TE2_2025
    assert p["teleexpertise.yearly_limit_per_patient"] == 4
    rows = [te(i, dt.date(2025, 1 + i, 3)) for i in range(5)]
    rows.append(te(5, dt.date(2025, 7, 1), professional=8))  # another doctor: his own 4
    rows.append(te(6, dt.date(2026, 1, 5)))  # a new year: counted from zero
    lines = same_as_scalar(pa.Table.from_pylist(rows, schema=SCHEMA))
    assert [line["engine"] for line in lines] == ["columnar"] * 7
    paid = [lines[i] for i in (0, 1, 2, 3, 5)]
    assert all(line["status"] == "paid" and line["rate"] == p["rates.full"] for line in paid)
    assert all(line["amo"] == TE2_2025 and line["participation"] == 0 and line["patient"] == 0 for line in paid)
    fifth = lines[4]
    assert fifth["status"] == "rejected"
    assert fifth["reason"] == "teleexpertise_yearly_limit"
    assert (fifth["rate"], fifth["amo"], fifth["patient"]) == (0, 0, TE2_2025)
    assert lines[6]["status"] == "paid"
    assert '"TE2:' in lines[4]["state_before"]
    assert ": 4" in lines[4]["state_before"]


def test_a_refused_teleexpertise_of_three_acts_leaves_room_for_one() -> None:
    """A line of 3 acts after 2 passes the limit and counts nothing: the next single act is paid (the one pass of the
    twin cannot see it, the scalar engine takes it, with the same answer)."""
    rows = [te(0, dt.date(2025, 1, 3), quantity=2), te(1, dt.date(2025, 2, 3), quantity=3), te(2, dt.date(2025, 3, 3))]
    lines = same_as_scalar(pa.Table.from_pylist(rows, schema=SCHEMA))
    assert [line["status"] for line in lines] == ["paid", "rejected", "paid"]
    assert [line["engine"] for line in lines][:2] == ["columnar", "columnar"]


def test_the_yearly_count_is_carried_across_files(tmp_path: Path) -> None:
    """A year split in two files: the second reads the count of the first from the state (--state-in), in the twin."""
    rows = [te(i, dt.date(2025, 1 + i, 3), professional=7 if i != 2 else None) for i in range(7)]
    rows.append({**te(7, dt.date(2025, 8, 1), code="G"), "specialty": "general_practice"})
    second = second_file_equal_to_whole(pa.Table.from_pylist(rows, schema=SCHEMA), 3, tmp_path)
    assert all(line["engine"] == "columnar" for line in second)
    # Claims 0, 1, 3, 4 by doctor 7 are his 4 of the year; 5 and 6 are refused; claim 2 (no doctor id) is paid.
    assert [line["status"] for line in second] == ["paid", "paid", "rejected", "rejected", "paid"]
    state = states_from_table(pq.read_table(tmp_path / "s2.parquet"))[1]
    assert sorted(state.teleexpertise.values()) == [1, 4]


def test_a_count_under_a_bare_act_code_goes_to_the_scalar_engine() -> None:
    """A state written by another tool with {"TE2": 3} (no RPPS): the engine gives it to the first doctor paid for
    that act, an order the twin does not follow; the patient stays with the scalar engine, same answer."""
    rows = [te(0, dt.date(2025, 5, 3)), te(1, dt.date(2025, 6, 3), professional=8), te(2, dt.date(2025, 7, 3))]
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    first = adjudicate_partition(pa.Table.from_pylist([te(9, dt.date(2025, 1, 2))], schema=SCHEMA))
    state = first.states.set_column(
        first.states.column_names.index("details"), "details", pa.array(['{"teleexpertise_acts": {"TE2": 3}}'])
    )
    lines = same_as_scalar(table, state)
    assert [line["engine"] for line in lines] == ["scalar"] * 3
    assert [line["status"] for line in lines] == ["paid", "paid", "rejected"]  # the 3 went to doctor 7
