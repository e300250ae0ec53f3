"""The simulator and comparator pages and their JSON twins, through HTTP (no JavaScript needed)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from parcours.api.app import create_app
from parcours.store.db import Database


@pytest.fixture
def client(database: Database) -> Iterator[TestClient]:
    with TestClient(create_app(database)) as client:
        yield client


def amounts(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-testid="([a-z-]+)">([^<]+)<', html))


def test_simulator_page_is_french_and_labelled(client: TestClient) -> None:
    html = client.get("/simulateur").text
    assert '<html lang="fr">' in html
    for field in ("care_type", "act", "fee", "age", "gp_declared", "sector", "contract"):
        assert f'for="{field}"' in html
        assert f'id="{field}"' in html


def test_simulator_form_without_javascript_gives_the_three_amounts(client: TestClient) -> None:
    form = {"care_type": "soins_courants", "act": "gp", "fee": "30", "age": "40", "gp_declared": "on",
            "sector": "1", "contract": "ticket-moderateur", "date": "2026-03-02"}  # fmt: skip
    response = client.post("/simulateur", data=form)
    assert response.status_code == 200
    # brief §1: 19 € from the Sécurité sociale; the ticket modérateur formula pays the 9 € TM; the 2 € PF remain
    assert amounts(response.text) == {"amo": "19,00 €", "amc": "9,00 €", "out-of-pocket": "2,00 €"}


def test_without_a_gp_the_page_says_out_of_pathway(client: TestClient) -> None:
    form = {"care_type": "soins_courants", "act": "gp", "fee": "30", "age": "40", "sector": "1",
            "contract": "renfort", "date": "2026-03-02"}  # fmt: skip
    response = client.post("/simulateur", data=form)
    assert "Hors parcours" in response.text
    # 8,40 € from the Sécurité sociale; the TM (9 €) from the contract; majoration 10,60 € + PF 2 € remain
    assert amounts(response.text) == {"amo": "8,40 €", "amc": "9,00 €", "out-of-pocket": "12,60 €"}


def test_a_bad_form_is_answered_with_the_field_in_error(client: TestClient) -> None:
    form = {"care_type": "optique", "act": "gp", "age": "40", "contract": "confort"}
    response = client.post("/simulateur", data=form)
    assert response.status_code == 422
    assert 'role="alert"' in response.text


def test_simulation_api(client: TestClient) -> None:
    body = {"care_type": "dentaire", "act": "crown_rac0", "contract": "essentiel", "date": "2026-03-02"}
    data = client.post("/api/simulations", json=body).json()
    assert (data["amo"], data["out_of_pocket"]) == (72.0, 0.0)  # 100 % Santé: nothing left
    assert data["billed"] == data["amo"] + data["amc"] + data["out_of_pocket"]


def test_simulation_api_names_the_field(client: TestClient) -> None:
    response = client.post("/api/simulations", json={"care_type": "dentaire", "act": "crown_rac0", "age": 300})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "age"


def test_comparator_ranks_the_formulas(client: TestClient) -> None:
    form = {"optique": "high", "dentaire": "medium", "hospitalisation": "low", "soins_courants": "medium",
            "year": "2026"}  # fmt: skip
    html = client.post("/comparateur", data=form).text
    assert html.count("<tr><td>Formule") == 4  # the four formulas one buys (C2S only when entitled)
    data = client.post("/api/comparisons", json={"optique": "high", "year": 2026, "c2s": True}).json()
    totals = [row["total_cost"] for row in data["ranking"]]
    assert totals == sorted(totals)
    assert "c2s" in [row["contract"] for row in data["ranking"]]


def test_contracts_listing(client: TestClient) -> None:
    data = client.get("/api/contracts").json()
    assert {c["name"] for c in data["contracts"]} >= {"ticket-moderateur", "essentiel", "confort", "renfort"}
    assert {p["care_type"] for p in data["presets"]} == {"soins_courants", "optique", "dentaire", "hospitalisation"}
