"""Application settings, from ``PARCOURS_*`` environment variables.

The default database is a SQLite file under ``./var`` so that the application runs with nothing to install;
production sets ``PARCOURS_DATABASE_URL`` to PostgreSQL (``postgresql+psycopg://user@host/db``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
