"""The local runner of ``parcours batch adjudicate``: all the cores of one machine, memory bounded.

1. Split: the input (Parquet files, a folder or a glob of them, or CSV) is read batch by batch; each line belongs to
   the bucket of its patient (a hash of ``patient_id``), so buckets are independent. An input within a bucket's worth
   of lines stays in memory (forked workers inherit it; each takes its bucket's rows once, in the kernel's order); a
   larger one is spilled, batch by batch, to one temporary Arrow stream per bucket. The given states
   (``--state-in``) are read and cut the same way, batch by batch, held or spilled.
2. Adjudicate: the parent and worker processes (``--workers`` in all, all cores by default; the parent takes the
   first bucket) take the buckets one at a time and call the kernel (``batch.kernel.adjudicate_partition``), the
   same function Spark calls.
3. Write: each bucket's results go straight into the final Parquet writers, in bucket order, as soon as they are
   ready; the writers write temporary files next to their targets, moved into place at the end as a set (OUT
   last, ``move_into_place``): the output appears whole or not at all. In the ``parts`` layout (``--output-layout
   parts``), each output is a folder of part files instead, one a bucket, each written by the process that
   adjudicated the bucket (the encoding in parallel); the folders are built beside their targets, moved the same way.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import glob
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from parcours.batch.kernel import (
    BATCH_COLUMNS,
    OUTPUT_SCHEMA,
    STATE_SCHEMA,
    PartitionResult,
    adjudicate_partition,
    check_schema,
    conform,
    lex_order,
    merge_summaries,
    plain_pages,
    reject_schema,
)
from parcours.batch.publish import WORKDIR_PREFIX, move_into_place, recover_interrupted
from parcours.batch.publish import remove as _remove
from parcours.rules.columnar import ColumnError

INPUT_KEY = b"parcours.batch.input"
# Spark's output is a folder of part files: the same description beside them (readers skip names starting with _).
INPUT_FILE = "_parcours.batch.input.json"
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


TOTALS = ("participation", "franchise", "deferred", "recovered")  # summed beside the kernel's totals


def line_totals(lines: pa.Table) -> dict[str, int]:
    """Totals, in cents, of the participations and franchises withheld, deferred (tiers payant) and recovered."""
    return {name: int(pc.sum(lines.column(name)).as_py() or 0) if lines.num_rows else 0 for name in TOTALS}


def bucket_summary(lines: pa.Table, summary: dict[str, Any]) -> dict[str, Any]:
    return {**{k: v for k, v in line_totals(lines).items() if k not in summary}, **summary}


@contextlib.contextmanager
def arrow_plain_pages() -> Iterator[None]:
    """Arrow's buffers from the C library's allocator for the run (forked workers inherit it), unless
    ``ARROW_DEFAULT_MEMORY_POOL`` names a pool: what ``plain_pages`` does for numpy. pyarrow's default pool,
    mimalloc, backs its memory with transparent huge pages, and the first touch of those cost about 3 ms a megabyte
    on this machine (0.4 ms with plain pages): the run's many columns of a bucket's size, each written once, spent
    more time faulting their pages in than being computed (466 k lines, 1 process: 3.3 s of CPU against 2.4 s with
    the system's; docs/batch.md, Speed)."""
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        yield
        return
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(previous)


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameters (malloc.h)
_GLIBC_THRESHOLD = 128 * 1024  # glibc's initial value of both
_HEAP_THRESHOLD = 32 << 20  # the largest mmap threshold glibc takes on 64 bits (half its heap's size)


def _glibc() -> Any:
    try:
        libc = ctypes.CDLL(None)  # the C library the process runs on
    except (OSError, TypeError):  # no handle on the process itself (Windows)
        return None
    return libc if hasattr(libc, "gnu_get_libc_version") and hasattr(libc, "mallopt") else None


@contextlib.contextmanager
def reused_pages() -> Iterator[None]:
    """The C library's allocator (glibc) keeps the memory freed during the run and gives it again, instead of
    returning it to the system at each free: a bucket's columns below 32 MB come from its heap (mmap threshold), and
    the heap is not trimmed until the run ends (forked workers inherit both). Every array the kernel makes is new and
    of a bucket's size; given back and mapped again, each of its pages was faulted in afresh (zeroed, and on this
    virtual machine mapped by the host too): about 40 % of the twin's time was system time. Unless the malloc
    tunables are set by the environment (``GLIBC_TUNABLES``, ``MALLOC_*_``). Afterwards, glibc's initial thresholds
    and what the heap holds free back to the system (``malloc_trim``)."""
    libc = _glibc()
    tuned = "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", "") or any(
        name.startswith("MALLOC_") and name.endswith("_") for name in os.environ
    )
    if libc is None or tuned:
        yield
        return
    libc.mallopt(_M_MMAP_THRESHOLD, _HEAP_THRESHOLD)
    libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)
    try:
        yield
    finally:
        libc.mallopt(_M_TRIM_THRESHOLD, _GLIBC_THRESHOLD)
        libc.mallopt(_M_MMAP_THRESHOLD, _GLIBC_THRESHOLD)
        libc.malloc_trim(0)


