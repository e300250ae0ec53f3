"""FHIR search as clients use it (issue 12): the GP's own patient list, the result parameters (``_id``,
``_summary=count``, ``_sort``, ``_elements``, ``_count=0``), what a lenient search ignored, and one answer for an
unknown patient and for somebody else's."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import People
from tests.api.record_world import World, build_world
from tests.conftest import Tokens

FHIR_JSON = "application/fhir+json"


@pytest.fixture
def world(client: TestClient, tokens: Tokens, people: People) -> World:
    return build_world(client, tokens, people)


def _ids(bundle: dict[str, Any]) -> list[str]:
    return [entry["resource"]["id"] for entry in bundle.get("entry", ()) if entry["search"]["mode"] == "match"]


def test_the_gp_searches_their_own_patients(world: World) -> None:
    gp = world.pro["gp"]
    for role in ("gp", "admin"):
        response = world.client.get(
            "/fhir/Patient", params={"general-practitioner": f"Practitioner/{gp['id']}"}, headers=world.as_(role)
        )
        assert response.status_code == 200, response.text
        assert _ids(response.json()) == [world.pid]
    other = world.client.get(
        "/fhir/Patient", params={"general-practitioner": f"Practitioner/{world.pro['spare']['id']}"},
        headers=world.as_("gp"),
    )  # fmt: skip
    assert other.json()["total"] == 0
