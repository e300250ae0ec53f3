"""Caps and counters across files: a year processed month by month (``--state-in`` / ``--state-out``) gives the
same lines as the year in one run, to the cent, including the mutuelle's envelopes and the same-day counters."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from parcours.batch.generate import generate
from parcours.batch.runner import adjudicate
from parcours.cli import app

runner = CliRunner()


def year(rows: int, patients: int, seed: int, other_share: float = 0.03) -> pa.Table:
    """A 2025 of few patients, so that the yearly caps bind."""
    table = generate(rows, seed=seed, patients=patients, other_share=other_share)
    return table.filter(pc.equal(pc.year(table.column("date")), 2025))


def comparable(path: Path) -> pa.Table:
    return pq.read_table(path).sort_by([("claim_id", "ascending"), ("line_number", "ascending")])


@pytest.mark.parametrize("contract", [None, "confort"])
def test_month_by_month_equals_the_year(tmp_path: Path, contract: str | None) -> None:
    table = year(2400 if contract is None else 900, 14, seed=11)
    pq.write_table(table, tmp_path / "year.parquet")
    whole = adjudicate(str(tmp_path / "year.parquet"), tmp_path / "whole.parquet", workers=1, contract=contract)
    assert whole.summary["errors"] == 0
    months = pc.month(table.column("date")).to_numpy()
    state: Path | None = None
    parts = []
    for month in range(1, 13):
        pq.write_table(table.filter(pa.array(months == month)), tmp_path / f"m{month}.parquet")
        out = tmp_path / f"out{month}.parquet"
        state_out = tmp_path / f"state{month}.parquet"
        adjudicate(str(tmp_path / f"m{month}.parquet"), out, workers=2 if month == 6 else 1, contract=contract, state_in=state,
                   state_out=state_out)  # fmt: skip
        state = state_out
        parts.append(pq.read_table(out))
    monthly = pa.concat_tables(parts).sort_by([("claim_id", "ascending"), ("line_number", "ascending")])
    expected = comparable(tmp_path / "whole.parquet")
    for name in expected.column_names:
        if name in ("state_before", "engine"):
            continue
        assert monthly.column(name).to_pylist() == expected.column(name).to_pylist(), name
    # The caps did bind: somebody reached the yearly participation cap.
    if contract is None:
        assert max(expected.column("participation_paid_before").to_pylist()) >= 4900
    else:
        assert sum(expected.column("amc").to_pylist()) > 0
    final = pq.read_table(state)
    assert final.num_rows == len(set(table.column("patient_id").to_pylist()))


def test_a_day_split_across_two_files_keeps_its_same_day_counters(tmp_path: Path) -> None:
    day = dt.date(2025, 3, 4)
    rows = []
    for claim in range(12):
        rows.append(
            {
                "claim_id": claim, "patient_id": 1, "professional_id": claim % 2, "date": day,
                "birth_date": dt.date(1960, 1, 1), "profession": "nurse" if claim < 8 else "transport",
                "act_code": "AMI" if claim < 8 else "TRANSPORT", "coefficient": 1.0 if claim < 8 else None,
                "quantity": 2, "fee": None if claim < 8 else 5000,
            }
        )  # fmt: skip
    table = pa.Table.from_pylist(rows)
    pq.write_table(table, tmp_path / "all.parquet")
    adjudicate(str(tmp_path / "all.parquet"), tmp_path / "all-out.parquet", workers=1)
    even = pa.array(np.arange(12) < 5)
    pq.write_table(table.filter(even), tmp_path / "a.parquet")
    pq.write_table(table.filter(pc.invert(even)), tmp_path / "b.parquet")
    adjudicate(str(tmp_path / "a.parquet"), tmp_path / "a-out.parquet", workers=1, state_out=tmp_path / "s.parquet")
    adjudicate(str(tmp_path / "b.parquet"), tmp_path / "b-out.parquet", workers=1, state_in=tmp_path / "s.parquet")
    split = pa.concat_tables([pq.read_table(tmp_path / "a-out.parquet"), pq.read_table(tmp_path / "b-out.parquet")])
    whole = comparable(tmp_path / "all-out.parquet")
    split = split.sort_by("claim_id")
    for name in ("participation", "franchise", "amo", "patient"):
        assert split.column(name).to_pylist() == whole.column(name).to_pylist(), name
    franchises = whole.column("franchise").to_pylist()
    assert franchises[0] > 0
    assert franchises[7] == 0  # the paramedical daily cap was reached in the first file
    assert franchises[11] == 0  # the transport daily cap in the second


def test_care_before_the_state_is_rejected(tmp_path: Path) -> None:
    rows = [{"claim_id": 1, "patient_id": 1, "date": dt.date(2025, 5, 1), "birth_date": dt.date(1980, 1, 1),
             "profession": "physician", "specialty": "general_practice", "act_code": "G"}]  # fmt: skip
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "may.parquet")
    adjudicate(str(tmp_path / "may.parquet"), tmp_path / "o.parquet", workers=1, state_out=tmp_path / "s.parquet")
    rows[0]["claim_id"], rows[0]["date"] = 2, dt.date(2025, 4, 1)
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "april.parquet")
    result = runner.invoke(app, ["batch", "adjudicate", str(tmp_path / "april.parquet"), str(tmp_path / "o2.parquet"),
                                 "--state-in", str(tmp_path / "s.parquet"), "--quiet"])  # fmt: skip
    assert result.exit_code == 0, result.output
    rejects = pq.read_table(tmp_path / "o2.rejects.parquet").to_pylist()
    assert rejects[0]["reject_column"] == "date"
    assert "antérieurs" in rejects[0]["reject_reason"]
    missing = runner.invoke(app, ["batch", "adjudicate", str(tmp_path / "april.parquet"), str(tmp_path / "o3.parquet"),
                                  "--state-in", str(tmp_path / "none.parquet"), "--quiet"])  # fmt: skip
    assert missing.exit_code == 2
    assert "--state-in" in missing.output


def test_psychologist_sessions_counted_across_files(tmp_path: Path) -> None:
    """Mon soutien psy: the yearly count of sessions is in the state, so the cap sees the sessions of earlier files."""
    rows = [
        {"claim_id": i, "patient_id": 1, "professional_id": 3, "date": dt.date(2025, 1 + i // 2, 1 + 10 * (i % 2)),
         "birth_date": dt.date(1990, 1, 1), "profession": "psychologist", "act_code": "PSYE" if i == 0 else "PSYS"}
        for i in range(16)
    ]  # fmt: skip
    table = pa.Table.from_pylist(rows)
    pq.write_table(table, tmp_path / "all.parquet")
    adjudicate(str(tmp_path / "all.parquet"), tmp_path / "all-out.parquet", workers=1)
    pq.write_table(table.slice(0, 9), tmp_path / "a.parquet")
    pq.write_table(table.slice(9), tmp_path / "b.parquet")
    adjudicate(str(tmp_path / "a.parquet"), tmp_path / "a-out.parquet", workers=1, state_out=tmp_path / "s.parquet")
    adjudicate(str(tmp_path / "b.parquet"), tmp_path / "b-out.parquet", workers=1, state_in=tmp_path / "s.parquet")
    whole = comparable(tmp_path / "all-out.parquet")
    split = pa.concat_tables([pq.read_table(tmp_path / "a-out.parquet"), pq.read_table(tmp_path / "b-out.parquet")])
    split = split.sort_by("claim_id")
    for name in ("status", "reason", "amo", "patient"):
        assert split.column(name).to_pylist() == whole.column(name).to_pylist(), name
    assert "rejected" in whole.column("status").to_pylist()  # the yearly cap of sessions was reached
