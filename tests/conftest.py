"""A migrated database for the tests: SQLite always, and the real PostgreSQL server when
``PARCOURS_TEST_DATABASE_URL`` is set (CI sets it), so every database test runs on both.

The schema is made by the Alembic migrations, as in production. Each pytest-xdist worker gets its own SQLite file
and its own PostgreSQL schema; tables are emptied after each test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import create_engine, inspect, text

from parcours.api.security import AuthSettings, issue_token
from parcours.record.identity import Principal
from parcours.store.db import Database
from parcours.store.migrate import upgrade
from parcours.store.record import APPEND_ONLY_SQL, DROP_APPEND_ONLY_SQL

# No deadline: a property test asserts amounts, never a duration (a loaded CI machine is slow, not wrong).
settings.register_profile("parcours", deadline=None)
settings.load_profile("parcours")

PG_URL = os.environ.get("PARCOURS_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _empty(database: Database) -> None:
    tables = [t for t in inspect(database.engine).get_table_names() if t != "alembic_version"]
    with database.engine.begin() as connection:
        if database.engine.dialect.name == "postgresql":
            if tables:
                quoted = ", ".join(f'"{t}"' for t in tables)
                # the audit log refuses TRUNCATE: the test harness, like a replica, skips the triggers
                connection.execute(text("SET LOCAL session_replication_role = replica"))
                connection.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
        else:
            connection.execute(text("PRAGMA foreign_keys=OFF"))
            for statement in DROP_APPEND_ONLY_SQL["sqlite"]:
                connection.execute(text(statement))
            for table in tables:
                connection.execute(text(f'DELETE FROM "{table}"'))
            for statement in APPEND_ONLY_SQL["sqlite"]:
                connection.execute(text(statement))
            connection.execute(text("PRAGMA foreign_keys=ON"))


@contextmanager
def fresh_postgres_schema(base_url: str, prefix: str) -> Iterator[str]:
    """A new, empty schema of the shared PostgreSQL test database, dropped afterwards; yields its URL."""
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_schema_url() -> Iterator[str]:
    """A schema of its own for this worker."""
    assert PG_URL is not None
    with fresh_postgres_schema(PG_URL, f"t_{_worker()}") as url:
        yield url


@pytest.fixture(scope="session", params=BACKENDS)
def migrated_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "postgresql":
        url: str = request.getfixturevalue("postgres_schema_url")
    else:
        path: Path = tmp_path_factory.mktemp("db") / f"parcours-{_worker()}.db"
        url = f"sqlite:///{path}"
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def auth_settings(tmp_path_factory: pytest.TempPathFactory) -> AuthSettings:
    """The local token issuer of the tests, with its own key (never the user's)."""
    return AuthSettings(
        local_key_file=tmp_path_factory.mktemp("auth") / "token-signing-key.pem", local_issuer_enabled=True
    )


class Tokens:
    """Bearer headers for each kind of caller, signed by the tests' local issuer."""

    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings

    def _bearer(self, principal: Principal) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(principal, self.settings)}"}

    def patient(self, nir: str) -> dict[str, str]:
        return self._bearer(Principal.patient(nir))

    def professional(self, rpps: str) -> dict[str, str]:
        return self._bearer(Principal.professional(rpps))

    def agent(self, agent_id: str = "agent-cpam-75", organisation: str = "CPAM de Paris") -> dict[str, str]:
        return self._bearer(Principal.insurer_agent(agent_id, organisation=organisation))

    def admin(self, admin_id: str = "admin") -> dict[str, str]:
        return self._bearer(Principal.administrator(admin_id))


@pytest.fixture(scope="session")
def tokens(auth_settings: AuthSettings) -> Tokens:
    return Tokens(auth_settings)


@pytest.fixture
def database(migrated_url: str) -> Iterator[Database]:
    database = Database(migrated_url)
    try:
        yield database
    finally:
        _empty(database)
        database.dispose()