LAYOUTS = ("file", "parts")  # one Parquet file per output (the default), or a folder of part files per output
PART = "part-{:05d}.parquet"  # a bucket's part in the folder layout (Spark's and Hive's way: readers take the folder)


def _parquet_writer(path: Path, schema: pa.Schema) -> pq.ParquetWriter:
    # Dictionary pages for every column but the one id of each row: a claim's (a patient's in the state) has nearly
    # as many values as rows, so that the writer would hash them all into a dictionary only to give it up (6 % of
    # the write, and a larger file).
    unique = "patient_id" if schema.equals(STATE_SCHEMA) else "claim_id"
    dictionary = [name for name in schema.names if name != unique]
    return pq.ParquetWriter(path, schema, compression="snappy", use_dictionary=dictionary)


def write_part(folder: Path, bucket: int, table: pa.Table, schema: pa.Schema) -> int:
    """One bucket's rows as a part file of the folder layout (nothing for no row); the rows written."""
    if not table.num_rows:
        return 0
    with _parquet_writer(folder / PART.format(bucket), schema) as writer:
        writer.write_table(table.cast(schema), row_group_size=1 << 20)
    return int(table.num_rows)


class _Sink:
    """The run's outputs (lines, rejects, the state out), each written to a temporary file (a temporary folder in
    the ``parts`` layout, where each process writes the parts of its buckets) next to its target and renamed into
    place by ``commit`` only: an output appears complete or not at all."""

    def __init__(self, targets: Sequence[tuple[Path, pa.Schema]], layout: str = "file") -> None:
        self.targets = list(targets)
        self.parts = layout == "parts"
        self.tmp = [path.with_name(f".{path.name}.{os.getpid()}.tmp") for path, _ in self.targets]
        self.rows = [0] * len(self.targets)
        self.writers: list[pq.ParquetWriter] = []
        try:
            for tmp, (_, schema) in zip(self.tmp, self.targets, strict=True):
                if self.parts:
                    _remove(tmp)
                    tmp.mkdir()
                else:
                    self.writers.append(_parquet_writer(tmp, schema))
        except BaseException:
            self.discard()
            raise

    def folders(self) -> list[tuple[Path, pa.Schema]] | None:
        """Where the processes write their parts, with each output's schema (``parts`` layout only)."""
        return [(tmp, schema) for tmp, (_, schema) in zip(self.tmp, self.targets, strict=True)] if self.parts else None

    def write(self, k: int, table: pa.Table, bucket: int) -> None:
        if k >= len(self.targets) or not table.num_rows:
            return
        if self.parts:
            self.rows[k] += write_part(self.tmp[k], bucket, table, self.targets[k][1])
        else:
            self.writers[k].write_table(table.cast(self.targets[k][1]), row_group_size=1 << 20)
            self.rows[k] += table.num_rows

    def commit(self) -> None:
        for writer in self.writers:
            writer.close()
        if self.parts:
            for tmp, (_, schema) in zip(self.tmp, self.targets, strict=True):
                if not any(tmp.iterdir()):  # an empty output is still a folder its readers can read
                    _parquet_writer(tmp / PART.format(0), schema).close()
        # The output last: once it is there, the rejects and the state beside it are of the same run.
        moves = list(zip(self.tmp, (path for path, _ in self.targets), strict=True))
        move_into_place(moves[1:] + moves[:1])

    def discard(self) -> None:
        for writer in self.writers:
            if writer.is_open:
                writer.close()
        for tmp in self.tmp:
            if tmp.is_dir() and not tmp.is_symlink():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)


