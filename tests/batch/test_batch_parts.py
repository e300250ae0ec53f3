"""The ``parts`` output layout (``--output-layout parts``): each output a folder of ``part-NNNNN.parquet`` files, one a
bucket, written by the process that adjudicated it. The same rows as the single file (lines, rejects, states), on one
worker and two, held or spilled; a year month by month with the state carried as folders; ``batch explain`` on a
folder; pyarrow, DuckDB and polars read the folders; a run that fails leaves no folder; a folder that is not an
output is never replaced."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from tests.batch.runner_inputs import write_two_files
from typer.testing import CliRunner

from parcours.batch.generate import generate
from parcours.batch.runner import adjudicate
from parcours.cli import app

runner = CliRunner()
LINE_KEYS = [("claim_id", "ascending"), ("line_number", "ascending")]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two files of one year (the second with the state of the first), with lines the kernel rejects (a missing
    patient, a missing claim id, an unknown act) and lines without a line number; 2 % of care the twin routes to
    the scalar engine."""
    work = tmp_path_factory.mktemp("parts")
    write_two_files(work, reject_in_second=True)
    return work


def read(path: Path) -> pa.Table:
    """An output as pyarrow reads it, a file or a folder (the part files in name order)."""
    return ds.dataset(str(path), format="parquet").to_table()


def rows(table: pa.Table) -> list[dict[str, Any]]:
    return sorted(table.to_pylist(), key=repr)


def two_files(inputs: Path, out: Path, layout: str, **options: Any) -> dict[str, pa.Table]:
    """The two files, the second with the first's state in; the six outputs as read."""
    out.mkdir()
    ext = ".parquet" if layout == "file" else ""
    one, two = out / f"one{ext}", out / f"two{ext}"
    state_one, state_two = out / f"one.state{ext}", out / f"two.state{ext}"
    first = adjudicate(str(inputs / "first.parquet"), one, state_out=state_one, layout=layout, **options)
    second = adjudicate(str(inputs / "second.parquet"), two, state_in=state_one, state_out=state_two, layout=layout,
                        **options)  # fmt: skip
    assert first.summary["lines_written"] == read(one).num_rows
    assert second.summary["lines_written"] == read(two).num_rows
    return {"one": read(one), "one.rejects": read(first.rejects), "one.state": read(state_one),
            "two": read(two), "two.rejects": read(second.rejects), "two.state": read(state_two)}  # fmt: skip


@pytest.mark.parametrize(
    "options",
    [
        {"workers": 1},  # one bucket, one part
        {"workers": 2},  # two buckets: the parent's part and a worker's
        {"workers": 2, "bucket_rows": 200},  # eight buckets, parts by the parent and by a worker
        {"workers": 2, "bucket_rows": 200, "memory_rows": 0},  # spilled
    ],
)
def test_parts_hold_the_rows_of_the_single_file(inputs: Path, tmp_path: Path, options: Any) -> None:
    single = two_files(inputs, tmp_path / "file", "file", **options)
    parts = two_files(inputs, tmp_path / "parts", "parts", **options)
    assert single["one.rejects"].num_rows == 3
    assert single["two.rejects"].num_rows == 1
    assert single["two.state"].num_rows > 0
    for name, table in single.items():
        got = parts[name]
        assert got.schema.equals(table.schema, check_metadata=True), name  # the input named in each part
        if name.endswith("rejects"):
            assert rows(got) == rows(table), name
        elif name.endswith("state"):
            assert got.sort_by("patient_id").equals(table.sort_by("patient_id")), name
        else:
            assert got.sort_by(LINE_KEYS).equals(table.sort_by(LINE_KEYS)), name
    folder = tmp_path / "parts"
    buckets = 8 if options.get("bucket_rows") else options["workers"]
    files = sorted(p.name for p in (folder / "two").iterdir())
    assert files == [f"part-{b:05d}.parquet" for b in range(buckets)]
    assert sorted(p.name for p in (folder / "one.rejects.parquet").iterdir())[0].startswith("part-")
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]  # no staging folder left


def test_a_year_month_by_month_through_folders_equals_the_year(tmp_path: Path) -> None:
    """Each month's state out a folder, the next month's state in: the year's lines of one run, to the cent, caps
    and counters included (a few patients, so that the participation cap binds)."""
    table = generate(2400, seed=11, patients=14, other_share=0.03)
    table = table.filter(pc.equal(pc.year(table.column("date")), 2025))
    pq.write_table(table, tmp_path / "year.parquet")
    adjudicate(str(tmp_path / "year.parquet"), tmp_path / "whole.parquet", workers=1)
    months = pc.month(table.column("date")).to_numpy()
    state: Path | None = None
    parts = []
    for month in range(1, 13):
        pq.write_table(table.filter(pa.array(months == month)), tmp_path / f"m{month}.parquet")
        out, state_out = tmp_path / f"out{month}", tmp_path / f"state{month}"
        adjudicate(str(tmp_path / f"m{month}.parquet"), out, workers=2 if month % 2 else 1, state_in=state,
                   state_out=state_out, layout="parts")  # fmt: skip
        assert state_out.is_dir()
        state = state_out
        parts.append(read(out))
    monthly = pa.concat_tables(parts).sort_by(LINE_KEYS)
    expected = pq.read_table(tmp_path / "whole.parquet").sort_by(LINE_KEYS)
    for name in expected.column_names:
        if name in ("state_before", "engine"):  # the scalar engine's hand-overs differ in what they record
            continue
        assert monthly.column(name).to_pylist() == expected.column(name).to_pylist(), name
    assert max(expected.column("participation_paid_before").to_pylist()) >= 4900
    assert read(state).num_rows == len(set(table.column("patient_id").to_pylist()))


