"""Adressage: who may refer, the loop closed by the report, follow-up visits covered, overdue referrals for the MT."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.testclient import TestClient

from parcours.store.db import Database
from tests.api.conftest import People, error_fields
from tests.api.history import declared_since
from tests.conftest import Tokens

TOMORROW = (dt.date.today() + dt.timedelta(days=1)).isoformat()


def refer(client: TestClient, patient: dict[str, Any], referrer: dict[str, Any], **fields: Any) -> Any:
    body = {"patient_id": patient["id"], "referrer_rpps": referrer["rpps"], "reason": "Souffle cardiaque à explorer"}
    body.update(fields)
    return client.post("/api/referrals", json=body)


def claim(client: TestClient, patient: dict[str, Any], doctor: dict[str, Any], date: str, code: str, key: str) -> Any:
    body = {
        "idempotency_key": key,
        "patient_id": patient["id"],
        "professional_rpps": doctor["rpps"],
        "date": date,
        "acts": [{"code": code}],
    }
    return client.post("/api/claims", json=body)


def test_the_gp_refers_the_specialist_reports_and_the_loop_closes(
    client: TestClient, people: People, database: Database, tokens: Tokens
) -> None:
    patient, gp, cardiologist = people.patient(), people.professional(), people.professional("cardiology")
    declared_since(database, patient, gp, "2024-06-03")
    referral = refer(client, patient, gp, target_rpps=cardiologist["rpps"], issued_on="2026-03-02")
    assert referral.status_code == 201
    body = referral.json()
    assert (body["status"], body["referrer_is_gp"], body["target_specialty"]) == ("requested", True, "cardiology")
    pending = client.get(f"/api/professionals/{cardiologist['id']}/referrals").json()
    assert [r["id"] for r in pending["items"]] == [body["id"]]

    accepted = client.post(f"/api/referrals/{body['id']}/accept", json={"professional_rpps": cardiologist["rpps"]})
    assert accepted.json()["status"] == "accepted"
    visit = claim(client, patient, cardiologist, "2026-03-10", "CSC", "visit-cardio-0001")
    assert (visit.json()["pathway"], visit.json()["in_pathway"]) == ("O", True)
    # CSC 52.50 € × 70 % − 2 € participation forfaitaire (brief §1 rates, NGAP tariff R46)
    assert visit.json()["amo"] == 34.75
    as_gp = tokens.professional(gp["rpps"])
    assert client.get(f"/api/referrals/{body['id']}", headers=as_gp).json()["status"] == "seen"

    report = {"professional_rpps": cardiologist["rpps"], "report": "Échographie normale.", "reported_on": "2026-03-11"}
    closed = client.post(f"/api/referrals/{body['id']}/report", json=report)
    assert (closed.json()["status"], closed.json()["report"]) == ("closed", "Échographie normale.")
    assert client.get(f"/api/professionals/{cardiologist['id']}/referrals").json()["total"] == 0


def test_follow_up_visits_within_the_sequence_stay_in_the_pathway(
    client: TestClient, people: People, database: Database
) -> None:
    patient, gp, cardiologist = people.patient(), people.professional(), people.professional("cardiology")
    declared_since(database, patient, gp, "2024-06-03")
    refer(client, patient, gp, target_specialty="cardiology", issued_on="2025-01-06")
    follow_up = claim(client, patient, cardiologist, "2025-09-01", "CSC", "follow-up-0001")
    assert follow_up.json()["pathway"] == "O"
    # after the covered period (parameter coordination.referral.covered_months) the specialist is out of the pathway
    late = claim(client, patient, cardiologist, "2026-02-02", "CSC", "follow-up-0002")
    assert late.json()["in_pathway"] is False


def test_another_doctor_refers_when_the_patient_has_a_gp(
    client: TestClient, people: People, database: Database
) -> None:
    patient, gp = people.patient(), people.professional()
    dermatologist, cardiologist = people.professional("dermatology"), people.professional("cardiology")
    declared_since(database, patient, gp, "2024-06-03")
    response = refer(client, patient, dermatologist, target_rpps=cardiologist["rpps"], issued_on="2026-03-02")
    assert response.json()["referrer_is_gp"] is False
    visit = claim(client, patient, cardiologist, "2026-03-20", "CSC", "visit-m-0001")
    assert visit.json()["pathway"] == "M"


def test_a_nurse_may_not_refer(client: TestClient, people: People, database: Database) -> None:
    patient, gp = people.patient(), people.professional()
    nurse = people.professional(specialty=None, profession="nurse")
    declared_since(database, patient, gp, "2024-06-03")
    response = refer(client, patient, nurse, target_specialty="cardiology")
    assert response.status_code == 403
    assert error_fields(response) == ["referrer_rpps"]


def test_no_referral_into_the_pathway_without_a_declared_gp(
    client: TestClient, people: People, database: Database
) -> None:
    patient, doctor = people.patient(), people.professional()
    response = refer(client, patient, doctor, target_specialty="cardiology", issued_on="2026-03-02")
    assert response.status_code == 403
    assert error_fields(response) == ["referrer_rpps"]


def test_only_the_doctor_referred_to_may_report(client: TestClient, people: People, database: Database) -> None:
    patient, gp = people.patient(), people.professional()
    cardiologist, other = people.professional("cardiology"), people.professional("cardiology")
    declared_since(database, patient, gp, "2024-06-03")
    referral = refer(client, patient, gp, target_rpps=cardiologist["rpps"]).json()
    response = client.post(
        f"/api/referrals/{referral['id']}/report", json={"professional_rpps": other["rpps"], "report": "Vu."}
    )
    assert response.status_code == 403


def test_referrals_without_report_past_the_deadline_are_listed_for_the_gp(
    client: TestClient, people: People, database: Database
) -> None:
    patient, gp, cardiologist = people.patient(), people.professional(), people.professional("cardiology")
    declared_since(database, patient, gp, "2024-06-03")
    urgent = refer(client, patient, gp, target_rpps=cardiologist["rpps"], urgency="urgent", issued_on="2026-03-02")
    routine = refer(client, patient, gp, target_rpps=cardiologist["rpps"], issued_on="2026-03-02")
    url = f"/api/professionals/{gp['id']}/referrals/overdue"
    # urgent: 7 days, routine: 60 days (parameters coordination.referral.*, unconfirmed)
    assert [r["id"] for r in client.get(url, params={"on": "2026-03-10"}).json()["items"]] == [urgent.json()["id"]]
    later = client.get(url, params={"on": "2026-05-02"}).json()
    assert later["total"] == 2
    assert routine.json()["report_due_on"] == "2026-05-01"


def test_a_referral_dated_in_the_future_is_refused(client: TestClient, people: People) -> None:
    patient, gp = people.patient(), people.professional()
    people.declare(patient, gp)
    response = refer(client, patient, gp, target_specialty="cardiology", issued_on=TOMORROW)
    assert response.status_code == 422
    assert error_fields(response) == ["issued_on"]


def test_acceptance_keeps_the_date_given(client: TestClient, people: People, database: Database) -> None:
    patient, gp, cardiologist = people.patient(), people.professional(), people.professional("cardiology")
    declared_since(database, patient, gp, "2024-06-03")
    referral = refer(client, patient, gp, target_rpps=cardiologist["rpps"], issued_on="2026-03-02").json()
    url = f"/api/referrals/{referral['id']}/accept"
    before = client.post(url, json={"professional_rpps": cardiologist["rpps"], "on": "2026-03-01"})
    assert before.status_code == 422
    assert error_fields(before) == ["on"]
    future = client.post(url, json={"professional_rpps": cardiologist["rpps"], "on": TOMORROW})
    assert error_fields(future) == ["on"]
    accepted = client.post(url, json={"professional_rpps": cardiologist["rpps"], "on": "2026-03-04"})
    assert (accepted.status_code, accepted.json()["accepted_on"]) == (200, "2026-03-04")


def test_the_referrals_of_a_patient_are_paged_and_filtered(
    client: TestClient, people: People, tokens: Tokens, database: Database
) -> None:
    patient, gp, cardiologist = people.patient(), people.professional(), people.professional("cardiology")
    declared_since(database, patient, gp, "2024-06-03")
    ids = [
        refer(client, patient, gp, target_rpps=cardiologist["rpps"], issued_on=day).json()["id"]
        for day in ("2026-01-05", "2026-02-05", "2026-03-05")
    ]
    client.post(f"/api/referrals/{ids[0]}/cancel", json={"professional_rpps": gp["rpps"]})
    url = f"/api/patients/{patient['id']}/referrals"
    mine = tokens.patient(patient["nir"])
    page = client.get(url, params={"limit": 2}, headers=mine).json()
    assert (page["total"], [r["id"] for r in page["items"]]) == (3, ids[:2])
    rest = client.get(url, params={"limit": 2, "offset": 2}, headers=mine).json()
    assert [r["id"] for r in rest["items"]] == ids[2:]
    cancelled = client.get(url, params={"status": "cancelled"}, headers=mine).json()
    assert (cancelled["total"], cancelled["items"][0]["id"]) == (1, ids[0])
