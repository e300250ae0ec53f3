"""The local runner's I/O: the input held in memory or spilled to bucket files, one worker or two, gives the same
files row for row (lines, rejects, states, in the same order), equal to the kernel on the whole input; a run that
fails leaves neither output nor temporary file."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.batch.runner_inputs import write_two_files

from parcours.batch.kernel import _in_order, adjudicate_partition, lex_order
from parcours.batch.publish import move_into_place
from parcours.batch.runner import _kernel_order, adjudicate, arrow_plain_pages, bucket_of


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two files of one year (the second with the state of the first), with lines the kernel rejects (a missing
    patient, a missing claim id, an unknown act) and lines without a line number."""
    work = tmp_path_factory.mktemp("runner")
    table = write_two_files(work)
    pq.write_table(table, work / "dictionary.parquet", row_group_size=500)  # dictionary-encoded strings
    return work


def run(inputs: Path, out: Path, **options: Any) -> dict[str, pa.Table]:
    out.mkdir()
    adjudicate(str(inputs / "first.parquet"), out / "one.parquet", state_out=out / "one.state.parquet", **options)
    adjudicate(str(inputs / "second.parquet"), out / "two.parquet", state_in=out / "one.state.parquet",
               state_out=out / "two.state.parquet", **options)  # fmt: skip
    adjudicate(str(inputs / "dictionary.parquet"), out / "dict.parquet", **options)
    names = ["one.parquet", "one.rejects.parquet", "one.state.parquet", "two.parquet", "two.rejects.parquet",
             "two.state.parquet", "dict.parquet"]  # fmt: skip
    return {name: pq.read_table(out / name) for name in names}


