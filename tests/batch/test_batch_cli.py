"""`parcours batch adjudicate`: inputs (Parquet, CSV, folder, glob), validation (exit 2 naming the column, rejects
with their reason), multi-act claims equal to the scalar engine, contracts, the summary, output never half written."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from parcours.batch.generate import generate
from parcours.batch.kernel import adjudicate_partition, input_schema
from parcours.batch.runner import adjudicate
from parcours.cli import app
from parcours.rules.columnar import ColumnarEngine, event_from_rows
from parcours.rules.contracts.amc import apply_contract
from parcours.rules.contracts.loader import load_contract
from parcours.rules.engine import default_engine

runner = CliRunner()
DAY = dt.date(2026, 3, 2)


def line(claim_id: int, **overrides: Any) -> dict[str, Any]:
    """A G by the patient's médecin traitant (secteur 1), in the pathway."""
    row: dict[str, Any] = {
        "claim_id": claim_id,
        "patient_id": 1,
        "professional_id": 7,
        "date": DAY,
        "birth_date": dt.date(1985, 4, 12),
        "has_gp": True,
        "seen_by_gp": True,
        "profession": "physician",
        "specialty": "general_practice",
        "sector": "1",
        "act_code": "G",
        "quantity": 1,
    }
    row.update(overrides)
    return row


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    schema = pa.schema([f for f in input_schema() if any(f.name in r for r in rows)])
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path


def invoke(*args: str) -> Any:
    return runner.invoke(app, ["batch", "adjudicate", *args, "--quiet"])


def test_generated_year_equals_the_twin_and_the_scalar_engine(tmp_path: Path) -> None:
    table = generate(3000, seed=3, other_share=0.02)
    pq.write_table(table, tmp_path / "claims.parquet")
    result = invoke(str(tmp_path / "claims.parquet"), str(tmp_path / "out.parquet"), "--workers", "2")
    assert result.exit_code == 0, result.output
    out = pq.read_table(tmp_path / "out.parquet").sort_by("claim_id")
    assert out.num_rows == 3000
    assert (
        not (tmp_path / "out.rejects.parquet").exists() or pq.read_table(tmp_path / "out.rejects.parquet").num_rows == 0
    )
    reference = ColumnarEngine().adjudicate(table).sort_by("claim_id")
    for name in ("pathway", "status", "reason", "fee", "base", "rate", "majoration", "participation", "franchise",
                 "amo", "patient"):  # fmt: skip
        assert out.column(name).to_pylist() == reference.column(name).to_pylist(), name
    scalar = adjudicate_partition(table, scalar_only=True).lines.sort_by("claim_id")
    assert out.drop_columns(["engine"]).equals(scalar.drop_columns(["engine"]))


def test_multi_act_claim_is_one_event_of_the_scalar_engine(tmp_path: Path) -> None:
    child = {"birth_date": dt.date(2023, 1, 10)}
    rows = [
        line(1, line_number=1, **child),
        line(1, line_number=2, act_code="MEG", **child),
        line(2, act_code="AMI", profession="nurse", specialty=None, sector=None, coefficient=1.5, quantity=3,
             professional_id=9, line_number=1),
        line(2, act_code="AMI", profession="nurse", specialty=None, sector=None, coefficient=2.0, quantity=2,
             professional_id=9, line_number=2),
    ]  # fmt: skip
    claims = write(tmp_path / "claims.parquet", rows)
    run = adjudicate(str(claims), tmp_path / "out.parquet", workers=1)
    out = pq.read_table(run.output).to_pylist()
    assert [(r["claim_id"], r["line_number"], r["act_code"]) for r in out] == [
        (1, 1, "G"),
        (1, 2, "MEG"),
        (2, 1, "AMI"),
        (2, 2, "AMI"),
    ]
    engine = default_engine()
    first = engine.adjudicate(event_from_rows(rows[:2]))
    state = first.state_after
    from parcours.rules.event import YearToDate

    second = engine.adjudicate(event_from_rows(rows[2:]), YearToDate.model_validate({**state, "as_of": None,
                               "same_day_participations": 0, "same_day_professional": None}))  # fmt: skip
    expected = first.lines + second.lines
    assert [r["amo"] for r in out] == [x.amo for x in expected]
    assert [r["participation"] for r in out] == [x.participation for x in expected]
    assert [r["franchise"] for r in out] == [x.franchise for x in expected]
    assert run.summary["claims"] == 2
    assert run.summary["lines"] == 4


