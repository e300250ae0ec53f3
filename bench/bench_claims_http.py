"""Claims submitted per second through real HTTP against ``parcours serve`` on PostgreSQL, and p50/p99 latency,
against a bare FastAPI endpoint served the same way, measured in the same run.

    .venv/bin/python bench/bench_claims_http.py [--requests 2000] [--concurrency 32] [--workers 2]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

The client runs on the same machine as the servers: on 2 cores the figures are those of the whole system, client
included. A fresh PostgreSQL schema is created and dropped; nothing else in the database is touched.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import create_engine, select, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server at {url} did not start")


async def run_load(base: str, bodies: list[dict[str, object]], concurrency: int) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[dict[str, object]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:

        async def worker() -> None:
            nonlocal errors
            while not queue.empty():
                body = queue.get_nowait()
                start = time.perf_counter()
                response = await client.post("/api/claims", json=body)
                latencies.append(time.perf_counter() - start)
                if response.status_code != 201:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return elapsed, latencies, errors


def serve(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def describe(name: str, elapsed: float, latencies: list[float], errors: int) -> tuple[float, float, float]:
    rate = len(latencies) / elapsed
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[int(len(ordered) * 0.99) - 1] * 1000
    print(f"{name:<28} {rate:>9.0f} req/s   p50 {p50:>7.1f} ms   p99 {p99:>7.1f} ms   errors {errors}")
    return rate, p50, p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("PARCOURS_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    )
    args = parser.parse_args()

    from parcours.care import demo
    from parcours.store.db import Database
    from parcours.store.migrate import upgrade
    from parcours.store.models import GpDeclaration, Patient, Professional

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.database_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{args.database_url}{'&' if '?' in args.database_url else '?'}options=-csearch_path%3D{schema}"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        upgrade(url)
        database = Database(url)
        with database.unit_of_work() as session:
            demo.load(session, patients=200, seed=1)
        with database.unit_of_work() as session:
            pairs = list(
                session.execute(
                    select(Patient.id, Professional.rpps)
                    .join(GpDeclaration, GpDeclaration.patient_id == Patient.id)
                    .join(Professional, Professional.id == GpDeclaration.professional_id)
                    .where(GpDeclaration.end.is_(None))
                )
            )
        database.dispose()
        day = dt.date.today() - dt.timedelta(days=1)
        bodies: list[dict[str, object]] = [
            {
                "idempotency_key": f"bench-{schema}-{n:07d}",
                "patient_id": pairs[n % len(pairs)][0],
                "professional_rpps": pairs[n % len(pairs)][1],
                "date": day.isoformat(),
                "acts": [{"code": "G", "fee": 30.0}],
            }
            for n in range(args.requests)
        ]

        env = dict(os.environ, PARCOURS_DATABASE_URL=url, PYTHONPATH=str(ROOT / "bench"))
        bare_port, app_port = free_port(), free_port()
        uvicorn_args = ["--workers", str(args.workers), "--log-level", "warning", "--factory"]
        processes.append(serve([sys.executable, "-m", "uvicorn", "bare_app:create_app", "--port", str(bare_port),
                                *uvicorn_args], env))  # fmt: skip
        processes.append(serve([sys.executable, "-m", "uvicorn", "parcours.api.app:create_app", "--port",
                                str(app_port), *uvicorn_args], env))  # fmt: skip
        wait_ready(f"http://127.0.0.1:{bare_port}/docs")
        wait_ready(f"http://127.0.0.1:{app_port}/health")

        print(f"{args.requests} claims, concurrency {args.concurrency}, {args.workers} uvicorn workers, "
              f"{os.cpu_count()} cores (client on the same machine)")  # fmt: skip
        warm = [dict(b, idempotency_key=f"warm-{b['idempotency_key']}") for b in bodies[:100]]
        asyncio.run(run_load(f"http://127.0.0.1:{bare_port}", warm, args.concurrency))
        asyncio.run(run_load(f"http://127.0.0.1:{app_port}", warm, args.concurrency))
        bare = describe("bare FastAPI endpoint", *asyncio.run(run_load(f"http://127.0.0.1:{bare_port}", bodies,
                                                                        args.concurrency)))  # fmt: skip
        claims = describe("parcours POST /api/claims", *asyncio.run(run_load(f"http://127.0.0.1:{app_port}", bodies,
                                                                              args.concurrency)))  # fmt: skip
        print(f"ratio parcours / bare: throughput {claims[0] / bare[0]:.2f}×, p50 latency {claims[1] / bare[1]:.1f}×")
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    main()
