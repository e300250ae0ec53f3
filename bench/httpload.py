"""The load driver of the HTTP benchmarks (``bench_claims_http.py``, ``bench_reads_http.py``): servers started the
same way, requests made beforehand in Python, sent by ``wrk`` (compiled, one thread: it leaves the cores to the
servers) or, as a fallback, by an httpx client in Python.

wrk runs a Lua script written here: each thread loads its share of a file of prepared requests (one a line:
method, path, Authorization, body, tab-separated) and ``request()`` hands them out in order, so a pool of distinct
claims gives one distinct claim per request; ``response()`` counts the statuses and ``done()`` prints the summary,
the statuses and the latency percentiles as one JSON line. A distinct pool that runs out (the run sent more
requests than it holds) is reported as ``wrapped`` and the caller fails the run rather than measure replays.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2

ROOT = Path(__file__).resolve().parents[1]
WRK = "/usr/bin/wrk"
MARKER = "WRK_RESULT "


@dataclass(frozen=True)
class Call:
    """One prepared HTTP request."""

    method: str
    path: str
    authorization: str = ""
    body: bytes = b""

    def line(self) -> str:
        body = self.body.decode()
        if any(c in "\t\n" for c in (self.path + self.authorization + body)):
            raise ValueError("a prepared request holds a tab or a newline")  # compact JSON never does
        return f"{self.method}\t{self.path}\t{self.authorization}\t{body}\n"


@dataclass
class Result:
    name: str
    requests: int  # answers received
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    statuses: Counter[int]
    socket_errors: int = 0  # connect, read, write errors and timeouts (wrk)
    sent: int = 0  # requests handed out (>= requests: some are in flight when wrk stops)
    wrapped: int = 0  # requests taken again from a pool that ran out
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def count(self, status: int) -> int:
        return self.statuses.get(status, 0)

    def failures(self, expected: int) -> list[str]:
        problems = [f"{self.name}: {n} × HTTP {code}" for code, n in sorted(self.statuses.items()) if code != expected]
        if self.socket_errors:
            problems.append(f"{self.name}: {self.socket_errors} socket errors or timeouts")
        return problems

    def line(self) -> str:
        others = sum(n for code, n in self.statuses.items() if not 200 <= code < 300)
        return (f"{self.name:<42} {self.rate:>8.0f} req/s   p50 {self.p50_ms:>7.1f} ms   p99 {self.p99_ms:>7.1f} ms   "
                f"max {self.max_ms:>7.1f} ms   non-2xx {others}   ({self.requests} in {self.seconds:.1f} s)")  # fmt: skip


def ratio_line(name: str, measured: Result, bare: Result) -> str:
    return (f"ratio {name} / bare: throughput {measured.rate / bare.rate:.2f}×, p50 {measured.p50_ms / bare.p50_ms:.1f}×, "
            f"p99 {measured.p99_ms / bare.p99_ms:.1f}×")  # fmt: skip


def handlers_in_this_thread() -> None:
    """Run the app's sync handlers in the event loop's thread instead of a worker thread, so that an in-process
    cProfile sees them (starlette looks ``run_sync`` up at each call)."""
    import anyio.to_thread

    async def in_this_thread(func: Any, *args: Any, **_: Any) -> Any:
        return func(*args)

    anyio.to_thread.run_sync = in_this_thread  # type: ignore[assignment]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx2.get(url, timeout=1).status_code < 500:
                return
        except httpx2.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server at {url} did not start")


def serve(python: str, app: str, port: int, workers: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``app`` (a factory, ``module:function``) under uvicorn, as ``parcours serve`` runs it."""
    command = [python, "-m", "uvicorn", app, "--factory", "--port", str(port), "--workers", str(workers),
               "--log-level", "warning", "--no-access-log"]  # fmt: skip
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# --- wrk -------------------------------------------------------------------------------------------------------

LUA = r"""
local pool_file = %(pool)s
local nthreads = %(threads)d
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

function init(args)
  pool = {}
  local i = 0
  for line in io.lines(pool_file) do
    if i %% nthreads == id then
      local method, path, auth, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
      local headers = {}
      if auth ~= "" then headers["Authorization"] = auth end
      if body == "" then body = nil else headers["Content-Type"] = "application/json" end
      pool[#pool + 1] = wrk.format(method, path, headers, body)
    end
    i = i + 1
  end
  sent = 0
  wrapped = 0
  statuses = {}
end

function request()
  sent = sent + 1
  if sent > #pool then wrapped = wrapped + 1 end
  return pool[(sent - 1) %% #pool + 1]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local sent_all, wrapped_all, merged = 0, 0, {}
  for _, thread in ipairs(threads) do
    sent_all = sent_all + thread:get("sent")
    wrapped_all = wrapped_all + thread:get("wrapped")
    for status, n in pairs(thread:get("statuses")) do merged[status] = (merged[status] or 0) + n end
  end
  local codes = {}
  for status, n in pairs(merged) do codes[#codes + 1] = string.format('"%%d": %%d', status, n) end
  local e = summary.errors
  io.write(string.format(
    '%(marker)s{"requests": %%d, "duration_us": %%d, "socket_errors": %%d, "non2xx": %%d, "sent": %%d, ' ..
    '"wrapped": %%d, "p50": %%d, "p90": %%d, "p99": %%d, "max": %%d, "statuses": {%%s}}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status, sent_all,
    wrapped_all, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    table.concat(codes, ", ")))
end
"""