def test_csv_folder_and_glob_give_the_parquet_answer(tmp_path: Path) -> None:
    table = generate(400, seed=5).cast(pa.schema([pa.field(f.name, f.type.value_type if pa.types.is_dictionary(
        f.type) else f.type) for f in generate(1, seed=5).schema]))  # fmt: skip
    (tmp_path / "in").mkdir()
    pq.write_table(table.slice(0, 200), tmp_path / "in" / "a.parquet")
    pq.write_table(table.slice(200), tmp_path / "in" / "b.parquet")
    pacsv.write_csv(table, tmp_path / "claims.csv")
    outs = []
    for i, source in enumerate((tmp_path / "in", f"{tmp_path}/in/*.parquet", tmp_path / "claims.csv")):
        result = invoke(str(source), str(tmp_path / f"out{i}.parquet"), "--workers", "1")
        assert result.exit_code == 0, result.output
        outs.append(pq.read_table(tmp_path / f"out{i}.parquet").sort_by("claim_id"))
    assert outs[0].equals(outs[1])
    assert outs[0].equals(outs[2])


def test_missing_column_exit_2_naming_it_and_nothing_written(tmp_path: Path) -> None:
    rows = [line(1)]
    for r in rows:
        del r["act_code"]
    claims = write(tmp_path / "claims.parquet", rows)
    result = invoke(str(claims), str(tmp_path / "out.parquet"))
    assert result.exit_code == 2
    assert "act_code" in result.output
    assert "colonne obligatoire absente" in result.output
    assert not (tmp_path / "out.parquet").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["claims.parquet"]


def test_wrong_type_exit_2_naming_the_column(tmp_path: Path) -> None:
    pq.write_table(pa.Table.from_pylist([{**line(1), "date": "2026-03-02"}]), tmp_path / "claims.parquet")
    result = invoke(str(tmp_path / "claims.parquet"), str(tmp_path / "out.parquet"))
    assert result.exit_code == 2
    assert "date" in result.output
    assert "type string au lieu de date" in result.output


