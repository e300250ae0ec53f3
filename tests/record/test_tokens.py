"""Bearer tokens: every kind of bad token is a 401 with ``WWW-Authenticate``, never a 500; good ones name the caller.

The app under test is a real FastAPI app wired with ``install_security``; the JWKS of an external identity provider
is served by a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jwt.algorithms import RSAAlgorithm

from parcours.api.security import (
    AuthSettings,
    CurrentPrincipal,
    LocalSigningKey,
    TrustedIssuer,
    install_security,
    issue_token,
)
from parcours.record.identity import ClaimsProfile, Principal, Role, claims_for
from parcours.rules.identifiers import nir_with_key

PATIENT_NIR = nir_with_key("1850475123456")
RPPS = "10101010105"


def now() -> dt.datetime:
    """Read at each use: a module-level instant makes 5-minute tokens expire when the suite runs slowly."""
    return dt.datetime.now(dt.UTC)


PSC_ISSUER = "https://auth.esante.gouv.fr/auth/realms/esante-wallet"


def make_app(auth: AuthSettings) -> FastAPI:
    app = FastAPI()
    install_security(app, auth)

    @app.get("/whoami")
    def whoami(principal: CurrentPrincipal) -> dict[str, Any]:
        return {"role": principal.role.value, "identifier": principal.identifier, "issuer": principal.issuer}

    @app.get("/fhir/Patient")
    def fhir_patients(principal: CurrentPrincipal) -> dict[str, Any]:
        return {"resourceType": "Bundle"}

    return app


@pytest.fixture
def auth(tmp_path: Path) -> AuthSettings:
    return AuthSettings(local_key_file=tmp_path / "key.pem", local_issuer_enabled=True)


@pytest.fixture
def client(auth: AuthSettings) -> TestClient:
    return TestClient(make_app(auth))


def call(client: TestClient, token: str | None, path: str = "/whoami") -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return client.get(path, headers=headers)


def assert_refused(response: Any, error: str | None = "invalid_token") -> None:
    assert response.status_code == 401, response.text
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="parcours"')
    if error:
        assert f'error="{error}"' in challenge
    assert response.json()["detail"]


def local_claims(auth: AuthSettings, **changes: Any) -> dict[str, Any]:
    claims = claims_for(
        Principal.patient(PATIENT_NIR), issuer=auth.local_issuer, audience=auth.audience,
        lifetime=dt.timedelta(minutes=5), now=now(),
    )  # fmt: skip
    claims.update(changes)
    return {key: value for key, value in claims.items() if value is not None}


def sign_local(auth: AuthSettings, claims: dict[str, Any]) -> str:
    return LocalSigningKey.load_or_create(auth.local_key_file).sign(claims)


# --- good tokens -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("principal", "role"),
    [
        (Principal.patient(PATIENT_NIR), "patient"),
        (Principal.professional(RPPS), "professional"),
        (Principal.insurer_agent("agent-042", organisation="CPAM 75"), "insurer_agent"),
        (Principal.administrator("admin"), "administrator"),
    ],
)
def test_a_local_token_names_its_caller(
    client: TestClient, auth: AuthSettings, principal: Principal, role: str
) -> None:
    response = call(client, issue_token(principal, auth))
    assert response.status_code == 200
    assert response.json() == {"role": role, "identifier": principal.identifier, "issuer": auth.local_issuer}


def test_the_key_file_is_private_and_reused(auth: AuthSettings) -> None:
    first = LocalSigningKey.load_or_create(auth.local_key_file)
    assert auth.local_key_file.stat().st_mode & 0o777 == 0o600
    assert LocalSigningKey.load_or_create(auth.local_key_file).key_id == first.key_id


# --- bad tokens ----------------------------------------------------------------------------------------------------


def test_missing_token_is_a_challenge_without_error_code(client: TestClient) -> None:
    response = call(client, None)
    assert_refused(response, error=None)
    assert "error=" not in response.headers["WWW-Authenticate"]


def test_other_scheme_is_refused(client: TestClient) -> None:
    assert_refused(client.get("/whoami", headers={"Authorization": "Basic dXNlcjpwYXNz"}), error=None)


@pytest.mark.parametrize("token", ["abc", "a.b.c", "eyJhbGciOiJFUzI1NiJ9.e30.", "x" * 20_000, "...."])
def test_malformed_tokens(client: TestClient, token: str) -> None:
    assert_refused(call(client, token))


def test_expired_token(client: TestClient, auth: AuthSettings) -> None:
    token = issue_token(
        Principal.patient(PATIENT_NIR), auth, lifetime=dt.timedelta(minutes=5), now=now() - dt.timedelta(hours=1)
    )
    response = call(client, token)
    assert_refused(response)
    assert "expiré" in response.json()["detail"]


def test_token_not_yet_valid(client: TestClient, auth: AuthSettings) -> None:
    later = int((now() + dt.timedelta(hours=1)).timestamp())
    assert_refused(call(client, sign_local(auth, local_claims(auth, nbf=later))))


def test_forged_token_signed_by_another_key(client: TestClient, auth: AuthSettings, tmp_path: Path) -> None:
    genuine = LocalSigningKey.load_or_create(auth.local_key_file)
    forger = LocalSigningKey(ec.generate_private_key(ec.SECP256R1()))
    token = jwt.encode(local_claims(auth), forger.private_key, algorithm="ES256", headers={"kid": genuine.key_id})
    response = call(client, token)
    assert_refused(response)
    assert "signature" in response.json()["detail"]


def test_payload_changed_after_signing(client: TestClient, auth: AuthSettings) -> None:
    header, _, signature = issue_token(Principal.patient(PATIENT_NIR), auth).split(".")
    other = nir_with_key("2900175123456")
    payload = base64.urlsafe_b64encode(json.dumps(local_claims(auth, sub=other)).encode()).rstrip(b"=").decode()
    assert_refused(call(client, f"{header}.{payload}.{signature}"))


def test_unsigned_token_alg_none(client: TestClient, auth: AuthSettings) -> None:
    token = jwt.encode(local_claims(auth), key=None, algorithm="none")
    assert_refused(call(client, token))


def test_hmac_signed_with_the_public_key_is_refused(client: TestClient, auth: AuthSettings) -> None:
    public_pem = LocalSigningKey.load_or_create(auth.local_key_file).public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")
    payload = base64.urlsafe_b64encode(json.dumps(local_claims(auth)).encode()).rstrip(b"=")
    signature = hmac.new(public_pem, header + b"." + payload, hashlib.sha256).digest()
    token = (header + b"." + payload + b"." + base64.urlsafe_b64encode(signature).rstrip(b"=")).decode()
    assert_refused(call(client, token))


def test_wrong_audience(client: TestClient, auth: AuthSettings) -> None:
    response = call(client, sign_local(auth, local_claims(auth, aud="another-service")))
    assert_refused(response)
    assert "audience" in response.json()["detail"]


def test_unknown_issuer(client: TestClient, auth: AuthSettings) -> None:
    assert_refused(call(client, sign_local(auth, local_claims(auth, iss="https://idp.example.org"))))


@pytest.mark.parametrize("claim", ["exp", "iat", "sub", "aud"])
def test_required_claims(client: TestClient, auth: AuthSettings, claim: str) -> None:
    claims = local_claims(auth)
    del claims[claim]
    assert_refused(call(client, sign_local(auth, claims)))


@pytest.mark.parametrize(
    "changes",
    [
        {"sub": "185047512345699"},  # NIR with a wrong key
        {"role": "professional", "sub": "10101010104"},  # RPPS with a wrong check digit
        {"role": "superuser"},
        {"role": "insurer_agent", "sub": "agent-1"},  # an agent must name their organisation
        {"sub": 12},
    ],
)
def test_claims_that_name_no_known_caller(client: TestClient, auth: AuthSettings, changes: dict[str, Any]) -> None:
    assert_refused(call(client, sign_local(auth, local_claims(auth, **changes))))


def test_fhir_paths_answer_an_operation_outcome(client: TestClient) -> None:
    response = call(client, "garbage", "/fhir/Patient")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/fhir+json")
    assert response.json()["resourceType"] == "OperationOutcome"
    assert response.json()["issue"][0]["code"] == "login"


def test_local_issuer_is_off_unless_turned_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARCOURS_AUTH_LOCAL_ISSUER_ENABLED", raising=False)
    auth = AuthSettings(local_key_file=tmp_path / "key.pem")
    assert auth.local_issuer_enabled is False
    token = issue_token(Principal.patient(PATIENT_NIR), auth)
    refused = call(TestClient(make_app(auth)), token)
    assert refused.status_code == 401
    assert "non reconnu" in refused.json()["detail"]


def test_local_issuer_can_be_disabled(tmp_path: Path) -> None:
    auth = AuthSettings(local_key_file=tmp_path / "key.pem", local_issuer_enabled=False)
    token = issue_token(Principal.patient(PATIENT_NIR), auth)
    assert_refused(call(TestClient(make_app(auth)), token))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    token=st.one_of(
        st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=300),
        st.lists(st.binary(max_size=60), min_size=3, max_size=3).map(
            lambda parts: ".".join(base64.urlsafe_b64encode(p).rstrip(b"=").decode() for p in parts)
        ),
    )
)
def test_arbitrary_tokens_are_never_a_server_error(client: TestClient, token: str) -> None:
    response = call(client, token)
    assert response.status_code == 401


# --- an external identity provider (Pro Santé Connect profile) over a real JWKS endpoint --------------------------


class _JwksHandler(http.server.BaseHTTPRequestHandler):
    body = b"{}"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def provider_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks_url(provider_key: rsa.RSAPrivateKey) -> Iterator[str]:
    jwk = json.loads(RSAAlgorithm.to_jwk(provider_key.public_key()))
    handler = type("Handler", (_JwksHandler,), {"body": json.dumps({"keys": [{**jwk, "kid": "psc-1"}]}).encode()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/certs"
    server.shutdown()


def psc_settings(tmp_path: Path, url: str) -> AuthSettings:
    return AuthSettings(
        local_key_file=tmp_path / "key.pem",
        issuers=[
            TrustedIssuer(
                issuer=PSC_ISSUER,
                audience="parcours-client",
                profile=ClaimsProfile.PRO_SANTE_CONNECT,
                algorithms=("RS256",),
                jwks_url=url,
                identifier_prefix="8",
            )
        ],
    )


def psc_token(key: rsa.RSAPrivateKey, kid: str = "psc-1", **changes: Any) -> str:
    issued = int(now().timestamp())
    claims = {"iss": PSC_ISSUER, "aud": "parcours-client", "sub": "f:abc", "iat": issued, "exp": issued + 300,
              "SubjectNameID": "8" + RPPS, "given_name": "Claire", "family_name": "Martin", **changes}  # fmt: skip
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def test_pro_sante_connect_token_names_the_professional(
    tmp_path: Path, jwks_url: str, provider_key: rsa.RSAPrivateKey
) -> None:
    client = TestClient(make_app(psc_settings(tmp_path, jwks_url)))
    response = call(client, psc_token(provider_key))
    assert response.status_code == 200, response.text
    assert response.json() == {"role": Role.PROFESSIONAL.value, "identifier": RPPS, "issuer": PSC_ISSUER}


def test_pro_sante_connect_unknown_key_id(tmp_path: Path, jwks_url: str, provider_key: rsa.RSAPrivateKey) -> None:
    client = TestClient(make_app(psc_settings(tmp_path, jwks_url)))
    assert_refused(call(client, psc_token(provider_key, kid="rotated-away")))


def test_pro_sante_connect_forged_with_another_key(tmp_path: Path, jwks_url: str) -> None:
    client = TestClient(make_app(psc_settings(tmp_path, jwks_url)))
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert_refused(call(client, psc_token(forger)))


def test_pro_sante_connect_cannot_assert_a_patient(
    tmp_path: Path, jwks_url: str, provider_key: rsa.RSAPrivateKey
) -> None:
    client = TestClient(make_app(psc_settings(tmp_path, jwks_url)))
    token = psc_token(provider_key, SubjectNameID=PATIENT_NIR, role="patient")
    assert_refused(call(client, token))


class _HtmlHandler(http.server.BaseHTTPRequestHandler):
    """An identity provider behind a proxy that answers its error page instead of the keys."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(b"<html><body><h1>502 Bad Gateway</h1></body></html>")

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_jwks_url_answering_html_is_503_not_500(tmp_path: Path, provider_key: rsa.RSAPrivateKey) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HtmlHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/certs"
        client = TestClient(make_app(psc_settings(tmp_path, url)), raise_server_exceptions=False)
        response = call(client, psc_token(provider_key))
    finally:
        server.shutdown()
    assert response.status_code == 503
    assert "JWKS" in response.json()["detail"]
    assert response.headers["Retry-After"] == "30"


