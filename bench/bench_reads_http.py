"""Reads per second through real HTTP against parcours (uvicorn, PostgreSQL), with p50/p99 latency, each against
the bare FastAPI endpoint of the same path measured in the same run (``bare_app.py``):

- a record read: ``GET /api/record/{patient}/entries`` by the patient's médecin traitant (the access decision, the
  entries visible to him, the read traced in the audit trail);
- a FHIR search: ``GET /fhir/Patient?identifier={NIR}`` by the same doctor (the patients he may see, as a Bundle).

    .venv/bin/python bench/bench_reads_http.py [--seconds 10] [--concurrency 16] [--workers 2]
        [--client wrk|python] [--requests 2000 (python client)]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Reads change nothing but the audit trail, so the prepared requests are cycled. Any answer other than 200 makes the
run fail (exit 1).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from httpload import Call, Result, Stack, add_database_url, load_average, ratio_line, run, stack


def with_records(environment: Stack) -> list[tuple[str, str, str]]:
    """The patients whose shared record holds entries (the demo writes a few), with their médecin traitant."""
    from sqlalchemy import select

    from parcours.store.db import Database
    from parcours.store.record import RecordEntry

    database = Database(environment.database_url)
    try:
        with database.unit_of_work() as session:
            filled = set(session.scalars(select(RecordEntry.patient_id).distinct()))
    finally:
        database.dispose()
    return [pair for pair in environment.pairs if pair[0] in filled]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10, help="length of each wrk run")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--client", choices=("wrk", "python"), default="wrk")
    parser.add_argument("--requests", type=int, default=2000, help="requests sent by the python client")
    add_database_url(parser)
    args = parser.parse_args()
    problems: list[str] = []
    with stack(args.database_url, workers=args.workers, patients=args.patients) as environment:
        filled = with_records(environment)
        if not filled:
            raise SystemExit("the demo wrote no record entries")
        size = args.requests if args.client == "python" else 1000
        scenarios = {
            "GET /api/record/{patient}/entries": [
                Call("GET", f"/api/record/{patient_id}/entries", environment.tokens[rpps])
                for patient_id, _, rpps in (filled[n % len(filled)] for n in range(size))
            ],
            "GET /fhir/Patient?identifier=": [
                Call("GET", f"/fhir/Patient?identifier={nir}", environment.tokens[rpps])
                for _, nir, rpps in (environment.pairs[n % len(environment.pairs)] for n in range(size))
            ],
        }
        print(f"{len(filled)} records read, {len(environment.pairs)} patients searched, by their médecins traitants; "
              f"concurrency {args.concurrency}, {args.workers} uvicorn workers, client {args.client}; "
              f"{load_average()}")  # fmt: skip

        def load(name: str, base: str, calls: list[Call], seconds: float) -> Result:
            return run(args.client, name, base, calls, connections=args.concurrency, seconds=seconds)

        short = max(2.0, args.seconds / 4)
        for what, calls in scenarios.items():
            for base, name in ((environment.bare, "warm-up bare"), (environment.parcours, "warm-up parcours")):
                problems += load(f"{name} {what}", base, calls, short).failures(200)
            bare = load(f"bare {what}", environment.bare, calls, args.seconds)
            served = load(f"parcours {what}", environment.parcours, calls, args.seconds)
            print(bare.line())
            print(served.line())
            print(ratio_line(what, served, bare))
            problems += bare.failures(200) + served.failures(200)
        print(load_average())
    if problems:
        print("FAILED: " + "; ".join(problems), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