def test_unreadable_csv_value_names_the_column(tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_text(
        "claim_id,patient_id,date,birth_date,profession,specialty,act_code,quantity\n"
        "1,1,2026-03-02,1985-04-12,physician,general_practice,G,deux\n",
        encoding="utf-8",
    )
    result = invoke(str(tmp_path / "c.csv"), str(tmp_path / "out.parquet"))
    assert result.exit_code == 2
    assert "quantity" in result.output
    assert "deux" in result.output
    assert not (tmp_path / "out.parquet").exists()


def test_invalid_rows_go_to_rejects_with_their_reason(tmp_path: Path) -> None:
    rows = [
        line(1),
        line(2, act_code="NOPE"),
        line(3, birth_date=dt.date(2027, 1, 1)),
        line(4, patient_id=None),
        line(5, line_number=1),
        line(5, line_number=2, act_code="ZZZ"),
        line(6, line_number=1),
        line(6, line_number=2, emergency=True),
    ]
    claims = write(tmp_path / "claims.parquet", rows)
    result = invoke(str(claims), str(tmp_path / "out.parquet"), "--summary-json", str(tmp_path / "s.json"))
    assert result.exit_code == 0, result.output
    out = pq.read_table(tmp_path / "out.parquet")
    assert out.column("claim_id").to_pylist() == [1]
    rejects = {(r["claim_id"], r["reject_column"]): r["reject_reason"]
               for r in pq.read_table(tmp_path / "out.rejects.parquet").to_pylist()}  # fmt: skip
    assert rejects[(2, "acts.0.code")] == "code d'acte inconnu : NOPE"
    assert (3, "patient.birth_date") in rejects
    assert rejects[(4, "patient_id")] == "valeur manquante"
    assert "ZZZ" in rejects[(5, "acts.1.code")]
    assert rejects[(6, "emergency")] == "valeur différente d'une ligne à l'autre de la même demande"
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["errors"] == 7
    assert summary["lines"] == 1
    assert summary["rows"] == 8
    assert summary["amo"] == 19.0


def test_contract_gives_amc_and_out_of_pocket_of_simulate(tmp_path: Path) -> None:
    rows = [line(1, fee=4000, sector="2", optam=True), line(2, date=DAY + dt.timedelta(days=3))]
    claims = write(tmp_path / "claims.parquet", rows)
    result = invoke(str(claims), str(tmp_path / "out.parquet"), "--contract", "confort")
    assert result.exit_code == 0, result.output
    out = pq.read_table(tmp_path / "out.parquet").to_pylist()
    engine = default_engine()
    contract = load_contract("confort", DAY)
    event = event_from_rows(rows[:1])
    shares = apply_contract(contract, event, engine.adjudicate(event))
    assert out[0]["amc"] == shares.amc
    assert out[0]["out_of_pocket"] == shares.out_of_pocket
    assert out[0]["contract"] == "confort"
    assert out[0]["amc"] > 0


def test_unknown_contract_exit_2(tmp_path: Path) -> None:
    claims = write(tmp_path / "claims.parquet", [line(1)])
    result = invoke(str(claims), str(tmp_path / "out.parquet"), "--contract", "platine")
    assert result.exit_code == 2
    assert "platine" in result.output


@pytest.mark.parametrize("workers", ["1", "2"])
def test_summary_counts(tmp_path: Path, workers: str) -> None:
    pq.write_table(generate(500, seed=9), tmp_path / "claims.parquet")
    result = invoke(str(tmp_path / "claims.parquet"), str(tmp_path / "out.parquet"), "--workers", workers,
                    "--summary-json", str(tmp_path / "s.json"))  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "s.json").read_text())
    out = pq.read_table(tmp_path / "out.parquet")
    assert summary["rows"] == summary["lines"] == summary["claims"] == 500
    assert summary["patients"] == len(set(out.column("patient_id").to_pylist()))
    assert summary["amo"] == round(sum(out.column("amo").to_pylist()) / 100, 2)
    assert "Résumé du lot" in result.output
    # The agents' space reads it (PARCOURS_WEB_BATCH_SUMMARY_FILE).
    from parcours.web.spaces.agent import BatchSummary

    shown = BatchSummary.model_validate(summary)
    assert shown.claims == 500
    assert float(shown.amo) == summary["amo"]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_summary_totals_deferred_and_recovered_participations_and_franchises(tmp_path: Path, workers: str) -> None:
    # Tiers payant on a G by the médecin traitant (30 € at 70 %, participation forfaitaire 2 €: ngap.yaml,
    # participation.yaml) and on 3 AMI 1 by a nurse (3 × 3,15 € at 60 %, franchise 1 € an act: letters.yaml,
    # franchises.yaml): 2 € + 3 € not withheld, owed; a G without tiers payant five days later: its own 2 € withheld
    # and the 5 € owed recovered from its 19 € reimbursement. A second patient without tiers payant, in another
    # bucket with two workers, changes neither total.
    nurse = {"professional_id": 8, "profession": "nurse", "specialty": None, "sector": None, "act_code": "AMI",
             "coefficient": 1.0, "quantity": 3, "seen_by_gp": False}  # fmt: skip
    rows = [
        line(1, tiers_payant=True),
        line(2, **nurse, tiers_payant=True, date=DAY + dt.timedelta(days=1)),
        line(3, date=DAY + dt.timedelta(days=5)),
        line(4, patient_id=2),
    ]
    claims = write(tmp_path / "claims.parquet", rows)
    result = invoke(str(claims), str(tmp_path / "out.parquet"), "--workers", workers,
                    "--summary-json", str(tmp_path / "s.json"))  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["deferred"] == 5.0
    assert summary["recovered"] == 5.0
    assert summary["participation"] == 6.0  # three G, 2 € each (the deferred one included)
    assert summary["franchise"] == 3.0
    assert summary["billed"] == 99.45  # 3 × 30 € + 9,45 €
    assert summary["amo"] == 3 * 19.0 + 2.67  # 21 € − 2 € a G; 5,67 € − 3 € for the nurse
    assert summary["patient"] == round(99.45 - summary["amo"], 2)
    text = " ".join(result.output.split())
    assert "Participations et franchises différées (tiers payant) │ 5,00 €" in text
    assert "Participations et franchises récupérées │ 5,00 €" in text
    assert "Participations forfaitaires │ 6,00 €" in text
    assert "Franchises médicales │ 3,00 €" in text
