"""`parcours batch generate`: multi-act claims of every kind of care, patients shared across files, all valid."""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc
import pyarrow.dataset as ds
from typer.testing import CliRunner

from parcours.batch.generate import generate_claims
from parcours.batch.runner import adjudicate
from parcours.cli import app

runner = CliRunner()


def test_generate_then_adjudicate_the_folder(tmp_path: Path) -> None:
    result = runner.invoke(app, ["batch", "generate", str(tmp_path / "year"), "--claims", "3k", "--patients", "300",
                                 "--chunk", "1k", "--year", "2025"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "year").iterdir()) == [f"part-0000{i}.parquet" for i in range(3)]
    table = ds.dataset(str(tmp_path / "year"), format="parquet").to_table()
    assert len(set(table.column("claim_id").to_pylist())) == 3000
    assert table.num_rows > 3000  # multi-act claims
    assert set(pc.year(table.column("date")).to_pylist()) == {2025}
    births = {}
    for patient, birth in zip(table.column("patient_id").to_pylist(), table.column("birth_date").to_pylist(),
                              strict=True):  # fmt: skip
        if birth.year < 2025:  # (the generator dates a baby's birth at the latest on the day of care)
            assert births.setdefault(patient, birth) == birth  # one patient, one birth date, whatever the file
    codes = set(table.column("act_code").cast("string").to_pylist())
    assert {"G", "MEG", "AMI", "B", "PH7", "TRANSPORT", "FRAME", "LENS", "HOSP_STAY", "TE2", "CROWN",
            "HEARING_AID"} <= codes  # fmt: skip
    run = adjudicate(str(tmp_path / "year"), tmp_path / "out.parquet", workers=1)
    assert run.summary["errors"] == 0
    assert run.summary["claims"] == 3000


def test_bad_count_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["batch", "generate", str(tmp_path), "--claims", "beaucoup"])
    assert result.exit_code == 2
    assert "--claims" in result.output


def test_lines_of_a_claim_share_the_claim_columns() -> None:
    table = generate_claims(500, seed=2, other_share=0.05)
    rows = table.to_pylist()
    by_claim: dict[int, dict[str, object]] = {}
    line_columns = {"act_code", "quantity", "fee", "coefficient", "line_number", "correction", "days", "device_class"}
    for row in rows:
        head = by_claim.setdefault(row["claim_id"], row)
        assert {k: v for k, v in row.items() if k not in line_columns} == {
            k: v for k, v in head.items() if k not in line_columns
        }


def test_devices_come_billed_as_their_class_or_basket_requires() -> None:
    """Class B glasses, crowns of tarifs libres and class II hearing aids carry their price; class A glasses, 100 %
    santé and tarifs maîtrisés crowns and class I hearing aids are billed at their limit (no fee: the rules take the
    limit); only crowns carry a basket, only lenses a correction."""
    rows = generate_claims(20_000, seed=4, other_share=0.2).to_pylist()
    devices = [r for r in rows if r["act_code"] in ("FRAME", "LENS", "CROWN", "HEARING_AID")]
    free = {("FRAME", "B"), ("LENS", "B"), ("HEARING_AID", "II"), ("CROWN", "free")}
    for r in devices:
        shape = (r["act_code"], r["basket"] if r["act_code"] == "CROWN" else r["device_class"])
        assert (r["fee"] is not None) == (shape in free), r
    assert {r["act_code"] for r in rows if r["basket"] is not None} == {"CROWN"}
    assert {r["act_code"] for r in rows if r["correction"] is not None} == {"LENS"}
    seen = {(r["act_code"], r["device_class"], r["basket"], r["correction"]) for r in devices}
    assert {
        ("LENS", "B", None, "very_complex"),
        ("CROWN", None, "moderate", None),
        ("HEARING_AID", "I", None, None),
    } <= seen
