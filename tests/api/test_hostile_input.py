"""Hostile and odd input never gives a 500 nor another shape of error: NUL characters, huge or very deep bodies,
offsets past any integer, unexpected exceptions; and the OpenAPI document says what the server really answers.
On SQLite and, when configured, PostgreSQL (which refuses NUL in text: the guard must stop it before)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from parcours.api.app import create_app
from parcours.api.middleware import RequestLimits
from parcours.api.security import AuthSettings
from parcours.store.db import Database
from tests.api.conftest import People, error_fields, new_nir
from tests.api.record_world import document
from tests.conftest import PG_URL, Tokens

FHIR_JSON = "application/fhir+json"


def _refused(response: Any, status: int, field: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert field in error_fields(response), response.json()


def _outcome(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    body: dict[str, Any] = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return body


# --- NUL characters ----------------------------------------------------------------------------------------------


def test_a_nul_in_a_path_id_is_422_naming_it(client: TestClient, people: People) -> None:
    people.patient()
    _refused(client.get("/api/patients/abc%00def"), 422, "patient_id")
    _refused(client.get("/api/record/abc%00/entries"), 422, "patient")


def test_a_nul_in_a_query_parameter_is_422_naming_it(client: TestClient, people: People) -> None:
    people.patient()
    response = client.get("/api/patients", params={"family_name": "Dur\x00and"})
    _refused(response, 422, "family_name")
    assert "nul" in response.json()["detail"][0]["message"]


def test_a_nul_in_a_json_field_is_422_naming_it(client: TestClient) -> None:
    body = {"nir": new_nir(), "family_name": "Du\x00rand", "given_name": "Paul", "birth_date": "1985-04-12",
            "sex": "male"}  # fmt: skip
    _refused(client.post("/api/patients", json=body), 422, "family_name")
    claim = {"idempotency_key": "k", "patient_id": "p", "professional_rpps": "10101010105", "date": "2026-03-02",
             "acts": [{"code": "G\x00"}]}  # fmt: skip
    _refused(client.post("/api/claims", json=claim), 422, "acts.0.code")


def test_a_nul_in_a_header_is_422_naming_it(database: Database, auth_settings: AuthSettings) -> None:
    app = create_app(database, auth_settings)
    scope_headers = [(b"x-request-id", b"a\x00b")]
    status, body = _asgi_get(app, "/health", scope_headers)
    assert status == 422
    assert json.loads(body)["detail"][0]["field"] == "x-request-id"


def test_a_nul_under_fhir_is_an_operation_outcome(client: TestClient, tokens: Tokens) -> None:
    outcome = _outcome(client.get("/fhir/Patient", params={"family": "a\x00"}, headers=tokens.admin()), 400)
    assert outcome["issue"][0]["expression"] == ["family"]
    _outcome(client.get("/fhir/Patient/a%00b", headers=tokens.admin()), 400)


def test_a_nul_in_a_form_field_is_422_naming_it(client: TestClient) -> None:
    _refused(client.post("/simulateur", data={"date": "2026-03-02\x00"}), 422, "date")


def test_an_escaped_backslash_is_not_a_nul(client: TestClient) -> None:
    # "\\u0000" in JSON text is a backslash followed by "u0000": harmless text, answered normally
    raw = '{"nir": "x", "family_name": "a\\\\u0000", "given_name": "b", "birth_date": "1985-04-12", "sex": "male"}'
    response = client.post("/api/patients", content=raw, headers={"content-type": "application/json"})
    assert error_fields(response) == ["nir"]


# --- depth and size ------------------------------------------------------------------------------------------------


def test_very_deep_json_is_a_french_422(client: TestClient) -> None:
    deep = "[" * 10_000 + "]" * 10_000
    response = client.post("/api/patients", content=deep, headers={"content-type": "application/json"})
    _refused(response, 422, "(corps)")
    assert "imbriqué" in response.json()["detail"][0]["message"]
    nested: Any = "x"
    for _ in range(100):  # deeper than the limit but within the parser's reach
        nested = {"a": nested}
    _refused(client.post("/api/patients", json=nested), 422, "(corps)")


def test_an_unreadable_body_is_a_french_error(client: TestClient) -> None:
    response = client.post("/api/patients", content=b'{"nir": "\xff"}', headers={"content-type": "application/json"})
    _refused(response, 400, "(corps)")
    assert response.json()["detail"][0]["message"] == "requête illisible"


def test_a_body_over_the_limit_is_413_from_its_length(client: TestClient) -> None:
    big = b'{"family_name": "' + b"a" * 1_100_000 + b'"}'
    response = client.post("/api/patients", content=big, headers={"content-type": "application/json"})
    _refused(response, 413, "(corps)")
    assert "volumineuse" in response.json()["detail"][0]["message"]


def test_a_streamed_body_is_cut_when_it_passes_the_limit(
    database: Database, auth_settings: AuthSettings, tokens: Tokens
) -> None:
    chunks_read = 0

    def chunks() -> Iterator[bytes]:
        nonlocal chunks_read
        for _ in range(100):
            chunks_read += 1
            yield b" " * 1024

    limits = RequestLimits(max_body_bytes=10 * 1024)
    with TestClient(create_app(database, auth_settings, limits=limits), headers=tokens.admin()) as client:
        response = client.post("/api/patients", content=chunks(), headers={"content-type": "application/json"})
    _refused(response, 413, "(corps)")


def test_attachments_have_their_own_limit(database: Database, auth_settings: AuthSettings, tokens: Tokens) -> None:
    limits = RequestLimits(max_body_bytes=4096, max_attachment_bytes=64 * 1024)
    with TestClient(create_app(database, auth_settings, limits=limits), headers=tokens.admin()) as client:
        people = People(client, tokens)
        patient = people.patient()
        doctor = people.professional()
        as_doctor = tokens.professional(doctor["rpps"])
        assert people.declare(patient, doctor).status_code == 201
        url = f"/api/record/{patient['id']}/entries"
        fits = _with_attachment(40_000)  # over the JSON limit, under the attachment limit
        created = client.post(url, json=fits, headers=as_doctor)
        assert created.status_code == 201, created.text
        response = client.post(url, json=_with_attachment(66_000), headers=as_doctor)
        _refused(response, 413, "content.0.attachment.data")
        _refused(client.post(url, json=_with_attachment(200_000), headers=as_doctor), 413, "(corps)")


def _with_attachment(size: int) -> dict[str, Any]:
    entry = document("pièce jointe")
    entry["content"][0]["attachment"]["data"] = base64.b64encode(b"x" * size).decode()
    return entry


# --- paging bounds -------------------------------------------------------------------------------------------------


def _list_operations(app: FastAPI) -> list[str]:
    paths = app.openapi()["paths"]
    return [path for path, ops in paths.items()
            if "get" in ops and any(p["name"] == "offset" for p in ops["get"].get("parameters", ()))]  # fmt: skip


@pytest.mark.parametrize(("name", "value"), [("offset", 2**63), ("offset", 2**31), ("offset", -1),
                                             ("limit", 0), ("limit", 201), ("limit", 2**63)])  # fmt: skip
def test_every_paged_list_bounds_offset_and_limit(client: TestClient, tokens: Tokens, name: str, value: int) -> None:
    lists = _list_operations(client.app)  # type: ignore[arg-type]
    assert len(lists) >= 9
    for template in lists:
        path = re.sub(r"\{[^}]+\}", "x", template)
        response = client.get(path, params={name: str(value)}, headers=tokens.admin())
        _refused(response, 422, name)


def test_the_largest_offset_pages_nothing(client: TestClient, people: People) -> None:
    people.patient()
    page = client.get("/api/patients", params={"offset": 2**31 - 1}).json()
    assert (page["items"], page["total"]) == ([], 1)


# --- the catch-all -----------------------------------------------------------------------------------------------


def _boom() -> None:
    raise RuntimeError("a bug")


def _with_failing_routes(app: FastAPI) -> FastAPI:
    # in front of the FHIR server's generic routes
    app.router.routes.insert(0, APIRoute("/api/boom", _boom))
    app.router.routes.insert(0, APIRoute("/fhir/Boom", _boom))
    return app


def test_an_unexpected_error_is_a_logged_500_in_the_error_shape(
    database: Database, auth_settings: AuthSettings, caplog: pytest.LogCaptureFixture
) -> None:
    app = _with_failing_routes(create_app(database, auth_settings))
    with caplog.at_level(logging.ERROR, "parcours.api"), TestClient(app) as client:  # raises if the error escapes
        response = client.get("/api/boom")
        _refused(response, 500, "(serveur)")
        assert "RuntimeError" not in response.text
        assert "Traceback" not in response.text
        outcome = _outcome(client.get("/fhir/Boom"), 500)
        assert outcome["issue"][0]["code"] == "exception"
    assert any("RuntimeError: a bug" in (r.exc_text or "") for r in caplog.records)


def _http_get(sock: socket.socket, path: str) -> tuple[int, bytes]:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed by the server")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"content-length: (\d+)", head, re.IGNORECASE).group(1))  # type: ignore[union-attr]
    while len(body) < length:
        body += sock.recv(65536)
    return int(head.split()[1]), body


def test_a_500_keeps_the_connection_open(database: Database, auth_settings: AuthSettings) -> None:
    app = _with_failing_routes(create_app(database, auth_settings))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            assert _http_get(sock, "/api/boom")[0] == 500
            assert _http_get(sock, "/health")[0] == 200  # same connection
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_a_database_connection_lost_is_503_then_the_next_request_works(
    migrated_url: str, auth_settings: AuthSettings, tokens: Tokens
) -> None:
    """The server restarts (or fails over) under a running app: the pooled connections are dead. The request that
    meets one is told to retry (503, Retry-After), in the error shape; the pool is replaced and the next succeeds."""
    if not migrated_url.startswith("postgresql"):
        pytest.skip("SQLite has no server to lose")
    name = f"parcours-lost-{uuid.uuid4().hex[:8]}"
    database = Database(f"{migrated_url}&application_name={name}")
    try:
        with TestClient(create_app(database, auth_settings)) as client:
            as_agent = tokens.agent()
            assert client.get("/api/patients", headers=as_agent).status_code == 200  # a pooled connection
            with create_engine(PG_URL).connect() as admin:
                killed = admin.execute(
                    text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = :n"),
                    {"n": name},
                ).scalar_one()
            assert killed >= 1
            lost = client.get("/api/patients", headers=as_agent)
            _refused(lost, 503, "(serveur)")
            assert lost.headers["retry-after"] == "1"
            assert client.get("/api/patients", headers=as_agent).status_code == 200
    finally:
        database.dispose()


# --- starlette's own errors ------------------------------------------------------------------------------------------


def test_unknown_routes_and_methods_answer_in_the_error_shape(client: TestClient) -> None:
    _refused(client.get("/api/nothing-here"), 404, "(url)")
    _refused(client.delete("/api/patients"), 405, "(méthode)")


# --- the OpenAPI document --------------------------------------------------------------------------------------------


def test_openapi_documents_the_real_error_shapes(client: TestClient, tokens: Tokens) -> None:
    schema = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert {"500", "503"} <= set(responses), (method, path)
            if path.startswith("/fhir"):
                assert "422" not in responses, (method, path)
                assert "400" in responses, (method, path)
            else:
                ref = responses["422"]["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith("/ErreursChamps"), (method, path)
            if operation.get("security"):
                assert {"401", "403"} <= set(responses), (method, path)
    # and what the server answers validates against what the document says
    field_errors = schema["components"]["schemas"]["ErreursChamps"]
    refused = client.post("/api/patients", json={"nir": "1"})
    assert refused.status_code == 422
    jsonschema_rs.validate(field_errors, refused.json())
    auth = schema["components"]["schemas"]["ErreurAuthentification"]
    jsonschema_rs.validate(auth, client.get("/api/patients", headers={"Authorization": "Bearer x"}).json())


# --- timestamps ------------------------------------------------------------------------------------------------------

UTC_MOMENT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)$")


def test_timestamps_are_utc_with_their_offset(client: TestClient, people: People, tokens: Tokens) -> None:
    patient = people.patient()
    doctor = people.professional()
    emergency = people.professional()
    as_doctor = tokens.professional(doctor["rpps"])
    assert people.declare(patient, doctor).status_code == 201
    pid = patient["id"]
    # an entry dated with another offset comes back as the same moment in UTC
    entry = client.post(f"/api/record/{pid}/entries", json=document("CR", date="2026-03-02T10:30:00+01:00"),
                        headers=as_doctor)  # fmt: skip
    assert entry.status_code == 201, entry.text
    listed = client.get(f"/api/record/{pid}/entries", headers=as_doctor).json()["items"][0]
    for moment in (listed["entry_date"], listed["recorded_at"]):
        assert UTC_MOMENT.match(moment), moment
    assert dt.datetime.fromisoformat(listed["entry_date"]) == dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
    opened = client.post(f"/api/record/{pid}/emergency-access", json={"reason": "patient inconscient aux urgences"},
                         headers=tokens.professional(emergency["rpps"]))  # fmt: skip
    assert opened.status_code == 201, opened.text
    assert UTC_MOMENT.match(opened.json()["opened_at"])
    assert UTC_MOMENT.match(opened.json()["expires_at"])
    controls = client.get(f"/api/record/{pid}/controls", headers=tokens.patient(patient["nir"])).json()
    for access in controls["emergency_accesses"]:
        assert UTC_MOMENT.match(access["opened_at"])
        assert UTC_MOMENT.match(access["expires_at"])
    history = client.get(f"/api/record/{pid}/access-history", headers=tokens.patient(patient["nir"])).json()
    assert history["items"]
    assert all(UTC_MOMENT.match(item["at"]) for item in history["items"])
    declaration = client.get(f"/api/patients/{pid}/gp").json()
    assert UTC_MOMENT.match(declaration["consent_at"])


# --- helpers -----------------------------------------------------------------------------------------------------


def _asgi_get(app: FastAPI, path: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    """One request straight through the ASGI interface (HTTP clients refuse to send a NUL in a header)."""
    import anyio

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"", "headers": headers,
             "client": ("127.0.0.1", 1), "server": ("test", 80)}  # fmt: skip
    anyio.run(app, scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return int(start["status"]), body
