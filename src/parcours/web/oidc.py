"""OpenID Connect sign-in for the web spaces: authorization code flow with PKCE (S256), state and nonce.

FranceConnect signs patients in, Pro Santé Connect professionals (``PARCOURS_WEB_FRANCECONNECT`` and
``PARCOURS_WEB_PRO_SANTE_CONNECT``, JSON: issuer, client_id, client_secret, scopes, identifier_claim…). Authlib builds
the authorization URL with the PKCE challenge and exchanges the code (with its verifier) for tokens; the ID token is
verified with PyJWT against the provider's JWKS (signature, issuer, audience, expiry, nonce), as the API verifies its
bearer tokens; its claims become a ``Principal`` by the same ``principal_from_claims`` the API uses. The state, the
nonce and the verifier wait in the signed session cookie between the two legs.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx2
import jwt
from authlib.integrations.httpx_client import OAuth2Client

from parcours.record.identity import ClaimsProfile, IdentityError, Principal, principal_from_claims
from parcours.settings import OidcProvider, WebSettings
from parcours.web.session import PENDING_SECONDS

PROVIDERS: dict[str, tuple[str, ClaimsProfile, str]] = {
    # key in the URL: (settings attribute, claims profile, label shown)
    "franceconnect": ("franceconnect", ClaimsProfile.FRANCECONNECT, "FranceConnect"),
    "pro-sante-connect": ("pro_sante_connect", ClaimsProfile.PRO_SANTE_CONNECT, "Pro Santé Connect"),
}
LEEWAY_SECONDS = 30


class SignInError(Exception):
    """The sign-in with the identity provider failed (French message for the person)."""


@dataclass(frozen=True)
class Configured:
    key: str
    label: str
    provider: OidcProvider
    profile: ClaimsProfile


def configured(settings: WebSettings) -> list[Configured]:
    found = []
    for key, (attribute, profile, label) in PROVIDERS.items():
        provider = getattr(settings, attribute)
        if provider is not None:
            found.append(Configured(key, label, provider, profile))
    return found


def provider(settings: WebSettings, key: str) -> Configured | None:
    return next((c for c in configured(settings) if c.key == key), None)


class OidcClient:
    """The two legs of the sign-in with one provider. ``transport`` lets a test answer for the provider."""

    def __init__(self, settings: WebSettings, transport: httpx2.BaseTransport | None = None) -> None:
        self.settings = settings
        self.transport = transport
        self._metadata: dict[str, tuple[float, dict[str, Any]]] = {}

    def _http(self) -> httpx2.Client:
        return httpx2.Client(timeout=self.settings.oidc_timeout_seconds, transport=self.transport)

    def metadata(self, config: Configured) -> dict[str, Any]:
        cached = self._metadata.get(config.key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        try:
            with self._http() as http:
                response = http.get(config.provider.discovery_url)
                response.raise_for_status()
                data = response.json()
        except (httpx2.HTTPError, ValueError):
            raise SignInError(f"{config.label} est injoignable pour le moment : réessayez plus tard") from None
        if not isinstance(data, dict) or data.get("issuer") != config.provider.issuer:
            raise SignInError(f"la configuration publiée par {config.label} ne correspond pas à l'émetteur attendu")
        self._metadata[config.key] = (time.monotonic() + 3600, data)
        return data

    def _client(self, config: Configured, redirect_uri: str) -> OAuth2Client:
        secret = config.provider.client_secret.get_secret_value() if config.provider.client_secret else None
        return OAuth2Client(
            client_id=config.provider.client_id, client_secret=secret, scope=config.provider.scopes,
            redirect_uri=redirect_uri, code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_post" if secret else "none",
            timeout=self.settings.oidc_timeout_seconds, transport=self.transport,
        )  # fmt: skip

    def start(self, config: Configured, redirect_uri: str) -> tuple[str, dict[str, str]]:
        """The provider's authorization URL, and what the session must keep until the person comes back."""
        metadata = self.metadata(config)
        verifier = secrets.token_urlsafe(64)
        nonce = secrets.token_urlsafe(24)
        with self._client(config, redirect_uri) as client:
            url, state = client.create_authorization_url(
                metadata["authorization_endpoint"], state=secrets.token_urlsafe(24), code_verifier=verifier,
                nonce=nonce,
            )  # fmt: skip
        pending = {"provider": config.key, "state": state, "nonce": nonce, "verifier": verifier,
                   "redirect_uri": redirect_uri, "until": str(int(time.time()) + PENDING_SECONDS)}  # fmt: skip
        return url, pending

    def finish(self, config: Configured, pending: dict[str, str] | None, params: dict[str, str]) -> Principal:
        """Check the provider's answer against the pending sign-in, exchange the code, verify the ID token."""
        if pending is None or pending.get("provider") != config.key or int(pending.get("until", "0")) < time.time():
            raise SignInError("la connexion a expiré ou n'a pas été commencée ici : recommencez")
        if "error" in params:
            raise SignInError(f"{config.label} n'a pas confirmé votre identité ({params['error']})")
        state = params.get("state", "")
        if not state or not secrets.compare_digest(state, pending["state"]):
            raise SignInError("réponse du fournisseur d'identité inattendue (state) : recommencez")
        code = params.get("code")
        if not code:
            raise SignInError("réponse du fournisseur d'identité sans code d'autorisation")
        metadata = self.metadata(config)
        try:
            with self._client(config, pending["redirect_uri"]) as client:
                token = client.fetch_token(metadata["token_endpoint"], grant_type="authorization_code", code=code,
                                           code_verifier=pending["verifier"])  # fmt: skip
        except Exception:
            raise SignInError(f"{config.label} a refusé le code d'autorisation : recommencez") from None
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise SignInError(f"{config.label} n'a pas renvoyé de jeton d'identité")
        claims = self._verify(config, metadata, id_token, pending["nonce"])
        try:
            return principal_from_claims(
                claims, profile=config.profile, issuer=config.provider.issuer,
                identifier_claim=config.provider.identifier_claim, identifier_prefix=config.provider.identifier_prefix,
            )  # fmt: skip
        except IdentityError as exc:
            raise SignInError(str(exc)) from None

    def _verify(self, config: Configured, metadata: dict[str, Any], id_token: str, nonce: str) -> dict[str, Any]:
        try:
            with self._http() as http:
                keys = http.get(metadata["jwks_uri"])
                keys.raise_for_status()
                key_set = jwt.PyJWKSet.from_dict(keys.json())
            kid = jwt.get_unverified_header(id_token).get("kid")
            candidates = [k for k in key_set.keys if kid is None or k.key_id == kid]
            if not candidates:
                raise SignInError("jeton d'identité signé par une clé inconnue du fournisseur")
            claims: dict[str, Any] = jwt.decode(
                id_token, candidates[0].key, algorithms=list(config.provider.algorithms),
                audience=config.provider.client_id, issuer=config.provider.issuer, leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )  # fmt: skip
        except SignInError:
            raise
        except (httpx2.HTTPError, ValueError, KeyError, jwt.PyJWTError):
            raise SignInError("jeton d'identité invalide (signature, émetteur, audience ou expiration)") from None
        if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise SignInError("jeton d'identité rejoué ou destiné à une autre connexion (nonce)")
        return claims