def test_unreachable_identity_provider_is_503_not_500(tmp_path: Path, provider_key: rsa.RSAPrivateKey) -> None:
    client = TestClient(make_app(psc_settings(tmp_path, "http://127.0.0.1:9/certs")))
    response = call(client, psc_token(provider_key))
    assert response.status_code == 503
    assert "injoignable" in response.json()["detail"]


def test_an_issuer_needs_exactly_one_key_source() -> None:
    with pytest.raises(ValueError, match="jwks_url"):
        TrustedIssuer(issuer="x", audience="y", profile=ClaimsProfile.FRANCECONNECT)
    with pytest.raises(ValueError, match="asymétriques"):
        TrustedIssuer(
            issuer="x", audience="y", profile=ClaimsProfile.FRANCECONNECT, jwks_url="http://x", algorithms=("HS256",)
        )


# --- the cache of verified tokens ------------------------------------------------------------------------------------


def test_a_cached_token_is_refused_once_it_expires(tmp_path: Path) -> None:
    """The cache vouches for a verified token for a minute, never past its own expiry."""
    auth = AuthSettings(local_key_file=tmp_path / "key.pem", local_issuer_enabled=True, leeway_seconds=0)
    client = TestClient(make_app(auth))
    lifetime = dt.timedelta(minutes=5)
    token = issue_token(
        Principal.patient(PATIENT_NIR), auth, lifetime=lifetime, now=now() - lifetime + dt.timedelta(seconds=2)
    )
    assert call(client, token).status_code == 200  # verified, now cached
    expiry = jwt.decode(token, options={"verify_signature": False})["exp"]
    time.sleep(max(0.0, expiry - time.time()) + 0.2)
    response = call(client, token)
    assert_refused(response)
    assert "expiré" in response.json()["detail"]


def test_a_token_changed_after_a_cached_verification_is_verified_afresh(client: TestClient, auth: AuthSettings) -> None:
    token = issue_token(Principal.patient(PATIENT_NIR), auth)
    assert call(client, token).status_code == 200
    header, _, signature = token.split(".")
    other = nir_with_key("2900175123456")
    payload = base64.urlsafe_b64encode(json.dumps(local_claims(auth, sub=other)).encode()).rstrip(b"=").decode()
    assert_refused(call(client, f"{header}.{payload}.{signature}"))
    assert call(client, token).json()["identifier"] == PATIENT_NIR