def _replaceable(target: Path, field: str) -> None:
    """A folder to be replaced by the ``parts`` layout holds only part files and hidden or _-prefixed files (an
    earlier output, the local runner's or Spark's): any other folder is somebody's, never removed."""
    if not target.is_dir() or target.is_symlink():
        return
    foreign = [p.name for p in target.iterdir() if not p.name.startswith(("part-", "_", "."))]
    if foreign:
        raise InputError(field, f"le dossier {target} existe et n'est pas un résultat de parcours batch "
                                f"(il contient {sorted(foreign)[0]}) : choisir un autre dossier")  # fmt: skip


@dataclass
class _Held:
    """The input held in memory, its sort keys and the bucket of each line: each bucket's rows are put in the
    kernel's order by the process that adjudicates it (in parallel, not in the parent)."""

    table: pa.Table
    keys: tuple[np.ndarray[Any, Any], ...]
    which: np.ndarray[Any, Any]


@dataclass
class _Split:
    """The input cut into buckets of whole patients: held in memory (the input within the bound: no temporary file,
    each bucket's rows taken once, already in the kernel's order) or spilled to one Arrow stream per bucket."""

    indices: list[int]  # buckets holding input lines, in order
    rows: dict[int, int]  # lines per bucket
    states: dict[int, pa.Table | Path]  # the given states, per bucket (held, or spilled to an Arrow stream)
    held: _Held | None = None
    work: Path | None = None


_HELD: list[_Held] = []  # the held input, inherited by forked workers


def _bucket_lines(held: _Held | None, work: Path | None, index: int) -> pa.Table:
    if held is not None:
        table = held.table
        rows = _kernel_order(np.flatnonzero(held.which == index), held.keys)
        if rows.size == table.num_rows and (rows.size == 0 or (rows[0] == 0 and bool(np.all(np.diff(rows) == 1)))):
            return table  # one bucket, the input already in order
        return table.take(pa.array(rows))
    assert work is not None
    with pa.OSFile(str(work / f"in-{index:05d}.arrows")) as f:
        return ipc.open_stream(f).read_all()


def _kernel_order(rows: np.ndarray[Any, Any], keys: tuple[np.ndarray[Any, Any], ...]) -> np.ndarray[Any, Any]:
    """``rows`` (increasing) in the order ``adjudicate_partition`` sorts them (lines without a key first, as they
    come; then by patient, date, claim, line, position), so that the kernel's own sort finds them in order and takes
    nothing (the same sort, ``kernel.lex_order``: stable, so the position needs no key)."""
    null, patient, date, claim, line = (k[rows] for k in keys)
    return rows[lex_order((~null).astype(np.int64), patient, date, claim, line)]


def _keys(table: pa.Table) -> tuple[np.ndarray[Any, Any], ...]:
    def ints(name: str) -> np.ndarray[Any, Any]:
        column = table.column(name)
        if pa.types.is_date32(column.type):
            column = pc.cast(column, pa.int32())
        return np.asarray(column.fill_null(0).to_numpy(), dtype=np.int64)

    null = np.zeros(table.num_rows, dtype=bool)
    for name in ("claim_id", "patient_id", "date"):
        null |= table.column(name).is_null().to_numpy()
    values = [np.where(null, 0, ints(name)) for name in ("patient_id", "date", "claim_id", "line_number")]
    return (null, *values)


def _warm() -> None:
    from parcours.batch.kernel import _default_twin
    from parcours.rules.engine import default_engine

    _default_twin()
    default_engine()


def _write_stream(path: Path, table: pa.Table) -> None:
    with ipc.new_stream(str(path), table.schema) as writer:
        writer.write_table(table)


