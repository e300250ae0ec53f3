"""A demo data set: synthetic patients and professionals of a small town, never real people.

Identifiers are valid (NIR keys, RPPS check digits) but synthetic: patients carry the FR Core *demo* INS-NIR OID
(``urn:oid:1.2.250.1.213.1.4.11``) so that no system may mistake them for insured people, and RPPS numbers are
drawn from a range starting with 19, which the RPPS directory does not use for real professionals. Everything is
created through the care services, so the demo obeys the same rules as real use; the same seed gives the same data.
"""

from __future__ import annotations

import base64
import datetime as dt
import random
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from parcours.care import claims, declarations, people, referrals, teleexpertise
from parcours.care.common import age_on, law, now
from parcours.care.errors import CareError
from parcours.care.people import list_patients, list_professionals
from parcours.record import service as record
from parcours.record.entries import INS_NIR_DEMO_SYSTEM
from parcours.record.guard import Caller
from parcours.record.identity import Principal
from parcours.rules.event import Act
from parcours.rules.identifiers import nir_with_key, rpps_with_check_digit
from parcours.store.models import Patient, Professional
from parcours.store.record import LegalRepresentative

FAMILY_NAMES = [
    "Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois", "Moreau", "Laurent", "Simon",
    "Michel", "Lefebvre", "Leroy", "Roux", "David", "Bertrand", "Morel", "Fournier", "Girard", "Bonnet", "Dupont",
    "Lambert", "Fontaine", "Rousseau", "Vincent", "Muller", "Lefevre", "Faure", "André", "Mercier", "Blanc",
]  # fmt: skip
FEMALE_NAMES = ["Camille", "Léa", "Manon", "Chloé", "Inès", "Sarah", "Julie", "Claire", "Anne", "Nathalie", "Louise"]
MALE_NAMES = ["Lucas", "Hugo", "Louis", "Gabriel", "Arthur", "Thomas", "Nicolas", "Pierre", "Julien", "Marc", "Paul"]
TOWN = ("Saint-Amand-les-Eaux", "59230", "59526")  # city, postcode, INSEE commune code (department 59, commune 526)

# (specialty, sector, OPTAM, how many)
PRACTICE = [
    ("general_practice", "1", False, 4),
    ("general_practice", "2", True, 1),
    ("cardiology", "1", False, 1),
    ("dermatology", "2", False, 1),
    ("gynecology", "2", True, 1),
    ("ophthalmology", "1", False, 1),
    ("psychiatry", "1", False, 1),
    ("pediatrics", "1", False, 1),
]
PARAMEDICAL = [("nurse", 2), ("physiotherapist", 1)]


@dataclass(frozen=True)
class DemoSummary:
    professionals: int
    patients: int
    declarations: int
    referrals: int
    teleexpertises: int
    claims: int


def has_data(session: Session) -> bool:
    return (session.scalar(select(func.count()).select_from(Patient)) or 0) > 0


