"""A claim as ``claims.submit`` hands it back (its lines with their ids, the year-to-date row grown) is what the
database holds: on PostgreSQL the claim, its lines and the year-to-date growth are one statement, on SQLite three."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import inspect, select

from parcours.care import claims, declarations, people
from parcours.rules.event import Act
from parcours.rules.identifiers import nir_with_key, rpps_with_check_digit
from parcours.store.db import Database
from parcours.store.models import Claim, ClaimLine, YearToDateState


def test_a_claim_of_several_acts_is_handed_back_as_stored(database: Database) -> None:
    with database.unit_of_work() as session:
        gp = people.create_professional(session, people.ProfessionalIn(
            rpps=rpps_with_check_digit("1300000001"), family_name="Faure", given_name="Inès",
            specialty="general_practice", installed_on=dt.date(2010, 1, 1)))  # fmt: skip
        who = people.create_patient(session, people.PatientIn(
            nir=nir_with_key("1850475000901"), family_name="Roche", given_name="Marc",
            birth_date=dt.date(1985, 4, 12), sex="male"))  # fmt: skip
        declarations.declare(session, declarations.DeclarationIn(
            patient_id=who.id, professional_rpps=gp.rpps, start=dt.date(2026, 1, 5),
            consent_at=dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC)), registered_on=dt.date(2026, 1, 5))  # fmt: skip
        first, _ = claims.submit(session, claims.ClaimIn(
            idempotency_key="store-0001", patient_id=who.id, professional_rpps=gp.rpps, date=dt.date(2026, 3, 2),
            acts=[Act(code="G", fee=30)]))  # fmt: skip
        acts = [Act(code="G", fee=30), Act(code="MEG", fee=5), Act(code="G", fee=30)]
        claim, _ = claims.submit(session, claims.ClaimIn(
            idempotency_key="store-0002", patient_id=who.id, professional_rpps=gp.rpps, date=dt.date(2026, 3, 9),
            acts=acts))  # fmt: skip
        # as loaded: held by the session, nothing left to write, the relations those of the session's objects
        assert session.get(Claim, claim.id) is claim
        assert inspect(claim).persistent
        assert not session.new
        assert not session.dirty
        assert claim.patient is who
        assert all(line.claim is claim and inspect(line).persistent for line in claim.lines)
        handed = [(line.id, line.position, line.code, line.amo, line.participation) for line in claim.lines]
        paid = sum(line.participation for line in [*first.lines, *claim.lines] if line.status == "paid")
        claim_id, patient_id = claim.id, who.id
    with database.unit_of_work() as session:
        stored = session.execute(
            select(ClaimLine.id, ClaimLine.position, ClaimLine.code, ClaimLine.amo, ClaimLine.participation)
            .where(ClaimLine.claim_id == claim_id)
            .order_by(ClaimLine.position)
        ).all()
        assert [tuple(row) for row in stored] == handed
        assert [code for _, _, code, _, _ in handed] == ["G", "MEG", "G"]
        assert len({line_id for line_id, *_ in handed}) == 3
        year = session.get(YearToDateState, (patient_id, 2026))
        assert year is not None
        # both claims counted; the participations forfaitaires of the paid lines, 2 € each [S12]
        assert (year.claims_count, year.participation_paid) == (2, paid)
        assert paid > 0
