"""Builders for care events: a valid adult patient of a secteur 1 GP, varied field by field in each test."""

from __future__ import annotations

from typing import Any

import pytest

from parcours.rules.engine import Engine, default_engine
from parcours.rules.event import CareEvent, YearToDate
from parcours.rules.result import Adjudication

GP_RPPS = "10101010105"  # the patient's médecin traitant
OTHER_RPPS = "10000000009"  # another doctor
THIRD_RPPS = "81000012344"


def deep_merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def event(**changes: Any) -> CareEvent:
    """An adult with a declared MT, seen by that MT (secteur 1 GP) for a G on 2 March 2026, varied by ``changes``."""
    base: dict[str, Any] = {
        "date": "2026-03-02",
        "patient": {"birth_date": "1985-04-12", "gp": GP_RPPS},
        "professional": {"rpps": GP_RPPS, "specialty": "general_practice", "sector": "1", "optam": False},
        "acts": [{"code": "G"}],
    }
    return CareEvent.model_validate(deep_merge(base, changes))


def specialist(specialty: str, code: str = "CS", **changes: Any) -> CareEvent:
    """The same patient seen by another doctor of ``specialty``."""
    changes.setdefault("acts", [{"code": code}])
    return event(professional={"rpps": OTHER_RPPS, "specialty": specialty}, **changes)


def run(e: CareEvent, state: YearToDate | None = None) -> Adjudication:
    return default_engine().adjudicate(e, state)


@pytest.fixture(scope="session")
def engine() -> Engine:
    return default_engine()
