"""The people of the professional space's tests, added to the demo town through the care and record services (the
way the front desk and the patients would), with names no other test uses (they sort last in every list)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from parcours.care import claims, declarations, people, referrals, teleexpertise
from parcours.care.demo import DemoPerson
from parcours.record import service as record
from parcours.record.guard import Caller
from parcours.record.identity import Principal
from parcours.rules.event import Act
from parcours.rules.identifiers import nir_with_key, rpps_with_check_digit
from parcours.store.db import Database
from parcours.store.models import Patient, Professional

MT_SINCE = dt.date(2026, 1, 5)


@dataclass(frozen=True)
class Cast:
    gp: DemoPerson  # Dr Zola, médecin traitant of Zeller and Zimmer
    cardiologist: DemoPerson  # Dr Zapata
    dermatologist: DemoPerson  # Dr Zorn, who answers téléexpertises
    unrelated: DemoPerson  # Dr Zweig, who treats none of them
    blocked: DemoPerson  # Dr Zuber, who billed Zimmer once and whom Zimmer blocked
    zeller: Patient
    zimmer: Patient
    zacharie: Patient  # nobody's patient here: the bris de glace
    zacharie_person: DemoPerson


def _pro(session, serial: int, family: str, specialty: str) -> Professional:  # type: ignore[no-untyped-def]
    return people.create_professional(session, people.ProfessionalIn(
        rpps=rpps_with_check_digit(f"1977{serial:06d}"), family_name=family, given_name="Alex", specialty=specialty,
        installed_on=dt.date(2010, 1, 1), practice_city="Saint-Amand-les-Eaux"))  # fmt: skip


def _patient(session, serial: int, family: str, given: str, born: dt.date) -> Patient:  # type: ignore[no-untyped-def]
    return people.create_patient(session, people.PatientIn(
        nir=nir_with_key(f"2{born:%y}{born:%m}59526{serial:03d}"), family_name=family, given_name=given,
        birth_date=born, sex="female"))  # fmt: skip


def person(who: Professional | Patient) -> DemoPerson:
    if isinstance(who, Professional):
        return DemoPerson("professional", who.rpps, f"{who.given_name} {who.family_name}", who.specialty or "")
    return DemoPerson("patient", who.nir, f"{who.given_name} {who.family_name}", "")


_BUILT: dict[str, Cast] = {}


def build(url: str) -> Cast:
    """The cast in the demo town at ``url``, made once per test session (both test modules share it)."""
    if url not in _BUILT:
        _BUILT[url] = _build(url)
    return _BUILT[url]


def _build(url: str) -> Cast:
    database = Database(url)
    try:
        with database.unit_of_work() as session:
            gp = _pro(session, 1, "Zola", "general_practice")
            cardio = _pro(session, 2, "Zapata", "cardiology")
            derm = _pro(session, 3, "Zorn", "dermatology")
            unrelated = _pro(session, 4, "Zweig", "general_practice")
            blocked = _pro(session, 5, "Zuber", "general_practice")
            zeller = _patient(session, 901, "Zeller", "Jeanne", dt.date(1980, 6, 15))
            zimmer = _patient(session, 902, "Zimmer", "Anne", dt.date(1975, 3, 2))
            zacharie = _patient(session, 903, "Zacharie", "Lise", dt.date(1990, 9, 9))
            for who in (zeller, zimmer):
                declarations.declare(session, declarations.DeclarationIn(
                    patient_id=who.id, professional_rpps=gp.rpps, start=MT_SINCE,
                    consent_at=dt.datetime.combine(MT_SINCE, dt.time(9), dt.UTC)), registered_on=MT_SINCE)  # fmt: skip
            claims.submit(session, claims.ClaimIn(idempotency_key="pro-cast-zuber-0001", patient_id=zimmer.id,
                                                  professional_rpps=blocked.rpps, date=dt.date(2026, 2, 1),
                                                  acts=[Act(code="G")]))  # fmt: skip
            # one téléexpertise and one feuille de soins of the GP's own, so that the detail pages exist whichever
            # xdist worker (and so whichever journey test) ran first
            claims.submit(session, claims.ClaimIn(idempotency_key="pro-cast-zola-0001", patient_id=zimmer.id,
                                                  professional_rpps=gp.rpps, date=dt.date(2026, 2, 3),
                                                  acts=[Act(code="G")]))  # fmt: skip
            teleexpertise.request(session, teleexpertise.TeleexpertiseIn(
                patient_id=zimmer.id, requester_rpps=gp.rpps, expert_rpps=derm.rpps,
                question="Plaque érythémateuse du coude : psoriasis ?",
                consent_at=dt.datetime.combine(dt.date(2026, 2, 3), dt.time(9), dt.UTC),
                requested_on=dt.date(2026, 2, 3)))  # fmt: skip
            as_gp = Caller.of(session, Principal.professional(gp.rpps, display_name="Alex Zola"))
            record.add_entry(as_gp, zeller, {"resourceType": "MedicationStatement", "status": "active",
                                             "medicationCodeableConcept": {"coding": [{
                                                 "system": "http://www.whocc.no/atc", "code": "C07AB02",
                                                 "display": "métoprolol"}]}})  # fmt: skip
            # the cardiologist Zeller was referred to prescribes the same substance: a duplicate for the MT
            referrals.refer(session, referrals.ReferralIn(patient_id=zeller.id, referrer_rpps=gp.rpps,
                                                          target_rpps=cardio.rpps, reason="Hypertension à équilibrer",
                                                          issued_on=dt.date(2026, 2, 2)))  # fmt: skip
            as_cardio = Caller.of(session, Principal.professional(cardio.rpps, display_name="Alex Zapata"))
            record.add_entry(as_cardio, zeller, {"resourceType": "MedicationStatement", "status": "active",
                                                 "medicationCodeableConcept": {"coding": [{
                                                     "system": "http://www.whocc.no/atc", "code": "C07AB02",
                                                     "display": "métoprolol"}]}})  # fmt: skip
            record.block(Caller.of(session, Principal.patient(zimmer.nir)), zimmer, blocked.rpps)
            ids = (zeller.id, zimmer.id, zacharie.id)
            cast = [person(p) for p in (gp, cardio, derm, unrelated, blocked)]
        with database.unit_of_work() as session:
            rows = [session.get(Patient, i) for i in ids]
            for row in rows:
                assert row is not None
                session.expunge(row)
    finally:
        database.dispose()
    return Cast(*cast, rows[0], rows[1], rows[2], person(rows[2]))  # type: ignore[arg-type]
