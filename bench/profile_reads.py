"""One read's cost in-process: ``GET /api/record/{patient}/entries`` and ``GET /fhir/Patient?identifier=`` through
the whole ASGI app (httpx's ASGITransport, no socket; the sync handlers run in the event loop's thread so that
cProfile sees them) over PostgreSQL, in ms per read and statements per read, with cProfile's heaviest functions.

    .venv/bin/python bench/profile_reads.py [--reads 300] [--only record|fhir] [--profile] [--top 35]
        [--sort tottime|cumulative] [--statements]

The same town and requests as ``bench_reads_http.py`` (``httpload.py``), in a schema created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_reads_http import with_records
from httpload import Call, add_database_url, handlers_in_this_thread, load_average, town


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reads", type=int, default=300)
    parser.add_argument("--only", choices=("record", "fhir"))
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--statements", action="store_true", help="print the statements of one read")
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--dump", help="write each profile to DUMP.<scenario>.prof (for pstats, snakeviz)")
    parser.add_argument("--patients", type=int, default=200)
    add_database_url(parser)
    args = parser.parse_args()
    import httpx2
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from parcours.api.app import create_app
    from parcours.api.security import AuthSettings
    from parcours.store.db import Database

    handlers_in_this_thread()

    with town(args.database_url, patients=args.patients) as made:
        filled = with_records(made)  # type: ignore[arg-type]  # a Town is all it needs
        database = Database(made.database_url)
        app = create_app(database, AuthSettings(local_key_file=made.key_file, local_issuer_enabled=True))
        scenarios = {
            "record": [
                Call("GET", f"/api/record/{patient_id}/entries", made.tokens[rpps])
                for patient_id, _, rpps in (filled[n % len(filled)] for n in range(args.reads))
            ],
            "fhir": [
                Call("GET", f"/fhir/Patient?identifier={nir}", made.tokens[rpps])
                for _, nir, rpps in (made.pairs[n % len(made.pairs)] for n in range(args.reads))
            ],
        }
        statements: list[str] = []
        waits: Counter[str] = Counter()  # seconds from sending a statement to its answer, by statement
        started_at: list[float] = [0.0]

        def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            statements.append(statement)
            started_at[0] = time.perf_counter()

        def answered(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            waits[statement] += time.perf_counter() - started_at[0]

        def commit_started(_conn: Any) -> None:
            started_at[0] = time.perf_counter()

        def committed(_session: Any) -> None:
            waits["COMMIT"] += time.perf_counter() - started_at[0]

        async def send(client: httpx2.AsyncClient, calls: list[Call]) -> None:
            for call in calls:
                answer = await client.get(call.path, headers={"Authorization": call.authorization})
                assert answer.status_code == 200, answer.text

        async def measure(calls: list[Call]) -> tuple[float, float]:
            transport = httpx2.ASGITransport(app=app)
            async with httpx2.AsyncClient(transport=transport, base_url="http://parcours") as client:
                await send(client, calls[:50])
                event.listen(database.engine, "before_cursor_execute", count)
                event.listen(database.engine, "after_cursor_execute", answered)
                event.listen(database.engine, "commit", commit_started)
                event.listen(Session, "after_commit", committed)
                started, cpu = time.perf_counter(), time.process_time()
                if profiler:
                    profiler.enable()
                await send(client, calls)
                if profiler:
                    profiler.disable()
                elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
                event.remove(database.engine, "before_cursor_execute", count)
                event.remove(database.engine, "after_cursor_execute", answered)
                event.remove(database.engine, "commit", commit_started)
                event.remove(Session, "after_commit", committed)
            return elapsed, cpu

        for name, calls in scenarios.items():
            if args.only and name != args.only:
                continue
            statements.clear()
            waits.clear()
            profiler = cProfile.Profile() if args.profile else None
            elapsed, cpu = asyncio.run(measure(calls))
            n = len(calls)
            print(f"{name}: {n} reads in-process: {elapsed / n * 1000:.2f} ms/read (this process's CPU "
                  f"{cpu / n * 1000:.2f} ms), {len(statements) / n:.1f} statements/read; {load_average()}")  # fmt: skip
            if args.statements:
                for statement, times in Counter(statements).most_common():
                    print(
                        f"  {times / n:5.1f}× {waits[statement] / times * 1000:6.2f} ms  "
                        f"{' '.join(statement.split())[:200]}"
                    )
                print(f"  COMMIT: {waits['COMMIT'] / n * 1000:6.2f} ms/read")
            if profiler and args.dump:
                profiler.dump_stats(f"{args.dump}.{name}.prof")
            if profiler:
                pstats.Stats(profiler).strip_dirs().sort_stats(args.sort).print_stats(args.top)
        database.dispose()


if __name__ == "__main__":
    main()
