"""The engine's psycopg cursor makes ``description`` only when read (``LazyDescriptionCursor``): what it describes
must be what psycopg's own cursor describes, and a description read after the cursor moved on must not describe
the next result."""

from __future__ import annotations

import os

import psycopg
import pytest
from sqlalchemy import func, select, text

from parcours.store.db import Database, LazyDescriptionCursor

PG_URL = os.environ.get("PARCOURS_TEST_DATABASE_URL")
pytestmark = pytest.mark.skipif(not PG_URL, reason="the psycopg cursor is PostgreSQL's")

QUERY = "SELECT 1::int AS n, 'a'::text AS label, now() AS at, NULL::date AS day"


@pytest.fixture
def database() -> Database:
    assert PG_URL is not None
    made = Database(PG_URL)
    yield made  # type: ignore[misc]
    made.dispose()


def _described(description: object) -> list[tuple[object, ...]]:
    return [tuple(c) for c in description]  # type: ignore[attr-defined]


def test_describes_as_psycopg(database: Database) -> None:
    raw = database.engine.raw_connection()
    try:
        cursor = raw.cursor()
        assert isinstance(cursor, LazyDescriptionCursor)
        cursor.execute(QUERY)
        ours = cursor.description
        plain = psycopg.Cursor(raw.driver_connection)  # type: ignore[arg-type]
        plain.execute(QUERY)
        assert _described(ours) == _described(plain.description)
        assert len(ours) == 4
        assert ours[1].name == "label"
        assert [c.name for c in ours[-2:]] == ["at", "day"]
        cursor.execute("CREATE TEMPORARY TABLE described (n int)")  # no result: no description, as psycopg
        assert cursor.description is None
        cursor.execute("SELECT")  # a result without columns: psycopg's empty description
        assert cursor.description == []
    finally:
        raw.close()


def test_a_description_read_late_refuses(database: Database) -> None:
    raw = database.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("SELECT 1 AS first")
        early, kept = cursor.description, cursor.description
        assert [c.name for c in kept] == ["first"]  # read: it stays that result's
        cursor.execute("SELECT 2 AS second")
        assert [c.name for c in kept] == ["first"]
        with pytest.raises(RuntimeError, match="next statement"):
            len(early)
    finally:
        raw.close()


def test_sqlalchemy_results(database: Database) -> None:
    """Keys from the description (a textual statement) and from cached metadata (a statement run twice)."""
    series = func.generate_series(1, 3).table_valued("value").render_derived(name="series")
    statement = select(series.c.value).order_by(series.c.value)
    with database.engine.connect() as connection:
        row = connection.execute(text(QUERY)).mappings().one()
        assert (row["n"], row["label"], row["day"]) == (1, "a", None)
        for _ in range(2):
            assert connection.execute(statement).scalars().all() == [1, 2, 3]
