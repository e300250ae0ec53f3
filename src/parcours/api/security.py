"""Bearer-token authentication: every API call names its caller with an OpenID Connect style JWT.

Tokens are verified with PyJWT against the issuers parcours trusts, all of them configuration
(``PARCOURS_AUTH_*``): Pro Santé Connect for professionals and FranceConnect for patients in production (keys from
their JWKS URL), and parcours' own local issuer for the demo and the tests (an ES256 key in a file, created on first
use; ``parcours token issue`` signs with it). Signature, issuer, audience, expiry and not-before are all checked;
anything wrong — expired, forged, wrongly signed, meant for another audience, malformed — is a 401 with a
``WWW-Authenticate: Bearer`` header (RFC 6750), never a 500.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from jwt.algorithms import ECAlgorithm
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from parcours.api.errors import error_body
from parcours.record.access import Basis
from parcours.record.guard import AccessDeniedError, record_refusal
from parcours.record.identity import ClaimsProfile, IdentityError, Principal, claims_for, principal_from_claims

LOCAL_ALGORITHM = "ES256"
ASYMMETRIC_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"})
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]
MAX_TOKEN_LENGTH = 16_384
REALM = "parcours"


def _default_key_file() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "parcours" / "token-signing-key.pem"


class TrustedIssuer(BaseModel):
    """An external identity provider whose tokens parcours accepts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    issuer: str = Field(min_length=1, description="Valeur exacte de la revendication iss")
    audience: str = Field(min_length=1, description="Audience attendue (identifiant client de parcours)")
    profile: ClaimsProfile
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    jwks_url: str | None = None
    public_key_pem: str | None = None
    identifier_claim: str | None = None
    identifier_prefix: str = ""

    @model_validator(mode="after")
    def _one_key_source(self) -> TrustedIssuer:
        if (self.jwks_url is None) == (self.public_key_pem is None):
            raise ValueError("indiquer soit jwks_url, soit public_key_pem")
        unsupported = set(self.algorithms) - ASYMMETRIC_ALGORITHMS
        if unsupported or not self.algorithms:
            raise ValueError(f"algorithmes non admis : {sorted(unsupported)} (signatures asymétriques seulement)")
        return self