def _drain(path: Path, sink: _Sink, k: int, bucket: int) -> None:
    """A worker's result (memory-mapped, not copied) into the final writer; the file removed once written."""
    with pa.memory_map(str(path)) as source:
        sink.write(k, ipc.open_stream(source).read_all(), bucket)
    path.unlink()


def _work(
    index: int,
    work: Path | None,
    state: pa.Table | Path | None,
    contract: str | None,
    out_dir: Path,
    with_state: bool,
    folders: list[tuple[Path, pa.Schema]] | None = None,
) -> Done:
    """One bucket through the kernel in a worker process: its results as Arrow streams (uncompressed, read back by
    memory map) for the parent to write in bucket order, and its summary; in the ``parts`` layout (``folders``), its
    part files written here."""
    held = _HELD[0] if work is None else None
    lines = _bucket_lines(held, work, index)
    result = adjudicate_partition(lines, _bucket_state(state), contract=contract, with_states=with_state)
    summary = bucket_summary(result.lines, result.summary)
    if folders is not None:
        tables = (result.lines, result.rejects, result.states)  # the states only if asked for: 2 folders or 3
        written = [write_part(folder, index, table, schema)
                   for (folder, schema), table in zip(folders, tables, strict=False)]  # fmt: skip
        return Done(summary, [], written)
    paths = []
    for name, table in (("out", result.lines), ("rejects", result.rejects), ("state", result.states)):
        if name == "state" and not with_state:
            break
        path = out_dir / f"{name}-{index:05d}.arrows"
        _write_stream(path, table)
        paths.append(path)
    return Done(summary, paths, [])


@dataclass(frozen=True)
class Done:
    """A bucket adjudicated by a worker: its summary, and its results as Arrow streams for the parent to write
    (``paths``) or the rows of the parts it wrote itself (``written``, per output)."""

    summary: dict[str, Any]
    paths: list[Path]
    written: list[int]


@dataclass
class Run:
    output: Path
    rejects: Path
    state_out: Path | None
    summary: dict[str, Any]
    notices: list[str] = field(default_factory=list)  # what was put right of earlier runs killed on the way (French)


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
    memory_rows: int | None = None,
    layout: str = "file",
) -> Run:
    """Adjudicate a batch of claim lines into ``output`` (see the module's docstring); an input of at most
    ``memory_rows`` lines (default ``bucket_rows``) is split in memory, a larger one spilled to temporary files.
    ``layout="parts"``: ``output``, its rejects and the state out are each a folder of part files
    (``part-00000.parquet``…, one per bucket), written by the processes that adjudicate the buckets."""
    if layout not in LAYOUTS:
        raise InputError("--output-layout", f"disposition inconnue : {layout} (file ou parts)")
    started = time.perf_counter()
    plain_pages()  # the split and the writes too (forked workers inherit it)
    source = Source.resolve(claims)
    schema = source.schema()
    try:
        check_schema(schema)
    except ColumnError as exc:
        raise InputError(exc.field, exc.message) from exc
    workers = workers or os.cpu_count() or 1
    total = source.rows()
    estimate = total if total is not None else max(1, source.size() // 120)
    # A bucket's given states become objects in its worker: bounded like its lines.
    state_rows = _state_rows(state_in) if state_in is not None else 0
    buckets = max(workers, math.ceil(estimate / bucket_rows), math.ceil(state_rows / bucket_rows))
    limit = bucket_rows if memory_rows is None else memory_rows
    if workers > 1 and "fork" not in get_all_start_methods():
        limit = 0  # spawned workers inherit nothing: each reads its bucket from a file
    output.parent.mkdir(parents=True, exist_ok=True)
    report = progress or (lambda phase, rows, total: None)
    rejects = rejects_path(output)
    # The output names its input, so that ``batch explain`` finds a claim's facts again.
    # In the parts layout every part says it (no file beside them: polars reads a folder only of Parquet files).
    described = OUTPUT_SCHEMA.with_metadata(
        {INPUT_KEY: json.dumps({"claims": source.absolute(), "contract": contract}, ensure_ascii=False)}
    )
    targets = [(output, described), (rejects, reject_schema())]
    if state_out is not None:
        targets.append((state_out, STATE_SCHEMA))
    notices = recover_interrupted(output, [target for target, _ in targets])
    if layout == "parts":
        for (target, _), option in zip(targets, ("OUT", "OUT (rejets)", "--state-out"), strict=False):
            _replaceable(target, option)
    work: list[Path] = []

    def workdir() -> Path:
        if not work:
            work.append(Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX.format(pid=os.getpid()), dir=output.parent)))
        return work[0]

    sink: _Sink | None = None
    with arrow_plain_pages(), reused_pages():
        try:
            split = _split(source, buckets, state_in, report, total, limit, workdir)
            sink = _Sink(targets, layout)
            summaries = _adjudicate_buckets(split, workers, contract, report, sink, workdir)
            sink.commit()
        finally:
            if sink is not None:
                sink.discard()
            if work:
                shutil.rmtree(work[0], ignore_errors=True)
    summary = merge_summaries(summaries)
    summary.setdefault("rows", 0)
    for name in TOTALS:
        summary.setdefault(name, 0)
    summary["lines_written"] = sink.rows[0]
    summary["seconds"] = round(time.perf_counter() - started, 3)
    summary["workers"] = workers
    summary["buckets"] = buckets
    return Run(output, rejects, state_out, summary, notices)