@pytest.mark.parametrize(
    "options",
    [
        {"workers": 1},  # one bucket, in memory
        {"workers": 2},  # two buckets, in memory, forked workers
        {"workers": 2, "bucket_rows": 200},  # eight buckets: the parent and a worker
        {"workers": 3, "bucket_rows": 200},  # the parent and two workers
        {"workers": 2, "bucket_rows": 200, "memory_rows": 500},  # spilled after the first batches
    ],
)
def test_in_memory_and_spilled_runs_write_the_same_files(inputs: Path, tmp_path: Path, options: Any) -> None:
    got = run(inputs, tmp_path / "got", **options)
    spilled = run(inputs, tmp_path / "spilled", **{**options, "memory_rows": 0})
    assert got["one.rejects.parquet"].num_rows == 3
    assert got["two.state.parquet"].num_rows > 0
    for name, table in got.items():
        assert spilled[name].equals(table), name  # row for row, in the same order
    # Whatever the buckets, the same rows as one bucket (the order is by bucket, then patient, date, claim, line).
    reference = run(inputs, tmp_path / "reference", workers=1)
    for name, table in reference.items():
        keys = [(k, "ascending") for k in ("patient_id", "claim_id", "line_number") if k in table.column_names]
        assert got[name].sort_by(keys).equals(table.sort_by(keys)), name
    for out in ("got", "spilled"):
        assert not [p.name for p in (tmp_path / out).iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("memory_rows", [None, 0])
def test_buckets_whose_lines_are_all_rejected(inputs: Path, tmp_path: Path, memory_rows: int | None) -> None:
    """Eight buckets, two workers: the first bucket (the parent adjudicates it) and another (a worker does) hold only
    lines without a claim id. Their lines are all in the rejects, none in the output, and the run gives the rows of
    one bucket in one process; held in memory or spilled."""
    table = pq.read_table(inputs / "first.parquet")
    patient = table.column("patient_id").fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    which = bucket_of(patient, 8)
    spoiled = np.isin(which, [int(which.min()), 5])
    claim = table.column("claim_id").to_numpy(zero_copy_only=False).astype(float)
    table = table.set_column(table.column_names.index("claim_id"), "claim_id",
                             pa.array(np.nan_to_num(claim).astype(np.int64), mask=spoiled))  # fmt: skip
    claims = tmp_path / "claims.parquet"
    pq.write_table(table, claims, row_group_size=400)

    def outputs(name: str, **options: Any) -> tuple[list[Any], list[Any]]:
        out = tmp_path / f"{name}.parquet"
        run = adjudicate(str(claims), out, **options)
        assert run.summary["buckets"] == (8 if options["workers"] == 2 else 1)
        lines = pq.read_table(out).to_pylist()
        rejects = pq.read_table(out.with_name(f"{name}.rejects.parquet")).to_pylist()
        return sorted(lines, key=repr), sorted(rejects, key=repr)

    lines, rejects = outputs("eight", workers=2, bucket_rows=200, memory_rows=memory_rows)
    assert (lines, rejects) == outputs("one", workers=1)
    assert len(lines) > 0
    assert sum(r["claim_id"] is None for r in rejects) >= int(spoiled.sum())
    assert not {r["patient_id"] for r in lines} & set(patient[spoiled].tolist())


def test_the_run_thaws_only_what_it_froze(inputs: Path, tmp_path: Path) -> None:
    """The parent's objects are frozen for the fork (``gc.freeze``) and thawed after the run, unless the caller had
    frozen some of its own: those stay frozen."""
    assert gc.get_freeze_count() == 0
    adjudicate(str(inputs / "first.parquet"), tmp_path / "one.parquet", workers=2)
    assert gc.get_freeze_count() == 0
    gc.freeze()
    try:
        before = gc.get_freeze_count()
        adjudicate(str(inputs / "first.parquet"), tmp_path / "two.parquet", workers=2)
        assert gc.get_freeze_count() >= before > 0
    finally:
        gc.unfreeze()


def test_one_bucket_equals_the_kernel_on_the_whole_input(inputs: Path, tmp_path: Path) -> None:
    for memory_rows in (None, 0):
        out = tmp_path / f"out-{memory_rows}.parquet"
        adjudicate(str(inputs / "first.parquet"), out, workers=1, memory_rows=memory_rows)
        kernel = adjudicate_partition(pq.read_table(inputs / "first.parquet"))
        assert pq.read_table(out).equals(kernel.lines.cast(pq.read_schema(out)))
        assert pq.read_table(out.with_name(out.stem + ".rejects.parquet")).equals(kernel.rejects)


@pytest.mark.parametrize("options", [{"workers": 2, "bucket_rows": 200}, {"workers": 1, "bucket_rows": 200,
                                                                           "memory_rows": 0}])  # fmt: skip
@pytest.mark.parametrize("layout", ["file", "parts"])
def test_a_run_that_fails_leaves_nothing(inputs: Path, tmp_path: Path, options: Any, layout: str) -> None:
    """Stopped after two buckets (already in the writers, or their parts in the staging folders): no output, no
    staging file or folder left."""

    class StopError(Exception):
        pass

    done: list[int] = []

    def stop_after_two_buckets(phase: str, rows: int, total: int | None) -> None:
        if phase == "adjudicate":
            done.append(rows)
            if len(done) == 2:  # the first two buckets are already in the writers
                raise StopError

    with pytest.raises(StopError):
        adjudicate(str(inputs / "first.parquet"), tmp_path / "out.parquet", state_out=tmp_path / "state.parquet",
                   progress=stop_after_two_buckets, layout=layout, **options)  # fmt: skip
    assert len(done) == 2
    assert list(tmp_path.iterdir()) == []


def test_outputs_are_moved_into_place_as_a_set(inputs: Path, tmp_path: Path) -> None:
    """A run over earlier outputs replaces all three; a move that fails (here the output's staged file is missing)
    puts back what the targets held, the state and the rejects already moved included."""
    out, state = tmp_path / "out.parquet", tmp_path / "state.parquet"
    adjudicate(str(inputs / "first.parquet"), out, state_out=state, workers=1)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert set(before) == {"out.parquet", "out.rejects.parquet", "state.parquet"}
    adjudicate(str(inputs / "second.parquet"), out, state_in=state, state_out=state, workers=1)
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert set(after) == set(before)
    assert all(after[name] != before[name] for name in before)

    staged = tmp_path / "staged"
    staged.mkdir()
    (staged / "state").write_bytes(b"new state")
    (staged / "rejects").mkdir()  # a directory (Spark's outputs) onto a file
    with pytest.raises(FileNotFoundError):
        move_into_place([(staged / "state", state), (staged / "rejects", tmp_path / "out.rejects.parquet"),
                         (staged / "missing", out)])  # fmt: skip
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == after
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "out.parquet",
        "out.rejects.parquet",
        "staged",
        "state.parquet",
    ]


def test_without_states_out_the_same_lines_and_rejects(inputs: Path) -> None:
    """The states out are computed only when asked for; the lines (hand-overs between the twin and the scalar engine
    included: 2 % of other care) and the rejects are the same."""
    table = pq.read_table(inputs / "first.parquet")
    # AT-MP care now and then: claims of the scalar engine (the twin takes the generator's other shapes).
    table = table.append_column("work_injury", pc.equal(pc.bit_wise_and(table.column("claim_id"), 31), 0))
    full = adjudicate_partition(table)
    lean = adjudicate_partition(table, with_states=False)
    assert set(full.lines.column("engine").to_pylist()) == {"columnar", "scalar"}
    assert lean.lines.equals(full.lines)
    assert lean.rejects.equals(full.rejects)
    assert full.states.num_rows > 0
    assert lean.states.num_rows == 0


def _keys_of(draw: Any) -> tuple[np.ndarray[Any, Any], ...]:
    n = draw(st.integers(0, 60))
    span = draw(st.sampled_from([2, 1000, 2**31, 2**40, 2**62]))
    values = st.integers(-span, span)
    null = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    keys = [np.array(draw(st.lists(values, min_size=n, max_size=n)), dtype=np.int64) for _ in range(4)]
    return (null, *(np.where(null, 0, k) for k in keys))  # what runner._keys gives: a line without a key is zeros