class AuthSettings(BaseSettings):
    """Authentication configuration, from ``PARCOURS_AUTH_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="PARCOURS_AUTH_", extra="forbid")

    # opt-in: tokens signed by a key file on the server's disk are for the demo (``serve --demo`` turns it on) and
    # the tests; production trusts its identity providers (``issuers``) only
    local_issuer_enabled: bool = False
    local_issuer: str = "urn:parcours:local"
    audience: str = "parcours"
    local_key_file: Path = Field(default_factory=_default_key_file)
    token_lifetime_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)
    # an operational choice, not a legal figure: long enough to hand the phone to the doctor, short enough not to
    # be reused another day
    presence_attestation_minutes: int = Field(default=10, ge=1, le=24 * 60)
    leeway_seconds: int = Field(default=30, ge=0, le=300)
    jwks_cache_seconds: int = Field(default=300, ge=0)
    jwks_timeout_seconds: float = Field(default=5.0, gt=0)
    # a token whose signature was checked is taken again without checking it for this long (never past its expiry):
    # the signature and claims checks cost more than the rest of a read; 0 checks every time
    verified_token_cache_seconds: int = Field(default=60, ge=0, le=3600)
    issuers: list[TrustedIssuer] = Field(default_factory=list)


class AuthenticationError(Exception):
    """The request does not carry a token parcours can trust.

    ``message`` is French for people; ``error``/``description`` go to the ``WWW-Authenticate`` header, which only
    admits ASCII.
    """

    def __init__(self, message: str, *, error: str | None = "invalid_token", description: str = "", status: int = 401):
        super().__init__(message)
        self.message = message
        self.error = error
        self.description = description
        self.status = status

    def challenge(self) -> str:
        parts = [f'Bearer realm="{REALM}"']
        if self.error:
            parts.append(f'error="{self.error}"')
        if self.description:
            parts.append(f'error_description="{self.description}"')
        return ", ".join(parts)


# --- the local issuer's key ----------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class LocalSigningKey:
    """The ES256 key of parcours' own issuer (demo and tests)."""

    private_key: ec.EllipticCurvePrivateKey

    @classmethod
    def load_or_create(cls, path: Path) -> LocalSigningKey:
        """Read the PEM key at ``path``, creating it (mode 0600, atomically) when it does not exist yet."""
        try:
            return cls.from_pem(path.read_bytes())
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".token-key-")
        try:
            os.fchmod(handle, 0o600)
            os.write(handle, pem)
            os.close(handle)
            try:
                os.link(temporary, path)  # fails if another process created it first: then use theirs
            except FileExistsError:
                return cls.from_pem(path.read_bytes())
        finally:
            os.unlink(temporary)
        return cls(key)

    @classmethod
    def from_pem(cls, pem: bytes) -> LocalSigningKey:
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
            raise ValueError("la clé de signature locale doit être une clé EC P-256 (ES256)")
        return cls(key)

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self.private_key.public_key()

    @cached_property
    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(self.public_key))
        # RFC 7638 thumbprint: the required members, sorted, no whitespace.
        required = {name: jwk[name] for name in ("crv", "kty", "x", "y")}
        canonical = json.dumps(required, separators=(",", ":"), sort_keys=True).encode()
        return {**required, "kid": _b64url(hashlib.sha256(canonical).digest()), "use": "sig", "alg": LOCAL_ALGORITHM}

    @property
    def key_id(self) -> str:
        return str(self.public_jwk["kid"])

    def sign(self, claims: Mapping[str, Any]) -> str:
        return jwt.encode(dict(claims), self.private_key, algorithm=LOCAL_ALGORITHM, headers={"kid": self.key_id})


def issue_token(
    principal: Principal,
    settings: AuthSettings | None = None,
    *,
    lifetime: dt.timedelta | None = None,
    now: dt.datetime | None = None,
) -> str:
    """A token of the local issuer for ``principal`` (``parcours token issue``, demo, tests)."""
    settings = settings or AuthSettings()
    key = LocalSigningKey.load_or_create(settings.local_key_file)
    claims = claims_for(
        principal,
        issuer=settings.local_issuer,
        audience=settings.audience,
        lifetime=lifetime or dt.timedelta(minutes=settings.token_lifetime_minutes),
        now=now or dt.datetime.now(dt.UTC),
    )
    return key.sign(claims)


# --- verification --------------------------------------------------------------------------------------------


@dataclass
class _Issuer:
    config: TrustedIssuer
    static_key: Any = None
    jwks: jwt.PyJWKClient | None = None

    def key_for(self, token: str) -> Any:
        if self.jwks is None:
            return self.static_key
        try:
            return self.jwks.get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientConnectionError:
            raise AuthenticationError(
                "le fournisseur d'identité est injoignable : jeton impossible à vérifier pour le moment",
                error=None,
                status=503,
            ) from None
        except (jwt.PyJWKClientError, jwt.PyJWKError, jwt.DecodeError):
            raise AuthenticationError(
                "jeton signé par une clé inconnue du fournisseur d'identité", description="unknown signing key"
            ) from None
        except ValueError:  # the JWKS URL answered something that is not JSON (an error page, a proxy's HTML)
            raise AuthenticationError(
                "le fournisseur d'identité a répondu par autre chose qu'un jeu de clés JWKS : jeton impossible à "
                "vérifier pour le moment",
                error=None,
                status=503,
            ) from None


@dataclass(frozen=True, slots=True)
class _Verified:
    principal: Principal
    expires: float  # the token's exp, in seconds since the epoch
    until: float  # when the cache stops vouching for it (monotonic clock)


VERIFIED_TOKENS_KEPT = 4096


