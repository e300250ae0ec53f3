"""The coordination router is matched before the people router (a claim's path is found without trying the people
router's routes first, issue 12): that is only safe while no request can match a route of both, which this checks
for every pair; and the OpenAPI document keeps its reading order (the patients first)."""

from __future__ import annotations

import re

from starlette.routing import Match

from parcours.api.app import create_app
from parcours.api.routers import coordination, people
from parcours.api.security import AuthSettings
from parcours.store.db import Database


def _sample(path: str) -> str:
    """A concrete path for a route's template, each parameter an id-like value."""
    return re.sub(r"\{[^}]+\}", "3f0c1d2e-0000-4000-8000-000000000001", path)


def test_no_request_matches_a_route_of_both_routers() -> None:
    overlaps = []
    for first in coordination.router.routes:
        for second in people.router.routes:
            for one, other in ((first, second), (second, first)):
                for method in sorted(getattr(other, "methods", None) or ()):
                    scope = {"type": "http", "method": method, "path": _sample(getattr(other, "path", ""))}
                    if one.matches(scope)[0] is Match.FULL:
                        overlaps.append((method, getattr(one, "path", ""), getattr(other, "path", "")))
    assert overlaps == []


def test_a_claim_is_matched_before_the_people_routes_are_tried(database: Database, auth_settings: AuthSettings) -> None:
    app = create_app(database, auth_settings)
    scope = {"type": "http", "method": "POST", "path": "/api/claims", "root_path": "", "query_string": b"",
             "headers": []}  # fmt: skip
    routers = [getattr(route, "original_router", None) for route in app.router.routes]
    matched = next(route for route in app.router.routes if route.matches(scope)[0] is Match.FULL)
    assert getattr(matched, "original_router", None) is coordination.router
    assert routers.index(coordination.router) < routers.index(people.router)


def test_the_document_lists_the_patients_first(database: Database, auth_settings: AuthSettings) -> None:
    paths = list(create_app(database, auth_settings).openapi()["paths"])
    documented = list(dict.fromkeys(route.path for route in people.router.routes))  # type: ignore[attr-defined]
    assert paths[: len(documented)] == documented
    assert "/api/claims" in paths[len(documented) :]
