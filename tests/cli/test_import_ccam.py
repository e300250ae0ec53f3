"""`parcours params import-ccam`: reading a CCAM release in the published layout and merging it, version after
version, into the nomenclature and the dated tariffs; the engine then bills the imported acts.

The fixtures (tests/fixtures/ccam) follow the layout of the spreadsheet ameli publishes with each CCAM version
(Code, Texte, Activité, Phase, Tarif secteur 1/OPTAM, Tarif hors secteur 1/hors OPTAM, …, Regroupement), saved as
``;``-separated CSV in Windows-1252. release_a carries tariffs quoted by C1, C2, C5; release_b is an invented later
version (DZQM006 at 98 €) to test that a new value is dated and the old one kept.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from parcours.cli import app
from parcours.rules.catalogue import CATALOGUE_FILE, load_catalogue, load_ccam
from parcours.rules.ccam import CcamFormatError, parse_release
from parcours.rules.engine import Engine
from parcours.rules.event import CareEvent
from parcours.rules.params import PARAMETERS_DIR, load_parameters

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ccam"
runner = CliRunner()


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Path]:
    """A copy of the shipped parameters with an empty CCAM, and an empty CCAM nomenclature."""
    parameters = tmp_path / "parameters"
    shutil.copytree(PARAMETERS_DIR, parameters)
    (parameters / "tariffs" / "ccam.yaml").unlink()
    return {
        "parameters": parameters,
        "tariffs": parameters / "tariffs" / "ccam.yaml",
        "nomenclature": tmp_path / "ccam.yaml",
    }


def import_(world: dict[str, Path], release: str, effective: str, *extra: str) -> object:
    return runner.invoke(
        app,
        [
            "params",
            "import-ccam",
            str(FIXTURES / release),
            "--effective",
            effective,
            "--release",
            release.removesuffix(".csv"),
            "--nomenclature",
            str(world["nomenclature"]),
            "--tariffs",
            str(world["tariffs"]),
            "--sources",
            str(world["parameters"] / "sources.yaml"),
            *extra,
        ],
    )


def test_parse_reads_activity_1_phase_0_with_french_amounts() -> None:
    rows = {row.code: row for row in parse_release((FIXTURES / "release_a.csv").read_bytes())}
    assert rows["DEQP003"].tariffs == {"grid_1": 1426, "grid_2": 1352}
    assert rows["QZFA030"].tariffs["grid_1"] == 15204  # the anaesthesia row (activity 4) is skipped
    assert rows["DZQM006"].label.startswith("Échographie-doppler")  # Windows-1252 read
    assert rows["ZZQX999"].tariffs == {"grid_1": None, "grid_2": None}  # « Non pris en charge »


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("Code;Texte;Regroupement\nDEQP003;ECG;ATM\n", "ligne 1"),
        (
            "Code;Texte;Tarif secteur 1/OPTAM;Tarif hors secteur 1/hors OPTAM;Regroupement\nDEQ;ECG;1;1;ATM\n",
            "ligne 2, Code",
        ),
        (
            "Code;Texte;Tarif secteur 1/OPTAM;Tarif hors secteur 1/hors OPTAM;Regroupement\nDEQP003;ECG;14,2x;1;ATM\n",
            "ligne 2, Tarif secteur 1/OPTAM",
        ),
    ],
)
def test_a_malformed_release_names_the_line_and_column(text: str, field: str) -> None:
    with pytest.raises(CcamFormatError) as caught:
        parse_release(text.encode())
    assert caught.value.field == field


def test_import_then_bill_then_import_the_next_version(world: dict[str, Path]) -> None:
    first = import_(world, "release_a.csv", "2025-01-01", "--category", "TDS=dental_care")
    assert first.exit_code == 0, first.output
    summary = " ".join(first.stdout.split())
    assert "4 nouveaux" in summary
    assert "1 non pris en charge" in summary
    acts = load_ccam(world["nomenclature"])
    assert acts["HBJD001"].category.value == "dental_care"
    assert [p.value for p in acts["HBJD001"].professions] == ["dentist"]

    second = import_(world, "release_b.csv", "2026-01-01", "--codes", "DZQM006,DEQP003")
    assert second.exit_code == 0, second.output
    summary = " ".join(second.stdout.split())
    assert "2 tarifs datés ajoutés, 2 inchangés" in summary  # DZQM006 on both grids; DEQP003 as it was

    parameters = load_parameters(world["parameters"])
    echo = parameters.parameter("tariffs.ccam.DZQM006.grid_1")
    assert [(v.valid_from, v.value) for v in echo.values] == [(dt.date(2025, 1, 1), 9649), (dt.date(2026, 1, 1), 9800)]
    assert echo.values[1].note == "CCAM version release_b"
    assert [r.id for r in echo.values[1].sources] == ["CCAM"]

    engine = Engine(parameters, load_catalogue(CATALOGUE_FILE, world["nomenclature"]))
    event = {
        "patient": {"birth_date": "1985-04-12", "gp": "10101010105"},
        "professional": {"rpps": "10000000009", "specialty": "cardiology", "sector": "1"},
        "referred_by_gp": True,
        "acts": [{"code": "DZQM006"}],
    }
    before = engine.adjudicate(CareEvent.model_validate({**event, "date": "2025-12-31"}))
    after = engine.adjudicate(CareEvent.model_validate({**event, "date": "2026-01-01"}))
    assert (before.lines[0].base, after.lines[0].base) == (9649, 9800)


def test_an_unknown_regroupement_is_refused_with_exit_code_2(world: dict[str, Path]) -> None:
    result = import_(world, "release_a.csv", "2025-01-01")
    assert result.exit_code == 2
    assert "HBJD001" in result.output
    assert "--category TDS" in result.output
    assert not world["nomenclature"].exists()  # nothing written


def test_an_unknown_source_is_refused(world: dict[str, Path]) -> None:
    result = import_(world, "release_b.csv", "2025-01-01", "--source", "NOPE")
    assert result.exit_code == 2
    assert "NOPE" in result.output


def test_a_bad_date_of_effect_names_the_option(world: dict[str, Path]) -> None:
    result = import_(world, "release_b.csv", "01/01/2025")
    assert result.exit_code == 2
    assert "--effective" in result.output