def run_wrk(
    name: str, base_url: str, calls: Sequence[Call], *, connections: int, seconds: float, threads: int = 1
) -> Result:
    """``calls`` sent in order (each thread its share) over ``connections`` keep-alive connections for ``seconds``."""
    if shutil.which(WRK) is None:
        raise RuntimeError(f"{WRK} not found (apt-get install wrk), or use --client python")
    with tempfile.TemporaryDirectory(prefix="parcours-wrk-") as work:
        pool = Path(work) / "requests.tsv"
        pool.write_text("".join(call.line() for call in calls))
        script = Path(work) / "pool.lua"
        script.write_text(LUA % {"pool": json.dumps(str(pool)), "threads": threads, "marker": MARKER})
        # wrk reads whole seconds only ("3.75s" is a usage error)
        command = [WRK, "--latency", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
                   "--timeout", "30s", "-s", str(script), base_url]  # fmt: skip
        finished = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in finished.stdout.splitlines() if line.startswith(MARKER)]
    if finished.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({finished.returncode}): {finished.stderr or finished.stdout}")
    data = json.loads(lines[-1][len(MARKER) :])
    statuses: Counter[int] = Counter({int(code): n for code, n in data["statuses"].items()})
    return Result(
        name=name,
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50"] / 1000,
        p90_ms=data["p90"] / 1000,
        p99_ms=data["p99"] / 1000,
        max_ms=data["max"] / 1000,
        statuses=statuses,
        socket_errors=data["socket_errors"],
        sent=data["sent"],
        wrapped=data["wrapped"],
        extra={"wrk_non2xx": data["non2xx"]},
    )


# --- the Python fallback ---------------------------------------------------------------------------------------


def run_python(name: str, base_url: str, calls: Sequence[Call], *, connections: int) -> Result:
    """Each call sent once by an httpx client (asyncio, ``connections`` at a time); on 2 cores it takes a good part
    of the machine from the servers, so its figures are those of the whole system."""
    return asyncio.run(_run_python(name, base_url, calls, connections))


async def _run_python(name: str, base_url: str, calls: Sequence[Call], connections: int) -> Result:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    queue: asyncio.Queue[Call] = asyncio.Queue()
    for call in calls:
        queue.put_nowait(call)
    limits = httpx2.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx2.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:

        async def worker() -> None:
            while not queue.empty():
                call = queue.get_nowait()
                headers = {"Authorization": call.authorization} if call.authorization else {}
                if call.body:
                    headers["Content-Type"] = "application/json"
                start = time.perf_counter()
                response = await client.request(call.method, call.path, content=call.body or None, headers=headers)
                latencies.append(time.perf_counter() - start)
                statuses[response.status_code] += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return Result(name=name, requests=len(ordered), seconds=elapsed, p50_ms=statistics.median(ordered) * 1000,
                  p90_ms=cuts[89] * 1000, p99_ms=cuts[98] * 1000, max_ms=ordered[-1] * 1000, statuses=statuses,
                  sent=len(calls))  # fmt: skip


def run(client: str, name: str, base_url: str, calls: Sequence[Call], *, connections: int, seconds: float) -> Result:
    if client == "wrk":
        return run_wrk(name, base_url, calls, connections=connections, seconds=seconds)
    return run_python(name, base_url, calls, connections=connections)


# --- the servers and their data --------------------------------------------------------------------------------


@dataclass
class Town:
    """The demo town in a fresh PostgreSQL schema, and bearer tokens of its médecins traitants (signed with a key
    made for this run, ``key_file``)."""

    database_url: str  # the schema's
    day: dt.date  # the day of care of the claims (yesterday)
    pairs: list[tuple[str, str, str]]  # (patient id, patient NIR, RPPS of their médecin traitant on ``day``)
    tokens: dict[str, str]  # RPPS -> "Bearer …"
    key_file: Path


