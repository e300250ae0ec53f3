"""The rules engine's speed, in one run: one event in-process and a million one-act events as columns.

    .venv/bin/python bench/bench_rules.py [--events 20000] [--rows 1000000] [--seed 7]

Each figure is printed with a baseline measured in the same run, on the same data, so the ratio says what the rules
cost on top of work no engine can avoid:

- one event: ``Engine.adjudicate`` (pathway, every rate, cap and explanation step) against validating the same
  event with pydantic (``CareEvent.model_validate``), the floor of any in-process call that takes JSON-shaped input;
- columns: ``ColumnarEngine.run`` (every rule, every cap per patient and day) against one vectorised pass that reads
  the same columns and applies one rate to the fee (``apply_rate``), the floor of a columnar computation.

The synthetic claims come from ``parcours.batch.generate`` (seeded), across 2024-2026 so that the batch crosses the
changes of value. Nothing here asserts a time: the figures go in the closing note of the change that touches the
rules.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import statistics
import time
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from parcours.batch.generate import generate
from parcours.rules.columnar import ColumnarEngine
from parcours.rules.engine import default_engine
from parcours.rules.event import CareEvent
from parcours.rules.money import apply_rate

GP_RPPS = "10101010105"

EVENTS: list[dict[str, Any]] = [
    {  # GP, MT declared, in the pathway
        "date": "2026-03-02",
        "patient": {"birth_date": "1985-04-12", "gp": GP_RPPS, "c2s": False},
        "professional": {"rpps": GP_RPPS, "specialty": "general_practice", "sector": "1", "optam": False},
        "acts": [{"code": "G", "fee": 30.0}],
    },
    {  # no MT declared: out of the pathway, majoration capped
        "date": "2025-09-15",
        "patient": {"birth_date": "1970-01-30", "gp": None},
        "professional": {"rpps": GP_RPPS, "specialty": "general_practice", "sector": "2", "optam": False},
        "acts": [{"code": "G", "fee": 50.0}],
    },
    {  # cardiologist on the MT's referral
        "date": "2026-06-10",
        "patient": {"birth_date": "1958-11-02", "gp": "10000000009"},
        "professional": {"rpps": GP_RPPS, "specialty": "cardiology", "sector": "1"},
        "referred_by_gp": True,
        "acts": [{"code": "CSC"}],
    },
]


def per_call_micros(fn: Any, arg: Any, n: int) -> list[float]:
    """Microseconds of each of n calls (after a warm-up), so that the median and tail are real percentiles."""
    for _ in range(min(n, 500)):
        fn(arg)
    out = []
    clock = time.perf_counter_ns
    for _ in range(n):
        start = clock()
        fn(arg)
        out.append((clock() - start) / 1000)
    return out


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q * 100) - 1]


def bench_one_event(n: int) -> None:
    engine = default_engine()
    print(f"One event in-process ({n} calls per event, median and p99 in µs)")
    print(f"  {'event':<36} {'validate':>9} {'adjudicate':>11} {'p99':>8} {'ratio':>7}")
    for raw in EVENTS:
        event = CareEvent.model_validate(raw)
        engine.adjudicate(event)  # parameters of the date are loaded and cached once, as in a server
        baseline = per_call_micros(CareEvent.model_validate, raw, n)
        rules = per_call_micros(engine.adjudicate, event, n)
        name = f"{raw['professional']['specialty']} {raw['acts'][0]['code']} {raw['date']}"
        b50, r50 = statistics.median(baseline), statistics.median(rules)
        print(f"  {name:<36} {b50:>9.1f} {r50:>11.1f} {quantile(rules, 0.99):>8.1f} {r50 / b50:>6.1f}x")


def best_of(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_columns(rows: int, seed: int, repeat: int) -> None:
    start = time.perf_counter()
    table = generate(rows, seed=seed)
    generated = time.perf_counter() - start
    twin = ColumnarEngine()
    result = twin.run(table)  # warm-up: parameter tables of the batch's spans
    answered = int(result.answered.sum())

    def floor() -> None:
        fee = table.column("fee").to_numpy(zero_copy_only=False)
        code = pc.dictionary_encode(table.column("act_code"))
        apply_rate(np.nan_to_num(fee, nan=0).astype(np.int64), 7000)
        del code

    baseline = best_of(floor, repeat)
    rules = best_of(lambda: twin.run(table), repeat)
    print(f"\nColumns: {rows:,} one-act events (generated in {generated:.2f} s; {answered:,} answered by the twin)")
    print(f"  baseline (read columns, one rate)  {baseline:8.3f} s  {rows / baseline:>14,.0f} events/s")
    print(f"  ColumnarEngine.run (every rule)    {rules:8.3f} s  {rows / rules:>14,.0f} events/s")
    print(f"  ratio rules / baseline             {rules / baseline:8.1f}x")
    dates = pc.min_max(table.column("date")).as_py()
    print(
        f"  dates {dates['min']} → {dates['max']}; {table.num_columns} input columns; numpy {np.__version__}, "
        f"pyarrow {pa.__version__}; {dt.date.today()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="calls per event for the in-process figure")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the columnar batch")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="runs of the batch; the best is kept")
    args = parser.parse_args()
    bench_one_event(args.events)
    bench_columns(args.rows, args.seed, args.repeat)


if __name__ == "__main__":
    main()
