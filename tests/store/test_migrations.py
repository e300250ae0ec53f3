"""Migrations are the only way the schema is made: upgrade from empty, downgrade to nothing, and the models agree
with the migrated schema (an autogenerate diff finds nothing). On SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from tests.conftest import fresh_postgres_schema

from parcours.care import claims, declarations, people
from parcours.rules.event import Act
from parcours.rules.identifiers import nir_with_key, rpps_with_check_digit
from parcours.store.db import Database, make_engine
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


def test_the_line_reasons_are_filled_from_the_stored_decisions(empty_url: str) -> None:
    """Migration 0012 adds claim_lines.reason; claims adjudicated before it get their reasons from their decision."""
    upgrade(empty_url)
    database = Database(empty_url)
    with database.unit_of_work() as session:
        gp = people.create_professional(session, people.ProfessionalIn(
            rpps=rpps_with_check_digit("1100000777"), family_name="Roux", given_name="Anne",
            specialty="general_practice", installed_on=dt.date(2010, 1, 1)))  # fmt: skip
        who = people.create_patient(session, people.PatientIn(
            nir=nir_with_key("2850475000777"), family_name="Petit", given_name="Léa",
            birth_date=dt.date(1985, 4, 1), sex="female"))  # fmt: skip
        other = people.create_professional(session, people.ProfessionalIn(
            rpps=rpps_with_check_digit("1100000778"), family_name="Blanc", given_name="Marc",
            specialty="general_practice", installed_on=dt.date(2010, 1, 1)))  # fmt: skip
        declarations.declare(session, declarations.DeclarationIn(
            patient_id=who.id, professional_rpps=gp.rpps, start=dt.date(2026, 1, 5),
            consent_at=dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC)), registered_on=dt.date(2026, 1, 5))  # fmt: skip
        # a teleconsultation by a doctor who is not the MT, without orientation: refused
        refused, _ = claims.submit(session, claims.ClaimIn(
            idempotency_key="migration-0012", patient_id=who.id, professional_rpps=other.rpps,
            date=dt.date(2026, 3, 2), acts=[Act(code="G", fee=30)], teleconsultation=True))  # fmt: skip
        claim_id = refused.id
    database.dispose()
    downgrade(empty_url, "0010")
    upgrade(empty_url)
    engine = make_engine(empty_url)
    try:
        with engine.connect() as connection:
            reasons = connection.execute(text("select reason from claim_lines where claim_id = :c"), {"c": claim_id})
            assert [row[0] for row in reasons] == ["teleconsultation_not_oriented"]
    finally:
        engine.dispose()


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


def test_the_debts_of_claims_stored_before_0015_are_filled_from_their_decisions(empty_url: str) -> None:
    """Migration 0015 adds each claim's change to the tiers-payant debts and the patients' running totals; claims
    adjudicated before it get theirs from their decision, and a cancelled claim counts in no total."""
    upgrade(empty_url)
    database = Database(empty_url)
    with database.unit_of_work() as session:
        pharmacist = people.create_professional(session, people.ProfessionalIn(
            rpps=rpps_with_check_digit("1100000779"), family_name="Roux", given_name="Anne",
            profession="pharmacist", installed_on=dt.date(2010, 1, 1)))  # fmt: skip
        who = people.create_patient(session, people.PatientIn(
            nir=nir_with_key("2850475000779"), family_name="Petit", given_name="Léa",
            birth_date=dt.date(1985, 4, 1), sex="female"))  # fmt: skip
        sent = []
        for n, boxes in enumerate((3, 2, 4)):  # boxes in tiers payant: 1 € of franchise each, not withheld [S13]
            claim, _ = claims.submit(session, claims.ClaimIn(
                idempotency_key=f"migration-0015-{n}", patient_id=who.id, professional_rpps=pharmacist.rpps,
                date=dt.date(2026, 3, 2 + n), acts=[Act(code="PH7", fee=10, quantity=boxes)], tiers_payant=True))  # fmt: skip
            sent.append(claim.id)
        claims.cancel(session, sent[1], "erreur")
        patient_id = who.id
    database.dispose()
    downgrade(empty_url, "0014")
    upgrade(empty_url)
    engine = make_engine(empty_url)
    try:
        with engine.connect() as connection:
            changes = connection.execute(
                text("select id, owed_participation, owed_franchises from claims where patient_id = :p"),
                {"p": patient_id},
            )
            assert {row[0]: (row[1], row[2]) for row in changes} == {
                sent[0]: (0, 300), sent[1]: (0, 200), sent[2]: (0, 400),
            }  # fmt: skip
            totals = connection.execute(text("select participation, franchises from owed_totals where patient_id = :p"),
                                        {"p": patient_id})  # fmt: skip
            assert list(totals) == [(0, 700)]
            if engine.dialect.name == "postgresql":  # new JSON values compressed with lz4 (this server has it)
                methods = connection.execute(text(
                    "select attname, attcompression from pg_attribute where attrelid = 'claims'::regclass "
                    "and attname in ('request', 'event', 'state_before', 'adjudication')"))  # fmt: skip
                assert dict(methods.all()) == dict.fromkeys(("request", "event", "state_before", "adjudication"), "l")
    finally:
        engine.dispose()
