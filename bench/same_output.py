"""Two versions of ``parcours batch adjudicate`` give the same files, as their readers see them (never a timed test).

    .venv/bin/python bench/same_output.py BASELINE_SRC CLAIMS.parquet [--workers 1 2] [--contract NAME] [--bad 0.002]
        [--layout file|parts] [--baseline-layout file|parts]

Runs the CLI of each version (``PYTHONPATH`` = its ``src``) on the same input, once per ``--workers``, with
``--state-out``, on the input cut in two at its median date (the second half with the first half's state as ``--state-in``), and on a
copy of the input with ``--bad`` of its lines spoiled (a key missing, an unknown act, a claim-level column differing
on a claim's lines) so that the rejects file is not empty. For each pair of outputs (lines, rejects, state) it
compares what pyarrow reads (schema with its metadata, then every column's values and type), what DuckDB reads (its
``DESCRIBE`` and the rows), and the text ``parcours batch explain`` prints for a few claims. Exits 1 on a difference.

An output may be a folder of part files (``--output-layout parts``: ``--layout`` for this version, ``--baseline-layout``
for the baseline, which must know the option): pyarrow reads the folder as one dataset, DuckDB its ``*.parquet``; when
the two layouts differ, the rows are compared in key order (the parts hold each bucket's rows, the state of patients
without claims in this batch in their bucket's part instead of at the end).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent.parent / "src"


def _cli(src: Path, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(src.resolve())}
    command = [sys.executable, "-c", "from parcours.cli import app; app()", *args]
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    return done.stdout


def _spoiled(claims: Path, share: float, target: Path) -> Path:
    """The input with ``share`` of its lines spoiled, three ways, so that every kind of reject appears."""
    table = pq.read_table(claims)
    rng = np.random.default_rng(11)
    n = table.num_rows
    picks = rng.choice(n, size=max(3, int(n * share)), replace=False)
    thirds = np.array_split(picks, 3)
    patient = table.column("patient_id").to_numpy().astype(float)
    mask = np.zeros(n, dtype=bool)
    mask[thirds[0]] = True
    table = table.set_column(table.column_names.index("patient_id"), "patient_id",
                             pa.array(np.where(mask, 0, patient).astype(np.int64), mask=mask))  # fmt: skip
    act = table.column("act_code").cast(pa.string()).to_pylist()
    for i in thirds[1].tolist():
        act[i] = "XYZ"
    table = table.set_column(table.column_names.index("act_code"), "act_code", pa.array(act, pa.string()))
    if "professional_id" in table.column_names:
        pro = table.column("professional_id").to_numpy(zero_copy_only=False).copy()
        pro[thirds[2]] = pro[thirds[2]] + 1
        table = table.set_column(table.column_names.index("professional_id"), "professional_id", pa.array(pro))
    pq.write_table(table, target)
    return target


def _halves(claims: Path, work: Path) -> tuple[Path, Path]:
    """The input cut in two at its median date: the second half runs with the first half's state carried."""
    table = pq.read_table(claims)
    days = pc.cast(table.column("date"), pa.int32())
    middle = int(np.median(days.to_numpy(zero_copy_only=False)))
    first, second = work / "first.parquet", work / "second.parquet"
    pq.write_table(table.filter(pc.less(days, middle)), first)
    pq.write_table(table.filter(pc.greater_equal(days, middle)), second)
    return first, second


def _read(path: Path) -> pa.Table:
    """An output as pyarrow reads it: a file, or a folder of part files (one dataset, the parts in name order)."""
    return ds.dataset(str(path), format="parquet").to_table()


def _sql(path: Path) -> str:
    """An output as DuckDB names it."""
    return f"read_parquet('{path}/*.parquet')" if path.is_dir() else f"'{path}'"


_KEYS = ("patient_id", "claim_id", "line_number", "reason", "date")


def _in_key_order(table: pa.Table) -> pa.Table:
    keys = [(k, "ascending") for k in _KEYS if k in table.column_names]
    return table.sort_by(keys + [(n, "ascending") for n in table.column_names if n not in _KEYS
                                 and not pa.types.is_nested(table.schema.field(n).type)])  # fmt: skip


