"""The floor PostgreSQL alone puts under the API here: the exact statements of a claim, a record read and a FHIR
search replayed by ``pgbench`` (compiled, like ``wrk``) at the benchmarks' concurrency, against the bare FastAPI
endpoint of the same path measured in the same run (``bare_app.py`` under uvicorn, driven by ``wrk``), and parcours
itself over HTTP for comparison (``--no-parcours`` to skip it).

    .venv/bin/python bench/bench_pg_floor.py [--seconds 10] [--concurrency 16] [--workers 2] [--patients 200]
        [--only claim|record|fhir] [--scripts 100] [--no-parcours] [--begin-pipelined] [--keep DIR]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

What is replayed is what the code sends, not a copy of it: the demo town of the HTTP benchmarks (``httpload.town``,
a fresh schema created and dropped) is served in this process by the app, one request per patient (up to
``--scripts``, pgbench takes at most 128 scripts), and psycopg's ``Cursor.execute`` and ``Connection.commit`` are
recorded on the way to the database. Each request's transaction becomes one pgbench script, round trip for round
trip: the ``BEGIN`` psycopg sends on its own before the first statement, each statement (its parameters written as
literals), and the ``COMMIT``; what psycopg sent in one pipeline (a record read's pending trace, the audit sequencer
and the ``COMMIT``) goes in one ``\\startpipeline`` … ``\\endpipeline``. pgbench runs in prepared mode (psycopg prepares
a statement from its fifth execution on a connection), picks one script at random for each transaction, and gives
every claim a fresh id and idempotency key (``\\set seq random(…)``); everything else a claim writes (its lines,
the patient's year-to-date row, locked ``FOR UPDATE`` first) is the recorded claim's. Record reads write their trace
as a pending entry and try the audit sequencer (``SKIP LOCKED`` on the chain's head), as the API does.

So the pgbench figure is the API's path with no Python at all: PostgreSQL's own work and one round trip per
statement from a compiled client, on the same cores the servers use. If it stays under 0.5× the bare endpoint, the
issue's target (≥ 0.5× the bare endpoint's throughput, p99 ≤ 50 ms at concurrency 16) cannot be reached on this
machine whatever the Python side does; the gap between it and parcours over HTTP is what the Python side costs.
Percentiles come from pgbench's per-transaction log (``-l``). Any failed transaction, HTTP answer other than the
expected one or pool of distinct claims run out makes the run fail (exit 1).

What it showed in December 2026 (figures in docs/architecture.md, "the PostgreSQL floor"): claims at 0.04–0.08×
the bare endpoint with PostgreSQL alone (about 3.3 ms of its CPU a claim, plus the WAL flush of the COMMIT), record
reads at 0.24–0.34× (the audit chain's single head row, locked through each COMMIT's flush), the FHIR search at
about 1.5×: only the last leaves the target to the Python side. With the sequenced audit trail (a read no longer
waits for the chain's head) record reads reached 0.34–0.37× at a load of 9–11 and 0.88× at 7–8, main 0.14–0.31×
in the same runs. After the claim's own cost was cut (debts from a
running total, lz4, the writes in one statement: "the claim's own cost" there), claims' floor rose by 40–50 % in
alternated runs, still under 0.1×.

What differs from the API, knowingly: the parameters are literals (planned once per prepared statement, where
psycopg's prepared statements take them as bound values) and pgbench chooses the patient at random, where wrk goes
round-robin over the patients (two claims for the same patient now and then wait on its row lock here).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_reads_http import with_records
from httpload import (
    Call,
    Result,
    Stack,
    Town,
    add_database_url,
    claim_calls,
    load_average,
    ratio_line,
    run_wrk,
    stack,
)

PGBENCH = "/usr/bin/pgbench"
MAX_SCRIPTS = 128  # pgbench's limit on -f
SEQ = "seq"  # the pgbench variable that makes each replayed claim distinct
EXPECTED = {"claim": 201, "record": 200, "fhir": 200}
TRANSACTION = 200  # a pgbench transaction done, counted in a Result as an answer 200


# --- recording what psycopg sends ------------------------------------------------------------------------------


@dataclass
class Sent:
    """One message psycopg sent: a statement with its parameters, or the ``BEGIN`` and ``COMMIT`` it issues."""

    kind: str  # "begin", "execute", "commit"
    pipelined: bool  # sent inside a ``Connection.pipeline()``
    query: str = ""
    params: Any = None


@dataclass
class Recorder:
    """psycopg's ``Cursor.execute``/``executemany`` and ``Connection.commit`` wrapped while ``recording()`` runs:
    what each connection sends, in order."""

    sent: dict[int, list[Sent]] = field(default_factory=dict)

    def _log(self, connection: Any, item: Sent) -> None:
        self.sent.setdefault(id(connection), []).append(item)

    def _opens(self, connection: Any) -> bool:
        """Whether psycopg will send a ``BEGIN`` before the next statement (see ``_start_query``)."""
        from psycopg.pq import TransactionStatus

        return not connection.autocommit and connection.pgconn.transaction_status == TransactionStatus.IDLE

    @contextmanager
    def recording(self) -> Iterator[None]:
        import psycopg

        recorder = self
        execute, executemany, commit = psycopg.Cursor.execute, psycopg.Cursor.executemany, psycopg.Connection.commit

        def recorded_execute(cursor: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
            connection = cursor.connection
            pipelined = connection._pipeline is not None
            if recorder._opens(connection):
                recorder._log(connection, Sent("begin", pipelined))
            recorder._log(connection, Sent("execute", pipelined, _text(query, connection), params))
            return execute(cursor, query, params, **kwargs)

        def recorded_executemany(cursor: Any, query: Any, params_seq: Any, **kwargs: Any) -> Any:
            connection = cursor.connection
            params_seq = list(params_seq)
            if recorder._opens(connection):
                recorder._log(connection, Sent("begin", connection._pipeline is not None))
            for params in params_seq:  # psycopg pipelines an executemany
                recorder._log(connection, Sent("execute", True, _text(query, connection), params))
            return executemany(cursor, query, params_seq, **kwargs)

        def recorded_commit(connection: Any) -> None:
            if connection.pgconn.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                recorder._log(connection, Sent("commit", connection._pipeline is not None))
            commit(connection)

        psycopg.Cursor.execute = recorded_execute  # type: ignore[method-assign]
        psycopg.Cursor.executemany = recorded_executemany  # type: ignore[method-assign]
        psycopg.Connection.commit = recorded_commit  # type: ignore[method-assign]
        try:
            yield
        finally:
            psycopg.Cursor.execute = execute  # type: ignore[method-assign]
            psycopg.Cursor.executemany = executemany  # type: ignore[method-assign]
            psycopg.Connection.commit = commit  # type: ignore[method-assign]

    def transactions(self) -> list[list[Sent]]:
        """Every transaction each connection sent, ``BEGIN`` to ``COMMIT``."""
        found: list[list[Sent]] = []
        for items in self.sent.values():
            current: list[Sent] = []
            for item in items:
                current.append(item)
                if item.kind == "commit":
                    found.append(current)
                    current = []
            if any(item.kind == "execute" for item in current):
                raise RuntimeError("a recorded transaction never committed")
        return found


def _text(query: Any, connection: Any) -> str:
    if isinstance(query, bytes):
        return query.decode()
    if isinstance(query, str):
        return query
    return str(query.as_string(connection))  # a psycopg.sql.Composable


# --- the recorded transactions as pgbench scripts ----------------------------------------------------------------

_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%")
# pgbench takes ":name" (letters, digits, underscore) in a statement for one of its variables
_PGBENCH_VARIABLE = re.compile(r"(?<!:):(?!:)[A-Za-z0-9_\x80-\uffff]+")


def _literal(value: Any, connection: Any) -> str:
    """``value`` as psycopg would write it in SQL, out of pgbench's reach: a string literal holding ``:x`` (a time,
    an ``urn:oid:`` system) becomes a Unicode-escaped literal, ``U&'…\\003A…'``."""
    from psycopg import sql

    text = sql.Literal(value).as_string(connection)
    if not _PGBENCH_VARIABLE.search(text):
        return text
    match = re.fullmatch(r"'((?:[^']|'')*)'(.*)", text, re.DOTALL)
    if match is None:
        raise ValueError(f"cannot write {text[:80]!r} for pgbench")
    body, cast = match.groups()
    return "U&'" + body.replace("\\", "\\\\").replace(":", "\\003A") + "'" + cast


def _statement(query: str, params: Any, connection: Any, fresh: dict[str, str]) -> str:
    """The statement with its parameters as literals; a parameter whose value is a key of ``fresh`` is replaced by
    that pgbench expression instead."""
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ValueError("the recorded statements use named parameters")

    def value(match: re.Match[str]) -> str:
        if match.group(0) == "%%":
            return "%"
        bound = params[match.group(1)]
        if isinstance(bound, str) and bound in fresh:
            return fresh[bound]
        return _literal(bound, connection)

    written = _PLACEHOLDER.sub(value, query).strip()
    unknown = set(_PGBENCH_VARIABLE.findall(written)) - {f":{SEQ}"}
    if unknown:  # a literal has escaped ``_literal`` (or the SQL itself holds one)
        raise ValueError(f"pgbench would read {sorted(unknown)} as variables in: {written[:200]}")
    return written


def script(transaction: Sequence[Sent], connection: Any, fresh: dict[str, str]) -> str:
    """One pgbench script: each round trip of the transaction as psycopg sent it."""
    lines = [f"\\set {SEQ} random(1, 1000000000000000)"] if fresh else []
    in_pipeline = False
    for item in transaction:
        if item.pipelined and not in_pipeline:
            lines.append("\\startpipeline")
        elif not item.pipelined and in_pipeline:
            lines.append("\\endpipeline")
        in_pipeline = item.pipelined
        if item.kind == "begin":
            lines.append("BEGIN;")
        elif item.kind == "commit":
            lines.append("COMMIT;")
        else:
            lines.append(_statement(item.query, item.params, connection, fresh) + ";")
    if in_pipeline:
        lines.append("\\endpipeline")
    return "\n".join(lines) + "\n"


def begin_with_first(transaction: Sequence[Sent]) -> list[Sent]:
    """The transaction with its ``BEGIN`` sent in one round trip with the first statement (what a driver that
    pipelined it would do; psycopg waits for the ``BEGIN``'s answer, even in pipeline mode)."""
    items = [dataclasses.replace(item) for item in transaction]
    if len(items) > 1 and items[0].kind == "begin":
        items[0].pipelined = items[1].pipelined = True
    return items


def fresh_claim(idempotency_key: str, claim_id: str) -> dict[str, str]:
    """A replayed claim's id and idempotency key: new ones at each transaction (both are unique in the store)."""
    return {
        claim_id: f"('floor-'::text || :{SEQ}::text)",
        idempotency_key: f"('floor-key-'::text || :{SEQ}::text)",
    }


# --- the scenarios -----------------------------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    what: str  # the HTTP path, as the other benchmarks name it
    calls: list[Call]  # for wrk (bare and parcours)
    replayed: list[Call]  # sent in-process once each, recorded
    fresh: Callable[[Call, dict[str, Any]], dict[str, str]] = lambda _call, _answer: {}


def scenarios(environment: Town, pool: int, scripts: int, size: int = 1000) -> list[Scenario]:
    """The three paths; the claims a pool of ``pool`` distinct ones (wrk), the reads ``size`` cycled."""
    filled = with_records(environment)  # type: ignore[arg-type]
    if not filled:
        raise SystemExit("the demo wrote no record entries")
    fhir = [
        Call("GET", f"/fhir/Patient?identifier={nir}", environment.tokens[rpps])
        for _, nir, rpps in (environment.pairs[n % len(environment.pairs)] for n in range(size))
    ]
    record = [
        Call("GET", f"/api/record/{patient_id}/entries", environment.tokens[rpps])
        for patient_id, _, rpps in (filled[n % len(filled)] for n in range(size))
    ]
    distinct = min(scripts, len(environment.pairs))

    def claim_fresh(call: Call, answer: dict[str, Any]) -> dict[str, str]:
        return fresh_claim(json.loads(call.body)["idempotency_key"], answer["id"])

    return [
        Scenario("claim", "POST /api/claims", claim_calls(environment, "bench", pool),
                 claim_calls(environment, "floor", distinct), claim_fresh),
        Scenario("record", "GET /api/record/{patient}/entries", record, record[: min(scripts, len(filled))]),
        Scenario("fhir", "GET /fhir/Patient?identifier=", fhir, fhir[:distinct]),
    ]  # fmt: skip


@dataclass
class Recorded:
    """A scenario's transactions as pgbench scripts: as psycopg sent them, and with each ``BEGIN`` sent with the
    first statement (``begin_with_first``)."""

    as_sent: list[str] = field(default_factory=list)
    begin_pipelined: list[str] = field(default_factory=list)


def record_transactions(environment: Town, chosen: Sequence[Scenario], warm: int = 20) -> dict[str, Recorded]:
    """Each scenario's requests sent once in this process (after a few to warm it), their transactions as pgbench
    scripts."""
    import httpx2
    import psycopg

    from parcours.api.app import create_app
    from parcours.api.security import AuthSettings
    from parcours.store.db import Database

    database = Database(environment.database_url)
    app = create_app(database, AuthSettings(local_key_file=environment.key_file, local_issuer_enabled=True))
    recorder = Recorder()
    made: dict[str, Recorded] = {}
    quoting = psycopg.connect(_conninfo(environment.database_url))  # writes the literals (its encoding, options)

    async def send(client: httpx2.AsyncClient, call: Call, expected: int) -> dict[str, Any]:
        headers = {"Authorization": call.authorization}
        if call.body:
            headers["Content-Type"] = "application/json"
        answer = await client.request(call.method, call.path, content=call.body or None, headers=headers)
        if answer.status_code != expected:
            raise RuntimeError(f"{call.method} {call.path}: HTTP {answer.status_code} {answer.text[:300]}")
        body: dict[str, Any] = answer.json()
        return body

    async def replay() -> None:
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://parcours") as client:
            for scenario in chosen:
                expected = EXPECTED[scenario.name]
                warming = (
                    claim_calls(environment, "pgwarm", warm) if scenario.name == "claim" else scenario.calls[-warm:]
                )
                for call in warming:
                    await send(client, call, expected)
                recorded = made[scenario.name] = Recorded()
                for call in scenario.replayed:
                    recorder.sent.clear()
                    with recorder.recording():
                        answer = await send(client, call, expected)
                    transactions = recorder.transactions()
                    if len(transactions) != 1:
                        raise RuntimeError(f"{scenario.what}: {len(transactions)} transactions for one request")
                    fresh = scenario.fresh(call, answer)
                    recorded.as_sent.append(script(transactions[0], quoting, fresh))
                    recorded.begin_pipelined.append(script(begin_with_first(transactions[0]), quoting, fresh))

    try:
        asyncio.run(replay())
    finally:
        quoting.close()
        database.dispose()
    return made


# --- pgbench ----------------------------------------------------------------------------------------------------


def _conninfo(database_url: str) -> str:
    """The libpq connection string of a SQLAlchemy URL (with its ``options``, the benchmark schema's search path)."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    parts = {"host": url.host, "port": url.port, "user": url.username, "password": url.password,
             "dbname": url.database, "options": url.query.get("options")}  # fmt: skip
    return " ".join(f"{key}='{value}'" for key, value in parts.items() if value is not None)


def run_pgbench(name: str, database_url: str, scripts: Sequence[str], *, clients: int, seconds: float,
                keep: Path | None = None, label: str = "") -> Result:  # fmt: skip
    """The scripts replayed by ``clients`` connections for ``seconds`` (one pgbench thread, as wrk runs one); the
    mean latency of each command (pgbench's ``-r``, averaged over the scripts) in ``Result.extra["commands"]``."""
    if shutil.which(PGBENCH) is None:
        raise RuntimeError(f"{PGBENCH} not found (apt-get install postgresql-client)")
    with tempfile.TemporaryDirectory(prefix="parcours-pgbench-") as work:
        files = []
        for n, text in enumerate(scripts):
            path = Path(work) / f"transaction-{n:03d}.sql"
            path.write_text(text)
            files += ["-f", f"{path}@1"]
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            for path in Path(work).glob("*.sql"):
                shutil.copy(path, keep / f"{label}-{path.name}")
        command = [PGBENCH, "-n", "-M", "prepared", "-c", str(clients), "-j", "1", "-T", str(max(1, round(seconds))),
                   "-r", "-l", "--log-prefix", str(Path(work) / "log"), *files, _conninfo(database_url)]  # fmt: skip
        finished = subprocess.run(command, capture_output=True, text=True, check=False, cwd=work)
        latencies, failed = _log_latencies(Path(work))
    out = finished.stdout + finished.stderr
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    processed = re.search(r"number of transactions actually processed: (\d+)", out)
    failures = re.search(r"number of failed transactions: (\d+)", out)
    if finished.returncode != 0 or tps is None or processed is None or not latencies:
        raise RuntimeError(f"pgbench failed ({finished.returncode}): {out[-2000:]}")
    failed += int(failures.group(1)) if failures else 0
    count = int(processed.group(1))
    ordered = sorted(latencies)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    # the rate pgbench prints (its own clock, connection time excluded), as a duration for Result.rate
    return Result(name=name, requests=count, seconds=count / float(tps.group(1)), p50_ms=statistics.median(ordered),
                  p90_ms=cuts[89], p99_ms=cuts[98], max_ms=ordered[-1], statuses=Counter({TRANSACTION: count}),
                  socket_errors=failed, sent=count, extra={"commands": _command_latencies(out)})  # fmt: skip


_COMMAND_LATENCY = re.compile(r"^\s+([\d.]+)\s+\d+\s+(\S.*)$")


def _command_latencies(report: str) -> list[tuple[float, str]]:
    """pgbench's ``-r`` report: each script's commands with their mean latency (ms), averaged by position over
    the scripts (they are the same transaction for other patients)."""
    scripts: list[list[tuple[float, str]]] = []
    for line in report.splitlines():
        if line.startswith("SQL script "):
            scripts.append([])
        match = _COMMAND_LATENCY.match(line)
        if match and scripts:
            scripts[-1].append((float(match.group(1)), match.group(2)))
    longest = max((len(s) for s in scripts), default=0)
    shown = [s for s in scripts if len(s) == longest]
    return [(statistics.fmean(s[i][0] for s in shown), shown[0][i][1]) for i in range(longest)]


def _log_latencies(work: Path) -> tuple[list[float], int]:
    """Each transaction's latency (ms) from pgbench's ``-l`` logs (``client transaction latency_us script …``)."""
    latencies: list[float] = []
    failed = 0
    for log in work.glob("log.*"):
        for line in log.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 3 and fields[2].isdigit():
                latencies.append(int(fields[2]) / 1000)
            elif fields:
                failed += 1  # "failed" or "skipped"
    return latencies, failed


# --- the run -----------------------------------------------------------------------------------------------------


def measure(args: argparse.Namespace, environment: Stack, scenario: Scenario, recorded: Recorded) -> list[str]:
    """One scenario: wrk against the bare endpoint, pgbench over its recorded transactions, wrk against parcours;
    the problems found."""
    expected = EXPECTED[scenario.name]
    scripts = recorded.as_sent
    commands = scripts[0].count(";\n")
    print(f"{scenario.what}: {len(scripts)} recorded transactions, {commands} round-trip commands each (BEGIN and "
          "COMMIT included; a pipeline's are one round trip)")  # fmt: skip
    warm = scenario.calls if scenario.name != "claim" else claim_calls(environment, "warm", 2000)
    short = max(2.0, args.seconds / 4)

    def wrk(name: str, base: str, calls: list[Call], seconds: float) -> Result:
        return run_wrk(name, base, calls, connections=args.concurrency, seconds=seconds)

    def pgbench(name: str, seconds: float, scripts: list[str] = scripts, label: str = scenario.name) -> Result:
        return run_pgbench(name, environment.database_url, scripts, clients=args.concurrency, seconds=seconds,
                           keep=args.keep, label=label)  # fmt: skip

    problems = wrk("warm-up bare", environment.bare, warm, short).failures(expected)
    problems += pgbench("warm-up pgbench", short).failures(TRANSACTION)
    if not args.no_parcours:
        problems += wrk("warm-up parcours", environment.parcours, warm, short).failures(expected)
    bare = wrk(f"bare {scenario.what}", environment.bare, scenario.calls, args.seconds)
    floor = pgbench(f"pgbench {scenario.name} transactions", args.seconds)
    print(bare.line())
    print(floor.line())
    print(ratio_line(f"PostgreSQL floor of {scenario.name}", floor, bare))
    commands_ms: list[tuple[float, str]] = floor.extra["commands"]  # type: ignore[assignment]
    for latency, command in commands_ms:
        print(f"    {latency:8.3f} ms  {' '.join(command.split())[:100]}")
    problems += bare.failures(expected) + floor.failures(TRANSACTION)
    if args.begin_pipelined:
        joined = pgbench(f"pgbench {scenario.name}, BEGIN pipelined", args.seconds, recorded.begin_pipelined,
                         f"{scenario.name}-begin-pipelined")  # fmt: skip
        print(joined.line())
        print(ratio_line(f"PostgreSQL floor of {scenario.name}, BEGIN pipelined", joined, bare))
        print(f"ratio BEGIN pipelined / as sent: throughput {joined.rate / floor.rate:.2f}×")
        problems += joined.failures(TRANSACTION)
    if not args.no_parcours:
        served = wrk(f"parcours {scenario.what}", environment.parcours, scenario.calls, args.seconds)
        print(served.line())
        print(ratio_line(f"parcours {scenario.name}", served, bare))
        print(f"ratio parcours / PostgreSQL floor: throughput {served.rate / floor.rate:.2f}×")
        problems += served.failures(expected)
        if served.wrapped and scenario.name == "claim":
            problems.append(f"the pool of {args.pool} distinct claims ran out: raise --pool")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10, help="length of each measured run")
    parser.add_argument("--concurrency", type=int, default=16, help="wrk connections and pgbench clients")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--pool", type=int, default=40_000, help="distinct claims prepared for a wrk run")
    parser.add_argument("--scripts", type=int, default=100, help=f"requests recorded, ≤ {MAX_SCRIPTS}")
    parser.add_argument("--only", choices=tuple(EXPECTED))
    parser.add_argument("--no-parcours", action="store_true", help="skip parcours over HTTP")
    parser.add_argument(
        "--begin-pipelined",
        action="store_true",
        help="send each BEGIN with the first statement (one round trip less than psycopg)",
    )
    parser.add_argument("--keep", type=Path, help="copy the pgbench scripts to this directory")
    add_database_url(parser)
    args = parser.parse_args()
    if not 1 <= args.scripts <= MAX_SCRIPTS:
        parser.error(f"--scripts: 1 to {MAX_SCRIPTS}")
    problems: list[str] = []
    with stack(args.database_url, workers=args.workers, patients=args.patients) as environment:
        chosen = [s for s in scenarios(environment, args.pool, args.scripts) if args.only in (None, s.name)]
        scripts = record_transactions(environment, chosen)
        print(f"{len(environment.pairs)} patients; concurrency {args.concurrency} (wrk connections, pgbench clients), "
              f"{args.workers} uvicorn workers; {load_average()}")  # fmt: skip
        for scenario in chosen:
            problems += measure(args, environment, scenario, scripts[scenario.name])
        print(load_average())
    if problems:
        print("FAILED: " + "; ".join(problems), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
