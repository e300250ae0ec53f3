"""The carte Vitale moment: a médecin traitant is declared, and a professional outside the care team creates claims
and coordination items, only with the patient's presence attestation (issued to the patient, or to a legal
representative for a minor, bound to the patient and the professional, short-lived, signed by parcours)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient

from parcours.api.security import AuthSettings, LocalSigningKey, PresenceAttestations
from tests.api.conftest import People, new_nir
from tests.conftest import Tokens


@pytest.fixture
def scene(client: TestClient, people: People) -> dict[str, Any]:
    patient = people.patient()
    gp, intruder = people.professional(family_name="Traitant"), people.professional(family_name="Intrus")
    assert people.declare(patient, gp).status_code == 201
    return {"patient": patient, "gp": gp, "intruder": intruder}


def attestation(client: TestClient, tokens: Tokens, patient: dict[str, Any], rpps: str, signer: str) -> Any:
    return client.post(f"/api/patients/{patient['id']}/vitale-attestations", json={"professional_rpps": rpps},
                       headers=tokens.patient(signer))  # fmt: skip


def declare(client: TestClient, tokens: Tokens, patient: dict[str, Any], doctor: dict[str, Any], **extra: Any) -> Any:
    body = {"patient_id": patient["id"], "professional_rpps": doctor["rpps"], **extra}
    return client.post("/api/declarations", json=body, headers=tokens.professional(doctor["rpps"]))


def history(client: TestClient, tokens: Tokens, patient: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.get(
        f"/api/record/{patient['id']}/access-history?limit=200", headers=tokens.patient(patient["nir"])
    )
    assert response.status_code == 200
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_a_doctor_cannot_declare_himself_without_the_patient(client: TestClient, tokens: Tokens, scene: Any) -> None:
    patient, gp, intruder = scene["patient"], scene["gp"], scene["intruder"]
    refused = declare(client, tokens, patient, intruder, consent_at=dt.datetime.now(dt.UTC).isoformat())
    assert refused.status_code == 403
    assert refused.json()["detail"][0]["field"] == "vitale_attestation"
    assert client.get(f"/api/patients/{patient['id']}/gp").json()["professional"]["rpps"] == gp["rpps"]
    tried = [h for h in history(client, tokens, patient) if h["operation"] == "declaration.create" and not h["allowed"]]
    assert tried[0]["actor"] == f"professional:{intruder['rpps']}"
    assert tried[0]["detail"] == "aucune attestation de présence fournie"


@pytest.mark.parametrize("wrong", ["other doctor", "other patient", "expired", "forged", "bearer token", "garbage"])
def test_an_attestation_that_does_not_prove_presence_is_refused(
    client: TestClient, tokens: Tokens, people: People, auth_settings: AuthSettings, scene: Any, wrong: str
) -> None:
    patient, intruder = scene["patient"], scene["intruder"]
    attestations = PresenceAttestations(auth_settings)
    if wrong == "other doctor":
        token = attestation(client, tokens, patient, scene["gp"]["rpps"], patient["nir"]).json()["vitale_attestation"]
    elif wrong == "other patient":
        other = people.patient()
        token = attestation(client, tokens, other, intruder["rpps"], other["nir"]).json()["vitale_attestation"]
    elif wrong == "expired":
        minutes = auth_settings.presence_attestation_minutes
        past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes, seconds=auth_settings.leeway_seconds + 5)
        token, _ = attestations.issue(patient["nir"], intruder["rpps"], patient["nir"], now=past)
    elif wrong == "forged":
        forger = PresenceAttestations(auth_settings.model_copy(update={"local_key_file": auth_settings.local_key_file
                                                                       .with_name("forger.pem")}))  # fmt: skip
        token, _ = forger.issue(patient["nir"], intruder["rpps"], patient["nir"])
        assert LocalSigningKey.load_or_create(forger.settings.local_key_file).key_id != attestations._key.key_id
    elif wrong == "bearer token":  # the patient's own API token is no attestation
        token = tokens.patient(patient["nir"])["Authorization"].removeprefix("Bearer ")
    else:
        token = "pas.un.jeton"
    refused = declare(client, tokens, patient, intruder, vitale_attestation=token)
    assert refused.status_code == 403, refused.text
    assert refused.json()["detail"][0]["field"] == "vitale_attestation"


def test_with_the_patients_attestation_the_declaration_is_made_and_traced(
    client: TestClient, tokens: Tokens, scene: Any
) -> None:
    patient, newcomer = scene["patient"], scene["intruder"]
    issued = attestation(client, tokens, patient, newcomer["rpps"], patient["nir"])
    assert issued.status_code == 201
    body = issued.json()
    assert body["signed_by"] == "patient"
    lifetime = dt.datetime.fromisoformat(body["expires_at"]) - dt.datetime.fromisoformat(body["issued_at"])
    assert lifetime == dt.timedelta(minutes=AuthSettings().presence_attestation_minutes)
    declared = declare(client, tokens, patient, newcomer, vitale_attestation=body["vitale_attestation"])
    assert declared.status_code == 201, declared.text
    # the consent is the carte Vitale moment, not a time typed by the doctor
    assert dt.datetime.fromisoformat(declared.json()["consent_at"]) == dt.datetime.fromisoformat(body["issued_at"])
    ended = client.post(f"/api/patients/{patient['id']}/declarations/end", json={},
                        headers=tokens.patient(patient["nir"]))  # fmt: skip
    assert ended.status_code == 200, ended.text
    operations = [(h["operation"], h["allowed"]) for h in history(client, tokens, patient)]
    assert ("patient.vitale_attestation.create", True) in operations
    assert ("declaration.create", True) in operations
    assert ("patient.declaration.end", True) in operations


@pytest.mark.parametrize("who", ["other patient", "professional", "insurer", "admin"])
def test_only_the_patient_or_a_representative_attests(
    client: TestClient, tokens: Tokens, people: People, scene: Any, who: str
) -> None:
    headers = {
        "other patient": tokens.patient(people.patient()["nir"]),
        "professional": tokens.professional(scene["intruder"]["rpps"]),
        "insurer": tokens.agent(),
        "admin": tokens.admin(),
    }[who]
    response = client.post(f"/api/patients/{scene['patient']['id']}/vitale-attestations",
                           json={"professional_rpps": scene["intruder"]["rpps"]}, headers=headers)  # fmt: skip
    assert response.status_code == 403


def test_a_minor_is_declared_with_the_attestation_of_a_recorded_parent(
    client: TestClient, tokens: Tokens, people: People
) -> None:
    child = people.patient(birth_date="2016-09-10", given_name="Tom")
    mother, stranger = new_nir(sex="2", year="86"), new_nir(sex="2", year="70")
    gp = people.professional()
    # someone the front desk did not record as a legal representative cannot attest for the child
    assert attestation(client, tokens, child, gp["rpps"], stranger).status_code == 403
    assert client.post(f"/api/record/{child['id']}/representatives", json={"nir": mother}).status_code == 200
    issued = attestation(client, tokens, child, gp["rpps"], mother)
    assert issued.json()["signed_by"] == "representative"
    declared = declare(client, tokens, child, gp, vitale_attestation=issued.json()["vitale_attestation"])
    assert declared.status_code == 201, declared.text
    assert declared.json()["representative_nir"] == mother


def test_the_attestation_of_a_parent_lifted_since_proves_nothing(
    client: TestClient, tokens: Tokens, people: People
) -> None:
    child = people.patient(birth_date="2016-09-10", given_name="Léa")
    father = new_nir(sex="1", year="84")
    gp = people.professional()
    assert client.post(f"/api/record/{child['id']}/representatives", json={"nir": father}).status_code == 200
    token = attestation(client, tokens, child, gp["rpps"], father).json()["vitale_attestation"]
    assert client.delete(f"/api/record/{child['id']}/representatives/{father}").status_code == 200
    refused = declare(client, tokens, child, gp, vitale_attestation=token)
    assert refused.status_code == 403
    assert refused.json()["detail"][0]["field"] == "vitale_attestation"
    tried = [h for h in history(client, tokens, child) if h["operation"] == "declaration.create"]
    assert tried[0]["detail"] == "le signataire de l'attestation n'est plus représentant légal du patient"


def test_a_claim_says_the_declaration_was_made_at_the_visit_only_when_it_was(
    client: TestClient, tokens: Tokens, people: People, scene: Any
) -> None:
    patient, newcomer = scene["patient"], scene["intruder"]
    as_newcomer = tokens.professional(newcomer["rpps"])
    token = attestation(client, tokens, patient, newcomer["rpps"], patient["nir"]).json()["vitale_attestation"]
    claim = {"idempotency_key": "declared-visit-01", "patient_id": patient["id"], "professional_rpps": newcomer["rpps"],
             "date": dt.date.today().isoformat(), "acts": [{"code": "G"}], "declares_gp": True,
             "vitale_attestation": token}  # fmt: skip
    refused = client.post("/api/claims", json=claim, headers=as_newcomer)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["field"] == "declares_gp"
    assert declare(client, tokens, patient, newcomer, vitale_attestation=token).status_code == 201
    paid = client.post("/api/claims", json=claim, headers=as_newcomer)
    assert paid.status_code == 201, paid.text
    assert paid.json()["pathway"] == "N"


def test_outside_the_care_team_a_first_visit_needs_the_attestation(
    client: TestClient, tokens: Tokens, people: People, scene: Any
) -> None:
    patient, newcomer = scene["patient"], scene["intruder"]
    claim = {"idempotency_key": "first-visit-0001", "patient_id": patient["id"], "professional_rpps": newcomer["rpps"],
             "date": dt.date.today().isoformat(), "acts": [{"code": "G"}]}  # fmt: skip
    as_newcomer = tokens.professional(newcomer["rpps"])
    refused = client.post("/api/claims", json=claim, headers=as_newcomer)
    assert refused.status_code == 403
    assert refused.json()["detail"][0]["field"] == "vitale_attestation"
    assert client.get(f"/api/record/{patient['id']}/entries", headers=as_newcomer).status_code == 403
    token = attestation(client, tokens, patient, newcomer["rpps"], patient["nir"]).json()["vitale_attestation"]
    assert (
        client.post("/api/claims", json={**claim, "vitale_attestation": token}, headers=as_newcomer).status_code == 201
    )
    # the claim made with the patient present puts him in the care team; the next one needs no attestation
    assert client.get(f"/api/record/{patient['id']}/entries", headers=as_newcomer).status_code == 200
    again = {**claim, "idempotency_key": "second-visit-01"}
    assert client.post("/api/claims", json=again, headers=as_newcomer).status_code == 201


def test_an_attestation_is_no_bearer_token(client: TestClient, tokens: Tokens, scene: Any) -> None:
    patient = scene["patient"]
    issued = attestation(client, tokens, patient, scene["intruder"]["rpps"], patient["nir"]).json()
    response = client.get(f"/api/patients/{patient['id']}",
                          headers={"Authorization": f"Bearer {issued['vitale_attestation']}"})  # fmt: skip
    assert response.status_code == 401
    assert "audience" in response.json()["detail"]
