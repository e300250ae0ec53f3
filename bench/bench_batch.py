"""``parcours batch adjudicate`` end to end against the I/O floor, in one run, on the same generated data.

    .venv/bin/python bench/bench_batch.py [--rows 1000000] [--seed 7] [--other-share 0.01] [--spark]
        [--baseline SRC [--repeat 3]] [--contract NAME]

Prints, for the same input Parquet file:

- the I/O floor: pyarrow reading the input and writing a Parquet file of the same rows with the output's columns;
- the local runner end to end (split by patient, kernel, gather, atomic rename) with 1 process and with all cores,
  lines per second and the ratio to the floor, in both output layouts: one Parquet file (``file``, the default: the
  parent writes every bucket's results) and a folder of part files (``parts``: each process writes its own buckets'
  parts), alternated ``--repeat`` times, the best of each, the engines loaded before the first;
- with ``--baseline SRC`` (a ``src`` folder of another version, e.g. ``git archive HEAD~3 src | tar -x -C /tmp/b``):
  that version and this one (both layouts; the baseline in its default one), each in a fresh process with its
  engines loaded before the clock starts, alternated ``--repeat`` times on the same file, the best time of each and
  their ratio (a shared machine is noisy: the ratio of the same run is the figure to quote);
- with ``--spark``: Spark ``local[N]`` (N = cores) against Spark's own read + write of the same files, its first
  adjudication (Python workers starting) and the best of ``--repeat`` after it;
- peak memory (this process, and the largest worker), and the extrapolation to a national year (1.2 × 10⁹ claims):
  on this machine from the local runner, on N Spark workers from Spark's own warm runs (``--spark``).

With ``--contract NAME`` (a catalogue formula) every patient has that mutuelle contract: the runs compute the AMC and
the reste à charge too (a mutuelle claims team's case).

Nothing here asserts a time (never a timed test): the figures go in the closing note.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from parcours.batch.generate import generate
from parcours.batch.runner import _warm, adjudicate

NATIONAL_CLAIMS = 1_200_000_000
LAYOUTS = ("file", "parts")


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _cpu(children: bool = True) -> float:
    """CPU seconds (user + system) of this process and its reaped children (the runner's workers)."""
    whose = (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN) if children else (resource.RUSAGE_SELF,)
    return sum(getattr(resource.getrusage(who), f) for who in whose for f in ("ru_utime", "ru_stime"))


def _floor(claims: Path, output: Path, like: Path) -> tuple[float, float]:
    """Read the input, write the same number of rows with the output's columns (taken from a real output): wall
    and CPU seconds."""
    out = pq.read_table(like)
    started, cpu = time.perf_counter(), _cpu()
    table = pq.read_table(claims)
    pq.write_table(out.slice(0, table.num_rows), output, compression="snappy")
    return time.perf_counter() - started, _cpu() - cpu


def _peak_mb() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--patients", type=int, default=None)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--other-share", type=float, default=0.01)
    parser.add_argument("--spark", action="store_true")
    parser.add_argument("--baseline", type=Path, help="src folder of the version to compare with")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--contract", default=None, help="every patient's mutuelle formula (catalogue name)")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    work = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    try:
        table = generate(args.rows, seed=args.seed, patients=args.patients, other_share=args.other_share)
        claims = work / "claims.parquet"
        pq.write_table(table, claims, compression="snappy")
        lines = table.num_rows
        claims_count = len(set(table.column("claim_id").to_numpy().tolist()))
        del table
        print(f"input: {lines:,} lines, {claims_count:,} claims, {claims.stat().st_size / 1e6:.1f} MB; {cores} cores"
              + (f"; contract {args.contract}" if args.contract else ""))  # fmt: skip

        _warm()  # the engines loaded before the clock, as in the fresh processes of --baseline
        like = work / "like.parquet"
        adjudicate(str(claims), like, workers=cores, contract=args.contract)
        # Best wall and best CPU of each, the floor measured between the runs (the machine's load moves).
        # And the parent's own CPU: what the workers cannot take from it (the split, its buckets, the writes it
        # does), the run's critical path when the machine is too loaded for the wall clock to show it.
        results: dict[tuple[int, str], tuple[float, float]] = {}
        parent: dict[tuple[int, str], float] = {}
        floors: list[tuple[float, float]] = []
        for workers in sorted({1, cores}):
            for _ in range(max(args.repeat, 1)):
                floors.append(_floor(claims, work / "floor.parquet", like))
                for layout in LAYOUTS:
                    out = work / f"out-{workers}-{layout}"
                    started, cpu, own = time.perf_counter(), _cpu(), _cpu(children=False)
                    run = adjudicate(str(claims), out, workers=workers, contract=args.contract, layout=layout)
                    wall, cpu, own = time.perf_counter() - started, _cpu() - cpu, _cpu(children=False) - own
                    parent[workers, layout] = min(parent.get((workers, layout), own), own)
                    before = results.get((workers, layout), (wall, cpu))
                    results[workers, layout] = (min(before[0], wall), min(before[1], cpu))
                    _remove(out)
                    _remove(run.rejects)
            engines = run.summary.get("engines", {})
            for layout in LAYOUTS:
                wall, cpu = results[workers, layout]
                print(f"adjudicate, {workers} process(es), {layout}: best of {args.repeat} {wall:.2f} s (CPU {cpu:.2f} s, "
                      f"the parent's {parent[workers, layout]:.2f} s), "
                      f"{lines / wall:,.0f} lines/s (twin {engines.get('columnar', 0):,}, "
                      f"scalar {engines.get('scalar', 0):,})")  # fmt: skip
        floor, floor_cpu = min(f[0] for f in floors), min(f[1] for f in floors)
        print(f"I/O floor (pyarrow read + write), best of {len(floors)}: {floor:.2f} s (CPU {floor_cpu:.2f} s), "
              f"{lines / floor:,.0f} lines/s")  # fmt: skip
        for (workers, layout), (wall, cpu) in results.items():
            print(f"ratio to the floor, {workers} process(es), {layout}: {wall / floor:.2f}× (CPU {cpu / floor_cpu:.2f}×, "
                  f"the parent's CPU {parent[workers, layout] / floor_cpu:.2f}×)")  # fmt: skip
        own, children = _peak_mb()
        print(f"peak memory: this process {own:.0f} MB, largest worker {children:.0f} MB")
        best = min(wall for wall, _ in results.values())
        per_claim = best / claims_count
        hours = NATIONAL_CLAIMS * per_claim / 3600
        print(f"national year ({NATIONAL_CLAIMS:,} claims) on this machine: {hours:,.1f} h")

        if args.baseline:
            _compare(claims, work, cores, lines, floor, args.baseline, args.repeat, args.contract)
        if args.spark:
            _spark(claims, work, cores, lines, claims_count, args.repeat)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# Each timed script prints its wall time and its CPU time (user + system, the process and its workers): on a shared
