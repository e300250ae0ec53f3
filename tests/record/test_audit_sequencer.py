"""The sequenced audit trail: a traced request writes its trace as a pending entry and never waits for the chain's
head; the sequencer chains pending entries in batches; whatever reads the trail sees every committed trace, chained.
On SQLite and PostgreSQL (the head-lock tests on PostgreSQL only: SQLite has one writer at a time)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session
from tests.conftest import fresh_postgres_schema
from typer.testing import CliRunner

from parcours.api.app import create_app
from parcours.api.security import AuthSettings
from parcours.cli import app
from parcours.record import audit_log
from parcours.record.audit import GENESIS_HASH, AuditDraft, Outcome, seal
from parcours.store.db import Database
from parcours.store.migrate import downgrade, upgrade

runner = CliRunner()


def draft(index: int) -> AuditDraft:
    return AuditDraft(
        actor=f"professional:1000000000{index % 10}",
        actor_role="professional",
        action="read",
        operation="record.entry.read",
        outcome=Outcome.ALLOWED,
        basis="gp",
        purpose="care",
        patient_nir="285047512345607",
        resource_type="DocumentReference",
        resource_id=f"doc-{index}",
        entity_ids=(f"DocumentReference/doc-{index}",) if index % 2 else (),
    )


def counts(database: Database) -> tuple[int, int]:
    """(chained, pending), read with plain SQL: no reader of the trail, so no sequencing."""
    with database.engine.connect() as connection:
        chained = connection.execute(text("SELECT count(*) FROM audit_log")).scalar_one()
        pending = connection.execute(text("SELECT count(*) FROM audit_pending")).scalar_one()
    return chained, pending


def leave_pending(database: Database, *drafts: AuditDraft) -> None:
    """A request's transaction that committed its traces and stopped before sequencing them (a crash, or the head
    taken by another transaction)."""
    with database.unit_of_work() as session:
        for one in drafts:
            audit_log.defer(session, one)
        audit_log.write_pending(session)


def postgresql_only(database: Database) -> None:
    if database.engine.dialect.name != "postgresql":
        pytest.skip("the head's row lock and SKIP LOCKED are PostgreSQL's (SQLite has one writer at a time)")


@pytest.fixture
def head_held(database: Database) -> Iterator[Database]:
    """Another transaction holds the chain's head (a sequencer at work, or a reader of the trail)."""
    postgresql_only(database)
    with database.unit_of_work() as session:
        audit_log.append(session, draft(0))  # the head exists, one entry chained
    with database.engine.connect() as holder:
        holder.execute(text("SELECT * FROM audit_head WHERE id = 1 FOR UPDATE"))
        yield database
        holder.rollback()


def test_a_committed_pending_entry_is_chained_by_the_next_reader(database: Database) -> None:
    with database.unit_of_work() as session:
        audit_log.append(session, draft(1))
    leave_pending(database, draft(2), draft(3))
    assert counts(database) == (1, 2)
    with database.unit_of_work() as session:
        page = audit_log.entries(session, newest_first=False)
        result = audit_log.verify_store(session)
    assert [(e.sequence, e.resource_id) for e in page.entries] == [(1, "doc-1"), (2, "doc-2"), (3, "doc-3")]
    assert page.entries[2].entity_ids == ("DocumentReference/doc-3",)
    assert result.ok
    assert result.checked == 3
    assert counts(database) == (3, 0)


def test_verify_and_head_chain_what_is_pending_first(database: Database) -> None:
    leave_pending(database, draft(1), draft(2))
    result = runner.invoke(app, ["audit", "verify", "--database-url", database.url])
    assert result.exit_code == 0, result.output
    assert "2 entrée(s) vérifiée(s)" in result.stdout
    leave_pending(database, draft(3))
    head = runner.invoke(app, ["audit", "head", "--database-url", database.url]).stdout.strip()
    assert head.startswith("3:")


def test_the_operator_chains_what_is_pending(database: Database) -> None:
    leave_pending(database, draft(1), draft(2))
    result = runner.invoke(app, ["audit", "sequence", "--database-url", database.url])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("2 trace(s) chaînée(s) ; tête 2:")
    assert counts(database) == (2, 0)
    again = runner.invoke(app, ["audit", "sequence", "--database-url", database.url])
    assert again.stdout.strip() == "aucune trace en attente"


def test_a_rolled_back_sequencer_gives_back_what_it_chained(database: Database) -> None:
    """A request that chained others' pending entries with its own and then failed: its own are gone, the others'
    are pending again, and chained by the next sequencer."""
    leave_pending(database, draft(1))

    def failing_request() -> None:
        with database.unit_of_work() as session:
            audit_log.defer(session, draft(2))
            assert audit_log.sequence(session) == 2
            raise RuntimeError("the request failed after sequencing")

    with pytest.raises(RuntimeError):
        failing_request()
    assert counts(database) == (0, 1)
    with database.unit_of_work() as session:
        stored = audit_log.entries(session).entries
        assert audit_log.verify_store(session).ok
    assert [(e.sequence, e.resource_id) for e in stored] == [(1, "doc-1")]