def test_cli_parts_state_in_a_folder_and_explain_a_folder(tmp_path: Path) -> None:
    """Through the CLI: the folders, a folder as ``--state-in``, and ``batch explain`` on a folder printing what it
    prints on the single file (twin and scalar claims); the folders read by DuckDB and polars as by pyarrow."""
    table = generate(2000, seed=21, patients=40, other_share=0.02)
    # Care for a work injury (AT-MP) now and then: claims the scalar engine takes (the twin routes them).
    table = table.append_column("work_injury", pc.equal(pc.bit_wise_and(table.column("claim_id"), 63), 0))
    days = pc.cast(table.column("date"), pa.int32()).to_numpy()
    middle = int(np.median(days))
    pq.write_table(table.filter(pa.array(days < middle)), tmp_path / "a.parquet")
    pq.write_table(table.filter(pa.array(days >= middle)), tmp_path / "b.parquet")

    def invoke(*args: str) -> str:
        result = runner.invoke(app, ["batch", *args])
        assert result.exit_code == 0, result.output
        return result.stdout

    for name, layout in (("file.parquet", "file"), ("parts", "parts")):
        state = tmp_path / f"{name}.state"
        invoke("adjudicate", str(tmp_path / "a.parquet"), str(tmp_path / f"a-{name}"), "-q", "-w", "2",
               "--state-out", str(state), "--output-layout", layout)  # fmt: skip
        invoke("adjudicate", str(tmp_path / "b.parquet"), str(tmp_path / f"b-{name}"), "-q", "-w", "2",
               "--state-in", str(state), "--output-layout", layout)  # fmt: skip
    file, folder = tmp_path / "b-file.parquet", tmp_path / "b-parts"
    assert folder.is_dir()
    assert (tmp_path / "parts.state").is_dir()
    single = pq.read_table(file).sort_by(LINE_KEYS)
    assert read(folder).sort_by(LINE_KEYS).equals(single)
    assert single.num_rows > 0
    assert max(single.column("participation_paid_before").to_pylist()) > 0
    pattern = f"{folder}/*.parquet"
    assert duckdb.sql(f"SELECT count(*), sum(amo) FROM read_parquet('{pattern}')").fetchall() == [
        (single.num_rows, pc.sum(single.column("amo")).as_py())
    ]
    assert duckdb.sql(f"SELECT * FROM read_parquet('{pattern}') EXCEPT ALL SELECT * FROM '{file}'").fetchall() == []
    assert (
        pl.read_parquet(folder)
        .sort(["claim_id", "line_number"])
        .equals(pl.read_parquet(file).sort(["claim_id", "line_number"]))
    )
    chosen = []
    for engine in ("columnar", "scalar"):
        found = single.filter(pc.equal(single.column("engine"), engine)).column("claim_id").to_pylist()
        chosen += [found[0], found[len(found) // 2]]
    assert len(set(chosen)) == 4
    for claim_id in chosen:
        text = invoke("explain", str(folder), str(claim_id))
        assert "Explication" in text
        assert text == invoke("explain", str(file), str(claim_id))


def test_an_earlier_output_is_replaced_another_folder_never(inputs: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    adjudicate(str(inputs / "first.parquet"), out, workers=2, bucket_rows=200, layout="parts")
    assert len(list(out.iterdir())) == 8
    adjudicate(str(inputs / "second.parquet"), out, workers=1, layout="parts")  # one bucket: one part
    assert [p.name for p in out.iterdir()] == ["part-00000.parquet"]
    assert rows(read(out)) == rows(pq.read_table(out / "part-00000.parquet"))
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("à garder", encoding="utf-8")
    result = runner.invoke(app, ["batch", "adjudicate", str(inputs / "first.parquet"), str(mine), "-q",
                                 "--output-layout", "parts"])  # fmt: skip
    assert result.exit_code == 2
    assert "OUT" in result.output
    assert "notes.txt" in result.output
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "out", "out.rejects.parquet"]


def test_every_line_rejected_still_a_readable_folder(inputs: Path, tmp_path: Path) -> None:
    """No line adjudicated: the output folder holds one empty part with the output's schema (its readers need a
    file), the rejects folder the lines."""
    table = pq.read_table(inputs / "first.parquet")
    table = table.set_column(table.column_names.index("claim_id"), "claim_id", pa.nulls(table.num_rows, pa.int64()))
    pq.write_table(table, tmp_path / "claims.parquet")
    run = adjudicate(str(tmp_path / "claims.parquet"), tmp_path / "out", workers=2, layout="parts")
    single = adjudicate(str(tmp_path / "claims.parquet"), tmp_path / "single.parquet", workers=2)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["part-00000.parquet"]
    assert read(tmp_path / "out").num_rows == 0
    assert read(tmp_path / "out").schema.equals(pq.read_schema(tmp_path / "single.parquet"), check_metadata=True)
    assert rows(read(run.rejects)) == rows(pq.read_table(single.rejects))
    assert read(run.rejects).num_rows == table.num_rows
    assert duckdb.sql(f"SELECT count(*) FROM read_parquet('{tmp_path}/out/*.parquet')").fetchall() == [(0,)]
