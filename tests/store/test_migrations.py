"""Migrations are the only way the schema is made: upgrade from empty, downgrade to nothing, and the models agree
with the migrated schema (an autogenerate diff finds nothing). On SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from tests.conftest import fresh_postgres_schema

from parcours.store.db import make_engine
from parcours.store.migrate import current_revision, downgrade, head_revision, upgrade
from parcours.store.models import Base, Professional

PG_URL = os.environ.get("PARCOURS_TEST_DATABASE_URL")


@pytest.fixture(params=["sqlite"] + (["postgresql"] if PG_URL else []))
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    assert PG_URL is not None
    with fresh_postgres_schema(PG_URL, "m") as url:
        yield url


def tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_from_empty_then_downgrade_to_nothing(empty_url: str) -> None:
    assert tables(empty_url) == set()
    upgrade(empty_url)
    assert tables(empty_url) >= {"patients", "professionals", "gp_declarations", "referrals", "claims", "claim_lines"}
    engine = make_engine(empty_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
    downgrade(empty_url, "base")
    assert tables(empty_url) == set()
    upgrade(empty_url)  # and back again: the downgrade left nothing behind that blocks it
    assert "gp_declarations" in tables(empty_url)


def test_the_models_match_the_migrated_schema(empty_url: str) -> None:
    upgrade(empty_url)
    engine = make_engine(empty_url)
    try:
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_a_non_contracted_professional_is_stored_and_an_unknown_sector_refused(empty_url: str) -> None:
    # Revision 0010: secteur 3 (non conventionné, tarif d'autorité) is a sector value; anything else is refused.
    upgrade(empty_url)
    engine = make_engine(empty_url)
    try:
        with Session(engine) as session:
            fields = {"family_name": "Martin", "given_name": "Paul", "profession": "physician"}
            session.add(Professional(rpps="10101010105", sector="3", specialty="general_practice", **fields))
            session.commit()
            session.add(Professional(rpps="10000000009", sector="4", specialty="general_practice", **fields))
            with pytest.raises(IntegrityError):
                session.commit()
    finally:
        engine.dispose()
