"""An off-the-shelf FHIR client, ``fhirpy``, against a live server (uvicorn in a thread): the capability statement,
a search by identifier, a read, paging to the end with ``fetch_all``, and every error an OperationOutcome."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import uvicorn

from parcours.api.app import create_app
from parcours.api.security import AuthSettings
from parcours.record.entries import INS_NIR_SYSTEM
from parcours.store.db import Database
from tests.api.conftest import ActingClient, People
from tests.conftest import Tokens

fhirpy = pytest.importorskip("fhirpy")
from fhirpy.base.exceptions import (  # noqa: E402
    AuthorizationError,
    ForbiddenError,
    OperationOutcome,
    ResourceNotFound,
)

FHIR_JSON = "application/fhir+json"


@pytest.fixture
def live(database: Database, auth_settings: AuthSettings, tokens: Tokens) -> Iterator[tuple[str, People]]:
    """The application served by uvicorn on a free port; ``People`` to fill it through the API."""
    app = create_app(database, auth_settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(1000):
            if server.started:
                break
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        with ActingClient(app, tokens) as client:
            yield f"http://127.0.0.1:{port}/fhir", People(client, tokens)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _client(url: str, headers: dict[str, str] | None) -> Any:
    return fhirpy.SyncFHIRClient(url, authorization=(headers or {}).get("Authorization"))


def _outcome(text: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(text)
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"]
    return body


def test_metadata_identifier_search_and_read(live: tuple[str, People], tokens: Tokens) -> None:
    url, people = live
    patient = people.patient()
    people.patient()
    client = _client(url, tokens.admin())
    statement = client.execute("metadata", method="get")
    assert statement["resourceType"] == "CapabilityStatement"
    assert "Patient" in {r["type"] for r in statement["rest"][0]["resource"]}
    found = client.resources("Patient").search(identifier=f"{INS_NIR_SYSTEM}|{patient['nir']}").fetch()
    assert [p.id for p in found] == [patient["id"]]
    read = client.reference("Patient", patient["id"]).to_resource()
    assert read.id == patient["id"]
    assert read["identifier"][0]["value"] == patient["nir"]


def test_paging_to_the_end_with_fetch_all(live: tuple[str, People], tokens: Tokens) -> None:
    url, people = live
    created = {people.patient()["id"] for _ in range(7)}
    client = _client(url, tokens.admin())
    search = client.resources("Patient").limit(2)
    assert search.count() == 7
    every = search.fetch_all()
    assert [p.id for p in every if p.id in created] == [p.id for p in every]
    assert {p.id for p in every} == created
    assert len(every) == 7


def test_errors_are_operation_outcomes(live: tuple[str, People], tokens: Tokens) -> None:
    url, people = live
    patient = people.patient()
    stranger = people.professional()
    admin = _client(url, tokens.admin())
    with pytest.raises(ResourceNotFound) as missing:
        admin.reference("Patient", "unknown").to_resource()
    assert _outcome(str(missing.value))["issue"][0]["code"] == "not-found"
    with pytest.raises(OperationOutcome) as invalid:
        admin.resources("Patient").search(_count="many").fetch()
    assert invalid.value.resource["issue"][0]["code"] == "invalid"
    with pytest.raises(AuthorizationError) as anonymous:
        _client(url, None).resources("Patient").fetch()
    assert _outcome(str(anonymous.value))["issue"][0]["code"] == "login"
    with pytest.raises((ForbiddenError, ResourceNotFound)) as refused:
        _client(url, tokens.professional(stranger["rpps"])).reference("Patient", patient["id"]).to_resource()
    _outcome(str(refused.value))
    # and as FHIR media type, also for a NUL the guard refuses before any route
    response = requests.get(f"{url}/Patient", params={"family": "a\x00"}, headers=tokens.admin(), timeout=10)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(FHIR_JSON)
    assert _outcome(response.text)["issue"][0]["expression"] == ["family"]


def test_paging_with_count_zero_ends(live: tuple[str, People], tokens: Tokens) -> None:
    url, people = live
    people.patient()
    response = requests.get(f"{url}/Patient", params={"_count": "0"}, headers=tokens.admin(), timeout=10)
    links = {link["relation"]: link["url"] for link in response.json().get("link", ())}
    # a next page that is this page again makes fetch_all() loop for ever
    assert "next" not in links or links["next"] != links.get("self")


def test_search_by_id(live: tuple[str, People], tokens: Tokens) -> None:
    url, people = live
    patient = people.patient()
    people.patient()
    found = _client(url, tokens.admin()).resources("Patient").search(_id=patient["id"]).fetch()
    assert [p.id for p in found] == [patient["id"]]
