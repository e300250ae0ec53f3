"""The parameter tree loads strictly: a defect in a legal figure's file is an error, never a silent default."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from parcours.rules.catalogue import default_catalogue
from parcours.rules.params import (
    PARAMETERS_DIR,
    NoValueInForceError,
    ParameterError,
    default_parameters,
    load_parameters,
)

SOURCES = """
S1:
  title: A page
  kind: official
"""


def tree(tmp_path: Path, body: str) -> Path:
    (tmp_path / "sources.yaml").write_text(SOURCES, encoding="utf-8")
    (tmp_path / "node.yaml").write_text(body, encoding="utf-8")
    return tmp_path


def test_shipped_parameters_load_and_every_value_has_a_source() -> None:
    parameters = default_parameters()
    assert len(parameters.paths()) > 100
    for path in parameters.paths():
        for value in parameters.parameter(path).values:
            assert value.sources, path


def test_catalogue_points_to_existing_parameters() -> None:
    default_catalogue().check_against(default_parameters())


def test_values_apply_from_their_date_until_the_next() -> None:
    g = default_parameters().parameter("tariffs.ngap.G")
    assert g.at(dt.date(2024, 12, 21)).value == 2650
    assert g.at(dt.date(2024, 12, 22)).value == 3000
    with pytest.raises(NoValueInForceError):
        g.at(dt.date(2023, 10, 31))


def test_unconfirmed_values_are_flagged() -> None:
    flat = default_parameters().parameter("tariffs.hospital.costly_act_flat_fee")
    assert flat.at(dt.date(2026, 5, 1)).unconfirmed
    assert not flat.at(dt.date(2025, 5, 1)).unconfirmed


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "x:\n  description: d\n  unit: EUR\n  values:\n    2024-01-01: {value: 1, sources: [S1]}\n    2024-01-01: {value: 2, sources: [S1]}\n",
            "duplicate key",
        ),
        (
            "x:\n  description: d\n  unit: EUR\n  values:\n    2024-01-01: {value: 1, sources: [S1]}\n  colour: red\n",
            "colour",
        ),
        ("x:\n  description: d\n  unit: EUR\n  values:\n    2024-01-01: {value: 1}\n", "sources"),
        ("x:\n  description: d\n  unit: EUR\n  values:\n    2024-01-01: {value: 1, sources: []}\n", "sources"),
        (
            "x:\n  description: d\n  unit: EUR\n  values:\n    2024-01-01: {value: 1, sources: [S99]}\n",
            "unknown source",
        ),
        (
            "x:\n  description: d\n  unit: EUR\n  values:\n    2024-01-01: {value: 1.005, sources: [S1]}\n",
            "two decimals",
        ),
        (
            "x:\n  description: d\n  unit: count\n  values:\n    2024-01-01: {value: 1.5, sources: [S1]}\n",
            "whole number",
        ),
        ("x:\n  description: d\n  unit: EUR\n  values:\n    January: {value: 1, sources: [S1]}\n", "not a date"),
        ("x:\n  description: d\n  unit: furlongs\n  values:\n    2024-01-01: {value: 1, sources: [S1]}\n", "unit"),
        (
            "x:\n  description: d\n  unit: EUR\n  values:\n    2024-01-01: {value: 1, sources: [S1], confirmed: true}\n",
            "confirmed",
        ),
    ],
)
def test_defects_are_errors(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        load_parameters(tree(tmp_path, body))


def test_a_value_may_end_a_parameter(tmp_path: Path) -> None:
    body = "x:\n  description: d\n  unit: EUR\n  values:\n    2024-01-01: {value: 1, sources: [S1]}\n    2025-01-01: {value: null, sources: [S1]}\n"
    parameter = load_parameters(tree(tmp_path, body)).parameter("node.x")
    assert parameter.in_force(dt.date(2024, 6, 1))
    assert not parameter.in_force(dt.date(2025, 6, 1))


def test_the_shipped_tree_rejects_a_planted_duplicate(tmp_path: Path) -> None:
    copy = tmp_path / "parameters"
    shutil.copytree(PARAMETERS_DIR, copy)
    rates = copy / "rates.yaml"
    rates.write_text(rates.read_text(encoding="utf-8") + "\nphysician:\n  description: again\n", encoding="utf-8")
    with pytest.raises(ParameterError, match="duplicate key 'physician'"):
        load_parameters(copy)


def test_one_path_defined_in_two_files_is_an_error(tmp_path: Path) -> None:
    """``tariffs.yaml: ngap: G`` and ``tariffs/ngap.yaml: G`` are the same parameter: neither may win silently."""
    (tmp_path / "sources.yaml").write_text(SOURCES, encoding="utf-8")
    (tmp_path / "tariffs.yaml").write_text(
        "ngap:\n  G:\n    description: d\n    unit: EUR\n    values:\n      2024-01-01: {value: 1, sources: [S1]}\n",
        encoding="utf-8",
    )
    (tmp_path / "tariffs").mkdir()
    (tmp_path / "tariffs" / "ngap.yaml").write_text(
        "G:\n  description: d\n  unit: EUR\n  values:\n    2024-01-01: {value: 2, sources: [S1]}\n", encoding="utf-8"
    )
    with pytest.raises(ParameterError, match=r"tariffs\.ngap\.G is already defined in") as raised:
        load_parameters(tmp_path)
    message = str(raised.value)
    assert "tariffs.yaml" in message
    assert "tariffs/ngap.yaml" in message
