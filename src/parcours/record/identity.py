"""Who is calling: the principal behind a verified bearer token.

Four kinds of callers use parcours: patients (identified by their NIR), health professionals (RPPS), agents of an
insurer (Assurance Maladie caisse, mutuelle) and administrators of the platform. A parent acts for a minor child as
a patient with their own NIR; whether they represent the child is a fact of the store (legal representatives),
never a claim of the token, so an identity provider that knows nothing of families (FranceConnect) is enough.

Tokens come from several issuers with different claim layouts: Pro Santé Connect for professionals, FranceConnect
for patients, parcours' own local issuer for the demo and the tests. ``ClaimsProfile`` says how to read each one;
everything here is pure (no I/O, no key handling) so that it is tested on plain dictionaries.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from parcours.rules.identifiers import validate_nir, validate_rpps

ROLE_CLAIM = "role"
NAME_CLAIM = "name"
ORGANISATION_CLAIM = "organisation"
AGENT_ID_MAX_LENGTH = 64


class Role(StrEnum):
    PATIENT = "patient"
    PROFESSIONAL = "professional"
    INSURER_AGENT = "insurer_agent"
    ADMINISTRATOR = "administrator"


ROLE_LABELS = {
    Role.PATIENT: "patient",
    Role.PROFESSIONAL: "professionnel de santé",
    Role.INSURER_AGENT: "agent de l'assurance maladie",
    Role.ADMINISTRATOR: "administrateur",
}


class ClaimsProfile(StrEnum):
    """How an issuer lays out the identity in its tokens."""

    PARCOURS = "parcours"  # role + sub (NIR, RPPS, agent or administrator id): the local issuer
    PRO_SANTE_CONNECT = "pro_sante_connect"  # professionals only; national id (8 + RPPS) in a claim
    FRANCECONNECT = "franceconnect"  # patients only; the NIR in a claim added by the deployment's gateway


class IdentityError(ValueError):
    """The token's claims do not describe a caller parcours knows how to serve (French message)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller."""

    role: Role
    identifier: str  # NIR for a patient, RPPS for a professional, agent or administrator id otherwise
    issuer: str = "parcours"
    display_name: str | None = None
    organisation: str | None = None  # the insurer (caisse, mutuelle) an agent works for

    @classmethod
    def patient(cls, nir: str, **extra: Any) -> Principal:
        return cls(Role.PATIENT, validate_nir(nir), **extra)

    @classmethod
    def professional(cls, rpps: str, **extra: Any) -> Principal:
        return cls(Role.PROFESSIONAL, validate_rpps(rpps), **extra)

    @classmethod
    def insurer_agent(cls, agent_id: str, **extra: Any) -> Principal:
        return cls(Role.INSURER_AGENT, _plain_identifier(agent_id, "identifiant d'agent"), **extra)

    @classmethod
    def administrator(cls, admin_id: str, **extra: Any) -> Principal:
        return cls(Role.ADMINISTRATOR, _plain_identifier(admin_id, "identifiant d'administrateur"), **extra)

    @property
    def nir(self) -> str | None:
        return self.identifier if self.role is Role.PATIENT else None

    @property
    def rpps(self) -> str | None:
        return self.identifier if self.role is Role.PROFESSIONAL else None

    @property
    def actor(self) -> str:
        """Stable text naming the caller in the audit trail: ``professional:10003456789``."""
        return f"{self.role.value}:{self.identifier}"

    def describe(self) -> str:
        label = ROLE_LABELS[self.role]
        return f"{label} {self.display_name} ({self.identifier})" if self.display_name else f"{label} {self.identifier}"


def _plain_identifier(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise IdentityError(f"{what} manquant")
    text = value.strip()
    if len(text) > AGENT_ID_MAX_LENGTH or not all(c.isalnum() or c in "-_.@" for c in text):
        raise IdentityError(f"{what} invalide (lettres, chiffres, - _ . @ ; au plus {AGENT_ID_MAX_LENGTH})")
    return text


def _optional_text(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    return value.strip() or None if isinstance(value, str) else None


def principal_from_claims(
    claims: Mapping[str, Any],
    *,
    profile: ClaimsProfile,
    issuer: str,
    identifier_claim: str | None = None,
    identifier_prefix: str = "",
) -> Principal:
    """Read the caller out of verified claims. Raises IdentityError when they do not name one.

    ``identifier_claim`` overrides where the NIR or RPPS is read for the external profiles; ``identifier_prefix``
    is stripped from it (Pro Santé Connect's national identifier is ``8`` followed by the RPPS).
    """
    name = _optional_text(claims, NAME_CLAIM)
    if profile is ClaimsProfile.PARCOURS:
        raw_role = claims.get(ROLE_CLAIM)
        try:
            role = Role(str(raw_role))
        except ValueError:
            raise IdentityError(f"rôle inconnu dans le jeton : {raw_role!r}") from None
        subject = claims.get("sub")
        if not isinstance(subject, str):
            raise IdentityError("identifiant (sub) manquant dans le jeton")
        try:
            if role is Role.PATIENT:
                return Principal.patient(subject, issuer=issuer, display_name=name)
            if role is Role.PROFESSIONAL:
                return Principal.professional(subject, issuer=issuer, display_name=name)
        except ValueError as exc:
            raise IdentityError(f"identifiant du jeton invalide : {exc}") from None
        organisation = _optional_text(claims, ORGANISATION_CLAIM)
        if role is Role.INSURER_AGENT:
            if organisation is None:
                raise IdentityError("un jeton d'agent doit nommer son organisme (organisation)")
            return Principal.insurer_agent(subject, issuer=issuer, display_name=name, organisation=organisation)
        return Principal.administrator(subject, issuer=issuer, display_name=name, organisation=organisation)

    default_claim = "SubjectNameID" if profile is ClaimsProfile.PRO_SANTE_CONNECT else "nir"
    claim = identifier_claim or default_claim
    raw = claims.get(claim)
    if not isinstance(raw, str) or not raw:
        raise IdentityError(f"le jeton ne porte pas l'identifiant attendu ({claim})")
    if identifier_prefix and raw.startswith(identifier_prefix):
        raw = raw[len(identifier_prefix) :]
    if name is None:
        given, family = _optional_text(claims, "given_name"), _optional_text(claims, "family_name")
        name = " ".join(part for part in (given, family) if part) or None
    try:
        if profile is ClaimsProfile.PRO_SANTE_CONNECT:
            return Principal.professional(raw, issuer=issuer, display_name=name)
        return Principal.patient(raw, issuer=issuer, display_name=name)
    except ValueError as exc:
        raise IdentityError(f"identifiant du jeton invalide : {exc}") from None


def claims_for(
    principal: Principal, *, issuer: str, audience: str, lifetime: dt.timedelta, now: dt.datetime
) -> dict[str, Any]:
    """The claims parcours' local issuer puts in a token for ``principal`` (the PARCOURS profile)."""
    issued = int(now.timestamp())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": principal.identifier,
        ROLE_CLAIM: principal.role.value,
        "iat": issued,
        "nbf": issued,
        "exp": issued + int(lifetime.total_seconds()),
        "jti": uuid.uuid4().hex,
    }
    if principal.display_name:
        claims[NAME_CLAIM] = principal.display_name
    if principal.organisation:
        claims[ORGANISATION_CLAIM] = principal.organisation
    return claims