class TokenVerifier:
    """Checks bearer tokens against the trusted issuers and returns the caller."""

    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        self._issuers: dict[str, _Issuer] = {}
        # token -> what its verification found; the whole token is the key, so a changed byte is verified afresh
        self._verified: dict[str, _Verified] = {}
        self._verified_lock = threading.Lock()
        for trusted in settings.issuers:
            if trusted.jwks_url is not None:
                client = jwt.PyJWKClient(
                    trusted.jwks_url,
                    cache_keys=True,
                    lifespan=settings.jwks_cache_seconds or 1,
                    cache_jwk_set=settings.jwks_cache_seconds > 0,
                    timeout=settings.jwks_timeout_seconds,
                )
                self._issuers[trusted.issuer] = _Issuer(trusted, jwks=client)
            else:
                assert trusted.public_key_pem is not None
                public = serialization.load_pem_public_key(trusted.public_key_pem.encode())
                self._issuers[trusted.issuer] = _Issuer(trusted, static_key=public)
        if settings.local_issuer_enabled:
            local = LocalSigningKey.load_or_create(settings.local_key_file)
            config = TrustedIssuer(
                issuer=settings.local_issuer,
                audience=settings.audience,
                profile=ClaimsProfile.PARCOURS,
                algorithms=(LOCAL_ALGORITHM,),
                public_key_pem="(local)",
            )
            self._issuers[settings.local_issuer] = _Issuer(config, static_key=local.public_key)

    def known(self, token: str) -> Principal | None:
        """The caller of a token verified less than ``verified_token_cache_seconds`` ago (no work: no signature
        check, no key fetch), None if it must be verified; raises if it has expired since."""
        known = self._verified.get(token) if self.settings.verified_token_cache_seconds else None
        if known is None or time.monotonic() >= known.until:
            return None
        if time.time() >= known.expires + self.settings.leeway_seconds:
            raise AuthenticationError("jeton expiré", description="token expired")
        return known.principal

    def verify(self, token: str) -> Principal:
        ttl = self.settings.verified_token_cache_seconds
        if ttl == 0:
            return self._verify(token)[0]
        principal = self.known(token)
        if principal is not None:
            return principal
        principal, expires = self._verify(token)
        with self._verified_lock:
            if len(self._verified) >= VERIFIED_TOKENS_KEPT:
                self._verified.clear()  # rare (as many live tokens as that): start again rather than track ages
            self._verified[token] = _Verified(principal, expires, time.monotonic() + ttl)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        """The caller a token names and its expiry, after every check (signature, issuer, audience, times)."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise AuthenticationError("jeton vide ou trop long", description="malformed token")
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except (jwt.PyJWTError, ValueError, TypeError):
            raise AuthenticationError("jeton illisible (JWT attendu)", description="malformed token") from None
        if not isinstance(header, dict) or not isinstance(unverified, dict):
            raise AuthenticationError("jeton illisible (JWT attendu)", description="malformed token")
        claimed_issuer = unverified.get("iss")
        issuer = self._issuers.get(claimed_issuer) if isinstance(claimed_issuer, str) else None
        if issuer is None:
            raise AuthenticationError(
                "jeton émis par un fournisseur d'identité non reconnu", description="unknown issuer"
            )
        config = issuer.config
        key = issuer.key_for(token)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=list(config.algorithms),
                audience=config.audience,
                issuer=config.issuer,
                leeway=self.settings.leeway_seconds,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("jeton expiré", description="token expired") from None
        except jwt.ImmatureSignatureError:
            raise AuthenticationError("jeton pas encore valide", description="token not yet valid") from None
        except jwt.InvalidAudienceError:
            raise AuthenticationError(
                "jeton destiné à un autre service (audience)", description="wrong audience"
            ) from None
        except jwt.InvalidIssuerError:
            raise AuthenticationError("émetteur du jeton invalide", description="wrong issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthenticationError(
                f"revendication obligatoire absente du jeton : {exc.claim}", description="missing claim"
            ) from None
        except jwt.InvalidAlgorithmError:
            raise AuthenticationError(
                "algorithme de signature non admis", description="algorithm not allowed"
            ) from None
        except (jwt.InvalidSignatureError, jwt.InvalidKeyError):
            raise AuthenticationError("signature du jeton invalide", description="invalid signature") from None
        except (jwt.PyJWTError, ValueError, TypeError):
            raise AuthenticationError("jeton invalide", description="invalid token") from None
        try:
            principal = principal_from_claims(
                claims,
                profile=config.profile,
                issuer=config.issuer,
                identifier_claim=config.identifier_claim,
                identifier_prefix=config.identifier_prefix,
            )
            return principal, float(claims["exp"])
        except IdentityError as exc:
            raise AuthenticationError(str(exc), description="token does not name a known caller") from None


# --- presence attestations (the carte Vitale moment) -----------------------------------------------------------

ATTESTATION_TYPE = "vitale-attestation"


@dataclass(frozen=True, slots=True)
class PresenceAttestation:
    """The patient (or a legal representative of a minor) was present and agreed to see this professional."""

    patient_nir: str
    professional_rpps: str
    signer_nir: str  # the patient, or the representative who attested for a minor
    issued_at: dt.datetime
    expires_at: dt.datetime


class AttestationError(ValueError):
    """Why a presence attestation is not accepted (French, for the audit trail)."""


class PresenceAttestations:
    """Short-lived attestations signed with the service's local key, bound to one patient and one professional.

    The audience is not the API's, so an attestation can never be used as a bearer token, nor a bearer token as an
    attestation."""

    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        self.audience = f"{settings.audience}:{ATTESTATION_TYPE}"

    @cached_property
    def _key(self) -> LocalSigningKey:
        return LocalSigningKey.load_or_create(self.settings.local_key_file)

    def issue(
        self, patient_nir: str, professional_rpps: str, signer_nir: str, *, now: dt.datetime | None = None
    ) -> tuple[str, PresenceAttestation]:
        issued = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
        expires = issued + dt.timedelta(minutes=self.settings.presence_attestation_minutes)
        claims = {
            "iss": self.settings.local_issuer, "aud": self.audience, "typ": ATTESTATION_TYPE, "sub": patient_nir,
            "rpps": professional_rpps, "signer": signer_nir, "iat": issued, "exp": expires,
            "jti": _b64url(os.urandom(16)),
        }  # fmt: skip
        return self._key.sign(claims), PresenceAttestation(patient_nir, professional_rpps, signer_nir, issued, expires)

    def verify(self, token: str | None, *, patient_nir: str, professional_rpps: str) -> PresenceAttestation:
        """The attestation if it is genuine, current and made for this patient and this professional."""
        if not token:
            raise AttestationError("aucune attestation de présence fournie")
        if len(token) > MAX_TOKEN_LENGTH:
            raise AttestationError("attestation illisible")
        try:
            claims = jwt.decode(
                token, self._key.public_key, algorithms=[LOCAL_ALGORITHM], audience=self.audience,
                issuer=self.settings.local_issuer, leeway=self.settings.leeway_seconds,
                options={"require": ["exp", "iat", "sub", "rpps", "signer", "typ"]},
            )  # fmt: skip
        except jwt.ExpiredSignatureError:
            raise AttestationError("attestation de présence expirée") from None
        except (jwt.PyJWTError, ValueError, TypeError):
            raise AttestationError("attestation de présence invalide (signature, émetteur ou format)") from None
        if claims.get("typ") != ATTESTATION_TYPE:
            raise AttestationError("ce jeton n'est pas une attestation de présence")
        if claims.get("sub") != patient_nir:
            raise AttestationError("attestation établie pour un autre patient")
        if claims.get("rpps") != professional_rpps:
            raise AttestationError("attestation établie pour un autre professionnel")
        return PresenceAttestation(
            patient_nir=patient_nir,
            professional_rpps=professional_rpps,
            signer_nir=str(claims["signer"]),
            issued_at=dt.datetime.fromtimestamp(int(claims["iat"]), dt.UTC),
            expires_at=dt.datetime.fromtimestamp(int(claims["exp"]), dt.UTC),
        )


async def presence_attestations(request: Request) -> PresenceAttestations:
    """Async: an attribute read, no reason to hop to a worker thread (FastAPI runs sync dependencies in one)."""
    attestations: PresenceAttestations = request.app.state.presence_attestations
    return attestations


Attestations = Annotated[PresenceAttestations, Depends(presence_attestations)]


# --- FastAPI wiring ------------------------------------------------------------------------------------------

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="jeton",
    bearerFormat="JWT",
    description=(
        "Jeton OpenID Connect (Pro Santé Connect, FranceConnect) ou, pour la démonstration, "
        "jeton local obtenu par `parcours token issue`."
    ),
)


async def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]
) -> Principal:
    """The authenticated caller; a 401 when there is none or the token is not trusted. A token verified moments ago
    is answered in the event loop; verifying one (a signature, maybe a key fetched from the issuer) runs in a worker
    thread, like every blocking call."""
    if credentials is None:
        raise AuthenticationError("authentification requise : jeton Bearer attendu (en-tête Authorization)", error=None)
    verifier: TokenVerifier = request.app.state.token_verifier
    principal = verifier.known(credentials.credentials)
    if principal is None:
        principal = await run_in_threadpool(verifier.verify, credentials.credentials)
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def _authentication_failed(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AuthenticationError)
    headers = {"WWW-Authenticate": exc.challenge()} if exc.status == 401 else {"Retry-After": "30"}
    if request.url.path.startswith("/fhir"):
        outcome = {
            "resourceType": "OperationOutcome",
            "issue": [
                {"severity": "error", "code": "login" if exc.status == 401 else "transient", "diagnostics": exc.message}
            ],
        }
        return JSONResponse(outcome, status_code=exc.status, headers=headers, media_type="application/fhir+json")
    return JSONResponse({"detail": exc.message}, status_code=exc.status, headers=headers)


def _access_denied(request: Request, exc: Exception) -> JSONResponse:
    """403, after tracing the refusal in a transaction of its own (the request's was rolled back)."""
    assert isinstance(exc, AccessDeniedError)
    database = getattr(request.app.state, "database", None)
    if database is not None:
        with database.unit_of_work() as session:
            record_refusal(session, exc)
    fhir = request.url.path.startswith("/fhir")
    if exc.decision.basis is Basis.HIDDEN_FROM_REPRESENTATIVES:
        # what a minor keeps secret from their parents does not exist for them: the answer of a missing entry
        if fhir:
            missing = f"{exc.draft.resource_type}/{exc.draft.resource_id} introuvable"
            outcome = {"resourceType": "OperationOutcome",
                       "issue": [{"severity": "error", "code": "not-found", "diagnostics": missing}]}  # fmt: skip
            return JSONResponse(outcome, status_code=404, media_type="application/fhir+json")
        return JSONResponse(error_body("entry_id", "entrée du dossier introuvable"), status_code=404)
    if fhir:
        outcome = {"resourceType": "OperationOutcome",
                   "issue": [{"severity": "error", "code": "forbidden", "diagnostics": exc.message}]}  # fmt: skip
        return JSONResponse(outcome, status_code=403, media_type="application/fhir+json")
    field = "vitale_attestation" if exc.decision.basis is Basis.PRESENCE_NOT_PROVEN else "autorisation"
    return JSONResponse(error_body(field, exc.message), status_code=403)


def install_security(app: FastAPI, settings: AuthSettings | None = None) -> TokenVerifier:
    """Attach the token verifier to ``app``; answer authentication failures with 401 (or 503) and refused
    accesses with 403 (traced)."""
    settings = settings or AuthSettings()
    verifier = TokenVerifier(settings)
    app.state.token_verifier = verifier
    app.state.presence_attestations = PresenceAttestations(settings)
    app.add_exception_handler(AuthenticationError, _authentication_failed)
    app.add_exception_handler(AccessDeniedError, _access_denied)
    return verifier
