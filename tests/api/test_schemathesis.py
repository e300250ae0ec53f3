"""Schemathesis against the application in-process (ASGI), as a third-party client would try it: for each kind of
caller (patient, professional, insurer agent), every operation of ``/openapi.json`` with valid and invalid input;
no 5xx, and every response conforms to what the document declares (status, error shapes included).

Bounded so that it fits in CI: a few derandomized examples per operation, mode and role (``PARCOURS_SCHEMATHESIS_
EXAMPLES`` raises it for a deeper run). On SQLite and, when configured, PostgreSQL (which refuses NUL in text).
"""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable

from parcours.api.app import create_app
from parcours.api.fhir.server import fhir_server
from parcours.api.security import AuthSettings
from parcours.store.db import Database
from tests.api.conftest import ActingClient, People
from tests.api.record_world import World, build_world
from tests.conftest import Tokens

schemathesis = pytest.importorskip("schemathesis")
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import response_schema_conformance  # noqa: E402

EXAMPLES = int(os.environ.get("PARCOURS_SCHEMATHESIS_EXAMPLES", "4"))
ROLES = {"patient": "self", "professional": "gp", "agent": "insurer"}
CHECKS = [not_a_server_error, response_schema_conformance]


@pytest.mark.parametrize("role", sorted(ROLES))
def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    database: Database, auth_settings: AuthSettings, tokens: Tokens, role: str
) -> None:
    app = create_app(database, auth_settings)
    with ActingClient(app, tokens) as client:
        world = build_world(client, tokens, People(client, tokens))
    headers = world.as_(ROLES[role])
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 50
    known = _known_ids(world)
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failures += _run(operation, mode, headers)  # made-up ids
        # the world's ids, to reach past "not found" into the access decisions and the services
        names = set(re.findall(r"\{(\w+)\}", operation.path))
        for values in _fillings(names, known):
            failures += _run(operation, GenerationMode.POSITIVE, headers, values)
    assert failures == [], "\n\n".join(failures[:10])


def _known_ids(world: World) -> dict[str, str]:
    return {
        "patient_id": world.pid, "patient": world.pid, "professional_id": world.pro["gp"]["id"],
        "referral_id": world.referral["id"], "teleexpertise_id": world.teleexpertise["id"],
        "claim_id": world.claim["id"], "entry_id": world.entries["plain"], "rpps": world.pro["blocked"]["rpps"],
        "nir": world.parent_nir,
    }  # fmt: skip


def _fillings(names: set[str], known: dict[str, str]) -> list[dict[str, str]]:
    """Path parameters from the world: each FHIR resource type searched, every other id the world's own."""
    if not names:
        return []
    if names == {"resource_type"}:
        return [{"resource_type": name} for name in sorted(fhir_server().providers)]
    if not names <= set(known):
        return []
    return [{name: known[name] for name in names}]


def _run(
    operation: Any, mode: Any, headers: dict[str, str], path_parameters: dict[str, str] | None = None
) -> list[str]:
    found: list[str] = []

    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])  # fmt: skip
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    def check(case: Any) -> None:
        try:
            case.call_and_validate(headers=headers, checks=CHECKS)
        except Exception as failure:  # collect every operation's failures, then report them together
            found.append(f"{operation.label} [{mode.value}] {path_parameters or ''}: {failure}")

    try:
        check()
    except Unsatisfiable:  # no invalid input exists for an operation without parameters
        assert mode is GenerationMode.NEGATIVE
    return found
