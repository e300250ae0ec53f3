"""The local runner of ``parcours batch adjudicate``: all the cores of one machine, memory bounded.

1. Split: the input (Parquet files, a folder or a glob of them, or CSV) is read batch by batch and each line is
   written to the bucket of its patient (a hash of ``patient_id``), a temporary Parquet file; the given states
   (``--state-in``) likewise. A bucket holds whole patients, so buckets are independent.
2. Adjudicate: worker processes (``--workers``, all cores by default) take the buckets one at a time and call
   the kernel (``batch.kernel.adjudicate_partition``), the same function Spark calls.
3. Gather: the parts are copied row group by row group into a temporary file next to OUT, renamed into place
   only when complete (and the rejects and the states out likewise): the output appears whole or not at all.
"""

from __future__ import annotations

import glob
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from parcours.batch.kernel import (
    BATCH_COLUMNS,
    OUTPUT_SCHEMA,
    STATE_SCHEMA,
    adjudicate_partition,
    check_schema,
    conform,
    merge_summaries,
    reject_schema,
)
from parcours.rules.columnar import ColumnError

INPUT_KEY = b"parcours.batch.input"
BUCKET_ROWS = 1_000_000  # lines per bucket: the memory a worker needs is a bounded multiple of it
READ_BATCH_ROWS = 256 * 1024
_HASH = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: neighbouring ids spread over the buckets


class InputError(ValueError):
    """The input cannot be read as a batch of claims (``field`` names the column or the file)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field} : {message}")
        self.field = field
        self.message = message


def bucket_of(patient_id: np.ndarray[Any, Any], buckets: int) -> np.ndarray[Any, Any]:
    mixed = (patient_id.astype(np.uint64) * _HASH) >> np.uint64(32)
    return (mixed % np.uint64(buckets)).astype(np.int64)


@dataclass(frozen=True)
class Source:
    """The input files and how to read them."""

    files: tuple[str, ...]
    csv: bool

    @staticmethod
    def resolve(spec: str) -> Source:
        path = Path(spec)
        if path.is_dir():
            files = sorted(str(p) for p in path.rglob("*.parquet"))
        elif any(ch in spec for ch in "*?["):
            files = sorted(glob.glob(spec, recursive=True))
        else:
            files = [spec]
        if not files:
            raise InputError("CLAIMS", f"aucun fichier Parquet trouvé : {spec}")
        for f in files:
            if not Path(f).is_file():
                raise InputError("CLAIMS", f"fichier introuvable : {f}")
        csv = all(f.lower().endswith((".csv", ".csv.gz")) for f in files)
        return Source(tuple(files), csv)

    def absolute(self) -> list[str]:
        return [str(Path(f).resolve()) for f in self.files]

    def claim(self, claim_id: int) -> list[dict[str, Any]]:
        """The input lines of one claim, in the order the kernel reads them."""
        found: list[pa.Table] = []
        if self.csv:
            for batch in self.batches():
                table = pa.Table.from_batches([batch])
                found.append(table.filter(pc.equal(table.column("claim_id"), claim_id)))
        else:
            dataset = ds.dataset(list(self.files), format="parquet")
            found.append(dataset.to_table(filter=ds.field("claim_id") == claim_id))
        rows = conform(pa.concat_tables(found, promote_options="permissive")).to_pylist() if found else []
        rows = [dict(r, _seq=i) for i, r in enumerate(rows)]
        rows.sort(key=lambda r: (r["line_number"] or 0, r["_seq"]))
        for position, row in enumerate(rows, start=1):
            del row["_seq"]
            if row["line_number"] is None:
                row["line_number"] = position
        return rows

    def schema(self) -> pa.Schema:
        if self.csv:
            return self._csv_reader(self.files[0]).schema
        try:
            return ds.dataset(list(self.files), format="parquet").schema
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError("CLAIMS", f"fichier Parquet illisible : {exc}") from exc

    def rows(self) -> int | None:
        if self.csv:
            return None
        return int(sum(pq.ParquetFile(f).metadata.num_rows for f in self.files))

    def size(self) -> int:
        return sum(os.path.getsize(f) for f in self.files)

    def _csv_reader(self, file: str) -> pacsv.CSVStreamingReader:
        try:
            header = pacsv.open_csv(file, read_options=pacsv.ReadOptions(block_size=1 << 16)).schema.names
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError("CLAIMS", f"fichier CSV illisible : {exc}") from exc
        types = {name: BATCH_COLUMNS[name][0] for name in header if name in BATCH_COLUMNS}
        options = pacsv.ConvertOptions(column_types=types, strings_can_be_null=True,
                                       true_values=["true", "1", "vrai", "True"],
                                       false_values=["false", "0", "faux", "False"])  # fmt: skip
        try:
            return pacsv.open_csv(file, read_options=pacsv.ReadOptions(block_size=1 << 22), convert_options=options)
        except pa.ArrowInvalid as exc:
            raise _csv_error(str(exc), header) from exc

    def batches(self) -> Iterator[pa.RecordBatch]:
        if self.csv:
            for file in self.files:
                reader = self._csv_reader(file)
                names = reader.schema.names
                try:
                    yield from reader
                except pa.ArrowInvalid as exc:
                    raise _csv_error(str(exc), names) from exc
            return
        dataset = ds.dataset(list(self.files), format="parquet")
        names = [n for n in dataset.schema.names if n in BATCH_COLUMNS]
        yield from dataset.to_batches(columns=names, batch_size=READ_BATCH_ROWS)


def _csv_error(text: str, names: Sequence[str]) -> InputError:
    """pyarrow says "In CSV column #3: CSV conversion error to int64: invalid value 'x'": name the column."""
    import re

    found = re.search(r"column #(\d+)", text)
    column = names[int(found.group(1))] if found and int(found.group(1)) < len(names) else "CLAIMS"
    value = re.search(r"invalid value '([^']*)'", text)
    wanted = BATCH_COLUMNS.get(column, (None,))[0]
    what = f"valeur « {value.group(1)} » illisible" if value else "valeur illisible"
    return InputError(column, f"{what} (type attendu : {wanted})")


def _write(path: Path, tables: Iterator[pa.Table], schema: pa.Schema) -> int:
    """Write row groups to ``path`` through a temporary file renamed at the end (nothing half written)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    rows = 0
    try:
        with pq.ParquetWriter(tmp, schema, compression="snappy") as writer:
            for table in tables:
                if table.num_rows:
                    writer.write_table(table.cast(schema), row_group_size=1 << 20)
                    rows += table.num_rows
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return rows


