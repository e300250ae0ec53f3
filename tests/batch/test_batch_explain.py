"""`parcours batch explain OUT CLAIM_ID` prints exactly what `parcours simulate` prints for that claim's event with
the patient's year-to-date state before it (twin claims, scalar claims, multi-act claims, a contract)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from typer.testing import CliRunner

from parcours.batch.explain import claim_to_explain
from parcours.batch.generate import generate
from parcours.batch.runner import adjudicate
from parcours.cli import app

runner = CliRunner()


def simulate_output(out: Path, claim_id: int, *extra: str) -> str:
    claim = claim_to_explain(out, claim_id)
    payload: dict[str, Any] = claim.event.model_dump(mode="json")
    payload["year_to_date"] = claim.state.model_dump(mode="json")
    args = ["simulate", "-", *extra]
    if claim.contract:
        payload["contract_year_to_date"] = claim.contract_state
        args += ["--contract", claim.contract]
    result = runner.invoke(app, args, input=json.dumps(payload))
    assert result.exit_code == 0, result.output
    return result.stdout


def explain_output(out: Path, claim_id: int, *extra: str) -> str:
    result = runner.invoke(app, ["batch", "explain", str(out), str(claim_id), *extra])
    assert result.exit_code == 0, result.output
    assert "Attention" not in result.output
    return result.stdout


def test_explain_equals_simulate_for_twin_and_scalar_claims(tmp_path: Path) -> None:
    table = generate(2000, seed=21, patients=40, other_share=0.01)
    # Care for a work injury (AT-MP) now and then: claims the scalar engine takes (the twin routes them).
    routed = pc.equal(pc.bit_wise_and(table.column("claim_id"), 63), 0)
    table = table.append_column("work_injury", routed)
    pq.write_table(table, tmp_path / "claims.parquet")
    adjudicate(str(tmp_path / "claims.parquet"), tmp_path / "out.parquet", workers=1)
    out = pq.read_table(tmp_path / "out.parquet")
    twin = out.filter(pc.and_(pc.equal(out.column("engine"), "columnar"),
                              pc.greater(out.column("participation_paid_before"), 1000)))  # fmt: skip
    scalar = out.filter(pc.equal(out.column("engine"), "scalar"))
    # A twin claim after a téléexpertise or an equipment the twin counted (its state before has them).
    counted = out.filter(pc.and_(pc.equal(out.column("engine"), "columnar"), pc.is_valid(out.column("state_before"))))
    chosen = twin.column("claim_id").to_pylist()[:2] + scalar.column("claim_id").to_pylist()[:2]
    chosen += counted.column("claim_id").to_pylist()[:1]
    assert len(chosen) == 5
    for claim_id in chosen:
        text = explain_output(tmp_path / "out.parquet", claim_id)
        assert "Explication" in text
        assert text == simulate_output(tmp_path / "out.parquet", claim_id)
    claim_id = chosen[0]
    assert explain_output(tmp_path / "out.parquet", claim_id, "--format", "json") == simulate_output(
        tmp_path / "out.parquet", claim_id, "--format", "json"
    )


def test_explain_a_multi_act_claim_with_a_contract(tmp_path: Path) -> None:
    base = {"patient_id": 3, "professional_id": 5, "birth_date": dt.date(1950, 6, 1), "profession": "physician",
            "specialty": "general_practice", "has_gp": True, "seen_by_gp": True, "sector": "2", "optam": True}  # fmt: skip
    rows = [{**base, "claim_id": c, "date": dt.date(2025, 2, d), "act_code": "G", "fee": 4500} for c, d in
            ((1, 3), (2, 10), (3, 10))]  # fmt: skip
    rows.append({**base, "claim_id": 4, "date": dt.date(2025, 2, 11), "act_code": "G", "fee": 4500, "line_number": 2})
    rows.append({**base, "claim_id": 4, "date": dt.date(2025, 2, 11), "act_code": "APC", "line_number": 1})
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "claims.parquet")
    run = adjudicate(str(tmp_path / "claims.parquet"), tmp_path / "out.parquet", workers=1, contract="essentiel")
    assert run.summary["errors"] == 0
    for claim_id in (1, 3, 4):
        text = explain_output(tmp_path / "out.parquet", claim_id)
        assert "Reste à charge" in text
        assert text == simulate_output(tmp_path / "out.parquet", claim_id)


def test_explain_unknown_claim_exit_2(tmp_path: Path) -> None:
    pq.write_table(generate(20, seed=1), tmp_path / "claims.parquet")
    adjudicate(str(tmp_path / "claims.parquet"), tmp_path / "out.parquet", workers=1)
    result = runner.invoke(app, ["batch", "explain", str(tmp_path / "out.parquet"), "999"])
    assert result.exit_code == 2
    assert "CLAIM_ID" in result.output
    result = runner.invoke(app, ["batch", "explain", str(tmp_path / "claims.parquet"), "1"])
    assert result.exit_code == 2
    assert "OUT.parquet" in result.output
