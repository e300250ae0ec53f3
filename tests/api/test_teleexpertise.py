"""Téléexpertise: request with consent, answer within 7 days by the expert asked, TE2 + RQD billed at 100 %,
at most 4 per patient per year."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.api.conftest import People, error_fields
from tests.conftest import Tokens


def ask(client: TestClient, patient: dict[str, Any], requester: dict[str, Any], expert: dict[str, Any], on: str) -> Any:
    body = {
        "patient_id": patient["id"],
        "requester_rpps": requester["rpps"],
        "expert_rpps": expert["rpps"],
        "question": "Lésion pigmentée du dos : avis sur l'exérèse ?",
        "documents": [{"title": "Photo dermatoscopique", "content_type": "image/jpeg"}],
        "consent_at": f"{on}T09:00:00+01:00",
        "requested_on": on,
    }
    return client.post("/api/teleexpertises", json=body)


def test_the_expert_answers_and_both_acts_are_billed_at_100_percent(
    client: TestClient, people: People, tokens: Tokens
) -> None:
    patient, gp, dermatologist = people.patient(), people.professional(), people.professional("dermatology")
    people.declare(patient, gp)
    item = ask(client, patient, gp, dermatologist, "2026-03-02")
    assert item.status_code == 201
    assert item.json()["answer_due_on"] == "2026-03-09"  # 7 days (teleexpertise.answer_delay_days)
    answer = {"expert_rpps": dermatologist["rpps"], "answer": "Exérèse conseillée.", "answered_on": "2026-03-04"}
    response = client.post(f"/api/teleexpertises/{item.json()['id']}/answer", json=answer)
    assert response.status_code == 200, response.text
    assert response.json()["sent_to"] == [gp["rpps"]]  # the requester is the MT here
    answered = response.json()["teleexpertise"]
    agent = tokens.agent()
    expert_claim = client.get(f"/api/claims/{answered['expert_claim_id']}", headers=agent).json()
    requester_claim = client.get(f"/api/claims/{answered['requester_claim_id']}", headers=agent).json()
    # brief §5: TE2 23 € from 2026-01-01, RQD 10 €, both 100 % AMO
    assert (expert_claim["billed"], expert_claim["amo"]) == (23.0, 23.0)
    assert (requester_claim["billed"], requester_claim["amo"]) == (10.0, 10.0)


def test_the_answer_goes_to_the_requester_and_the_gp(client: TestClient, people: People) -> None:
    patient, gp = people.patient(), people.professional()
    nurse = people.professional(specialty=None, profession="nurse")
    dermatologist = people.professional("dermatology")
    people.declare(patient, gp)
    item = ask(client, patient, nurse, dermatologist, "2026-03-02").json()
    answer = {"expert_rpps": dermatologist["rpps"], "answer": "Pansement gras.", "answered_on": "2026-03-03"}
    response = client.post(f"/api/teleexpertises/{item['id']}/answer", json=answer)
    assert response.json()["sent_to"] == [nurse["rpps"], gp["rpps"]]


def test_only_the_expert_asked_may_answer(client: TestClient, people: People) -> None:
    patient, gp = people.patient(), people.professional()
    expert, other = people.professional("dermatology"), people.professional("dermatology")
    item = ask(client, patient, gp, expert, "2026-03-02").json()
    answer = {"expert_rpps": other["rpps"], "answer": "Avis.", "answered_on": "2026-03-03"}
    response = client.post(f"/api/teleexpertises/{item['id']}/answer", json=answer)
    assert response.status_code == 403
    assert error_fields(response) == ["expert_rpps"]


def test_an_answer_after_seven_days_is_refused(client: TestClient, people: People) -> None:
    patient, gp, expert = people.patient(), people.professional(), people.professional("dermatology")
    item = ask(client, patient, gp, expert, "2026-03-02").json()
    answer = {"expert_rpps": expert["rpps"], "answer": "Avis.", "answered_on": "2026-03-10"}
    response = client.post(f"/api/teleexpertises/{item['id']}/answer", json=answer)
    assert response.status_code == 409
    assert error_fields(response) == ["answered_on"]


def test_a_fifth_teleexpertise_in_the_year_is_refused(client: TestClient, people: People) -> None:
    patient, gp, expert = people.patient(), people.professional(), people.professional("dermatology")
    for month in ("01", "02", "03", "04"):
        assert ask(client, patient, gp, expert, f"2026-{month}-05").status_code == 201
    fifth = ask(client, patient, gp, expert, "2026-05-05")
    assert fifth.status_code == 409
    assert error_fields(fifth) == ["patient_id"]
    assert "4 téléexpertises" in fifth.json()["detail"][0]["message"]
    assert ask(client, patient, gp, expert, "2027-01-05").status_code == 201  # a new year
