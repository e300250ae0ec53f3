"""The tiers-payant debts a claim sees (participations and franchises deferred and not yet recovered [S12][S13])
come from the patient's running totals (``owed_totals``) less what claims of later care dates added; they must equal
what summing every stored adjudication of the patient gives (the computation they replace), on a patient with many
claims in two years, out of date order, some cancelled and some corrected. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from parcours.care import claims, declarations, people
from parcours.rules.event import Act
from parcours.rules.identifiers import nir_with_key, rpps_with_check_digit
from parcours.store.db import Database
from parcours.store.models import Claim, OwedTotal, Patient, Professional

_serial = itertools.count(1)


@pytest.fixture
def session(database: Database) -> Iterator[Session]:
    with database.unit_of_work() as session:
        yield session


def professional(session: Session, **fields: Any) -> Professional:
    return people.create_professional(session, people.ProfessionalIn(
        rpps=rpps_with_check_digit(f"12{next(_serial):08d}"), family_name="Morel", given_name="Anne",
        installed_on=dt.date(2010, 1, 1), **fields))  # fmt: skip


def a_patient(session: Session) -> Patient:
    return people.create_patient(session, people.PatientIn(
        nir=nir_with_key(f"18504750{next(_serial):05d}"), family_name="Girard", given_name="Luc",
        birth_date=dt.date(1985, 4, 12), sex="male"))  # fmt: skip


def owed_by_summing_adjudications(
    session: Session, patient_id: str, on: dt.date, excluding: str | None = None
) -> dict[str, int]:
    """The former computation: deferred less recovered, summed over every stored adjudication of the claims that
    stand up to ``on`` (but ``excluding``), in cents, each floored at 0."""
    sums = dict.fromkeys(("deferred_participation", "recovered_participation", "deferred_franchises",
                          "recovered_franchises"), 0.0)  # fmt: skip
    for document in session.scalars(
        select(Claim.adjudication).where(
            Claim.patient_id == patient_id,
            Claim.status.in_(claims.LIVE),
            Claim.care_date <= on,
            Claim.id != (excluding or ""),
        )
    ):
        for key in sums:
            sums[key] += float(document.get(key, 0.0))
    cents = {key: round(value * 100) for key, value in sums.items()}
    return {
        "participation": max(0, cents["deferred_participation"] - cents["recovered_participation"]),
        "franchises": max(0, cents["deferred_franchises"] - cents["recovered_franchises"]),
    }


def test_the_debts_equal_the_sum_of_the_stored_adjudications_for_a_patient_with_many_claims(
    session: Session,
) -> None:
    gp = professional(session, specialty="general_practice")
    pharmacist = professional(session, profession="pharmacist")
    who = a_patient(session)
    declarations.declare(session, declarations.DeclarationIn(
        patient_id=who.id, professional_rpps=gp.rpps, start=dt.date(2025, 1, 2),
        consent_at=dt.datetime(2025, 1, 2, 9, tzinfo=dt.UTC)), registered_on=dt.date(2025, 1, 2))  # fmt: skip
    chance = random.Random(12)
    days = [dt.date(2025, 1, 6) + dt.timedelta(days=chance.randrange(0, 700)) for _ in range(80)]
    stored: list[Claim] = []
    seen_debt = False
    for n, day in enumerate(days):  # out of date order: later care dates are often already stored
        if chance.random() < 0.5:  # boxes at the pharmacy: franchises, deferred in tiers payant [S13]
            who_bills, acts = pharmacist, [Act(code="PH7", fee=10, quantity=chance.randint(1, 3))]
        else:  # a GP visit: the participation forfaitaire, deferred in tiers payant [S12]
            who_bills, acts = gp, [Act(code="G", fee=30)]
        expected = owed_by_summing_adjudications(session, who.id, day)
        claim, created = claims.submit(session, claims.ClaimIn(
            idempotency_key=f"owed-many-{n:04d}", patient_id=who.id, professional_rpps=who_bills.rpps, date=day,
            acts=acts, tiers_payant=chance.random() < 0.6))  # fmt: skip
        assert created
        # what the engine was given is the former sum on the date of care
        state = claim.state_before
        assert (state["participation_owed"], state["franchises_owed"]) == (
            f"{expected['participation'] / 100:.2f}", f"{expected['franchises'] / 100:.2f}",
        ), (n, day)  # fmt: skip
        seen_debt = seen_debt or bool(expected["participation"] or expected["franchises"])
        stored.append(claim)
        if n % 9 == 8:  # now and then a claim is cancelled, its deferral or recovery given back
            claims.cancel(session, chance.choice([c for c in stored if c.status in claims.LIVE]).id, "erreur")
        if n % 13 == 12:  # or corrected: a new version, tiers payant kept, other acts
            original = chance.choice([c for c in stored if c.status in claims.LIVE])
            fixed = (
                [Act(code="G", fee=30)] if original.professional_id == gp.id else [Act(code="PH7", fee=10, quantity=4)]
            )
            version, _ = claims.correct(session, original.id, claims.CorrectionIn(
                idempotency_key=f"owed-fix-{n:04d}", acts=fixed, reason="acte corrigé"))  # fmt: skip
            # the new version saw the debts without the original's (replaced) nor its own
            seen = owed_by_summing_adjudications(session, who.id, version.care_date, excluding=version.id)
            assert (version.state_before["participation_owed"], version.state_before["franchises_owed"]) == (
                f"{seen['participation'] / 100:.2f}", f"{seen['franchises'] / 100:.2f}",
            ), n  # fmt: skip
            stored.append(version)
    assert seen_debt  # the claims did defer and recover (else the comparison proves nothing)
    assert sum(c.status == "cancelled" for c in stored) >= 5
    for on in sorted({*days, dt.date(2024, 12, 31), dt.date(2026, 12, 31)}):
        assert claims.owed_on(session, who.id, on) == owed_by_summing_adjudications(session, who.id, on), on
    total = session.get(OwedTotal, who.id)
    assert total is not None
    standing = [c for c in session.scalars(select(Claim).where(Claim.patient_id == who.id)) if c.status in claims.LIVE]
    assert (total.participation, total.franchises) == (
        sum(c.owed_participation for c in standing), sum(c.owed_franchises for c in standing),
    )  # fmt: skip


def test_a_cancelled_tiers_payant_claim_gives_its_debt_back(session: Session) -> None:
    pharmacist = professional(session, profession="pharmacist")
    who = a_patient(session)
    boxes = [Act(code="PH7", fee=10, quantity=3)]
    claim, _ = claims.submit(session, claims.ClaimIn(
        idempotency_key="owed-cancel-1", patient_id=who.id, professional_rpps=pharmacist.rpps,
        date=dt.date(2026, 3, 2), acts=boxes, tiers_payant=True))  # fmt: skip
    # 3 boxes: 3 × 1 € of franchises not withheld, owed [S13]
    assert (claim.owed_participation, claim.owed_franchises) == (0, 300)
    assert claims.owed_on(session, who.id, dt.date(2026, 3, 2)) == {"participation": 0, "franchises": 300}
    assert claims.owed_on(session, who.id, dt.date(2026, 3, 1)) == {"participation": 0, "franchises": 0}
    claims.cancel(session, claim.id, "erreur de saisie")
    assert claims.owed_on(session, who.id, dt.date(2026, 3, 2)) == {"participation": 0, "franchises": 0}
    total = session.get(OwedTotal, who.id)
    assert total is not None
    assert (total.participation, total.franchises) == (0, 0)