def load(session: Session, *, patients: int = 40, seed: int = 2004, today: dt.date | None = None) -> DemoSummary:
    """Create the demo town in ``session`` (one transaction: the caller commits)."""
    rng = random.Random(seed)
    today = today or dt.date.today()
    serial = iter(range(1, 10_000))

    def rpps() -> str:
        return rpps_with_check_digit(f"19{seed % 100:02d}{next(serial):06d}")

    doctors: dict[str, list[Professional]] = {}
    paramedics: list[Professional] = []
    for specialty, sector, optam, count in PRACTICE:
        for _ in range(count):
            female = rng.random() < 0.5
            doctor = people.create_professional(
                session,
                people.ProfessionalIn(
                    rpps=rpps(),
                    family_name=rng.choice(FAMILY_NAMES),
                    given_name=rng.choice(FEMALE_NAMES if female else MALE_NAMES),
                    specialty=specialty,
                    sector=sector,
                    optam=optam,
                    installed_on=today - dt.timedelta(days=rng.randint(365, 30 * 365)),
                    practice_name="Maison de santé du Centre" if specialty == "general_practice" else None,
                    practice_address=f"{rng.randint(1, 80)} rue de la République",
                    practice_postcode=TOWN[1],
                    practice_city=TOWN[0],
                ),
            )
            doctors.setdefault(specialty, []).append(doctor)
    for profession, count in PARAMEDICAL:
        for _ in range(count):
            paramedics.append(
                people.create_professional(
                    session,
                    people.ProfessionalIn(
                        rpps=rpps(),
                        family_name=rng.choice(FAMILY_NAMES),
                        given_name=rng.choice(FEMALE_NAMES + MALE_NAMES),
                        profession=profession,
                        practice_postcode=TOWN[1],
                        practice_city=TOWN[0],
                    ),
                )
            )

    gps = doctors["general_practice"]
    created: list[Patient] = []
    counts = {"declarations": 0, "referrals": 0, "teleexpertises": 0, "claims": 0}
    for index in range(patients):
        female = rng.random() < 0.52
        birth = today - dt.timedelta(days=rng.randint(2 * 365, 88 * 365))
        nir = nir_with_key(f"{2 if female else 1}{birth:%y}{birth:%m}{TOWN[2]}{rng.randint(1, 999):03d}")
        if session.scalar(select(Patient.id).where(Patient.nir == nir)) is not None:
            continue
        ald = [people.AldIn(label="Diabète de type 2", start=today - dt.timedelta(days=900))] if index % 6 == 0 else []
        patient = people.create_patient(
            session,
            people.PatientIn(
                nir=nir,
                family_name=rng.choice(FAMILY_NAMES),
                given_name=rng.choice(FEMALE_NAMES if female else MALE_NAMES),
                birth_date=birth,
                sex="female" if female else "male",
                nir_system=INS_NIR_DEMO_SYSTEM,
                c2s=index % 9 == 0,
                mutuelle_contract=rng.choice(["essentiel", "confort", "renfort", None]),
                ald=ald,
            ),
        )
        created.append(patient)
        if rng.random() < 0.9:  # about nine in ten people have declared a médecin traitant
            start = max(birth, today - dt.timedelta(days=rng.randint(30, 3000)))
            minor = age_on(birth, start) < law(start)["record.majority_age"]
            parent = nir_with_key(f"2{(birth.year - 30) % 100:02d}01{TOWN[2]}{index + 1:03d}") if minor else None
            if parent is not None:  # the parent's rights come from this record, not from the declaration
                session.add(LegalRepresentative(patient_id=patient.id, representative_nir=parent,
                                                created_at=now(), created_by="system:demo"))  # fmt: skip
            declarations.declare(  # the town's past, each declaration registered on its day
                session,
                declarations.DeclarationIn(
                    patient_id=patient.id,
                    professional_rpps=rng.choice(gps).rpps,
                    start=start,
                    consent_at=min(dt.datetime.combine(start, dt.time(9, 30), dt.UTC), now()),
                    representative_nir=parent,
                ),
                registered_on=start,
            )
            counts["declarations"] += 1

    for index, patient in enumerate(created):
        gp = declarations.gp_on(session, patient.id, today)
        doctor = gp or rng.choice(gps)
        for visit in range(rng.randint(1, 4)):
            day = today - dt.timedelta(days=rng.randint(1, 300))
            try:
                claims.submit(
                    session,
                    claims.ClaimIn(
                        idempotency_key=f"demo-{seed}-{index}-{visit}",
                        patient_id=patient.id,
                        professional_rpps=doctor.rpps,
                        date=day,
                        acts=[Act(code="G" if doctor.sector == "1" or doctor.optam else "C")],
                    ),
                )
                counts["claims"] += 1
            except CareError:
                continue  # e.g. a date before the patient's birth: the demo simply skips it
        if gp is not None and index % 4 == 0:
            specialist = rng.choice(doctors[rng.choice(["cardiology", "dermatology", "psychiatry"])])
            issued = today - dt.timedelta(days=rng.randint(3, 90))
            if declarations.gp_on(session, patient.id, issued) is None:  # declared after that day (≥ 30 days ago)
                issued = today - dt.timedelta(days=3)
            referral = referrals.refer(
                session,
                referrals.ReferralIn(
                    patient_id=patient.id,
                    referrer_rpps=gp.rpps,
                    target_rpps=specialist.rpps,
                    reason=rng.choice(
                        ["Bilan d'une dyspnée d'effort", "Lésion cutanée à surveiller", "Anxiété persistante"]
                    ),
                    urgency="urgent" if index % 8 == 0 else "routine",
                    issued_on=issued,
                ),
            )
            counts["referrals"] += 1
            if index % 3 == 0:
                visit_day = min(today, issued + dt.timedelta(days=10))
                referrals.accept(session, referral.id, specialist.rpps, visit_day)
                referrals.report(
                    session,
                    referral.id,
                    referrals.ReportIn(
                        professional_rpps=specialist.rpps, report="Examen sans particularité.", reported_on=visit_day
                    ),
                )
        if gp is not None and index % 5 == 1:
            asked = today - dt.timedelta(days=rng.randint(0, 20))
            item = teleexpertise.request(
                session,
                teleexpertise.TeleexpertiseIn(
                    patient_id=patient.id,
                    requester_rpps=rng.choice([gp, *paramedics]).rpps,
                    expert_rpps=rng.choice(doctors["dermatology"]).rpps,
                    question="Lésion cutanée : avis sur la conduite à tenir ?",
                    consent_at=min(dt.datetime.combine(asked, dt.time(9), dt.UTC), now()),
                    requested_on=asked,
                ),
            )
            counts["teleexpertises"] += 1
            if item.answer_due_on >= today and index % 2 == 1:
                teleexpertise.answer(
                    session,
                    item.id,
                    teleexpertise.AnswerIn(
                        expert_rpps=item.expert.rpps, answer="Surveillance simple à 3 mois.", answered_on=today
                    ),
                    recorded_on=today,
                )
    counts["claims"] += _records_and_refusals(session, created, doctors, today)
    session.flush()
    total_professionals = sum(len(v) for v in doctors.values()) + len(paramedics)
    return DemoSummary(total_professionals, len(created), **counts)


