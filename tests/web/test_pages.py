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


def test_a_teleconsultation_with_the_mt_says_what_it_assumed(client: TestClient) -> None:
    # Issue 13: the form does not ask for the last in-person visit; the page says the MT is assumed to know the
    # patient instead of silently refusing (TCG 25 € × 70 % − 2 € PF = 15,50 €).
    form = {"care_type": "soins_courants", "act": "teleconsultation", "fee": "25", "age": "40", "gp_declared": "on",
            "sector": "1", "contract": "ticket-moderateur", "date": "2026-03-02"}  # fmt: skip
    response = client.post("/simulateur", data=form)
    assert response.status_code == 200
    assert amounts(response.text)["amo"] == "15,50 €"
    assert "Hypothèse : patient supposé connu du médecin" in response.text


def test_a_bad_form_names_the_fields_in_french_and_marks_the_inputs(client: TestClient) -> None:
    form = {"care_type": "soins_courants", "act": "gp", "fee": "-3", "age": "300", "contract": "confort"}
    response = client.post("/simulateur", data=form)
    assert response.status_code == 422
    html = response.text
    assert 'role="alert"' in html
    assert '<a href="#fee">Montant facturé</a>' in html
    assert '<a href="#age">Âge</a>' in html
    assert "(racine)" not in html
    age = re.search(r'<input[^>]*id="age"[^>]*>', html)
    assert age is not None
    assert 'aria-invalid="true"' in age.group(0)
    assert 'aria-describedby="age-error"' in age.group(0)
    assert 'id="age-error"' in html
    fee = re.search(r'<input[^>]*id="fee"[^>]*>', html)
    assert fee is not None
    assert 'aria-describedby="fee-hint fee-error"' in fee.group(0)


def test_without_javascript_the_act_decides_the_type_of_care(client: TestClient) -> None:
    # the script filters the acts by type; without it, any act may come with the first type of care
    form = {"care_type": "soins_courants", "act": "crown_rac0", "age": "40", "gp_declared": "on",
            "contract": "essentiel", "date": "2026-03-02"}  # fmt: skip
    response = client.post("/simulateur", data=form)
    assert response.status_code == 200
    assert amounts(response.text) == {"amo": "72,00 €", "amc": "443,00 €", "out-of-pocket": "0,00 €"}
    assert '<option value="dentaire" selected>' in response.text


def test_a_stay_with_a_costly_act_or_an_ald_bills_the_forfait_journalier(client: TestClient) -> None:
    base = {"act": "stay", "fee": "3000", "days": "3", "age": "40", "gp_declared": "on", "contract": "confort",
            "date": "2026-03-02"}  # fmt: skip
    # 23 € a day from 1 March 2026 (R25, R26), imputed on the 20 % ticket modérateur of an ordinary stay
    ordinary = client.post("/simulateur", data=base).text
    assert "Forfait journalier hospitalier</td><td>0,00 €" in ordinary
    costly = client.post("/simulateur", data={**base, "costly_act": "on"}).text
    assert "Forfait journalier hospitalier</td><td>69,00 €" in costly
    # Sécurité sociale 3 000 − 24 € flat participation; the contract pays the 24 € and the 69 € of forfait
    assert amounts(costly) == {"amo": "2\u202f976,00 €", "amc": "93,00 €", "out-of-pocket": "0,00 €"}
    ald = client.post("/simulateur", data={**base, "ald": "on"}).text
    assert "Forfait journalier hospitalier</td><td>69,00 €" in ald
    assert amounts(ald) == {"amo": "3\u202f000,00 €", "amc": "69,00 €", "out-of-pocket": "0,00 €"}


def test_a_c2s_beneficiary_is_told_that_overruns_are_forbidden(client: TestClient) -> None:
    form = {"act": "specialist", "fee": "80", "age": "40", "gp_declared": "on", "referred": "on", "c2s": "on",
            "sector": "2", "contract": "renfort", "date": "2026-03-02"}  # fmt: skip
    html = client.post("/simulateur", data=form).text
    assert "Complémentaire santé solidaire : elle remplace votre complémentaire" in html
    assert 'data-testid="warning"' in html
    assert "dépassement d&#39;honoraires interdit pour un bénéficiaire de la C2S" in html
    data = client.post("/api/simulations", json={**form, "referred": True, "gp_declared": True, "c2s": True}).json()
    assert data["contract"]["name"] == "c2s"  # the C2S is the complementary of its beneficiaries
    line = data["lines"][0]
    # no participation forfaitaire for C2S; the overrun the doctor should not have billed is named as such
    assert line["not_covered"] == {"c2s_overrun": round(80 - line["base"], 2)}
    assert line["amc"] == round(line["base"] - line["amo"], 2)


def test_simulation_api(client: TestClient) -> None:
    body = {"care_type": "dentaire", "act": "crown_rac0", "contract": "essentiel", "date": "2026-03-02"}
    data = client.post("/api/simulations", json=body).json()
    assert (data["amo"], data["out_of_pocket"]) == (72.0, 0.0)  # 100 % Santé: nothing left
    assert data["billed"] == data["amo"] + data["amc"] + data["out_of_pocket"]


def test_simulation_api_names_the_field(client: TestClient) -> None:
    response = client.post("/api/simulations", json={"care_type": "dentaire", "act": "crown_rac0", "age": 300})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "age"
    unknown = client.post("/api/simulations", json={"act": "massage"})
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0] == {"field": "act", "message": "soin inconnu : massage"}


def test_comparator_ranks_the_formulas(client: TestClient) -> None:
    form = {"optique": "high", "dentaire": "medium", "hospitalisation": "low", "soins_courants": "medium",
            "year": "2026"}  # fmt: skip
    html = client.post("/comparateur", data=form).text
    assert html.count("<tr><td>Formule") == 4  # the four formulas one buys (C2S only when entitled)
    data = client.post("/api/comparisons", json={"optique": "high", "year": 2026, "c2s": True}).json()
    totals = [row["total_cost"] for row in data["ranking"]]
    assert totals == sorted(totals)
    assert "c2s" in [row["contract"] for row in data["ranking"]]


def test_c2s_is_compared_for_one_of_its_beneficiaries(client: TestClient) -> None:
    # soins courants high: GP visits, non-OPTAM specialists billed 70 €, drugs, blood tests, physiotherapy. A C2S
    # beneficiary pays no PF, no franchise, and no overrun (L162-5-13 CSS): nothing left.
    body = {"soins_courants": "high", "year": 2026, "c2s": True}
    ranking = {row["contract"]: row for row in client.post("/api/comparisons", json=body).json()["ranking"]}
    assert ranking["c2s"]["out_of_pocket"] == 0
    assert ranking["c2s"]["total_cost"] == 0
    assert ranking["ticket-moderateur"]["out_of_pocket"] > 0  # PF, franchises and overruns for everyone else


def test_contracts_listing(client: TestClient) -> None:
    data = client.get("/api/contracts").json()
    assert {c["name"] for c in data["contracts"]} >= {"ticket-moderateur", "essentiel", "confort", "renfort"}
    assert {p["care_type"] for p in data["presets"]} == {"soins_courants", "optique", "dentaire", "hospitalisation"}


def test_a_bad_comparator_form_marks_the_need_in_error(client: TestClient) -> None:
    response = client.post("/comparateur", data={"optique": "enorme"})
    assert response.status_code == 422
    assert '<a href="#optique">Optique</a>' in response.text
    select = re.search(r'<select[^>]*id="optique"[^>]*>', response.text)
    assert select is not None
    assert 'aria-invalid="true"' in select.group(0)
