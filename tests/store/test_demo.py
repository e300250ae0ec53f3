"""The demo data set: synthetic people with valid identifiers, created through the services, reproducible."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import func, select

from parcours.care import demo
from parcours.record.entries import INS_NIR_DEMO_SYSTEM
from parcours.rules.identifiers import validate_nir, validate_rpps
from parcours.store.db import Database
from parcours.store.migrate import upgrade
from parcours.store.models import GpDeclaration, Patient, Professional

DAY = dt.date(2026, 6, 15)


def test_demo_town_is_valid(database: Database) -> None:
    with database.unit_of_work() as session:
        summary = demo.load(session, patients=20, seed=7, today=DAY)
    with database.unit_of_work() as session:
        patients = list(session.scalars(select(Patient)))
        professionals = list(session.scalars(select(Professional)))
        active = session.scalar(select(func.count()).select_from(GpDeclaration).where(GpDeclaration.end.is_(None)))
        assert demo.has_data(session)
    assert len(patients) == summary.patients
    assert all(validate_nir(p.nir) == p.nir for p in patients)
    assert {p.nir_system for p in patients} == {INS_NIR_DEMO_SYSTEM}
    assert all(validate_rpps(p.rpps) == p.rpps for p in professionals)
    assert all(p.rpps.startswith("19") for p in professionals)
    assert active == summary.declarations
    assert summary.claims > 0


def _nirs(path: Path) -> list[str]:
    url = f"sqlite:///{path}"
    upgrade(url)
    database = Database(url)
    try:
        with database.unit_of_work() as session:
            demo.load(session, patients=10, seed=11, today=DAY)
        with database.unit_of_work() as session:
            return sorted(session.scalars(select(Patient.nir)))
    finally:
        database.dispose()


def test_the_same_seed_gives_the_same_people(tmp_path: Path) -> None:
    assert _nirs(tmp_path / "a.db") == _nirs(tmp_path / "b.db")


def test_referrals_are_issued_while_the_gp_is_declared(database: Database) -> None:
    # Seed 2 draws a referral issued before its patient's declaration began (the demo used to fail on it).
    with database.unit_of_work() as session:
        summary = demo.load(session, patients=120, seed=2, today=DAY)
    assert summary.referrals > 0