def _split(
    source: Source,
    buckets: int,
    state_in: Path | None,
    report: Progress,
    total: int | None,
    limit: int,
    workdir: Callable[[], Path],
) -> _Split:
    held: list[pa.Table] = []
    held_rows = 0
    writers: dict[int, ipc.RecordBatchStreamWriter] = {}
    rows: dict[int, int] = {}
    schema: pa.Schema | None = None
    work: Path | None = None
    try:
        for batch in source.batches():
            table = conform(pa.Table.from_batches([batch]))
            if schema is None:
                schema = _unified(table.schema)
            table = table.cast(schema) if table.schema != schema else table
            if work is None:
                held.append(table)
                held_rows += table.num_rows
                if held_rows > limit:  # beyond the bound: spill what is held, then every batch as it comes
                    work = workdir()
                    for part in held:
                        _spill(part, buckets, work, writers, rows)
                    held = []
            else:
                _spill(table, buckets, work, writers, rows)
            report("split", table.num_rows, total)
    finally:
        for writer in writers.values():
            writer.close()
    states = _states_in(state_in, buckets, limit, workdir)
    if work is not None:
        return _Split(sorted(rows), rows, states, work=work)
    if not held:
        return _Split([], {}, states)
    table = pa.concat_tables(held) if len(held) > 1 else held[0]
    keys = _keys(table)
    which = bucket_of(keys[1], buckets)
    counts = np.bincount(which, minlength=buckets)
    present = np.flatnonzero(counts).tolist()
    return _Split(present, {b: int(counts[b]) for b in present}, states, held=_Held(table, keys, which))


def _spill(
    table: pa.Table,
    buckets: int,
    work: Path,
    writers: dict[int, ipc.RecordBatchStreamWriter],
    rows: dict[int, int],
    prefix: str = "in",
) -> None:
    """The lines of ``table`` appended to their buckets' files (lz4 Arrow streams: a dictionary may change from one
    batch to the next, as Parquet's do from one row group to the next)."""
    for b, part in _by_bucket(table, buckets):
        writer = writers.get(b)
        if writer is None:
            options = ipc.IpcWriteOptions(compression="lz4")
            path = work / f"{prefix}-{b:05d}.arrows"
            writer = writers[b] = ipc.new_stream(str(path), table.schema, options=options)
        writer.write_table(part)
        rows[b] = rows.get(b, 0) + part.num_rows


def _by_bucket(table: pa.Table, buckets: int) -> Iterator[tuple[int, pa.Table]]:
    """The rows of ``table`` by bucket of their patient (one take, then slices), in bucket order."""
    patient = table.column("patient_id").fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    which = bucket_of(patient, buckets)
    order = np.argsort(which, kind="stable")
    sorted_which = which[order]
    bounds = np.flatnonzero(np.diff(sorted_which)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [len(order)]])
    shuffled = table.take(pa.array(order))
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        if e > s:
            yield int(sorted_which[s]), shuffled.slice(s, e - s)


