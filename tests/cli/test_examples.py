"""The example events shipped in `examples/` (and shown in the README) give the brief's worked amounts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from parcours.cli import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# (file, pathway indicator, in pathway, AMO €, patient before mutuelle €)
EXPECTED = [
    # Brief §1 worked example: G 30 € × 70 % − 2 € participation forfaitaire.
    ("gp-in-pathway.json", "T", True, 19.00, 11.00),
    # Brief §1: out of pathway : 21 € − majoration capped at 10.60 € − 2 €.
    ("gp-out-of-pathway.json", "S", False, 8.40, 21.60),
    # Brief §1: secteur 2 non-OPTAM GP, base 23 € × 70 % − 2 €; the overrun stays with the patient.
    ("gp-sector2-non-optam.json", "T", True, 14.10, 35.90),
    # Cardiologist (CSC 52.50 €) consulted on the MT's referral: 70 % − 2 €.
    ("cardiologist-referred.json", "O", True, 34.75, 17.75),
    # Compulsory child examination n° 4 (2nd month): G + MEG 35 € at 100 % whoever the doctor [T4]; under 16, not
    # concerned by the pathway; no PF under 18.
    ("child-examination.json", None, None, 35.00, 0.00),
    # Régime local d'Alsace-Moselle: G 30 € × 90 % − 2 € participation forfaitaire [T13][T14].
    ("alsace-moselle-gp.json", "T", True, 25.00, 5.00),
]


@pytest.mark.parametrize(("name", "pathway", "in_pathway", "amo", "patient"), EXPECTED)
def test_example(name: str, pathway: str | None, in_pathway: bool | None, amo: float, patient: float) -> None:
    result = CliRunner().invoke(app, ["simulate", str(EXAMPLES / name), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["pathway"], data["in_pathway"], data["amo"]) == (pathway, in_pathway, amo)
    assert sum(line["patient"] for line in data["lines"]) == pytest.approx(patient)


def test_every_example_is_tested() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.json")) == sorted(row[0] for row in EXPECTED)