# machine the wall clock moves with the others' load, the CPU time much less.
_CPU = """
import resource
def cpu():
    return sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for f in ("ru_utime", "ru_stime"))
"""

_TIMED = (
    _CPU
    + """
import sys, time
from pathlib import Path
from parcours.batch.kernel import _default_twin
from parcours.batch.runner import adjudicate
from parcours.rules.engine import default_engine
_default_twin(); default_engine()
started, cpu0 = time.perf_counter(), cpu()
options = {"layout": sys.argv[5]} if sys.argv[5:] else {}  # a baseline before the layouts knows none
adjudicate(sys.argv[1], Path(sys.argv[2]), workers=int(sys.argv[3]), contract=sys.argv[4] or None, **options)
print(time.perf_counter() - started, cpu() - cpu0)
"""
)


_KERNEL = (
    _CPU
    + """
import sys, time
import pyarrow.parquet as pq
from parcours.batch.kernel import _default_twin, adjudicate_partition
from parcours.rules.engine import default_engine
_default_twin(); default_engine()
table = pq.read_table(sys.argv[1])
started, cpu0 = time.perf_counter(), cpu()
adjudicate_partition(table, contract=sys.argv[4] or None)
print(time.perf_counter() - started, cpu() - cpu0)
"""
)


def _timed(
    src: Path, claims: Path, output: Path, workers: int, script: str = _TIMED, contract: str | None = None,
    layout: str | None = None,
) -> tuple[float, float]:  # fmt: skip
    """Wall and CPU seconds of one run in a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(src.resolve())}
    command = [sys.executable, "-c", script, str(claims), str(output), str(workers), contract or ""]
    done = subprocess.run(command + ([layout] if layout else []), env=env, check=True, capture_output=True, text=True)
    _remove(output)
    _remove(output.with_name(output.name.removesuffix(".parquet") + ".rejects.parquet"))
    wall, cpu = done.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def _compare(
    claims: Path, work: Path, cores: int, lines: int, floor: float, baseline: Path, repeat: int,
    contract: str | None = None,
) -> None:  # fmt: skip
    """This version against ``baseline``, alternated on the same file: best of ``repeat`` each, wall and CPU."""
    here = Path(__file__).resolve().parent.parent / "src"
    versions: tuple[tuple[str, Path, str | None], ...] = (("baseline", baseline, None), ("this", here, None))

    def best(workers: int, script: str, name: str) -> dict[str, tuple[float, float]]:
        found = {v: (float("inf"), float("inf")) for v, _, _ in versions}
        for _ in range(repeat):
            for version, src, layout in versions:
                wall, cpu = _timed(src, claims, work / f"{name}-{version}.parquet", workers, script, contract, layout)
                found[version] = (min(found[version][0], wall), min(found[version][1], cpu))
        return found

    # The kernel alone on the whole input in memory (what one process cannot avoid): the rest is the runner's I/O.
    kernel = best(1, _KERNEL, "kernel")
    versions += (("this, parts", here, "parts"),)
    print(f"kernel alone, in memory, 1 process: baseline {kernel['baseline'][0]:.2f} s (CPU {kernel['baseline'][1]:.2f} s), "
          f"this {kernel['this'][0]:.2f} s (CPU {kernel['this'][1]:.2f} s), this / baseline wall "
          f"{kernel['this'][0] / kernel['baseline'][0]:.3f}, CPU {kernel['this'][1] / kernel['baseline'][1]:.3f}")  # fmt: skip
    for workers in sorted({1, cores}):
        found = best(workers, _TIMED, "cmp")
        (bw, bc), (tw, tc) = found["baseline"], found["this"]
        print(f"{workers} process(es): baseline {bw:.2f} s ({bw / floor:.2f}× the floor, CPU {bc:.2f} s), "
              f"this {tw:.2f} s ({tw / floor:.2f}× the floor, CPU {tc:.2f} s), this / baseline wall {tw / bw:.3f}, "
              f"CPU {tc / bc:.3f}")  # fmt: skip
        pw, pc = found["this, parts"]
        print(f"  this, parts layout: {pw:.2f} s ({pw / floor:.2f}× the floor, CPU {pc:.2f} s), parts / baseline wall "
              f"{pw / bw:.3f}, CPU {pc / bc:.3f}; parts / this file wall {pw / tw:.3f}, CPU {pc / tc:.3f}")  # fmt: skip
        if workers == 1:
            print(f"  the runner beyond the kernel, 1 process: baseline {bw - kernel['baseline'][0]:.2f} s, "
                  f"this {tw - kernel['this'][0]:.2f} s, parts {pw - kernel['this'][0]:.2f} s")  # fmt: skip


def _spark(claims: Path, work: Path, cores: int, lines: int, claims_count: int, repeat: int) -> None:
    """Spark against its own read + write, the first adjudication (which starts the Python workers and loads the
    rules in each) and the best of ``repeat`` after it; the national year extrapolated from the warm runs."""
    from pyspark.sql import SparkSession

    from parcours.batch.spark import adjudicate_spark

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (
        SparkSession.builder.master(f"local[{cores}]")
        .config("spark.sql.shuffle.partitions", str(cores))
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.read.parquet(str(claims)).write.mode("overwrite").parquet(str(work / "warm"))  # JVM warm-up
    started = time.perf_counter()
    spark.read.parquet(str(claims)).write.mode("overwrite").parquet(str(work / "spark-copy"))
    floor = time.perf_counter() - started
    runs = []
    for attempt in range(1 + max(repeat, 1)):
        started = time.perf_counter()
        adjudicate_spark(str(claims), work / f"spark-out-{attempt}", spark=spark)
        runs.append(time.perf_counter() - started)
        shutil.rmtree(work / f"spark-out-{attempt}", ignore_errors=True)
    first, warm = runs[0], min(runs[1:])
    print(f"Spark local[{cores}] read + write: {floor:.2f} s; adjudicate: first {first:.2f} s ({first / floor:.2f}× its "
          f"floor), then best of {len(runs) - 1} {warm:.2f} s, {lines / warm:,.0f} lines/s, "
          f"{warm / floor:.2f}× its floor")  # fmt: skip
    per_core = warm * cores / claims_count
    for n in (10, 50, 200):
        print(f"  national year on {n} Spark workers of {cores} cores (linear from the warm run, shuffle and "
              f"network not measured): {NATIONAL_CLAIMS * per_core / (n * cores) / 3600:,.2f} h")  # fmt: skip
    spark.stop()


if __name__ == "__main__":
    main()