def _state_dataset(state_in: Path) -> ds.Dataset:
    """The given state: a Parquet file, or a folder of them (Spark's)."""
    try:
        dataset = ds.dataset(str(state_in), format="parquet")
        names = dataset.schema.names
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputError("--state-in", f"état illisible : {exc}") from exc
    missing = [n for n in STATE_SCHEMA.names if n not in names]
    if missing:
        raise InputError("--state-in", f"colonne absente de l'état : {missing[0]}")
    return dataset


def _state_rows(state_in: Path) -> int:
    try:
        return int(_state_dataset(state_in).count_rows())  # from the footers
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputError("--state-in", f"état illisible : {exc}") from exc


def _states_in(
    state_in: Path | None, buckets: int, limit: int, workdir: Callable[[], Path]
) -> dict[int, pa.Table | Path]:
    """The given states cut into the buckets, read batch by batch: held while within ``limit`` rows, else spilled
    to one Arrow stream per bucket (as the lines are), so that memory stays bounded whatever the state's size."""
    if state_in is None:
        return {}
    dataset = _state_dataset(state_in)
    held: dict[int, list[pa.Table]] = {}
    held_rows = 0
    writers: dict[int, ipc.RecordBatchStreamWriter] = {}
    rows: dict[int, int] = {}
    work: Path | None = None
    try:
        for batch in dataset.to_batches(columns=list(STATE_SCHEMA.names), batch_size=READ_BATCH_ROWS):
            table = pa.Table.from_batches([batch]).cast(STATE_SCHEMA)
            if work is None:
                for b, part in _by_bucket(table, buckets):
                    held.setdefault(b, []).append(part)
                held_rows += table.num_rows
                if held_rows > limit:
                    work = workdir()
                    for parts in held.values():
                        for part in parts:
                            _spill(part, buckets, work, writers, rows, prefix="state")
                    held = {}
            else:
                _spill(table, buckets, work, writers, rows, prefix="state")
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputError("--state-in", f"état illisible : {exc}") from exc
    finally:
        for writer in writers.values():
            writer.close()
    if work is not None:
        return {b: work / f"state-{b:05d}.arrows" for b in sorted(rows)}
    return {b: pa.concat_tables(parts) for b, parts in sorted(held.items())}


def _bucket_state(state: pa.Table | Path | None) -> pa.Table | None:
    if state is None or isinstance(state, pa.Table):
        return state
    with pa.OSFile(str(state)) as f:
        return ipc.open_stream(f).read_all()


def _unified(schema: pa.Schema) -> pa.Schema:
    """One schema for every bucket: dictionary-encoded strings stay dictionaries (Parquet takes a new dictionary
    per batch; the twin reads them fastest), other columns keep the batch types."""
    fields = []
    for f in schema:
        t = pa.dictionary(pa.int32(), pa.string()) if pa.types.is_dictionary(f.type) else f.type
        fields.append(pa.field(f.name, t))
    return pa.schema(fields)


def _adjudicate_buckets(
    split: _Split,
    workers: int,
    contract: str | None,
    report: Progress,
    sink: _Sink,
    workdir: Callable[[], Path],
) -> list[dict[str, Any]]:
    """The buckets through the kernel, their results written in bucket order as soon as they are ready."""
    summaries: list[dict[str, Any]] = []
    total = sum(split.rows.values())
    with_state = len(sink.targets) > 2
    if workers == 1 or len(split.indices) <= 1:
        for i in split.indices:
            summaries.append(_write(sink, _in_parent(split, i, contract, with_state), i))
            report("adjudicate", summaries[-1]["rows"], total)
    else:
        _parallel(split, workers, contract, report, sink, workdir, summaries, total, with_state)
    # Patients of the given state who have no claim in this batch keep their state.
    for b in sorted(set(split.states) - set(split.indices)):
        if with_state:
            sink.write(2, _bucket_state(split.states[b]), b)
    return summaries


def _in_parent(split: _Split, index: int, contract: str | None, with_state: bool) -> PartitionResult:
    """One bucket through the kernel in this process."""
    table = _bucket_lines(split.held, split.work, index)
    return adjudicate_partition(table, _bucket_state(split.states.get(index)), contract=contract,
                                with_states=with_state)  # fmt: skip


