"""The audit trail in the database (SQLite and PostgreSQL): append-only by triggers; tampering by someone who drops
them is found by ``parcours audit verify``, which exits non-zero naming the first broken entry; concurrent appends
never fork the chain."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from parcours.cli import app
from parcours.record import audit_log
from parcours.record.audit import AuditDraft, Outcome
from parcours.store.db import Database
from parcours.store.record import APPEND_ONLY_SQL, DROP_APPEND_ONLY_SQL

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
        reason="urgence — arrêt cardiaque" if index == 3 else None,
    )


def fill(database: Database, count: int) -> None:
    for index in range(count):
        with database.unit_of_work() as session:
            audit_log.append(session, draft(index))


def verify(database: Database, *args: str) -> object:
    return runner.invoke(app, ["audit", "verify", "--database-url", database.url, *args])


@pytest.fixture
def attacker(database: Database) -> Iterator[Database]:
    """Someone with the database owner's rights: drops the append-only triggers (restored afterwards)."""
    dialect = database.engine.dialect.name
    with database.engine.begin() as connection:
        for statement in DROP_APPEND_ONLY_SQL[dialect]:
            connection.execute(text(statement))
    try:
        yield database
    finally:
        with database.engine.begin() as connection:
            for statement in DROP_APPEND_ONLY_SQL[dialect]:
                connection.execute(text(statement))
            for statement in APPEND_ONLY_SQL[dialect]:
                connection.execute(text(statement))


def tamper(database: Database, *statements: str) -> None:
    with database.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))


def test_an_intact_log_verifies(database: Database) -> None:
    fill(database, 5)
    result = verify(database)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "5 entrée(s) vérifiée(s)" in result.stdout  # type: ignore[attr-defined]
    head = runner.invoke(app, ["audit", "head", "--database-url", database.url]).stdout.strip()
    assert head.startswith("5:")
    assert verify(database, "--anchor", head).exit_code == 0  # type: ignore[attr-defined]


def test_an_empty_log_verifies(database: Database) -> None:
    assert verify(database).exit_code == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET actor = 'professional:10101010105' WHERE sequence = 2",
        "DELETE FROM audit_log WHERE sequence = 2",
        "DELETE FROM audit_log",
    ],
)
def test_the_database_refuses_changes(database: Database, statement: str) -> None:
    fill(database, 3)
    with pytest.raises(DBAPIError, match="append-only"):
        tamper(database, statement)
    assert verify(database).exit_code == 0  # type: ignore[attr-defined]


def test_postgresql_refuses_truncate(database: Database) -> None:
    if database.engine.dialect.name != "postgresql":
        pytest.skip("TRUNCATE exists on PostgreSQL only")
    fill(database, 2)
    with pytest.raises(DBAPIError, match="append-only"):
        tamper(database, "TRUNCATE audit_log")


def test_a_changed_entry_is_named(attacker: Database) -> None:
    fill(attacker, 6)
    tamper(attacker, "UPDATE audit_log SET outcome = 'refused' WHERE sequence = 4")
    result = verify(attacker)
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert "entrée n° 4 modifiée" in result.stderr  # type: ignore[attr-defined]


def test_a_changed_reason_is_named(attacker: Database) -> None:
    fill(attacker, 6)
    tamper(attacker, "UPDATE audit_log SET reason = 'consultation de routine' WHERE sequence = 4")
    result = verify(attacker)
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert "entrée n° 4" in result.stderr  # type: ignore[attr-defined]


def test_a_deleted_entry_is_named(attacker: Database) -> None:
    fill(attacker, 6)
    tamper(attacker, "DELETE FROM audit_log WHERE sequence = 3")
    result = verify(attacker)
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert "n° 3 absente(s)" in result.stderr  # type: ignore[attr-defined]


def test_reordered_entries_are_found(attacker: Database) -> None:
    fill(attacker, 6)
    tamper(
        attacker,
        "UPDATE audit_log SET sequence = -3 WHERE sequence = 3",
        "UPDATE audit_log SET sequence = 3 WHERE sequence = 4",
        "UPDATE audit_log SET sequence = 4 WHERE sequence = -3",
    )
    result = verify(attacker)
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert "entrée n° 3" in result.stderr  # type: ignore[attr-defined]


def test_deleted_last_entries_are_found_by_the_head(attacker: Database) -> None:
    fill(attacker, 6)
    tamper(attacker, "DELETE FROM audit_log WHERE sequence >= 5")
    result = verify(attacker)
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert "entrées finales supprimées" in result.stderr  # type: ignore[attr-defined]