def _read_parts(paths: Sequence[Path]) -> Iterator[pa.Table]:
    for path in paths:
        if path.exists():
            f = pq.ParquetFile(path)
            for i in range(f.num_row_groups):
                yield f.read_row_group(i)


def _warm() -> None:
    from parcours.batch.kernel import _default_twin
    from parcours.rules.engine import default_engine

    _default_twin()
    default_engine()


def _work(bucket: Path, state: Path | None, out_dir: Path, index: int, contract: str | None) -> dict[str, Any]:
    """One bucket through the kernel, in a worker process; writes its parts and returns its summary."""
    table = pq.read_table(bucket)
    states = pq.read_table(state) if state is not None and state.exists() else None
    result = adjudicate_partition(table, states, contract=contract)
    pq.write_table(result.lines, out_dir / f"out-{index:05d}.parquet")
    if result.rejects.num_rows:
        pq.write_table(result.rejects, out_dir / f"rejects-{index:05d}.parquet")
    pq.write_table(result.states, out_dir / f"state-{index:05d}.parquet")
    return result.summary


@dataclass
class Run:
    output: Path
    rejects: Path
    state_out: Path | None
    summary: dict[str, Any]


Progress = Callable[[str, int, int | None], None]  # phase, rows done in this call, total rows if known


def rejects_path(output: Path) -> Path:
    name = output.name[: -len(".parquet")] if output.name.endswith(".parquet") else output.name
    return output.with_name(f"{name}.rejects.parquet")


def adjudicate(
    claims: str,
    output: Path,
    *,
    workers: int | None = None,
    contract: str | None = None,
    state_in: Path | None = None,
    state_out: Path | None = None,
    progress: Progress | None = None,
    bucket_rows: int = BUCKET_ROWS,
) -> Run:
    """Adjudicate a batch of claim lines into ``output`` (see the module's docstring)."""
    started = time.perf_counter()
    source = Source.resolve(claims)
    schema = source.schema()
    try:
        check_schema(schema)
    except ColumnError as exc:
        raise InputError(exc.field, exc.message) from exc
    workers = workers or os.cpu_count() or 1
    total = source.rows()
    estimate = total if total is not None else max(1, source.size() // 120)
    buckets = max(workers, math.ceil(estimate / bucket_rows))
    output.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".parcours-batch-", dir=output.parent))
    report = progress or (lambda phase, rows, total: None)
    try:
        _split(source, work, buckets, state_in, report, total)
        parts = sorted(work.glob("in-*.parquet"))
        indices = [int(p.stem.split("-")[1]) for p in parts]
        summaries = _adjudicate_buckets(work, indices, workers, contract, report)
        # The output names its input, so that ``batch explain`` finds a claim's facts again.
        described = OUTPUT_SCHEMA.with_metadata(
            {INPUT_KEY: json.dumps({"claims": source.absolute(), "contract": contract}, ensure_ascii=False)}
        )
        lines = _write(output, _read_parts([work / f"out-{i:05d}.parquet" for i in indices]), described)
        rejects = rejects_path(output)
        _write(rejects, _read_parts([work / f"rejects-{i:05d}.parquet" for i in indices]), reject_schema())
        state_parts = [work / f"state-{i:05d}.parquet" for i in indices]
        # Patients of the given state who have no claim in this batch keep their state.
        state_parts += [p for p in sorted(work.glob("statein-*.parquet")) if int(p.stem.split("-")[1]) not in indices]
        if state_out is not None:
            _write(state_out, _read_parts(state_parts), STATE_SCHEMA)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = merge_summaries(summaries)
    summary.setdefault("rows", 0)
    summary["lines_written"] = lines
    summary["seconds"] = round(time.perf_counter() - started, 3)
    summary["workers"] = workers
    summary["buckets"] = buckets
    return Run(output, rejects, state_out, summary)