def test_a_traced_request_does_not_wait_for_a_held_head(head_held: Database) -> None:
    """Another transaction holds the head: a traced request commits all the same (its lock wait would fail at once,
    ``lock_timeout``), its trace pending; once the head is free the next reader chains it."""
    with head_held.unit_of_work() as session:
        session.execute(text("SET LOCAL lock_timeout = '1ms'"))
        audit_log.defer(session, draft(1))
    with head_held.engine.connect() as connection:  # a session joined to a caller's transaction: not pipelined
        outer = connection.begin()
        connection.execute(text("SET LOCAL lock_timeout = '1ms'"))
        with Session(bind=connection) as session:
            audit_log.defer(session, draft(2))
            session.commit()
        outer.commit()
    assert counts(head_held) == (1, 2)


def test_what_a_held_head_left_pending_is_chained_once_it_is_free(database: Database) -> None:
    postgresql_only(database)
    with database.unit_of_work() as session:
        audit_log.append(session, draft(0))
    with database.engine.connect() as holder:
        holder.execute(text("SELECT * FROM audit_head WHERE id = 1 FOR UPDATE"))
        with database.unit_of_work() as session:
            session.execute(text("SET LOCAL lock_timeout = '1ms'"))  # a wait on the head would fail the request
            audit_log.defer(session, draft(1))
        assert counts(database) == (1, 1)
        holder.rollback()
    with database.unit_of_work() as session:  # the next traced request chains it with its own
        audit_log.defer(session, draft(2))
    assert counts(database) == (3, 0)
    with database.unit_of_work() as session:
        stored = audit_log.entries(session, newest_first=False).entries
        assert audit_log.verify_store(session).ok
    assert [e.resource_id for e in stored] == ["doc-0", "doc-1", "doc-2"]


