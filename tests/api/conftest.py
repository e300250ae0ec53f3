"""An API client over a migrated database (SQLite, and PostgreSQL when configured), and builders of valid people."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from parcours.api.app import create_app
from parcours.api.security import AuthSettings
from parcours.rules.identifiers import nir_with_key, rpps_with_check_digit
from parcours.store.db import Database
from tests.conftest import Tokens

_serial = itertools.count(1)


ACTING_FIELDS = ("professional_rpps", "referrer_rpps", "requester_rpps", "expert_rpps")
# creating these in one's own name needs the patient's presence (carte Vitale) outside an existing care relation
PRESENCE_PATHS = ("/api/declarations", "/api/claims", "/api/teleexpertises", "/api/referrals")


def attest(client: TestClient, tokens: Tokens, patient_id: str, rpps: str, signer_nir: str | None = None) -> str | None:
    """The patient (or ``signer_nir``, a parent recorded as legal representative by the front desk) hands the
    professional a presence attestation, as at the desk with the carte Vitale. None if it cannot be had."""
    admin = tokens.admin()
    found = TestClient.request(client, "GET", f"/api/patients/{patient_id}", headers=admin)
    if found.status_code != 200:
        return None
    nir = found.json()["nir"]
    signer = nir
    if signer_nir is not None and signer_nir != nir:
        added = TestClient.request(client, "POST", f"/api/record/{patient_id}/representatives",
                                   json={"nir": signer_nir}, headers=admin)  # fmt: skip
        signer = signer_nir if added.status_code == 200 else nir
    response = TestClient.request(client, "POST", f"/api/patients/{patient_id}/vitale-attestations",
                                  json={"professional_rpps": rpps}, headers=tokens.patient(signer))  # fmt: skip
    if response.status_code != 201 and signer != nir:  # a parent of an adult: the patient attests
        response = TestClient.request(client, "POST", f"/api/patients/{patient_id}/vitale-attestations",
                                      json={"professional_rpps": rpps}, headers=tokens.patient(nir))  # fmt: skip
    return str(response.json()["vitale_attestation"]) if response.status_code == 201 else None


class ActingClient(TestClient):
    """A client whose calls carry the token of whoever acts: the professional a request is made in the name of
    (``professional_rpps``, ``referrer_rpps``…, as their own software would send it), else the administrator
    (the front desk). ``headers={"Authorization": …}`` chooses someone else. A declaration, claim, téléexpertise or
    referral made this way carries the patient's presence attestation, obtained by the patient (or the parent named
    as ``representative_nir``) as at the desk; with explicit headers, the test says what is presented."""

    def __init__(self, app: Any, tokens: Tokens) -> None:
        super().__init__(app, headers=tokens.admin())
        self.tokens = tokens

    def request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        headers = kwargs.get("headers") or {}
        body = kwargs.get("json")
        if "Authorization" not in headers and isinstance(body, dict):
            acting = next((body[f] for f in ACTING_FIELDS if isinstance(body.get(f), str)), None)
            if acting is not None:
                with contextlib.suppress(ValueError):  # an invalid RPPS: refused for that, as the front desk
                    kwargs["headers"] = {**headers, **self.tokens.professional(acting)}
                if (
                    method.upper() == "POST" and str(url) in PRESENCE_PATHS and "vitale_attestation" not in body
                    and isinstance(body.get("patient_id"), str)
                ):  # fmt: skip
                    signer = body.get("representative_nir")
                    token = attest(self, self.tokens, body["patient_id"], acting,
                                   signer if isinstance(signer, str) else None)  # fmt: skip
                    if token is not None:
                        kwargs["json"] = {**body, "vitale_attestation": token}
        return super().request(method, url, *args, **kwargs)


@pytest.fixture
def client(database: Database, auth_settings: AuthSettings, tokens: Tokens) -> Iterator[TestClient]:
    """An API client acting as whoever acts (see ``ActingClient``)."""
    with ActingClient(create_app(database, auth_settings), tokens) as client:
        yield client


def new_rpps() -> str:
    return rpps_with_check_digit(f"10{next(_serial):08d}")


def new_nir(sex: str = "1", year: str = "85", month: str = "04") -> str:
    return nir_with_key(f"{sex}{year}{month}75{next(_serial):06d}")


class People:
    """Creates patients and professionals through the API, the way a front desk would."""

    def __init__(self, client: TestClient, tokens: Tokens) -> None:
        self.client = client
        self.tokens = tokens

    def professional(self, specialty: str | None = "general_practice", **fields: Any) -> dict[str, Any]:
        body = {"rpps": new_rpps(), "family_name": "Martin", "given_name": "Claire", "specialty": specialty}
        body.update(fields)
        response = self.client.post("/api/professionals", json=body)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    def patient(self, birth_date: str = "1985-04-12", **fields: Any) -> dict[str, Any]:
        body = {
            "nir": new_nir(
                sex="2" if fields.get("sex") == "female" else "1", year=birth_date[2:4], month=birth_date[5:7]
            ),
            "family_name": "Durand",
            "given_name": "Paul",
            "birth_date": birth_date,
            "sex": "male",
        }
        body.update(fields)
        response = self.client.post("/api/patients", json=body)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    def declare(self, patient: dict[str, Any], doctor: dict[str, Any], start: str | None = None, **fields: Any) -> Any:
        # no start: the declaration takes effect the day it is registered (a past MT: tests.api.history)
        body = {"patient_id": patient["id"], "professional_rpps": doctor["rpps"], "start": start}
        body.update(fields)
        if "vitale_attestation" not in body:  # the patient (a parent for a minor) hands the doctor the attestation
            token = attest(self.client, self.tokens, patient["id"], doctor["rpps"], fields.get("representative_nir"))
            body["vitale_attestation"] = token
        # the doctor declares, with the patient present
        return self.client.post("/api/declarations", json=body, headers=self.tokens.professional(doctor["rpps"]))

    def attest(self, patient: dict[str, Any], professional: dict[str, Any], signer_nir: str | None = None) -> str:
        token = attest(self.client, self.tokens, patient["id"], professional["rpps"], signer_nir)
        assert token is not None
        return token


@pytest.fixture
def people(client: TestClient, tokens: Tokens) -> People:
    return People(client, tokens)


def error_fields(response: Any) -> list[str]:
    return [item["field"] for item in response.json()["detail"]]
