"""`parcours simulate`: the README's example, JSON output fields, and exit code 2 naming the field on bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from parcours.cli import app

runner = CliRunner()

README_EVENT: dict[str, Any] = {
    "date": "2026-03-02",
    "patient": {"birth_date": "1985-04-12", "gp": "10101010105", "c2s": False},
    "professional": {"rpps": "10101010105", "specialty": "general_practice", "sector": "1", "optam": False},
    "referred_by_gp": False,
    "emergency": False,
    "away_from_home": False,
    "teleconsultation": False,
    "acts": [{"code": "G", "fee": 30.0}],
}


def simulate(payload: Any, *args: str) -> Any:
    return runner.invoke(app, ["simulate", "-", *args], input=json.dumps(payload))


def test_json_output_has_the_documented_fields() -> None:
    result = simulate(README_EVENT, "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["pathway"], data["in_pathway"], data["amo"]) == ("T", True, 19.0)
    assert data["lines"][0]["amo"] == 19.0
    rules = [step["rule"] for step in data["explanation"]]
    assert rules[0] == "pathway.gp"
    assert "participation" in rules
    assert "S2" in data["sources"]  # the tariff of G cites service-public F17042


def test_not_concerned_is_null() -> None:
    child = {**README_EVENT, "patient": {"birth_date": "2015-01-01", "gp": None}}
    data = json.loads(simulate(child, "--format", "json").stdout)
    assert data["pathway"] is None
    assert data["in_pathway"] is None


def test_text_output_is_french() -> None:
    result = simulate(README_EVENT)
    assert result.exit_code == 0
    assert "Remboursement Sécurité sociale : 19,00 €" in result.stdout


def test_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(README_EVENT), encoding="utf-8")
    result = runner.invoke(app, ["simulate", str(path), "--format", "json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["amo"] == 19.0


def test_year_to_date_state_is_accepted() -> None:
    payload = {**README_EVENT, "year_to_date": {"participation_paid": 50}}
    data = json.loads(simulate(payload, "--format", "json").stdout)
    assert data["amo"] == 21.0  # annual 50 € cap of participations reached


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"acts": [{"code": "XYZ"}]}, "acts.0.code"),
        ({"date": "2022-06-01"}, "date"),  # no tariff of G in force on that date: the date is at fault
        ({"professional": {**README_EVENT["professional"], "rpps": "10101010104"}}, "professional.rpps"),
        ({"patient": {"gp": None}}, "patient.birth_date"),
        ({"date": "02/03/2026"}, "date"),
        ({"acts": []}, "acts"),
        ({"colour": "blue"}, "colour"),
        ({"year_to_date": {"franchises_paid": -1}}, "year_to_date.franchises_paid"),
        ({"year_to_date": {"as_of": "2026-03-03"}}, "year_to_date.as_of"),  # a state taken after the event
        ({"acts": [{"code": "AMK"}], "professional": {"profession": "physiotherapist"}}, "acts.0.coefficient"),
    ],
)
def test_bad_input_exits_2_naming_the_field(change: dict[str, Any], field: str) -> None:
    result = simulate({**README_EVENT, **change}, "--format", "json")
    assert result.exit_code == 2
    assert field in result.stderr
    assert result.stdout == ""


def test_no_tariff_on_the_date_blames_the_date_not_the_act() -> None:
    result = simulate({**README_EVENT, "date": "2022-06-01"}, "--format", "json")
    assert result.exit_code == 2
    assert "acts.0.code" not in result.stderr
    assert "date" in result.stderr
    assert "2022-06-01" in result.stderr


def test_missing_file_exits_2() -> None:
    result = runner.invoke(app, ["simulate", "/nonexistent/event.json"])
    assert result.exit_code == 2
    assert "lecture impossible" in result.stderr


def test_invalid_json_exits_2() -> None:
    result = runner.invoke(app, ["simulate", "-"], input="{not json")
    assert result.exit_code == 2
    assert "JSON invalide" in result.stderr


def test_params_show_lists_history_and_sources() -> None:
    result = runner.invoke(app, ["params", "show", "participation.amount"])
    assert result.exit_code == 0
    assert "15/05/2024" in result.stdout
    assert "2,00 €" in result.stdout


def test_params_check_refuses_a_broken_tree(tmp_path: Path) -> None:
    (tmp_path / "sources.yaml").write_text("S1: {title: t, kind: official}\n", encoding="utf-8")
    (tmp_path / "x.yaml").write_text("a:\n  description: d\n  unit: EUR\n  values:\n    2024-01-01: {value: 1}\n")
    result = runner.invoke(app, ["params", "check", str(tmp_path)])
    assert result.exit_code == 2
    assert "sources" in result.stderr


def test_generated_parameter_reference_is_up_to_date() -> None:
    """docs/parameters.md is regenerated with `parcours params list --markdown > docs/parameters.md`."""
    result = runner.invoke(app, ["params", "list", "--markdown"])
    reference = Path(__file__).parents[2] / "docs" / "parameters.md"
    assert result.stdout == reference.read_text(encoding="utf-8")


TELECONSULTATION = {**README_EVENT, "teleconsultation": True, "acts": [{"code": "TCG"}]}


def test_a_teleconsultation_with_the_mt_states_its_assumption() -> None:
    # Issue 13: no last_in_person_visit for the MT's teleconsultation: assumed known, and said so (25 × 70 % − 2).
    result = simulate(TELECONSULTATION)
    assert result.exit_code == 0, result.output
    assert "Remboursement Sécurité sociale : 15,50 €" in result.stdout
    assert "Hypothèse" in result.stdout
    assert "last_in_person_visit" in result.stdout


def test_a_teleconsultation_with_another_doctor_names_the_missing_fact() -> None:
    other = {**TELECONSULTATION, "professional": {**README_EVENT["professional"], "rpps": "10000000009"}}
    result = simulate({**other, "referred_by_gp": True})
    assert result.exit_code == 2
    assert "last_in_person_visit" in result.stderr
    assert result.stdout == ""
