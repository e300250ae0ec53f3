"""OpenID Connect sign-in (authorization code + PKCE) against a provider answered in-process: it publishes its
metadata and keys, checks the PKCE verifier against the challenge it was given (S256) and signs a real ID token.
The provider is the one thing that cannot run here (FranceConnect); parcours' side runs as in production."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from jwt.algorithms import ECAlgorithm

from parcours.api.app import create_app
from parcours.settings import OidcProvider, WebSettings
from parcours.store.db import Database
from parcours.web.oidc import OidcClient

from .conftest import DemoTown

ISSUER = "https://idp.test/api/v2"
CLIENT = "parcours-test"


@dataclass
class Provider:
    """The identity provider's side: authorization codes it handed out, and what it puts in the ID token."""

    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    claims: dict[str, Any] = field(default_factory=dict)
    audience: str = CLIENT
    exchanged: list[str] = field(default_factory=list)

    def authorize(self, url: str) -> dict[str, str]:
        """The person signs in at the provider; it sends them back with a code (the query of the return URL)."""
        query = {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}
        assert query["code_challenge_method"] == "S256"
        assert query["client_id"] == CLIENT
        assert query["response_type"] == "code"
        code = f"code-{len(self.codes)}"
        self.codes[code] = query
        return {"code": code, "state": query["state"]}

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        if path.endswith("/.well-known/openid-configuration"):
            return httpx2.Response(200, json={"issuer": ISSUER, "authorization_endpoint": f"{ISSUER}/authorize",
                                             "token_endpoint": f"{ISSUER}/token", "jwks_uri": f"{ISSUER}/jwks"})  # fmt: skip
        if path.endswith("/jwks"):
            jwk = json.loads(ECAlgorithm.to_jwk(self.key.public_key()))
            return httpx2.Response(200, json={"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "ES256"}]})
        if path.endswith("/token"):
            form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
            asked = self.codes.pop(form.get("code", ""), None)
            if asked is None or form.get("client_id") != CLIENT:
                return httpx2.Response(400, json={"error": "invalid_grant"})
            digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != asked["code_challenge"]:
                return httpx2.Response(400, json={"error": "invalid_grant", "error_description": "PKCE"})
            if form.get("redirect_uri") != asked["redirect_uri"]:
                return httpx2.Response(400, json={"error": "invalid_grant"})
            self.exchanged.append(form["code"])
            now = int(time.time())
            claims = {"iss": ISSUER, "aud": self.audience, "sub": "fc-sub-1", "iat": now, "exp": now + 60,
                      "nonce": asked["nonce"], **self.claims}  # fmt: skip
            token = jwt.encode(claims, self.key, algorithm="ES256", headers={"kid": "k1"})
            return httpx2.Response(200, json={"access_token": "at", "token_type": "Bearer", "id_token": token})
        return httpx2.Response(404)


@pytest.fixture
def provider(demo_town: DemoTown) -> Provider:
    person = demo_town.people["patients"][0]
    given, family = person.name.split(" ", 1)
    return Provider(claims={"nir": person.identifier, "given_name": given, "family_name": family})


@pytest.fixture
def oidc_client(demo_town: DemoTown, provider: Provider) -> Iterator[TestClient]:
    settings = WebSettings(session_secret="oidc-tests", cookie_secure=False,  # type: ignore[arg-type]
                           franceconnect=OidcProvider(issuer=ISSUER, client_id=CLIENT, client_secret="s3cret"))  # type: ignore[arg-type]  # fmt: skip
    database = Database(demo_town.url)
    app = create_app(database, web=settings)
    app.state.oidc_client = OidcClient(settings, transport=httpx2.MockTransport(provider.handle))
    with TestClient(app, follow_redirects=False) as client:
        yield client
    database.dispose()


def _start(client: TestClient) -> str:
    page = client.get("/connexion")
    assert "Se connecter avec FranceConnect" in page.text
    started = client.get("/connexion/franceconnect?suite=/espace/patient")
    assert started.status_code == 303
    assert started.headers["location"].startswith(f"{ISSUER}/authorize?")
    return str(started.headers["location"])


def test_sign_in_with_the_provider(oidc_client: TestClient, provider: Provider, demo_town: DemoTown) -> None:
    back = provider.authorize(_start(oidc_client))
    answer = oidc_client.get("/connexion/franceconnect/retour", params=back)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/espace/patient"
    home = oidc_client.get("/espace/patient")
    assert home.status_code == 200
    assert demo_town.people["patients"][0].name in home.text
    assert provider.exchanged  # the code was exchanged with its PKCE verifier


def test_a_wrong_state_signs_nobody_in(oidc_client: TestClient, provider: Provider) -> None:
    back = provider.authorize(_start(oidc_client))
    answer = oidc_client.get("/connexion/franceconnect/retour", params={**back, "state": "forged"})
    assert answer.status_code == 401
    assert "state" in answer.text
    assert oidc_client.get("/espace/patient").status_code == 303


def test_a_return_without_a_sign_in_started_here_is_refused(oidc_client: TestClient, provider: Provider) -> None:
    other = TestClient(oidc_client.app, follow_redirects=False)
    back = provider.authorize(_start(other))  # started in another browser
    answer = oidc_client.get("/connexion/franceconnect/retour", params=back)
    assert answer.status_code == 401
    assert not provider.exchanged


def test_an_id_token_for_another_client_is_refused(oidc_client: TestClient, provider: Provider) -> None:
    provider.audience = "someone-else"
    back = provider.authorize(_start(oidc_client))
    answer = oidc_client.get("/connexion/franceconnect/retour", params=back)
    assert answer.status_code == 401
    assert "jeton d&#39;identité invalide" in answer.text


def test_a_token_without_the_nir_signs_nobody_in(oidc_client: TestClient, provider: Provider) -> None:
    provider.claims.pop("nir")
    back = provider.authorize(_start(oidc_client))
    answer = oidc_client.get("/connexion/franceconnect/retour", params=back)
    assert answer.status_code == 401
    assert "nir" in answer.text
