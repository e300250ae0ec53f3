"""Claims submitted per second through real HTTP against parcours (uvicorn, PostgreSQL), with p50/p99 latency,
against a bare FastAPI endpoint served the same way and measured in the same run (``bare_app.py``).

    .venv/bin/python bench/bench_claims_http.py [--seconds 10] [--concurrency 16] [--workers 2] [--patients 200]
        [--client wrk|python] [--requests 2000 (python client)]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

The load comes from ``wrk`` (``httpload.py``): one thread, so the client leaves the cores to the servers (the
Python client, ``--client python``, takes a good part of a 2-core machine). A fresh PostgreSQL schema is created and
dropped; nothing else in the database is touched.

Every claim is one the service must accept, and a distinct one: a new idempotency key for each request, sent by the
patient's médecin traitant (a care relation, so no presence attestation is needed) with a bearer token of the local
issuer for that doctor, signed with a key made for this run and given to the servers. Any answer other than 201
makes the run fail (exit 1), and so does a claim answered 201 and missing from the database afterwards: the figures
are those of claims actually adjudicated and stored.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from httpload import (
    Call,
    Result,
    add_database_url,
    claim_calls,
    load_average,
    ratio_line,
    run,
    stack,
    stored_claims,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10, help="length of each wrk run")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--pool", type=int, default=40_000, help="distinct claims prepared for a wrk run")
    parser.add_argument("--client", choices=("wrk", "python"), default="wrk")
    parser.add_argument("--requests", type=int, default=2000, help="claims sent by the python client")
    add_database_url(parser)
    args = parser.parse_args()
    size = args.pool if args.client == "wrk" else args.requests
    problems: list[str] = []
    with stack(args.database_url, workers=args.workers, patients=args.patients) as environment:
        print(f"claims by {len(environment.tokens)} médecins traitants for {len(environment.pairs)} patients, "
              f"concurrency {args.concurrency}, {args.workers} uvicorn workers, client {args.client}; "
              f"{load_average()}")  # fmt: skip
        warm = claim_calls(environment, "warm", max(200, size // 20))
        measured = claim_calls(environment, "bench", size)
        short = max(2.0, args.seconds / 4)

        def load(name: str, base: str, calls: list[Call], seconds: float) -> Result:
            return run(args.client, name, base, calls, connections=args.concurrency, seconds=seconds)

        for base, name in ((environment.bare, "warm-up bare"), (environment.parcours, "warm-up parcours")):
            problems += load(name, base, warm, short).failures(201)
        bare = load("bare FastAPI POST /api/claims", environment.bare, measured, args.seconds)
        claimed = load("parcours POST /api/claims", environment.parcours, measured, args.seconds)
        print(bare.line())
        print(claimed.line())
        print(ratio_line("claims", claimed, bare))
        problems += bare.failures(201) + claimed.failures(201)
        if claimed.wrapped:
            problems.append(f"the pool of {size} distinct claims ran out ({claimed.wrapped} replays): raise --pool")
        count = stored_claims(environment, "bench")
        acknowledged = claimed.count(201)
        print(f"claims stored {count}: answered 201 {acknowledged}, sent {claimed.sent} (the rest in flight at the "
              "end)")  # fmt: skip
        if not acknowledged <= count <= max(claimed.sent, acknowledged):
            problems.append(f"{acknowledged} claims acknowledged, {claimed.sent} sent, {count} stored")
        print(load_average())
    if problems:
        print("FAILED: " + "; ".join(problems), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
