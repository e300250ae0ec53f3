"""A contract that breaks the contrat responsable rules is refused at load, naming the guarantee; the same
contract marked non-responsable loads."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from parcours.rules.contracts.loader import load_contract
from parcours.rules.contracts.model import CATALOGUE, ContractError

DAY = dt.date(2026, 3, 2)


def variant(tmp_path: Path, change: dict[str, Any], base: str = "confort") -> Path:
    data = yaml.safe_load((CATALOGUE / f"{base}.yaml").read_text(encoding="utf-8"))
    for key, value in change.items():
        if key == "guarantees":
            data["guarantees"].update(value)
        else:
            data[key] = value
    path = tmp_path / "contract.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["ticket-moderateur", "essentiel", "confort", "renfort", "c2s"])
def test_the_catalogue_is_responsable(name: str) -> None:
    assert load_contract(name, DAY).responsable


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"guarantees": {"gp_consultation": {"percent": 90}}}, "guarantees.gp_consultation"),
        ({"guarantees": {"daily_charge": {"percent": 100}}}, "guarantees.daily_charge"),
        ({"guarantees": {"optics_class_a": {"percent": 100}}}, "guarantees.optics_class_a"),
        ({"guarantees": {"dental_prosthesis_rac0": {"percent": 300}}}, "guarantees.dental_prosthesis_rac0"),
        ({"guarantees": {"hearing_class_i": {"percent": 100}}}, "guarantees.hearing_class_i"),
        (
            {"guarantees": {"specialist_consultation": {"percent": 300, "non_optam_percent": 250}}},
            "guarantees.specialist_consultation.non_optam_percent",
        ),
        (
            {"guarantees": {"specialist_consultation": {"percent": 150, "non_optam_percent": 140}}},
            "guarantees.specialist_consultation.non_optam_percent",
        ),
        ({"guarantees": {"hospital_fees": {"percent": 200}}}, "guarantees.hospital_fees.non_optam_percent"),
        ({"guarantees": {"hearing_class_ii": {"amount": 2000, "per": "ear"}}}, "guarantees.hearing_class_ii.amount"),
        (
            {"optics_class_b": {"simple": 500, "complex": 700, "very_complex": 800, "frame": 100}},
            "optics_class_b.simple",
        ),
        (
            {"optics_class_b": {"simple": 250, "complex": 400, "very_complex": 500, "frame": 150}},
            "optics_class_b.frame",
        ),
        ({"optics_class_b": {"simple": 30, "complex": 400, "very_complex": 500, "frame": 30}}, "optics_class_b.simple"),
    ],
)
def test_a_contract_breaking_a_rule_is_refused_naming_the_guarantee(
    tmp_path: Path, change: dict[str, Any], field: str
) -> None:
    path = variant(tmp_path, change)
    with pytest.raises(ContractError) as refused:
        load_contract(str(path), DAY)
    assert refused.value.field == field
    assert load_contract(str(variant(tmp_path, {**change, "responsable": False})), DAY).responsable is False


def test_an_unknown_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ContractError) as refused:
        load_contract(str(variant(tmp_path, {"guarantees": {"gp_consultation": {"percentage": 100}}})), DAY)
    assert "gp_consultation" in refused.value.field
