"""Where ``parcours batch adjudicate`` spends its time, by phase, one process (never a timed test).

    .venv/bin/python bench/profile_batch.py CLAIMS.parquet [--cpu] [--workers 1] [--contract confort]
        [--state-in STATE.parquet] [--state-out STATE.parquet] [--layout file|parts]

Wraps the runner's and the kernel's functions with timers (each phase's own time, the phases it calls excluded) and
prints seconds, share, microseconds per row and minor page faults (new memory touched), by function and by phase. ``--cpu`` counts the process's CPU time
(Arrow's threads included) instead of the wall clock: on a shared machine it moves less with the others' load. With
``--workers`` > 1 only the parent's phases are seen (the buckets it adjudicates itself among them; the workers' are in
their own processes; in the ``parts`` layout their Parquet writes too).
"""

from __future__ import annotations

import argparse
import collections
import functools
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from parcours.batch import contracts, kernel, runner
from parcours.rules import columnar
from parcours.rules.contracts import columnar as contracts_columnar

PHASES = {
    "read + split by patient (parent)": ["_split", "_keys", "_states_in"],
    "rows into the kernel's order": ["_bucket_lines", "_kernel_order"],
    "validation and routing (kernel)": ["adjudicate_partition", "_rejects", "_equal_on_claim", "_take", "_twin_rows"],
    "twin (ColumnarEngine.run)": ["ColumnarEngine.run"],
    "twin: lines and states around it": ["_twin", "twin_result_columns", "_json_objects", "states_table"],
    "mutuelle contract (batch.contracts)": ["add_contracts", "scalar_contract_patients", "_as_part_schema"],
    "contract states into the details": ["_states_before", "_states_after", "_merged"],
    "contract in columns (apply_contracts)": ["apply_contracts"],
    "contract states as JSON text": ["ContractOutcome.before", "ContractOutcome.after"],
    "scalar engine (claims routed)": ["_scalar"],
    "output assembly and summary": ["_assemble", "summarize"],
    "Parquet write": ["_Sink.write", "_Sink.commit", "write_part"],
    "runner, the rest": ["adjudicate"],
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("claims")
    parser.add_argument("--cpu", action="store_true")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--contract", help="the mutuelle formula of every line (as --contract of the command)")
    parser.add_argument("--state-in", type=Path)
    parser.add_argument("--state-out", type=Path)
    parser.add_argument("--layout", choices=["file", "parts"], help="the output layout (default: the runner's)")
    args = parser.parse_args()
    clock = time.process_time if args.cpu else time.perf_counter
    spent: dict[str, float] = collections.defaultdict(float)
    stack: list[float] = []
    faults: dict[str, int] = collections.defaultdict(int)  # minor page faults (first touches of new memory)
    fault_stack: list[int] = []

    def minflt() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

    def timed(owner: Any, name: str, label: str) -> None:
        original: Callable[..., Any] = getattr(owner, name)

        @functools.wraps(original)
        def wrapper(*a: Any, **k: Any) -> Any:
            started, faulted = clock(), minflt()
            stack.append(0.0)
            fault_stack.append(0)
            try:
                return original(*a, **k)
            finally:
                elapsed, new = clock() - started, minflt() - faulted
                spent[label] += elapsed - stack.pop()
                faults[label] += new - fault_stack.pop()
                if stack:
                    stack[-1] += elapsed
                    fault_stack[-1] += new

        setattr(owner, name, wrapper)

    owners = {
        "ColumnarEngine.run": columnar.ColumnarEngine,
        "_Sink.write": runner._Sink,
        "_Sink.commit": runner._Sink,
        "apply_contracts": contracts,  # the name batch.contracts calls
        "_states_before": contracts,
        "_states_after": contracts,
        "_merged": contracts,
        "ContractOutcome.before": contracts_columnar.ContractOutcome,
        "ContractOutcome.after": contracts_columnar.ContractOutcome,
    }
    for names in PHASES.values():
        for label in names:
            owner = owners.get(label) or (
                runner if hasattr(runner, label) and label != "adjudicate_partition" else kernel
            )
            if not hasattr(owner, label.rpartition(".")[2]):
                continue  # a function another version of the batch no longer has
            timed(owner, label.rpartition(".")[2], label)
    runner.adjudicate_partition = kernel.adjudicate_partition  # the runner's own name for it, wrapped
    kernel._default_twin()
    kernel.default_engine()
    with tempfile.TemporaryDirectory() as work:
        started, faulted = clock(), minflt()
        run = runner.adjudicate(
            args.claims,
            Path(work) / "out.parquet",
            workers=args.workers,
            contract=args.contract,
            state_in=args.state_in,
            state_out=args.state_out,
            **({"layout": args.layout} if args.layout else {}),  # a version before the layouts knows none
        )
        total, all_faults = clock() - started, minflt() - faulted
    rows = run.summary["rows"]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        f"{'cpu' if args.cpu else 'wall'} {total:.2f} s, {rows:,} rows, engines {run.summary['engines']}; process: "
        f"user {usage.ru_utime:.2f} s, system {usage.ru_stime:.2f} s, {all_faults:,} page faults in the run "
        f"({all_faults * resource.getpagesize() >> 20} MB first touched), peak RSS {usage.ru_maxrss >> 10} MB"
    )
    for label, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(
            f"  {label:32s} {seconds:7.3f} s {seconds / total:6.1%} {seconds / rows * 1e6:7.2f} µs/row"
            f" {faults[label]:9,} faults"
        )
    print("by phase:")
    for phase, labels in PHASES.items():
        seconds = sum(spent.get(label, 0.0) for label in labels)
        print(f"  {phase:36s} {seconds:7.3f} s {seconds / total:6.1%} {seconds / rows * 1e6:7.2f} µs/row")


if __name__ == "__main__":
    main()
