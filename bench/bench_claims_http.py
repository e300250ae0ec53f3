"""Claims submitted per second through real HTTP against ``parcours serve`` on PostgreSQL, and p50/p99 latency,
against a bare FastAPI endpoint served the same way, measured in the same run.

    .venv/bin/python bench/bench_claims_http.py [--requests 2000] [--concurrency 32] [--workers 2]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

The client runs on the same machine as the servers: on 2 cores the figures are those of the whole system, client
included. A fresh PostgreSQL schema is created and dropped; nothing else in the database is touched.

Every claim is one the service must accept: sent by the patient's médecin traitant (a care relation, so no presence
attestation is needed) with a bearer token of the local issuer for that doctor, signed with a key made for this run
and given to the servers. Any answer other than 201 makes the run fail (exit 1), and so does a claim missing from
the database afterwards: the figures are those of claims actually adjudicated and stored.
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
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, select, text

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


Request = tuple[dict[str, object], dict[str, str]]  # body, headers


async def run_load(base: str, requests: list[Request], concurrency: int) -> tuple[float, list[float], Counter[int]]:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    queue: asyncio.Queue[Request] = asyncio.Queue()
    for request in requests:
        queue.put_nowait(request)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:

        async def worker() -> None:
            while not queue.empty():
                body, headers = queue.get_nowait()
                start = time.perf_counter()
                response = await client.post("/api/claims", json=body, headers=headers)
                latencies.append(time.perf_counter() - start)
                statuses[response.status_code] += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return elapsed, latencies, statuses


def serve(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def describe(name: str, elapsed: float, latencies: list[float], statuses: Counter[int]) -> tuple[float, float, float]:
    rate = len(latencies) / elapsed
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = statistics.quantiles(ordered, n=100, method="inclusive")[98] * 1000
    errors = sum(n for code, n in statuses.items() if code != 201)
    print(f"{name:<28} {rate:>9.0f} req/s   p50 {p50:>7.1f} ms   p99 {p99:>7.1f} ms   errors {errors}")
    return rate, p50, p99


def failures(name: str, statuses: Counter[int]) -> list[str]:
    return [f"{name}: {n} × HTTP {code}" for code, n in sorted(statuses.items()) if code != 201]


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

    from parcours.api.security import AuthSettings, issue_token
    from parcours.care import demo
    from parcours.care.declarations import in_force
    from parcours.record.identity import Principal
    from parcours.store.db import Database
    from parcours.store.migrate import upgrade
    from parcours.store.models import Claim, GpDeclaration, Patient, Professional

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.database_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{args.database_url}{'&' if '?' in args.database_url else '?'}options=-csearch_path%3D{schema}"
    processes: list[subprocess.Popen[bytes]] = []
    problems: list[str] = []
    keys = tempfile.TemporaryDirectory(prefix="parcours-bench-")
    try:
        upgrade(url)
        database = Database(url)
        with database.unit_of_work() as session:
            demo.load(session, patients=200, seed=1)
        day = dt.date.today() - dt.timedelta(days=1)
        with database.unit_of_work() as session:
            pairs = list(  # each patient with the doctor who was their médecin traitant on the day of care
                session.execute(
                    select(Patient.id, Professional.rpps)
                    .join(GpDeclaration, GpDeclaration.patient_id == Patient.id)
                    .join(Professional, Professional.id == GpDeclaration.professional_id)
                    .where(in_force(day))
                    .order_by(Patient.id)
                )
            )
        # the local issuer's key for this run only; the servers verify with it
        settings = AuthSettings(local_key_file=Path(keys.name) / "token-signing-key.pem")
        lifetime = dt.timedelta(hours=2)
        tokens = {rpps: issue_token(Principal.professional(rpps), settings, lifetime=lifetime) for _, rpps in pairs}

        def claim(prefix: str, n: int) -> Request:
            patient_id, rpps = pairs[n % len(pairs)]
            body: dict[str, object] = {
                "idempotency_key": f"{prefix}-{schema}-{n:07d}",
                "patient_id": patient_id,
                "professional_rpps": rpps,
                "date": day.isoformat(),
                "acts": [{"code": "G", "fee": 30.0}],
            }
            return body, {"Authorization": f"Bearer {tokens[rpps]}"}

        requests = [claim("bench", n) for n in range(args.requests)]
        warm = [claim("warm", n) for n in range(100)]

        env = dict(
            os.environ,
            PARCOURS_DATABASE_URL=url,
            PARCOURS_AUTH_LOCAL_KEY_FILE=str(settings.local_key_file),
            PARCOURS_AUTH_LOCAL_ISSUER_ENABLED="true",  # the run's own key signs the doctors' tokens
            # the servers run this tree's code (not whichever parcours the venv has installed)
            PYTHONPATH=os.pathsep.join([str(ROOT / "bench"), str(ROOT / "src")]),
        )
        bare_port, app_port = free_port(), free_port()
        uvicorn_args = ["--workers", str(args.workers), "--log-level", "warning", "--factory"]
        processes.append(serve([sys.executable, "-m", "uvicorn", "bare_app:create_app", "--port", str(bare_port),
                                *uvicorn_args], env))  # fmt: skip
        processes.append(serve([sys.executable, "-m", "uvicorn", "parcours.api.app:create_app", "--port",
                                str(app_port), *uvicorn_args], env))  # fmt: skip
        wait_ready(f"http://127.0.0.1:{bare_port}/docs")
        wait_ready(f"http://127.0.0.1:{app_port}/health")

        print(f"{args.requests} claims by {len(tokens)} médecins traitants for {len(pairs)} patients, concurrency "
              f"{args.concurrency}, {args.workers} uvicorn workers, {os.cpu_count()} cores (client on the same "
              "machine)")  # fmt: skip
        for base, name in ((bare_port, "warm-up bare"), (app_port, "warm-up parcours")):
            *_, statuses = asyncio.run(run_load(f"http://127.0.0.1:{base}", warm, args.concurrency))
            problems += failures(name, statuses)
        bare_run = asyncio.run(run_load(f"http://127.0.0.1:{bare_port}", requests, args.concurrency))
        claims_run = asyncio.run(run_load(f"http://127.0.0.1:{app_port}", requests, args.concurrency))
        bare = describe("bare FastAPI endpoint", *bare_run)
        claims = describe("parcours POST /api/claims", *claims_run)
        problems += failures("bare", bare_run[2]) + failures("parcours", claims_run[2])
        print(f"ratio parcours / bare: throughput {claims[0] / bare[0]:.2f}×, p50 latency {claims[1] / bare[1]:.1f}×")

        with database.unit_of_work() as session:
            stored = dict(
                session.execute(
                    select(Claim.status, func.count())
                    .where(Claim.idempotency_key.like(f"bench-{schema}-%"))
                    .group_by(Claim.status)
                ).all()
            )
        database.dispose()
        print("claims stored: " + ", ".join(f"{status} {count}" for status, count in sorted(stored.items())))
        if sum(stored.values()) != args.requests:
            problems.append(f"{args.requests} claims sent, {sum(stored.values())} stored")
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
        keys.cleanup()
    if problems:
        print("FAILED: " + "; ".join(problems), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