def _same(label: str, a: Path, b: Path) -> list[str]:
    problems = []
    if a.exists() != b.exists():
        return [f"{label}: one version wrote it, the other not"]
    if not a.exists():
        return []
    ta, tb = _read(a), _read(b)
    sa, sb = ta.schema, tb.schema
    if not sa.equals(sb, check_metadata=True):
        problems.append(f"{label}: pyarrow schema differs:\n{sa}\n---\n{sb}")
    if a.is_dir() != b.is_dir():  # a file against part files: the same rows, in key order
        ta, tb = _in_key_order(ta), _in_key_order(tb)
    if ta.num_rows != tb.num_rows:
        problems.append(f"{label}: {ta.num_rows} rows against {tb.num_rows}")
    else:
        for name in sa.names:
            ca, cb = ta.column(name), tb.column(name)
            if ca.type != cb.type or not ca.equals(cb):
                problems.append(f"{label}: column {name} differs ({ca.type} / {cb.type})")
    da = duckdb.sql(f"DESCRIBE SELECT * FROM {_sql(a)}").fetchall()
    db = duckdb.sql(f"DESCRIBE SELECT * FROM {_sql(b)}").fetchall()
    if da != db:
        problems.append(f"{label}: DuckDB reads another schema: {da} / {db}")
    qa, qb = _sql(a), _sql(b)
    diff = duckdb.sql(f"SELECT count(*) FROM ((SELECT * FROM {qa} EXCEPT ALL SELECT * FROM {qb}) UNION ALL "
                      f"(SELECT * FROM {qb} EXCEPT ALL SELECT * FROM {qa}))").fetchall()  # fmt: skip
    if diff[0][0]:
        problems.append(f"{label}: DuckDB sees {diff} rows that differ")
    print(f"  {label}: {ta.num_rows:,} rows, {len(sa.names)} columns{'' if not problems else ' — DIFFERENT'}")
    return problems


def _explained(baseline: Path, a: Path, b: Path) -> list[str]:
    table = _read(a).select(["claim_id", "engine"])
    ids = []
    for engine in ("columnar", "scalar"):
        found = table.filter(pc.equal(table.column("engine"), engine)).column("claim_id")
        ids += found.slice(0, 2).to_pylist() + found.slice(len(found) // 2, 1).to_pylist()
    problems = []
    for claim in ids:
        if _cli(baseline, "batch", "explain", str(a), str(claim)) != _cli(HERE, "batch", "explain", str(b), str(claim)):
            problems.append(f"explain {claim} differs")
    print(f"  explain: {len(ids)} claims{'' if not problems else ' — DIFFERENT'}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("baseline", type=Path, help="src folder of the version to compare with")
    parser.add_argument("claims", type=Path)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--contract", default=None)
    parser.add_argument("--bad", type=float, default=0.002, help="share of lines spoiled in the third run")
    parser.add_argument("--layout", choices=["file", "parts"], default="file", help="this version's output layout")
    parser.add_argument("--baseline-layout", choices=["file", "parts"], default="file")
    args = parser.parse_args()
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="same-output-") as tmp:
        work = Path(tmp)
        spoiled = _spoiled(args.claims, args.bad, work / "spoiled.parquet")
        first, second = _halves(args.claims, work)
        for workers in args.workers:
            for case, claims, state_in in (("plain", args.claims, None), ("first half", first, None),
                                           ("second half", second, "firsthalf"), ("spoiled", spoiled, None)):  # fmt: skip
                print(f"{case}, {workers} worker(s):")
                outs = {}
                for version, src in (("base", args.baseline), ("this", HERE)):
                    out = work / f"{version}-{workers}-{case.replace(' ', '')}.parquet"
                    cmd = ["batch", "adjudicate", str(claims), str(out), "-q", "-w", str(workers),
                           "--state-out", str(out.with_suffix(".state.parquet"))]  # fmt: skip
                    if state_in:
                        cmd += ["--state-in", str(work / f"{version}-{workers}-{state_in}.state.parquet")]
                    if args.contract:
                        cmd += ["--contract", args.contract]
                    layout = args.layout if version == "this" else args.baseline_layout
                    if layout != "file":
                        cmd += ["--output-layout", layout]
                    _cli(src, *cmd)
                    outs[version] = out
                a, b = outs["base"], outs["this"]
                problems += _same("lines", a, b)
                problems += _same("rejects", a.with_name(a.stem + ".rejects.parquet"),
                                  b.with_name(b.stem + ".rejects.parquet"))  # fmt: skip
                problems += _same("state", a.with_suffix(".state.parquet"), b.with_suffix(".state.parquet"))
                if case == "plain":
                    problems += _explained(args.baseline, a, b)
    for p in problems:
        print(p)
    print("same output" if not problems else f"{len(problems)} difference(s)")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
