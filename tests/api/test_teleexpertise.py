"""Téléexpertise: request with consent, answer within 7 days by the expert asked, TE2 + RQD billed at 100 %,
at most 4 per patient per year counted by the year of the acts; unanswered requests expire, are listed for the
requester and the MT, and may be cancelled by the requester."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.testclient import TestClient

from parcours.rules.params import default_parameters
from tests.api.conftest import People, error_fields
from tests.api.history import days_ago
from tests.conftest import Tokens

TODAY = dt.date.today()
LAW = default_parameters().at(TODAY)
DELAY = LAW["teleexpertise.answer_delay_days"]
LIMIT = LAW["teleexpertise.yearly_limit_per_patient"]


def ask(client: TestClient, patient: dict[str, Any], requester: dict[str, Any], expert: dict[str, Any], on: str) -> Any:
    body = {
        "patient_id": patient["id"],
        "requester_rpps": requester["rpps"],
        "expert_rpps": expert["rpps"],
        "question": "Lésion pigmentée du dos : avis sur l'exérèse ?",
        "documents": [{"title": "Photo dermatoscopique", "content_type": "image/jpeg"}],
        "consent_at": f"{on}T00:00:00+00:00",
        "requested_on": on,
    }
    return client.post("/api/teleexpertises", json=body)


def reply(client: TestClient, item: dict[str, Any], expert: dict[str, Any], on: str | None = None) -> Any:
    answer = {"expert_rpps": expert["rpps"], "answer": "Exérèse conseillée.", "answered_on": on or TODAY.isoformat()}
    return client.post(f"/api/teleexpertises/{item['id']}/answer", json=answer)


def test_the_expert_answers_and_both_acts_are_billed_at_100_percent(
    client: TestClient, people: People, tokens: Tokens
) -> None:
    patient, gp, dermatologist = people.patient(), people.professional(), people.professional("dermatology")
    people.declare(patient, gp)
    item = ask(client, patient, gp, dermatologist, TODAY.isoformat())
    assert item.status_code == 201, item.text
    assert item.json()["answer_due_on"] == (TODAY + dt.timedelta(days=DELAY)).isoformat()
    # the consent comes back with its offset, on SQLite as on PostgreSQL, when created and when read
    read = client.get(f"/api/teleexpertises/{item.json()['id']}", headers=tokens.professional(gp["rpps"])).json()
    assert read["consent_at"] == item.json()["consent_at"]
    assert dt.datetime.fromisoformat(read["consent_at"]).utcoffset() == dt.timedelta(0)
    response = reply(client, item.json(), dermatologist)
    assert response.status_code == 200, response.text
    assert response.json()["sent_to"] == [gp["rpps"]]  # the requester is the MT here
    answered = response.json()["teleexpertise"]
    agent = tokens.agent()
    expert_claim = client.get(f"/api/claims/{answered['expert_claim_id']}", headers=agent).json()
    requester_claim = client.get(f"/api/claims/{answered['requester_claim_id']}", headers=agent).json()
    # brief §5: TE2 and RQD at 100 % AMO, at their tariff on the day of the answer
    te2, rqd = LAW["tariffs.ngap.TE2"], LAW["tariffs.ngap.RQD"]
    assert (expert_claim["billed"], expert_claim["amo"]) == (te2 / 100, te2 / 100)
    assert (requester_claim["billed"], requester_claim["amo"]) == (rqd / 100, rqd / 100)
    assert expert_claim["care_date"] == TODAY.isoformat()


def test_the_answer_goes_to_the_requester_and_the_gp(client: TestClient, people: People) -> None:
    patient, gp = people.patient(), people.professional()
    nurse = people.professional(specialty=None, profession="nurse")
    dermatologist = people.professional("dermatology")
    people.declare(patient, gp)
    item = ask(client, patient, nurse, dermatologist, TODAY.isoformat()).json()
    response = reply(client, item, dermatologist)
    assert response.json()["sent_to"] == [nurse["rpps"], gp["rpps"]]


def test_only_the_expert_asked_may_answer(client: TestClient, people: People) -> None:
    patient, gp = people.patient(), people.professional()
    expert, other = people.professional("dermatology"), people.professional("dermatology")
    item = ask(client, patient, gp, expert, TODAY.isoformat()).json()
    response = reply(client, item, other)
    assert response.status_code == 403
    assert error_fields(response) == ["expert_rpps"]


def test_a_request_or_an_answer_dated_in_the_future_is_refused(client: TestClient, people: People) -> None:
    patient, gp, expert = people.patient(), people.professional(), people.professional("dermatology")
    tomorrow = (TODAY + dt.timedelta(days=1)).isoformat()
    refused = ask(client, patient, gp, expert, tomorrow)
    assert (refused.status_code, error_fields(refused)) == (422, ["requested_on"])
    item = ask(client, patient, gp, expert, TODAY.isoformat()).json()
    late = reply(client, item, expert, tomorrow)
    assert (late.status_code, error_fields(late)) == (422, ["answered_on"])


def test_an_unanswered_request_expires_is_listed_and_can_no_longer_be_answered(
    client: TestClient, people: People, tokens: Tokens
) -> None:
    patient, gp, expert = people.patient(), people.professional(), people.professional("dermatology")
    nurse = people.professional(specialty=None, profession="nurse")
    people.declare(patient, gp)
    old = ask(client, patient, nurse, expert, days_ago(DELAY + 1)).json()
    fresh = ask(client, patient, nurse, expert, TODAY.isoformat()).json()
    as_gp = tokens.professional(gp["rpps"])
    assert client.get(f"/api/teleexpertises/{old['id']}", headers=as_gp).json()["status"] == "expired"
    response = reply(client, old, expert, days_ago(1))  # even dated within the delay: it is too late now
    assert (response.status_code, error_fields(response)) == (409, ["answered_on"])
    # listed for the requester and for the MT, not for the expert; the fresh one is not overdue
    for who in (nurse, gp):
        listed = client.get(
            f"/api/professionals/{who['id']}/teleexpertises/overdue", headers=tokens.professional(who["rpps"])
        ).json()
        assert (listed["total"], [t["id"] for t in listed["items"]]) == (1, [old["id"]])
    assert client.get(f"/api/professionals/{expert['id']}/teleexpertises/overdue").json()["total"] == 0
    mine = client.get(
        f"/api/professionals/{nurse['id']}/teleexpertises",
        params={"role": "requester", "status": "requested"},
        headers=tokens.professional(nurse["rpps"]),
    ).json()
    assert [t["id"] for t in mine["items"]] == [fresh["id"]]


def test_the_overdue_list_is_paged(client: TestClient, people: People, tokens: Tokens) -> None:
    patient, gp, expert = people.patient(), people.professional(), people.professional("dermatology")
    ids = [ask(client, patient, gp, expert, days_ago(DELAY + n)).json()["id"] for n in (3, 2, 1)]
    url = f"/api/professionals/{gp['id']}/teleexpertises/overdue"
    as_gp = tokens.professional(gp["rpps"])
    first = client.get(url, params={"limit": 2}, headers=as_gp).json()
    rest = client.get(url, params={"limit": 2, "offset": 2}, headers=as_gp).json()
    assert (first["total"], [t["id"] for t in first["items"] + rest["items"]]) == (3, ids)


def test_the_requester_cancels_a_pending_request(client: TestClient, people: People, tokens: Tokens) -> None:
    patient, gp, expert = people.patient(), people.professional(), people.professional("dermatology")
    item = ask(client, patient, gp, expert, TODAY.isoformat()).json()
    url = f"/api/teleexpertises/{item['id']}/cancel"
    by_expert = client.post(url, json={"requester_rpps": expert["rpps"]})
    assert by_expert.status_code == 403
    cancelled = client.post(url, json={"requester_rpps": gp["rpps"], "reason": "Patient adressé en consultation"})
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")
    assert client.post(url, json={"requester_rpps": gp["rpps"]}).status_code == 409
    assert reply(client, item, expert).status_code == 409


def test_the_yearly_limit_counts_acts_billed_and_requests_pending(client: TestClient, people: People) -> None:
    patient, gp, expert = people.patient(), people.professional(), people.professional("dermatology")
    on = TODAY.isoformat()
    ask(client, patient, gp, expert, days_ago(DELAY + 1))  # expired: never billed, does not count
    answered = [ask(client, patient, gp, expert, on).json() for _ in range(2)]
    for item in answered:
        assert reply(client, item, expert).status_code == 200
    pending = [ask(client, patient, gp, expert, on) for _ in range(LIMIT - 2)]
    assert all(p.status_code == 201 for p in pending)
    fifth = ask(client, patient, gp, expert, on)
    assert fifth.status_code == 409
    assert error_fields(fifth) == ["patient_id"]
    assert f"{LIMIT} téléexpertises" in fifth.json()["detail"][0]["message"]
    # the limit is per patient and per expert doctor [S16a]: another expert may still be asked
    assert ask(client, patient, gp, people.professional("cardiology"), on).status_code == 201
    # a pending request withdrawn frees its place
    client.post(f"/api/teleexpertises/{pending[0].json()['id']}/cancel", json={"requester_rpps": gp["rpps"]})
    assert ask(client, patient, gp, expert, on).status_code == 201