def _records_and_refusals(
    session: Session, created: list[Patient], doctors: dict[str, list[Professional]], today: dt.date
) -> int:
    """The shared record of a few patients, written by their médecin traitant (profile and a report), and a few
    teleconsultations with a specialist nobody oriented them to, which the rules refuse (for the agents' worklist).
    Returns the number of claims added."""
    added = 0
    with_gp = [(p, gp) for p in created if (gp := declarations.gp_on(session, p.id, today)) is not None]
    for index, (patient, gp) in enumerate(with_gp[:8]):
        author = Caller.of(
            session, Principal.professional(gp.rpps, display_name=f"Dr {gp.given_name} {gp.family_name}")
        )
        last_year = (today - dt.timedelta(days=200)).isoformat()
        for payload in _DEMO_RECORD:
            record.add_entry(author, patient, payload(index, last_year))
    cardiologist = doctors["cardiology"][0]
    for index, (patient, _) in enumerate(with_gp[8:12]):
        try:
            claims.submit(
                session,
                claims.ClaimIn(
                    idempotency_key=f"demo-tele-{index}-{patient.id[:8]}",
                    patient_id=patient.id,
                    professional_rpps=cardiologist.rpps,
                    date=today - dt.timedelta(days=5 + index),
                    acts=[Act(code="CS")],
                    teleconsultation=True,
                ),
            )
            added += 1
        except CareError:
            continue
    return added


def _document(title: str, code: tuple[str, str], text: str) -> dict[str, object]:
    return {
        "resourceType": "DocumentReference",
        "status": "current",
        "type": {"coding": [{"system": "http://loinc.org", "code": code[0], "display": code[1]}]},
        "description": title,
        "content": [{"attachment": {"contentType": "text/plain; charset=utf-8", "language": "fr", "title": title,
                                    "data": base64.b64encode(text.encode()).decode("ascii")}}],
    }  # fmt: skip


_ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
_DEMO_RECORD = (
    lambda i, d: {"resourceType": "AllergyIntolerance", "clinicalStatus": {"coding": [{"system": _ALLERGY_CLINICAL,
                  "code": "active"}]}, "code": {"text": ["Pénicilline", "Pollens", "Arachide"][i % 3]}},
    lambda i, d: {"resourceType": "MedicationStatement", "status": "active", "medicationCodeableConcept": {
        "coding": [{"system": "http://www.whocc.no/atc", "code": "C10AA05", "display": "atorvastatine 10 mg"}]}},
    lambda i, d: {"resourceType": "Condition", "code": {"text": ["Hypertension artérielle", "Asthme", "Diabète de type 2"][i % 3]}},
    lambda i, d: {"resourceType": "Immunization", "status": "completed", "vaccineCode": {"text": "Grippe saisonnière"},
                  "occurrenceDateTime": d},
    lambda i, d: {"resourceType": "Observation", "status": "final", "code": {"coding": [
        {"system": "http://loinc.org", "code": "29463-7", "display": "Poids"}]},
        "valueQuantity": {"value": 60 + 3 * i, "unit": "kg"}},
    lambda i, d: _document("Ordonnance de biologie", ("57833-6", "Prescription"), "Bilan lipidique à jeun."),
    lambda i, d: _document("Compte rendu de consultation", ("11488-4", "CR de consultation"),
                           "Examen clinique normal. Tension 13/8."),
)  # fmt: skip


# --- who one may sign in as on the demo sign-in page (``serve --demo``) --------------------------------------


@dataclass(frozen=True)
class DemoPerson:
    """Someone of the demo town one may sign in as: ``role`` is a ``record.identity.Role`` value."""

    role: str
    identifier: str  # NIR, RPPS or agent id
    name: str
    detail: str
    organisation: str | None = None


# Insurer agents have no row in the store (they are principals of an identity provider): the demo names two.
DEMO_AGENTS = (
    DemoPerson("insurer_agent", "agent-cpam-59", "Agent de la CPAM du Hainaut", "Assurance Maladie", "CPAM du Hainaut"),
    DemoPerson("insurer_agent", "agent-mutuelle-1", "Agent de la mutuelle", "Complémentaire santé",
               "Mutuelle de démonstration"),
)  # fmt: skip


def people_to_sign_in_as(session: Session, *, limit: int = 12) -> dict[str, list[DemoPerson]]:
    """A few patients (adults and minors), the parents of the minors, the professionals and the agents."""
    patients, _ = list_patients(session, limit=500)
    majority = law(dt.date.today())["record.majority_age"]
    adults = [p for p in patients if age_on(p.birth_date, dt.date.today()) >= majority]
    minors = [p for p in patients if age_on(p.birth_date, dt.date.today()) < majority]
    parents: list[DemoPerson] = []
    for minor in minors[:limit]:
        rows = session.scalars(
            select(LegalRepresentative.representative_nir).where(
                LegalRepresentative.patient_id == minor.id, LegalRepresentative.lifted_at.is_(None)
            )
        )
        for nir in rows:
            parents.append(DemoPerson("patient", nir, f"Parent de {minor.given_name} {minor.family_name}",
                                      f"représentant légal d'un mineur, NIR {nir}"))  # fmt: skip
    professionals, _ = list_professionals(session, limit=100)

    def patient(p: Patient) -> DemoPerson:
        return DemoPerson("patient", p.nir, f"{p.given_name} {p.family_name}",
                          f"né(e) le {p.birth_date:%d/%m/%Y}, NIR {p.nir}")  # fmt: skip

    def professional(p: Professional) -> DemoPerson:
        return DemoPerson("professional", p.rpps, f"{p.given_name} {p.family_name}",
                          f"{p.specialty or p.profession}, RPPS {p.rpps}")  # fmt: skip

    return {
        "patients": [patient(p) for p in adults[:limit]],
        "minors": [patient(p) for p in minors[:limit]],
        "parents": parents,
        "professionals": [professional(p) for p in professionals],
        "agents": list(DEMO_AGENTS),
    }
