"""`parcours simulate --contract` and `parcours compare` through the command line: amounts, year-to-date state,
needs levels, YEAR.json, premiums, --c2s, and exit code 2 naming the field on bad input."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from parcours.cli import app
from parcours.rules.contracts.compare import Level, rank, typical_year
from parcours.rules.contracts.loader import load_contract
from parcours.rules.contracts.model import CATALOGUE
from parcours.rules.event import CareEvent

runner = CliRunner()

GP_VISIT: dict[str, Any] = {
    "date": "2026-03-02",
    "patient": {"birth_date": "1985-04-12", "gp": "10101010105"},
    "professional": {"rpps": "10101010105", "specialty": "general_practice", "sector": "1"},
    "acts": [{"code": "G", "fee": 30.0}],
}
FREE_CROWN: dict[str, Any] = {
    "date": "2026-03-02",
    "patient": {"birth_date": "1985-04-12", "gp": "10101010105"},
    "professional": {"profession": "dentist"},
    "acts": [{"code": "CROWN", "basket": "free", "fee": 800}],
}


def invoke(*args: str, payload: Any = None) -> Any:
    return runner.invoke(app, list(args), input=None if payload is None else json.dumps(payload))


def test_simulate_with_a_contract_adds_amc_and_out_of_pocket() -> None:
    result = invoke("simulate", "-", "--contract", "ticket-moderateur", "--format", "json", payload=GP_VISIT)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    # brief §1: G 30 €, AMO 19 €; the TM of 9 € from the contract; the 2 € PF remains (L871-1)
    assert (data["amo"], data["amc"], data["out_of_pocket"]) == (19.0, 9.0, 2.0)
    assert data["billed"] == data["amo"] + data["amc"] + data["out_of_pocket"]
    assert data["lines"][0]["not_covered"] == {"participation": 2.0}
    assert data["contract"]["name"] == "ticket-moderateur"
    assert data["contract_state_after"]["year"] == 2026


def test_simulate_carries_the_contracts_year_to_date_state() -> None:
    # Confort: free crowns at 250 % of 120 €, 1 000 € a year beyond the TM; 900 € already used
    spent = {**FREE_CROWN, "contract_year_to_date": {"year": 2026, "paid": {"dental_prosthesis_free": 900}}}
    result = invoke("simulate", "-", "--contract", "confort", "--format", "json", payload=spent)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["amo"], data["amc"]) == (72.0, 48.0 + 100.0)  # TM 48 € + the last 100 € of the ceiling
    assert data["contract_state_after"]["paid"] == {"dental_prosthesis_free": 1000.0}
    last_year = {**spent, "contract_year_to_date": {"year": 2025, "paid": {"dental_prosthesis_free": 1000}}}
    data = json.loads(invoke("simulate", "-", "-c", "confort", "-f", "json", payload=last_year).stdout)
    assert data["amc"] == 228.0  # a new year: 250 % × 120 − 72


def test_simulate_text_shows_the_three_amounts() -> None:
    result = invoke("simulate", "-", "--contract", "confort", payload=GP_VISIT)
    assert result.exit_code == 0, result.output
    assert "Reste à charge : 2,00 €" in result.stdout


def test_a_contract_file_that_breaks_the_rules_exits_2_naming_the_guarantee(tmp_path: Path) -> None:
    data = yaml.safe_load((CATALOGUE / "confort.yaml").read_text(encoding="utf-8"))
    data["guarantees"]["gp_consultation"] = {"full_price": True}
    path = tmp_path / "contrat.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = invoke("simulate", "-", "--contract", str(path), payload=GP_VISIT)
    assert result.exit_code == 2
    assert "guarantees.gp_consultation.full_price" in result.output


def compare_json(*args: str, payload: Any = None) -> dict[str, Any]:
    result = invoke("compare", *args, "--format", "json", payload=payload)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_compare_by_needs_levels_ranks_by_out_of_pocket_plus_premiums() -> None:
    levels: dict[str, Level] = {"optique": "high", "dentaire": "medium", "hospitalisation": "medium",
                                "soins_courants": "low"}  # fmt: skip
    data = compare_json("--optique", "high", "--dentaire", "medium", "--hospitalisation", "medium", "--year", "2026")
    expected = rank(
        [load_contract(n, dt.date(2026, 1, 2)) for n in ("confort", "essentiel", "renfort", "ticket-moderateur")],
        typical_year(levels, 2026),
    )
    assert data["needs"] == levels
    assert [row["contract"] for row in data["ranking"]] == [cost.contract.name for cost in expected]
    for row, cost in zip(data["ranking"], expected, strict=True):
        assert row["out_of_pocket"] == float(cost.out_of_pocket) / 100
        assert row["yearly_premium"] == 12 * float(cost.contract.monthly_premium or 0)
        assert row["total_cost"] == row["out_of_pocket"] + row["yearly_premium"]
        assert round(row["amo"] + row["amc"] + row["out_of_pocket"], 2) == row["billed"]
    totals = [row["total_cost"] for row in data["ranking"]]
    assert totals == sorted(totals)


def test_compare_c2s_only_when_entitled_and_for_a_beneficiary() -> None:
    without = compare_json("--soins-courants", "high", "--year", "2026")
    assert "c2s" not in [row["contract"] for row in without["ranking"]]
    entitled = compare_json("--soins-courants", "high", "--c2s", "--year", "2026")
    ranking = {row["contract"]: row for row in entitled["ranking"]}
    # no PF, franchise or overrun for a C2S beneficiary (L162-5-13 CSS); TM paid by the C2S
    assert (ranking["c2s"]["out_of_pocket"], ranking["c2s"]["total_cost"]) == (0.0, 0.0)
    assert entitled["ranking"][0]["contract"] == "c2s"
    assert ranking["ticket-moderateur"]["out_of_pocket"] > 0


def test_compare_a_year_file(tmp_path: Path) -> None:
    events = [FREE_CROWN, {**FREE_CROWN, "date": "2026-09-01"}, GP_VISIT]
    path = tmp_path / "annee.json"
    path.write_text(json.dumps({"events": events}), encoding="utf-8")
    data = compare_json(str(path), "--contract", "essentiel", "--contract", "ticket-moderateur")
    rows = {row["contract"]: row for row in data["ranking"]}
    # two crowns: 72 € AMO each; essentiel 150 % → 108 € each; ticket-moderateur the 48 € TM; the GP visit as above
    assert rows["essentiel"]["amc"] == 2 * 108.0 + 9.0
    assert rows["ticket-moderateur"]["amc"] == 2 * 48.0 + 9.0
    assert rows["essentiel"]["out_of_pocket"] == 2 * (800 - 72 - 108) + 2.0
    assert data["events"] == 3
    parsed = [CareEvent.model_validate(e) for e in events]
    assert rows["essentiel"]["billed"] == float(sum(e.acts[0].fee or 0 for e in parsed))


def test_compare_bad_input_exits_2_naming_the_field(tmp_path: Path) -> None:
    path = tmp_path / "annee.json"
    path.write_text(json.dumps({"events": [{**GP_VISIT, "acts": [{"code": "G", "fee": -1}]}]}), encoding="utf-8")
    result = invoke("compare", str(path))
    assert result.exit_code == 2
    assert "events.0.acts.0.fee" in result.output
    unknown = invoke("compare", "--contract", "platine")
    assert unknown.exit_code == 2
    assert "formule inconnue" in unknown.output