def _split(
    source: Source, work: Path, buckets: int, state_in: Path | None, report: Progress, total: int | None
) -> None:
    writers: dict[int, pq.ParquetWriter] = {}
    schema: pa.Schema | None = None
    try:
        for batch in source.batches():
            table = conform(pa.Table.from_batches([batch]))
            if schema is None:
                schema = _unified(table.schema)
            table = table.cast(schema) if table.schema != schema else table
            patient = table.column("patient_id").fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
            which = bucket_of(patient, buckets)
            order = np.argsort(which, kind="stable")
            sorted_which = which[order]
            bounds = np.flatnonzero(np.diff(sorted_which)) + 1
            starts = np.concatenate([[0], bounds])
            ends = np.concatenate([bounds, [len(order)]])
            shuffled = table.take(pa.array(order))
            for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
                if e <= s:
                    continue
                b = int(sorted_which[s])
                writer = writers.get(b)
                if writer is None:
                    writer = writers[b] = pq.ParquetWriter(work / f"in-{b:05d}.parquet", schema)
                writer.write_table(shuffled.slice(s, e - s))
            report("split", table.num_rows, total)
    finally:
        for writer in writers.values():
            writer.close()
    if state_in is not None:
        try:
            states = pq.read_table(state_in)
        except (OSError, pa.ArrowInvalid) as exc:
            raise InputError("--state-in", f"état illisible : {exc}") from exc
        missing = [n for n in STATE_SCHEMA.names if n not in states.column_names]
        if missing:
            raise InputError("--state-in", f"colonne absente de l'état : {missing[0]}")
        states = states.select(STATE_SCHEMA.names).cast(STATE_SCHEMA)
        which = bucket_of(states.column("patient_id").to_numpy().astype(np.int64), buckets)
        for b in np.unique(which).tolist():
            pq.write_table(states.filter(pa.array(which == b)), work / f"statein-{b:05d}.parquet")


def _unified(schema: pa.Schema) -> pa.Schema:
    """One schema for every bucket: dictionary-encoded strings stay dictionaries (Parquet takes a new dictionary
    per batch; the twin reads them fastest), other columns keep the batch types."""
    fields = []
    for f in schema:
        t = pa.dictionary(pa.int32(), pa.string()) if pa.types.is_dictionary(f.type) else f.type
        fields.append(pa.field(f.name, t))
    return pa.schema(fields)


def _adjudicate_buckets(
    work: Path, indices: list[int], workers: int, contract: str | None, report: Progress
) -> list[dict[str, Any]]:
    def args(i: int) -> tuple[Path, Path | None, Path, int, str | None]:
        state = work / f"statein-{i:05d}.parquet"
        return work / f"in-{i:05d}.parquet", state if state.exists() else None, work, i, contract

    summaries: list[dict[str, Any]] = []
    total = sum(pq.ParquetFile(work / f"in-{i:05d}.parquet").metadata.num_rows for i in indices)
    if workers == 1 or len(indices) == 1:
        for i in indices:
            summary = _work(*args(i))
            summaries.append(summary)
            report("adjudicate", summary["rows"], total)
        return summaries
    # Fork where there is fork: the workers inherit the engines already built (parameters, catalogue, the twin's
    # tables) instead of importing and loading them again (seconds each); Arrow's thread pools are fork-safe.
    _warm()
    context = get_context("fork") if "fork" in get_all_start_methods() else get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: set[Future[dict[str, Any]]] = {pool.submit(_work, *args(i)) for i in indices}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                summary = future.result()
                summaries.append(summary)
                report("adjudicate", summary["rows"], total)
    return summaries
