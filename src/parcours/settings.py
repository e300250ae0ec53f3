"""Application settings, from ``PARCOURS_*`` environment variables.

The default database is a SQLite file under ``./var`` so that the application runs with nothing to install;
production sets ``PARCOURS_DATABASE_URL`` to PostgreSQL (``postgresql+psycopg://user@host/db``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SQLITE_PATH = Path("var") / "parcours.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARCOURS_", extra="ignore")

    database_url: str = Field(default=f"sqlite:///{DEFAULT_SQLITE_PATH}", description="SQLAlchemy URL of the store")
    database_echo: bool = False
    # request limits (operational choices, not legal figures): see docs/architecture.md, "Request limits"
    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="Largest request body (JSON, forms)")
    max_attachment_bytes: int = Field(
        default=10_485_760, ge=1024, description="Largest attachment content (decoded) of one record entry"
    )
    max_json_depth: int = Field(default=64, ge=8, le=512, description="Deepest nesting of a JSON body")
    # operational choice: the longest a trace stays pending (unchained) when the service falls idle; 0 = never
    # (then run ``parcours audit sequence --every N``); see docs/record.md, "The sequenced trail"
    audit_sequence_seconds: float = Field(
        default=10.0, ge=0, description="Seconds between two runs of the audit sequencer in the served app"
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


class OidcProvider(BaseModel):
    """An OpenID Connect identity provider the web pages sign people in with (authorization code + PKCE)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    issuer: str = Field(min_length=1, description="Émetteur (iss) exact du fournisseur")
    client_id: str = Field(min_length=1)
    client_secret: SecretStr | None = Field(default=None, description="Secret client (client_secret_post)")
    metadata_url: str | None = Field(
        default=None, description="Par défaut : issuer + /.well-known/openid-configuration"
    )
    scopes: str = "openid"
    # where the NIR (FranceConnect, via the deployment's gateway) or the national id (Pro Santé Connect) is read
    identifier_claim: str | None = None
    identifier_prefix: str = ""
    # the id token's signature algorithms accepted (asymmetric only, as for the API's bearer tokens)
    algorithms: tuple[str, ...] = ("RS256", "ES256")

    @property
    def discovery_url(self) -> str:
        return self.metadata_url or f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"


class WebSettings(BaseSettings):
    """The signed-in web spaces, from ``PARCOURS_WEB_*`` environment variables (nested values in JSON)."""

    model_config = SettingsConfigDict(env_prefix="PARCOURS_WEB_", extra="ignore")

    # signs the session cookie; when empty, a random key per process (sessions do not survive a restart and are
    # not shared between workers: set it in production)
    session_secret: SecretStr = SecretStr("")
    # operational choices, not legal figures: an unattended screen signs out within half an hour
    session_minutes: int = Field(default=30, ge=1, le=24 * 60)
    cookie_secure: bool = Field(
        default=True, description="Cookie Secure (HTTPS) ; false seulement en développement http"
    )
    demo: bool = Field(default=False, description="Page de connexion de démonstration (serve --demo)")
    public_url: str | None = Field(default=None, description="URL publique du service, pour les retours OIDC")
    franceconnect: OidcProvider | None = None
    pro_sante_connect: OidcProvider | None = None
    batch_summary_file: Path | None = Field(default=None, description="Résumé JSON du dernier lot (espace agent)")
    oidc_timeout_seconds: float = Field(default=5.0, gt=0)


@lru_cache(maxsize=1)
def get_web_settings() -> WebSettings:
    return WebSettings()