@given(st.data())
def test_kernel_order_is_the_kernels_sort(data: Any) -> None:
    """The bucket's rows in the order of the kernel's own sort (no key first as they come, then patient, date,
    claim, line, position), whether the keys can be packed into two integers or not (ids near 2⁶² cannot)."""
    keys = _keys_of(data.draw)
    rows = np.flatnonzero(np.array(data.draw(st.lists(st.booleans(), min_size=keys[0].size, max_size=keys[0].size))))
    null, patient, date, claim, line = (k[rows] for k in keys)
    expected = rows[np.lexsort((rows, line, claim, date, patient, ~null))]
    assert _kernel_order(rows, keys).tolist() == expected.tolist()


@given(st.data())
def test_lex_order_is_lexsort(data: Any) -> None:
    """The packed sort gives np.lexsort's order, ties in the rows' order, whether the keys fit in one integer or
    not, with many equal keys (spans of 2) or none."""
    _, *keys = _keys_of(data.draw)
    keys = keys[: data.draw(st.integers(1, 4))]
    assert lex_order(*keys).tolist() == np.lexsort(tuple(reversed(keys))).tolist()


def test_lex_order_keeps_tied_rows_in_order() -> None:
    a = np.array
    assert lex_order(a([5, 3, 5, 3, 5]), a([1, 1, 0, 1, 1])).tolist() == [1, 3, 2, 0, 4]
    assert lex_order(a([2, 1, 0])).tolist() == [2, 1, 0]
    assert lex_order(a([-(2**62), 2**62]), a([0, 1])).tolist() == [0, 1]  # too wide to pack: lexsort
    assert lex_order(a([], dtype=np.int64)).tolist() == []


@given(st.data())
def test_in_order_tells_rows_the_kernels_sort_would_not_move(data: Any) -> None:
    """The kernel skips its sort when ``_in_order`` says the rows are sorted: exactly when the stable sort is the
    identity (drawn sorted half the time, so both answers are exercised)."""
    _, *keys = _keys_of(data.draw)
    if data.draw(st.booleans()):
        order = np.lexsort(tuple(reversed(keys)))
        keys = [k[order] for k in keys]
    identity = np.lexsort((np.arange(keys[0].size), *reversed(keys)))
    assert _in_order(*keys) == bool(np.array_equal(identity, np.arange(keys[0].size)))


def test_in_order_on_ties_and_single_steps_back() -> None:
    a = np.array
    assert _in_order(a([0, 1]), a([5, 0]))  # the first key decides
    assert not _in_order(a([1, 0]), a([0, 5]))
    assert not _in_order(a([3, 3]), a([1, 0]))  # a tie on the first key: the second decides
    assert _in_order(a([3, 3, 4]), a([0, 0, 0]))


_REUSE = """
import resource, sys
import numpy as np
from parcours.batch.kernel import plain_pages
from parcours.batch.runner import reused_pages

plain_pages()  # as the run: 4 KB pages (with huge pages, a few faults whatever the allocator does)

def faults(size):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    np.ones(size // 8)  # written once, then freed
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

size = 24 << 20
with reused_pages():
    faults(size)
    print(faults(size), size // 4096)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_reused_pages_gives_freed_memory_again(tmp_path: Path) -> None:
    """Within ``reused_pages``, a bucket-sized array freed and made again takes the same pages (no page faulted in
    afresh, where glibc alone maps and faults it again); with the malloc tunables set by the environment, glibc is
    left alone. In a fresh process: the allocator's thresholds are the process's."""
    src = Path(__file__).resolve().parents[2] / "src"

    def second_faults(**env: str) -> tuple[int, int]:
        done = subprocess.run([sys.executable, "-c", _REUSE], env={**os.environ, "PYTHONPATH": str(src), **env},
                              check=True, capture_output=True, text=True)  # fmt: skip
        faults, pages = map(int, done.stdout.split())
        return faults, pages

    faults, pages = second_faults()
    assert faults < pages // 10
    faults, pages = second_faults(GLIBC_TUNABLES="glibc.malloc.trim_threshold=131072")
    assert faults > pages // 2


def test_arrow_plain_pages_for_the_run_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The run's Arrow buffers come from the system allocator, the previous pool is back afterwards, and a pool named
    by ``ARROW_DEFAULT_MEMORY_POOL`` is left alone."""
    before = pa.default_memory_pool().backend_name
    with arrow_plain_pages():
        assert pa.default_memory_pool().backend_name == "system"
    assert pa.default_memory_pool().backend_name == before
    monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", before)
    with arrow_plain_pages():
        assert pa.default_memory_pool().backend_name == before