def _write(sink: _Sink, result: PartitionResult, bucket: int) -> dict[str, Any]:
    for k, part in enumerate((result.lines, result.rejects, result.states)):
        sink.write(k, part, bucket)
    return bucket_summary(result.lines, result.summary)


def _parallel(
    split: _Split,
    workers: int,
    contract: str | None,
    report: Progress,
    sink: _Sink,
    workdir: Callable[[], Path],
    summaries: list[dict[str, Any]],
    total: int,
    with_state: bool,
) -> None:
    """The buckets through ``workers`` processes, the parent one of them: it takes the next bucket whenever it has
    none of its own waiting to be written, and writes every result as soon as those before it are written. Where the
    parent only wrote, it waited idle for the first results (with as many buckets as workers, all ended together,
    then waited for it to write them one by one); now one process fewer is forked and faults its memory in, and the
    parent's results go to the writers from memory, no stream to hand over. In the ``parts`` layout every process
    writes the part files of its own buckets (the Parquet encoding in parallel too), and nothing waits for its turn.
    """
    # Fork where there is fork: the workers inherit the engines already built (parameters, catalogue, the twin's
    # tables) and the input held in memory instead of loading them again; Arrow's thread pools are fork-safe.
    _warm()
    out_dir = workdir()
    context = get_context("fork") if "fork" in get_all_start_methods() else get_context("spawn")
    order = list(split.indices)
    queue = list(order)
    size = min(workers - 1, len(order) - 1)
    own: dict[int, PartitionResult] = {}  # the parent's result waiting for its turn (at most one)
    ready: dict[int, Done] = {}
    folders = sink.folders()
    position = 0  # the next bucket to write
    if split.held is not None:
        _HELD.append(split.held)
    # The parent's objects out of the collector's reach in the workers: a collection there would write to every
    # inherited object's header, copying the pages that hold them (the engines' parameters and catalogue). No
    # collection first: with the engines loaded it took 0.16 s of the parent, before any worker starts. What the
    # caller had frozen stays frozen (unfreeze thaws everything).
    frozen = gc.get_freeze_count()
    gc.freeze()
    try:
        with ProcessPoolExecutor(max_workers=size, mp_context=context) as pool:
            pending: dict[Future[Done], int] = {}

            def submit() -> None:
                # Two buckets a worker (the next one queued: no worker waits for the parent to finish its own
                # before it is given more), at most twice as many as processes computed ahead of the one to write.
                # Parts written hold no memory: only results waiting for their turn count.
                waiting = len(own) + (0 if folders else len(ready))
                while queue and len(pending) < 2 * size and len(pending) + waiting < 2 * workers:
                    i = queue.pop(0)
                    state = split.states.get(i)
                    pending[pool.submit(_work, i, split.work, state, contract, out_dir, with_state, folders)] = i

            while position < len(order):
                if queue and not own:
                    i = queue.pop(0)
                    submit()  # the workers start on the next buckets before the parent on its own
                    own[i] = _in_parent(split, i, contract, with_state)
                    if folders:  # its parts written at once: the parent goes on with the next bucket
                        ready[i] = Done(_write(sink, own.pop(i), i), [], [])
                else:
                    # A bucket before the parent's is still being computed: pending is not empty.
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        ready[pending.pop(future)] = future.result()
                for future in [f for f in pending if f.done()]:
                    ready[pending.pop(future)] = future.result()
                while position < len(order) and (order[position] in own or order[position] in ready):
                    b = order[position]
                    if b in own:
                        summaries.append(_write(sink, own.pop(b), b))
                    else:
                        done_bucket = ready.pop(b)
                        for k, path in enumerate(done_bucket.paths):
                            _drain(path, sink, k, b)
                        for k, rows in enumerate(done_bucket.written):
                            sink.rows[k] += rows
                        summaries.append(done_bucket.summary)
                    report("adjudicate", summaries[-1]["rows"], total)
                    position += 1
                submit()
    finally:
        if not frozen:
            gc.unfreeze()
        _HELD.clear()
