"""The services behind the professional space: the MT's patientèle search, the referral lists with their overdue
flag, the expert's inbox by priority and deadline, and the feuille de soins preview (adjudicated, nothing stored).
Amounts come from the engine's sourced worked examples (examples/gp-in-pathway.json: G 30 € → AMO 19,00 €)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from parcours.care import claims, declarations, people, referrals, teleexpertise
from parcours.care.errors import CareError
from parcours.rules.event import Act
from parcours.rules.identifiers import nir_with_key, rpps_with_check_digit
from parcours.store.db import Database
from parcours.store.models import Claim, Professional, YearToDateState

_serial = itertools.count(1)
TODAY = dt.date.today()


@pytest.fixture
def session(database: Database) -> Iterator[Session]:
    with database.unit_of_work() as session:
        yield session


def doctor(session: Session, specialty: str = "general_practice", family_name: str = "Martin") -> Professional:
    return people.create_professional(
        session,
        people.ProfessionalIn(
            rpps=rpps_with_check_digit(f"11{next(_serial):08d}"), family_name=family_name, given_name="Claire",
            specialty=specialty, installed_on=dt.date(2010, 1, 1),
        ),
    )  # fmt: skip


def patient(session: Session, family_name: str = "Durand", given_name: str = "Paul", born: str = "1985-04-12"):  # type: ignore[no-untyped-def]
    birth = dt.date.fromisoformat(born)
    return people.create_patient(
        session,
        people.PatientIn(
            nir=nir_with_key(f"1{birth:%y}{birth:%m}75{next(_serial):06d}"), family_name=family_name,
            given_name=given_name, birth_date=birth, sex="male",
        ),
    )  # fmt: skip


def declare(session: Session, who, gp: Professional, start: dt.date) -> None:  # type: ignore[no-untyped-def]
    declarations.declare(
        session,
        declarations.DeclarationIn(
            patient_id=who.id, professional_rpps=gp.rpps, start=start,
            consent_at=dt.datetime.combine(start, dt.time(9), dt.UTC),
        ),
        registered_on=start,
    )  # fmt: skip


def test_the_patientele_is_searched_by_name_nir_and_birth_date(session: Session) -> None:
    gp, other = doctor(session), doctor(session)
    durand = patient(session, "Durand", "Paul", "1985-04-12")
    dupont = patient(session, "Dupont", "Léa", "1990-07-01")
    stranger = patient(session, "Durandal", "Marc")
    start = TODAY - dt.timedelta(days=10)
    declare(session, durand, gp, start)
    declare(session, dupont, gp, start)
    declare(session, stranger, other, start)

    def names(text: str | None) -> list[str]:
        rows, total = declarations.search_patients_of(session, gp.id, text)
        assert total == len(rows)
        return [p.family_name for p, _ in rows]

    assert names(None) == ["Dupont", "Durand"]
    assert names("du") == ["Dupont", "Durand"]
    assert names("DURAND") == ["Durand"]  # another doctor's patient Durandal is never listed
    assert names("léa") == ["Dupont"]
    assert names(durand.nir[:7]) == ["Durand"]
    assert names("01/07/1990") == ["Dupont"]
    assert names("zz") == []
    rows, _ = declarations.search_patients_of(session, gp.id, "Durand")
    assert rows[0][1].start == start  # each patient comes with the declaration that makes the doctor MT


def test_referral_lists_flag_the_overdue_first(session: Session) -> None:
    gp, cardio = doctor(session), doctor(session, "cardiology")
    who = patient(session)
    declare(session, who, gp, TODAY - dt.timedelta(days=200))
    late = referrals.refer(session, referrals.ReferralIn(
        patient_id=who.id, referrer_rpps=gp.rpps, target_rpps=cardio.rpps, reason="Bilan d'une dyspnée",
        issued_on=TODAY - dt.timedelta(days=100)))  # fmt: skip
    fresh = referrals.refer(session, referrals.ReferralIn(
        patient_id=who.id, referrer_rpps=gp.rpps, target_specialty="cardiology", reason="Souffle", urgency="urgent",
        issued_on=TODAY - dt.timedelta(days=1)))  # fmt: skip
    done = referrals.refer(session, referrals.ReferralIn(
        patient_id=who.id, referrer_rpps=gp.rpps, target_rpps=cardio.rpps, reason="Palpitations",
        issued_on=TODAY - dt.timedelta(days=5)))  # fmt: skip
    referrals.report(session, done.id, referrals.ReportIn(professional_rpps=cardio.rpps, report="Holter normal."))

    sent = referrals.sent_and_received(session, gp.id, "referrer")
    assert [(r.id, overdue) for r, overdue in sent] == [(late.id, True), (fresh.id, False)]
    received = referrals.sent_and_received(session, cardio.id, "target", open_only=False)
    assert [r.id for r, _ in received] == [late.id, fresh.id, done.id]  # the one addressed to the specialty too
    assert referrals.is_overdue(late)
    assert not referrals.is_overdue(done)
    assert referrals.status_label(done) == "clos par son compte rendu"


def test_the_expert_inbox_puts_urgent_requests_first_then_the_nearest_deadline(session: Session) -> None:
    gp, derm = doctor(session), doctor(session, "dermatology")
    people_ = [patient(session) for _ in range(3)]
    for who in people_:
        declare(session, who, gp, TODAY - dt.timedelta(days=30))

    def ask(who, days_ago: int, priority: str = "routine"):  # type: ignore[no-untyped-def]
        on = TODAY - dt.timedelta(days=days_ago)
        return teleexpertise.request(session, teleexpertise.TeleexpertiseIn(
            patient_id=who.id, requester_rpps=gp.rpps, expert_rpps=derm.rpps, question="Lésion : avis ?",
            # consent is given at 8 h, or just now for a request of today asked before 8 h (UTC)
            consent_at=min(dt.datetime.combine(on, dt.time(8), dt.UTC), dt.datetime.now(dt.UTC)),
            requested_on=on, priority=priority))  # fmt: skip

    older, newer = ask(people_[0], 5), ask(people_[1], 1)
    urgent = ask(people_[2], 0, "urgent")
    gone = ask(people_[0], 20)  # expired: no longer answerable, not in the inbox
    inbox = teleexpertise.inbox(session, derm.id)
    assert [t.id for t in inbox] == [urgent.id, older.id, newer.id]
    assert gone.id not in [t.id for t in inbox]
    assert teleexpertise.days_left(older) == 2  # 7 days to answer (teleexpertise.answer_delay_days, S16a)
    assert urgent.priority == "urgent"
    assert older.priority == "routine"


def test_a_preview_gives_the_amounts_of_the_sending_and_stores_nothing(session: Session) -> None:
    gp = doctor(session)
    who = patient(session)
    declare(session, who, gp, dt.date(2026, 1, 5))
    data = claims.ClaimIn(idempotency_key="preview-0001", patient_id=who.id, professional_rpps=gp.rpps,
                          date=dt.date(2026, 3, 2), acts=[Act(code="G", fee=30)])  # fmt: skip
    shown = claims.preview(session, data)
    assert shown.adjudication.pathway == "T"
    assert shown.adjudication.in_pathway
    assert shown.adjudication.amo == 1900  # examples/gp-in-pathway.json: G 30 € → AMO 19,00 €
    assert shown.adjudication.billed == 3000
    assert shown.to_dict()["amo"] == 19.0
    assert session.scalar(select(func.count()).select_from(Claim)) == 0
    assert session.get(YearToDateState, (who.id, 2026)) is None
    sent, _ = claims.submit(session, data)
    assert (sent.pathway, sent.amo, sent.patient_share) == ("T", shown.adjudication.amo, shown.adjudication.patient)


def test_a_preview_names_the_field_at_fault(session: Session) -> None:
    gp = doctor(session)
    who = patient(session)
    with pytest.raises(CareError) as error:
        claims.preview(session, claims.ClaimIn(idempotency_key="preview-0002", patient_id=who.id,
                                               professional_rpps=gp.rpps, date=TODAY + dt.timedelta(days=1),
                                               acts=[Act(code="G", fee=30)]))  # fmt: skip
    assert error.value.field == "date"
    with pytest.raises(CareError) as error:
        claims.preview(session, claims.ClaimIn(idempotency_key="preview-0003", patient_id=who.id,
                                               professional_rpps=gp.rpps, date=TODAY,
                                               acts=[Act(code="NOPE", fee=30)]))  # fmt: skip
    assert "acts" in error.value.field


def test_claims_are_listed_by_the_refusal_reason_of_their_lines(session: Session) -> None:
    gp, other = doctor(session), doctor(session)
    who = patient(session)
    declare(session, who, gp, TODAY - dt.timedelta(days=60))
    refused, _ = claims.submit(session, claims.ClaimIn(
        idempotency_key="reason-0001", patient_id=who.id, professional_rpps=other.rpps,
        date=TODAY - dt.timedelta(days=3), acts=[Act(code="G", fee=30)], teleconsultation=True))  # fmt: skip
    paid, _ = claims.submit(session, claims.ClaimIn(
        idempotency_key="reason-0002", patient_id=who.id, professional_rpps=gp.rpps,
        date=TODAY - dt.timedelta(days=2), acts=[Act(code="G", fee=30)]))  # fmt: skip
    assert refused.status == "rejected"
    assert [line.reason for line in refused.lines] == ["teleconsultation_not_oriented"]
    assert [line.reason for line in paid.lines] == [None]
    found, total = claims.list_claims(session, patient_id=who.id, reason="teleconsultation_not_oriented")
    assert (total, [c.id for c in found]) == (1, [refused.id])
    assert claims.list_claims(session, patient_id=who.id, reason="early_renewal") == ([], 0)
