"""Claims: facts looked up on the date of care, the rules engine's decision stored with its explanation, the
year-to-date state, idempotency, cancellation and correction with history."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.testclient import TestClient

from parcours.store.db import Database
from tests.api.conftest import People, error_fields
from tests.api.history import declared_since
from tests.conftest import Tokens

TOMORROW = (dt.date.today() + dt.timedelta(days=1)).isoformat()


def body(patient: dict[str, Any], doctor: dict[str, Any], date: str, key: str, **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "idempotency_key": key,
        "patient_id": patient["id"],
        "professional_rpps": doctor["rpps"],
        "date": date,
        "acts": [{"code": "G", "fee": 30.0}],
    }
    data.update(fields)
    return data


def test_a_visit_to_the_declared_gp_pays_19_euros(client: TestClient, people: People, database: Database) -> None:
    patient, gp = people.patient(), people.professional()
    declared_since(database, patient, gp, "2025-01-06")
    response = client.post("/api/claims", json=body(patient, gp, "2026-03-02", "claim-0000001"))
    assert response.status_code == 201
    claim = response.json()
    # brief §1 worked example: 30 € × 70 % − 2 € = 19 €
    assert (claim["pathway"], claim["in_pathway"], claim["amo"], claim["patient_share"]) == ("T", True, 19.0, 11.0)
    steps = [step["rule"] for step in claim["adjudication"]["explanation"]]
    assert steps[0] == "pathway.gp"
    assert "participation" in steps


def test_the_gp_of_the_date_of_care_counts_not_todays(client: TestClient, people: People, database: Database) -> None:
    patient, gp = people.patient(), people.professional()
    declared_since(database, patient, gp, "2026-03-01")
    before = client.post("/api/claims", json=body(patient, gp, "2026-02-27", "claim-before-1")).json()
    # brief §1: out of pathway, 21 € − majoration capped at 10.60 € − 2 € = 8.40 €
    assert (before["pathway"], before["amo"]) == ("S", 8.40)


def test_the_same_claim_twice_pays_once(client: TestClient, people: People, tokens: Tokens, database: Database) -> None:
    patient, gp = people.patient(), people.professional()
    declared_since(database, patient, gp, "2025-01-06")
    first = client.post("/api/claims", json=body(patient, gp, "2026-03-02", "claim-dup-0001"))
    again = client.post("/api/claims", json=body(patient, gp, "2026-03-02", "claim-dup-0001"))
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    ytd = client.get(
        f"/api/patients/{patient['id']}/year-to-date", params={"year": 2026}, headers=tokens.patient(patient["nir"])
    ).json()
    assert (ytd["claims_count"], ytd["participation_paid"]) == (1, 2.0)


def test_the_same_key_with_other_content_is_a_conflict(client: TestClient, people: People) -> None:
    patient, gp = people.patient(), people.professional()
    client.post("/api/claims", json=body(patient, gp, "2026-03-02", "claim-key-0001"))
    other = client.post("/api/claims", json=body(patient, gp, "2026-03-03", "claim-key-0001"))
    assert other.status_code == 409
    assert error_fields(other) == ["idempotency_key"]


def test_a_date_with_no_tariff_in_force_is_refused_naming_the_field(client: TestClient, people: People) -> None:
    patient, gp = people.patient(), people.professional()
    response = client.post("/api/claims", json=body(patient, gp, "1999-03-02", "claim-old-0001"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"].startswith(("date", "acts"))


def test_an_unknown_act_is_refused(client: TestClient, people: People) -> None:
    patient, gp = people.patient(), people.professional()
    response = client.post(
        "/api/claims", json=body(patient, gp, "2026-03-02", "claim-unknown-1", acts=[{"code": "ZZZ"}])
    )
    assert response.status_code == 422
    assert "acts" in response.json()["detail"][0]["field"]


def test_a_date_of_care_in_the_future_is_refused(client: TestClient, people: People) -> None:
    patient, gp = people.patient(), people.professional()
    people.declare(patient, gp)
    response = client.post("/api/claims", json=body(patient, gp, TOMORROW, "claim-future-1"))
    assert response.status_code == 422
    assert error_fields(response) == ["date"]


def test_cancelling_gives_back_the_participation(
    client: TestClient, people: People, tokens: Tokens, database: Database
) -> None:
    patient, gp = people.patient(), people.professional()
    declared_since(database, patient, gp, "2025-01-06")
    first = client.post("/api/claims", json=body(patient, gp, "2026-03-02", "claim-cancel-1")).json()
    client.post("/api/claims", json=body(patient, gp, "2026-03-09", "claim-cancel-2"))
    ytd_url = f"/api/patients/{patient['id']}/year-to-date"
    agent = tokens.agent()  # the insurer's agent follows the year-to-date and cancels
    assert client.get(ytd_url, params={"year": 2026}, headers=agent).json()["participation_paid"] == 4.0
    cancelled = client.post(f"/api/claims/{first['id']}/cancel", json={"reason": "Erreur de patient"}, headers=agent)
    assert cancelled.json()["status"] == "cancelled"
    assert client.get(ytd_url, params={"year": 2026}, headers=agent).json()["participation_paid"] == 2.0
    again = client.post(f"/api/claims/{first['id']}/cancel", json={"reason": "Encore"}, headers=agent)
    assert again.status_code == 409


def test_a_correction_is_a_new_version_and_the_old_one_is_kept(
    client: TestClient, people: People, tokens: Tokens, database: Database
) -> None:
    patient, gp = people.patient(), people.professional()
    declared_since(database, patient, gp, "2025-01-06")
    original = client.post("/api/claims", json=body(patient, gp, "2026-03-02", "claim-fix-0001")).json()
    fix = {
        "idempotency_key": "claim-fix-0002",
        "acts": [{"code": "G", "fee": 30.0}, {"code": "MEG"}],
        "reason": "MEG oublié",
    }
    doctor = tokens.professional(gp["rpps"])  # the doctor corrects their own claim
    corrected = client.post(f"/api/claims/{original['id']}/corrections", json=fix, headers=doctor)
    assert corrected.status_code == 201, corrected.text
    assert (corrected.json()["version"], corrected.json()["replaces_id"]) == (2, original["id"])
    history = client.get(f"/api/claims/{corrected.json()['id']}/history", headers=doctor).json()
    assert [(c["version"], c["status"]) for c in history] == [(1, "replaced"), (2, "paid")]
    ytd = client.get(
        f"/api/patients/{patient['id']}/year-to-date", params={"year": 2026}, headers=tokens.patient(patient["nir"])
    ).json()
    assert ytd["claims_count"] == 1


def test_a_correction_replayed_pays_once_and_its_key_is_not_reused_for_other_acts(
    client: TestClient, people: People, tokens: Tokens, database: Database
) -> None:
    patient, gp = people.patient(), people.professional()
    declared_since(database, patient, gp, "2025-01-06")
    original = client.post("/api/claims", json=body(patient, gp, "2026-03-02", "claim-refix-001")).json()
    fix = {"idempotency_key": "claim-refix-002", "acts": [{"code": "G", "fee": 30.0}, {"code": "MEG"}], "reason": "MEG"}
    doctor = tokens.professional(gp["rpps"])
    url = f"/api/claims/{original['id']}/corrections"
    first = client.post(url, json=fix, headers=doctor)
    again = client.post(url, json=fix, headers=doctor)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    other = client.post(url, json={**fix, "acts": [{"code": "G", "fee": 30.0}]}, headers=doctor)
    assert other.status_code == 409
    assert error_fields(other) == ["idempotency_key"]
    # nor may the key of a correction serve a new claim
    reuse = client.post("/api/claims", json=body(patient, gp, "2026-03-02", "claim-refix-002"))
    assert reuse.status_code == 409
    assert error_fields(reuse) == ["idempotency_key"]


def test_the_participation_stops_at_four_a_day_with_the_same_doctor(
    client: TestClient, people: People, database: Database
) -> None:
    patient, gp = people.patient(), people.professional()
    declared_since(database, patient, gp, "2025-01-06")
    participations = []
    for n in range(5):
        claim = client.post("/api/claims", json=body(patient, gp, "2026-03-02", f"claim-day-{n:05d}")).json()
        participations.append(claim["adjudication"]["lines"][0]["participation"])
    # brief: at most 4 participations forfaitaires a day with the same professional
    assert participations == [2.0, 2.0, 2.0, 2.0, 0.0]


def test_the_paramedical_franchise_is_capped_per_nurse_and_day(client: TestClient, people: People) -> None:
    """1 € per paramedical act, 4 € a day with the same professional [S13][R33]: a second nurse starts at zero."""
    patient = people.patient()
    first, second = (people.professional(None, profession="nurse") for _ in range(2))
    acts = [{"code": "AMI", "coefficient": 1, "quantity": 3}]
    franchises = []
    for n, nurse in enumerate((first, second, first)):
        claim = client.post("/api/claims", json=body(patient, nurse, "2026-03-02", f"claim-ami-{n:05d}", acts=acts))
        assert claim.status_code == 201, claim.text
        franchises.append(claim.json()["adjudication"]["lines"][0]["franchise"])
    assert franchises == [3.0, 3.0, 1.0]


def test_franchises_not_withheld_in_tiers_payant_are_recovered_from_the_next_reimbursement(
    client: TestClient, people: People, database: Database
) -> None:
    """The pharmacist in tiers payant cannot withhold the 3 € of franchises (3 boxes) [S13]: owed, carried in the
    year-to-date state, recovered from the next reimbursement paid to the patient (G: 19 € − 3 €) [S12]."""
    patient, gp, pharmacist = (
        people.patient(),
        people.professional(),
        people.professional(None, profession="pharmacist"),
    )
    declared_since(database, patient, gp, "2025-01-06")
    boxes = [{"code": "PH7", "fee": 10, "quantity": 3}]
    pharmacy = client.post(
        "/api/claims", json=body(patient, pharmacist, "2026-03-02", "claim-tp-00001", acts=boxes, tiers_payant=True)
    )
    assert pharmacy.status_code == 201, pharmacy.text
    deferred = pharmacy.json()["adjudication"]
    assert (deferred["deferred_franchises"], deferred["paid"]) == (3.0, 6.5)
    assert deferred["state_after"]["franchises_owed"] == "3.00"
    visit = client.post("/api/claims", json=body(patient, gp, "2026-03-05", "claim-tp-00002")).json()
    assert (visit["amo"], visit["adjudication"]["recovered_franchises"], visit["adjudication"]["paid"]) == (
        19.0,
        3.0,
        16.0,
    )
    after = client.post("/api/claims", json=body(patient, gp, "2026-03-06", "claim-tp-00003")).json()
    assert "recovered" not in after["adjudication"]  # nothing left to recover


def test_claims_of_a_patient_are_paged_and_filtered(client: TestClient, people: People, tokens: Tokens) -> None:
    patient, gp = people.patient(), people.professional()
    for n, date in enumerate(("2026-01-05", "2026-02-05", "2026-03-05")):
        client.post("/api/claims", json=body(patient, gp, date, f"claim-list-{n:04d}"))
    url = f"/api/patients/{patient['id']}/claims"
    mine = tokens.patient(patient["nir"])
    page = client.get(url, params={"limit": 2}, headers=mine).json()
    assert (page["total"], [c["care_date"] for c in page["items"]]) == (3, ["2026-03-05", "2026-02-05"])
    february = client.get(url, params={"from": "2026-02-01", "to": "2026-02-28"}, headers=mine).json()
    assert [c["care_date"] for c in february["items"]] == ["2026-02-05"]


def test_a_teleconsultation_of_a_known_patient_is_recorded(
    client: TestClient, people: People, tokens: Tokens, database: Database
) -> None:
    patient, gp = people.patient(), people.professional()
    declared_since(database, patient, gp, "2025-01-06")
    client.post("/api/claims", json=body(patient, gp, "2026-01-05", "claim-tc-00001"))
    tele = body(patient, gp, "2026-03-02", "claim-tc-00002", teleconsultation=True, acts=[{"code": "TCG"}])
    response = client.post("/api/claims", json=tele)
    assert response.json()["in_pathway"] is True
    [record] = client.get(
        f"/api/patients/{patient['id']}/teleconsultations", headers=tokens.professional(gp["rpps"])
    ).json()
    assert (record["last_in_person_visit"], record["claim_id"]) == ("2026-01-05", response.json()["id"])


def test_a_phone_call_is_not_a_teleconsultation(client: TestClient, people: People) -> None:
    patient, gp = people.patient(), people.professional()
    tele = body(
        patient, gp, "2026-03-02", "claim-phone-001", teleconsultation=True, video=False, acts=[{"code": "TCG"}]
    )
    response = client.post("/api/claims", json=tele)
    assert response.status_code == 422
    assert error_fields(response) == ["video"]


def test_mon_soutien_psy_sessions_are_counted_from_the_stored_claims(client: TestClient, people: People) -> None:
    # Issue 13: 12 sessions a calendar year since 15 June 2024 [T8][T9]; the store counts the paid ones.
    patient = people.patient()
    psychologist = people.professional(specialty=None, profession="psychologist")
    for n in range(12):
        date = (dt.date(2026, 1, 5) + dt.timedelta(weeks=n)).isoformat()
        claim = client.post(
            "/api/claims", json=body(patient, psychologist, date, f"psy-session-{n:03d}", acts=[{"code": "PSYS"}])
        ).json()
        assert claim["amo"] == 30.0  # 50 € × 60 %
    thirteenth = client.post(
        "/api/claims", json=body(patient, psychologist, "2026-04-20", "psy-session-012", acts=[{"code": "PSYS"}])
    ).json()
    assert (thirteenth["amo"], thirteenth["adjudication"]["lines"][0]["status"]) == (0.0, "rejected")


def test_the_year_to_date_counts_paid_psy_sessions_against_the_cap_of_that_year(
    client: TestClient, people: People, tokens: Tokens
) -> None:
    # 12 sessions a calendar year since 15 June 2024 [T8][T9]; the rejected 13th is not a session taken in charge
    patient = people.patient()
    psychologist = people.professional(specialty=None, profession="psychologist")
    for n in range(13):
        date = (dt.date(2025, 1, 6) + dt.timedelta(weeks=n)).isoformat()
        response = client.post(
            "/api/claims", json=body(patient, psychologist, date, f"psy-ytd-{n:03d}", acts=[{"code": "PSYS"}])
        )
        assert response.status_code == 201, response.text
    ytd = client.get(
        f"/api/patients/{patient['id']}/year-to-date", params={"year": 2025}, headers=tokens.patient(patient["nir"])
    ).json()
    assert (ytd["as_of"], ytd["psychologist_sessions"], ytd["psychologist_sessions_cap"]) == ("2025-12-31", 12, 12)
    # the caps of that year: 50 € of participations [S12], 50 € of franchises [S13]; psy sessions bear neither
    assert (ytd["participation_paid"], ytd["participation_cap"], ytd["franchises_cap"]) == (0.0, 50.0, 50.0)
    before_franchises = client.get(
        f"/api/patients/{patient['id']}/year-to-date", params={"year": 2006}, headers=tokens.patient(patient["nir"])
    ).json()
    # franchises exist since 1 January 2008 and Mon soutien psy since April 2022: no cap to show in 2006
    assert (before_franchises["franchises_cap"], before_franchises["psychologist_sessions_cap"]) == (None, None)
    assert before_franchises["participation_cap"] == 50.0


def test_the_year_to_date_shows_what_tiers_payant_left_owed_until_recovered(
    client: TestClient, people: People, tokens: Tokens, database: Database
) -> None:
    # 3 boxes in tiers payant: 3 € of franchises owed [S13], recovered from the next GP visit paid [S12]
    patient, gp = people.patient(), people.professional()
    pharmacist = people.professional(None, profession="pharmacist")
    declared_since(database, patient, gp, "2025-01-06")
    boxes = [{"code": "PH7", "fee": 10, "quantity": 3}]
    client.post(
        "/api/claims", json=body(patient, pharmacist, "2026-03-02", "owed-tp-00001", acts=boxes, tiers_payant=True)
    )
    url, mine = f"/api/patients/{patient['id']}/year-to-date", tokens.patient(patient["nir"])
    owed = client.get(url, params={"year": 2026}, headers=mine).json()
    assert (owed["franchises_owed"], owed["participation_owed"], owed["franchises_paid"]) == (3.0, 0.0, 3.0)
    client.post("/api/claims", json=body(patient, gp, "2026-03-05", "owed-tp-00002"))
    settled = client.get(url, params={"year": 2026}, headers=mine).json()
    assert (settled["franchises_owed"], settled["participation_paid"]) == (0.0, 2.0)


def test_a_year_out_of_range_is_refused_naming_the_field(client: TestClient, people: People, tokens: Tokens) -> None:
    patient = people.patient()
    response = client.get(
        f"/api/patients/{patient['id']}/year-to-date", params={"year": 10**6}, headers=tokens.patient(patient["nir"])
    )
    assert response.status_code == 422
    assert error_fields(response) == ["year"]


def test_a_claim_says_it_is_a_compulsory_child_examination(client: TestClient, people: People) -> None:
    # Born 10 Jan 2026, seen 2 Mar 2026: examination 3 (« à 1 mois », 2025 calendar), G + MEG paid in full [T7]
    child, gp = people.patient(birth_date="2026-01-10"), people.professional()
    acts = [{"code": "G"}, {"code": "MEG"}]
    claim = client.post(
        "/api/claims", json=body(child, gp, "2026-03-02", "child-exam-0001", acts=acts, compulsory_child_exam=3)
    ).json()
    assert claim["amo"] == 35.0
    wrong = client.post(
        "/api/claims", json=body(child, gp, "2026-03-03", "child-exam-0002", acts=acts, compulsory_child_exam=9)
    )
    assert wrong.status_code == 422
    assert error_fields(wrong) == ["compulsory_child_exam"]


def test_a_non_contracted_doctor_is_stored_and_reimbursed_on_the_authority_tariff(
    client: TestClient, people: People
) -> None:
    patient, doctor = people.patient(), people.professional(sector="3")
    claim = client.post(
        "/api/claims", json=body(patient, doctor, "2026-03-02", "sector-3-0001", acts=[{"code": "G", "fee": 50.0}])
    ).json()
    assert claim["adjudication"]["lines"][0]["base"] == 0.61  # tarif d'autorité [T1]