@contextmanager
def town(database_url: str, *, patients: int) -> Iterator[Town]:
    """A schema created for the run and dropped after it; nothing else in the database is touched."""
    from sqlalchemy import create_engine, select, text

    from parcours.api.security import AuthSettings, issue_token
    from parcours.care import demo
    from parcours.care.declarations import in_force
    from parcours.record.identity import Principal
    from parcours.store.db import Database
    from parcours.store.migrate import upgrade
    from parcours.store.models import GpDeclaration, Patient, Professional

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(database_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{database_url}{'&' if '?' in database_url else '?'}options=-csearch_path%3D{schema}"
    keys = tempfile.TemporaryDirectory(prefix="parcours-bench-")
    try:
        upgrade(url)
        database = Database(url)
        with database.unit_of_work() as session:
            demo.load(session, patients=patients, seed=1)
        day = dt.date.today() - dt.timedelta(days=1)
        with database.unit_of_work() as session:
            pairs = [  # each patient with the doctor who was their médecin traitant on the day of care
                (patient_id, nir, rpps)
                for patient_id, nir, rpps in session.execute(
                    select(Patient.id, Patient.nir, Professional.rpps)
                    .join(GpDeclaration, GpDeclaration.patient_id == Patient.id)
                    .join(Professional, Professional.id == GpDeclaration.professional_id)
                    .where(in_force(day))
                    .order_by(Patient.id)
                )
            ]
        database.dispose()
        # the local issuer's key for this run only; the servers verify with it
        settings = AuthSettings(local_key_file=Path(keys.name) / "token-signing-key.pem")
        lifetime = dt.timedelta(hours=2)
        tokens = {
            rpps: "Bearer " + issue_token(Principal.professional(rpps), settings, lifetime=lifetime)
            for _, _, rpps in pairs
        }
        yield Town(url, day, pairs, tokens, settings.local_key_file)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
        keys.cleanup()


@dataclass
class Stack(Town):
    """The town, and two servers started the same way: the bare FastAPI app (``bare_app.py``) and parcours."""

    bare: str = ""  # base URLs
    parcours: str = ""


@contextmanager
def stack(database_url: str, *, workers: int, patients: int) -> Iterator[Stack]:
    processes: list[subprocess.Popen[bytes]] = []
    with town(database_url, patients=patients) as made:
        env = dict(
            os.environ,
            PARCOURS_DATABASE_URL=made.database_url,
            PARCOURS_AUTH_LOCAL_KEY_FILE=str(made.key_file),
            PARCOURS_AUTH_LOCAL_ISSUER_ENABLED="true",  # the run's own key signs the doctors' tokens
            # the servers run this tree's code (not whichever parcours the venv has installed)
            PYTHONPATH=os.pathsep.join([str(ROOT / "bench"), str(ROOT / "src")]),
        )
        bare_port, app_port = free_port(), free_port()
        try:
            processes.append(serve(sys.executable, "bare_app:create_app", bare_port, workers, env))
            processes.append(serve(sys.executable, "parcours.api.app:create_app", app_port, workers, env))
            wait_ready(f"http://127.0.0.1:{bare_port}/docs")
            wait_ready(f"http://127.0.0.1:{app_port}/health")
            yield Stack(made.database_url, made.day, made.pairs, made.tokens, made.key_file,
                        bare=f"http://127.0.0.1:{bare_port}", parcours=f"http://127.0.0.1:{app_port}")  # fmt: skip
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=10)


def claim_calls(environment: Town, prefix: str, count: int) -> list[Call]:
    """Distinct claims (a new idempotency key each) the service must accept: each patient's by their médecin
    traitant, on ``day``."""
    calls = []
    for n in range(count):
        patient_id, _, rpps = environment.pairs[n % len(environment.pairs)]
        body = {
            "idempotency_key": f"{prefix}-{n:07d}",
            "patient_id": patient_id,
            "professional_rpps": rpps,
            "date": environment.day.isoformat(),
            "acts": [{"code": "G", "fee": 30.0}],
        }
        calls.append(Call("POST", "/api/claims", environment.tokens[rpps], json.dumps(body).encode()))
    return calls


def stored_claims(environment: Town, prefix: str) -> int:
    from sqlalchemy import func, select

    from parcours.store.db import Database
    from parcours.store.models import Claim

    database = Database(environment.database_url)
    try:
        with database.unit_of_work() as session:
            return int(session.scalar(select(func.count()).where(Claim.idempotency_key.like(f"{prefix}-%"))) or 0)
    finally:
        database.dispose()


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def add_database_url(parser: argparse.ArgumentParser) -> None:
    """``--database-url``: the PostgreSQL the HTTP benches create their schema in (the bench's, else the tests')."""
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "PARCOURS_BENCH_DATABASE_URL",
            os.environ.get("PARCOURS_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
        ),
    )
