"""One claim's cost in-process: ``POST /api/claims`` through the whole ASGI app (httpx's ASGITransport, no socket;
the sync handlers run in the event loop's thread rather than a worker thread, so that cProfile sees them) over
PostgreSQL, in ms per claim and statements per claim, with cProfile's heaviest functions.

    .venv/bin/python bench/profile_claims.py [--claims 300] [--profile] [--top 35] [--sort tottime|cumulative]
        [--dump stats.prof] [--wall] [--threads]

The same town and claims as ``bench_claims_http.py`` (``httpload.py``), in a schema created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib.util
import pstats
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from httpload import add_database_url, claim_calls, handlers_in_this_thread, load_average, stored_claims, town


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--claims", type=int, default=300)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--dump", help="write cProfile's stats to this file (pstats, snakeviz)")
    parser.add_argument(
        "--wall",
        action="store_true",
        help="profile with the wall clock (waits for PostgreSQL included); default: this process's CPU",
    )
    parser.add_argument(
        "--threads",
        action="store_true",
        help="run sync handlers and dependencies in worker threads, as a server does (the hops' CPU counted; "
        "cProfile then sees only the event loop's thread)",
    )
    add_database_url(parser)
    args = parser.parse_args()
    import httpx2
    from sqlalchemy import event

    from parcours.api.app import create_app
    from parcours.api.security import AuthSettings
    from parcours.store.db import Database

    if not args.threads:
        handlers_in_this_thread()
    if importlib.util.find_spec("sniffio") is None:
        # httpx's ASGITransport imports sniffio at every request: absent, each import searches sys.path again, the
        # client's cost (a twentieth of the figure), not the claim's; None in sys.modules fails it at once
        sys.modules["sniffio"] = None  # type: ignore[assignment]

    with town(args.database_url, patients=args.patients) as made:
        database = Database(made.database_url)
        app = create_app(database, AuthSettings(local_key_file=made.key_file, local_issuer_enabled=True))
        statements: list[str] = []

        def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            statements.append(statement)

        async def send(client: httpx2.AsyncClient, prefix: str, n: int) -> None:
            for call in claim_calls(made, prefix, n):
                answer = await client.post(call.path, content=call.body, headers={
                    "Authorization": call.authorization, "Content-Type": "application/json"})  # fmt: skip
                assert answer.status_code == 201, answer.text

        async def measure() -> tuple[float, float]:
            transport = httpx2.ASGITransport(app=app)
            async with httpx2.AsyncClient(transport=transport, base_url="http://parcours") as client:
                await send(client, "warm", 50)
                event.listen(database.engine, "before_cursor_execute", count)
                started, cpu = time.perf_counter(), time.process_time()
                if profiler:
                    profiler.enable()
                await send(client, "bench", args.claims)
                if profiler:
                    profiler.disable()
                elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
                event.remove(database.engine, "before_cursor_execute", count)
            return elapsed, cpu

        clock = time.perf_counter if args.wall else time.process_time
        profiler = cProfile.Profile(clock) if args.profile else None
        elapsed, cpu = asyncio.run(measure())
        assert stored_claims(made, "bench") == args.claims
        print(f"{args.claims} claims in-process: {elapsed / args.claims * 1000:.2f} ms/claim (this process's CPU "
              f"{cpu / args.claims * 1000:.2f} ms), "
              f"{len(statements) / args.claims:.1f} statements/claim; {load_average()}")  # fmt: skip
        database.dispose()
        if profiler and args.dump:
            profiler.dump_stats(args.dump)
        if profiler:
            pstats.Stats(profiler).strip_dirs().sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