def test_a_rewritten_log_fails_against_an_anchor(attacker: Database) -> None:
    fill(attacker, 4)
    anchor = runner.invoke(app, ["audit", "head", "--database-url", attacker.url]).stdout.strip()
    # the attacker rewrites the whole log with consistent hashes, and the head row with it
    tamper(attacker, "DELETE FROM audit_log", "UPDATE audit_head SET sequence = 0, entry_hash = '" + "0" * 64 + "'")
    for index in range(4):
        with attacker.unit_of_work() as session:
            audit_log.append(session, draft(index + 100))
    assert verify(attacker).exit_code == 0  # type: ignore[attr-defined]
    result = verify(attacker, "--anchor", anchor)
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert "ancre" in result.stderr  # type: ignore[attr-defined]


def test_a_bad_anchor_is_bad_input(database: Database) -> None:
    result = verify(database, "--anchor", "douze")
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert "--anchor" in result.stderr  # type: ignore[attr-defined]


def test_concurrent_appends_do_not_fork_the_chain(database: Database) -> None:
    """Eight writers at once: every entry finds its own place after the previous one."""
    errors: list[BaseException] = []

    def writer(offset: int) -> None:
        try:
            for index in range(5):
                with database.unit_of_work() as session:
                    audit_log.append(session, draft(offset + index))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n * 10,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with database.unit_of_work() as session:
        result = audit_log.verify_store(session)
    assert result.ok
    assert result.checked == 40


def test_the_resources_a_search_returned_are_stored_and_verified(attacker: Database) -> None:
    fill(attacker, 2)
    listed = dataclasses.replace(draft(2), entity_ids=("DocumentReference/a", "Condition/b"))
    with attacker.unit_of_work() as session:
        audit_log.append(session, listed)
    with attacker.unit_of_work() as session:
        stored = audit_log.entry(session, 3)
    assert stored is not None
    assert stored.entity_ids == ("DocumentReference/a", "Condition/b")
    assert verify(attacker).exit_code == 0  # type: ignore[attr-defined]
    # a read taken out of the list is a changed entry
    tamper(attacker, """UPDATE audit_log SET entity_ids = '["DocumentReference/a"]' WHERE sequence = 3""")
    result = verify(attacker)
    assert result.exit_code != 0  # type: ignore[attr-defined]
    assert "3" in result.output  # type: ignore[attr-defined]


def test_deferred_entries_are_chained_at_commit_and_dropped_with_a_rollback(database: Database) -> None:
    """The access checks queue their entries until the transaction commits: a committed transaction chains them in
    order, a session reading the trail sees its own, a rolled-back transaction leaves none."""
    with database.unit_of_work() as session:
        audit_log.defer(session, draft(1))
        audit_log.defer(session, draft(2))
        seen = audit_log.entries(session, newest_first=False)  # the session's own entries, before it commits
        assert [e.resource_id for e in seen.entries] == ["doc-1", "doc-2"]
        audit_log.defer(session, draft(3))

    def failing_request() -> None:
        with database.unit_of_work() as session:
            audit_log.defer(session, draft(4))
            raise RuntimeError("the request failed")

    with pytest.raises(RuntimeError):
        failing_request()
    with database.unit_of_work() as session:
        audit_log.defer(session, draft(5))
        audit_log.append(session, draft(6))  # after what the session queued
    with database.unit_of_work() as session:
        stored = audit_log.entries(session, newest_first=False).entries
        result = audit_log.verify_store(session)
    assert [e.resource_id for e in stored] == ["doc-1", "doc-2", "doc-3", "doc-5", "doc-6"]
    assert [e.sequence for e in stored] == [1, 2, 3, 4, 5]
    assert result.ok


def test_many_concurrent_deferred_appends_do_not_fork_the_chain(database: Database) -> None:
    """Sixteen request-like transactions at once, each queueing one entry or two: every entry finds its place."""
    errors: list[BaseException] = []

    def writer(offset: int) -> None:
        try:
            for index in range(10):
                with database.unit_of_work() as session:
                    audit_log.defer(session, draft(offset + index))
                    if index % 3 == 0:
                        audit_log.defer(session, dataclasses.replace(draft(offset + index), action="write"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n * 100,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with database.unit_of_work() as session:
        result = audit_log.verify_store(session)
    assert result.ok
    assert result.checked == 16 * (10 + 4)


def test_a_session_joined_to_a_callers_transaction_leaves_the_commit_to_it(database: Database) -> None:
    """A session bound to a connection whose transaction someone else owns chains its entries in that transaction
    and never commits it: rolled back by its owner, the entries are gone."""
    from sqlalchemy.orm import Session

    with database.engine.connect() as connection:
        outer = connection.begin()
        with Session(bind=connection) as session:
            audit_log.defer(session, draft(1))
            session.commit()  # the session's part; the caller's transaction goes on
        outer.rollback()
    with database.unit_of_work() as session:
        assert audit_log.entries(session).total == 0
        assert audit_log.verify_store(session).ok