def test_concurrent_traced_requests_are_all_chained_once(database: Database) -> None:
    """Sixteen connections tracing at once, through the path a record read takes (queue, commit): no request
    fails, and once read every trace is in the chain exactly once, in a valid chain."""
    postgresql_only(database)
    errors: list[BaseException] = []
    barrier = threading.Barrier(16)

    def request_loop(offset: int) -> None:
        try:
            barrier.wait()
            for index in range(25):
                with database.unit_of_work() as session:
                    session.execute(text("SET LOCAL lock_timeout = '5s'"))  # any wait on the head is a failure
                    audit_log.defer(session, draft(offset + index))
                    if index % 5 == 0:
                        audit_log.defer(session, dataclasses.replace(draft(offset + index), action="write"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=request_loop, args=(n * 1000,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    chained, pending = counts(database)
    assert chained + pending == 16 * (25 + 5)
    with database.unit_of_work() as session:
        stored = list(audit_log.chain(session))
        result = audit_log.verify_store(session)
    assert result.ok
    assert result.checked == 16 * 30
    assert [e.sequence for e in stored] == list(range(1, 16 * 30 + 1))
    traced = sorted((e.resource_id, e.action) for e in stored)
    expected = sorted(
        [(f"doc-{n * 1000 + i}", "read") for n in range(16) for i in range(25)]
        + [(f"doc-{n * 1000 + i}", "write") for n in range(16) for i in range(0, 25, 5)]
    )
    assert traced == expected
    assert counts(database) == (16 * 30, 0)


def test_a_deleted_pending_entry_is_the_documented_window(database: Database) -> None:
    """Before it is chained, a trace is protected by the database's durability only: someone who can write to the
    database can delete it unseen (docs/record.md). Once chained, the same deletion is found."""
    with database.unit_of_work() as session:
        audit_log.append(session, draft(1))
    leave_pending(database, draft(2))
    with database.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_pending"))
    with database.unit_of_work() as session:
        result = audit_log.verify_store(session)
        assert [e.resource_id for e in audit_log.entries(session).entries] == ["doc-1"]
    assert result.ok
    assert result.checked == 1


def test_a_changed_pending_entry_is_chained_as_changed_and_found(database: Database) -> None:
    """A pending row whose fields no longer match its canonical template (written with the request, hashed by the
    sequencer): changed in the window, the entry is chained as it now reads and ``verify`` finds it changed."""
    leave_pending(database, draft(1), draft(2))
    with database.engine.begin() as connection:
        connection.execute(text("UPDATE audit_pending SET outcome = 'refused' WHERE resource_id = 'doc-1'"))
    with database.unit_of_work() as session:
        result = audit_log.verify_store(session)
        first = audit_log.entry(session, 1)
    assert first is not None
    assert first.outcome is Outcome.REFUSED
    assert result.broken is not None
    assert result.broken.sequence == 1
    assert result.broken.kind == "changed"


@pytest.fixture(params=["sqlite"] + (["postgresql"] if os.environ.get("PARCOURS_TEST_DATABASE_URL") else []))
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'existing.db'}"
        return
    with fresh_postgres_schema(os.environ["PARCOURS_TEST_DATABASE_URL"], "seq") as url:
        yield url


def test_the_migration_keeps_an_existing_chain_and_goes_on_from_its_head(empty_url: str) -> None:
    """A database at revision 0013 with a chain (written as the code before the sequencer did: entries and head)
    upgrades to the head; new traces chain after the old ones; the downgrade chains what is pending first
    (PostgreSQL) or refuses while something is pending (SQLite)."""
    upgrade(empty_url, "0013")
    database = Database(empty_url)
    try:
        previous = GENESIS_HASH
        at = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)
        with database.engine.begin() as connection:
            for number in (1, 2):  # entries made before entity_ids existed, as migration 0003 left them
                old = dataclasses.replace(draft(number), entity_ids=())
                entry = seal(old, sequence=number, recorded_at=at, previous_hash=previous)
                connection.execute(
                    text("INSERT INTO audit_log (sequence, recorded_at, actor, actor_role, action, operation, outcome,"
                         " basis, purpose, patient_nir, resource_type, resource_id, previous_hash, entry_hash)"
                         " VALUES (:sequence, :recorded_at, :actor, :actor_role, :action, :operation, :outcome,"
                         " :basis, :purpose, :patient_nir, :resource_type, :resource_id, :previous_hash, :entry_hash)"),
                    dataclasses.asdict(entry) | {"outcome": entry.outcome.value},
                )  # fmt: skip
                previous = entry.entry_hash
            connection.execute(text("UPDATE audit_head SET sequence = 2, entry_hash = :hash"), {"hash": previous})
        upgrade(empty_url)
        with database.unit_of_work() as session:
            audit_log.defer(session, draft(4))  # odd: with entity_ids
        leave_pending(database, draft(5))
        with database.unit_of_work() as session:
            result = audit_log.verify_store(session)
            stored = audit_log.entries(session, newest_first=False).entries
        assert result.ok
        assert [(e.sequence, e.resource_id) for e in stored] == [(1, "doc-1"), (2, "doc-2"), (3, "doc-4"), (4, "doc-5")]
        leave_pending(database, draft(6))
        if database.engine.dialect.name == "sqlite":
            with pytest.raises(RuntimeError, match="parcours audit sequence"):
                downgrade(empty_url, "0013")
            with database.unit_of_work() as session:
                assert audit_log.sequence(session) == 1
        downgrade(empty_url, "0013")
        with database.engine.connect() as connection:
            chained = connection.execute(text("SELECT resource_id FROM audit_log ORDER BY sequence")).scalars().all()
        assert chained == ["doc-1", "doc-2", "doc-4", "doc-5", "doc-6"]
    finally:
        database.dispose()


def _chained_within(database: Database, wanted: tuple[int, int], seconds: float = 30.0) -> bool:
    """Polls the counts until they are ``wanted`` (a bounded wait for a background task, not a timed assertion)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if counts(database) == wanted:
            return True
        time.sleep(0.02)
    return False


def test_the_served_app_chains_pending_traces_with_no_request(database: Database, auth_settings: AuthSettings) -> None:
    """The service fell idle right after requests that left their traces pending: the app's own sequencer chains
    them, no reader or operator needed (the window's bound, docs/record.md)."""
    leave_pending(database, draft(1), draft(2))
    with TestClient(create_app(database, auth_settings, audit_sequence_seconds=0.05)):
        assert _chained_within(database, (2, 0)), counts(database)
        leave_pending(database, draft(3))
        assert _chained_within(database, (3, 0)), counts(database)
    with database.unit_of_work() as session:
        assert audit_log.verify_store(session).ok


def test_without_its_interval_the_app_leaves_the_traces_to_the_readers(
    database: Database, auth_settings: AuthSettings
) -> None:
    leave_pending(database, draft(1))
    with TestClient(create_app(database, auth_settings, audit_sequence_seconds=0)):
        time.sleep(0.3)
        assert counts(database) == (0, 1)


def test_the_apps_sequencer_skips_its_turn_while_the_head_is_held(
    head_held: Database, auth_settings: AuthSettings
) -> None:
    """It never waits for the head (a reader or another worker's sequencer holds it), and the app still stops."""
    leave_pending(head_held, draft(1))
    with TestClient(create_app(head_held, auth_settings, audit_sequence_seconds=0.05)):
        time.sleep(0.3)
        assert counts(head_held) == (1, 1)
        with head_held.engine.connect() as connection:  # several turns went by, none of them waiting for the head
            waiting = connection.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar_one()
        assert waiting == 0
