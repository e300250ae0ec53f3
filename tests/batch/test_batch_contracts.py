"""Mutuelle contracts in the batch: patients with a contract stay in the twin (the contract in columns), the yearly
ceiling binds across claims and files there, and the documented routing conditions send the others to the scalar
engine with the same amounts."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyarrow as pa

from parcours.batch.kernel import adjudicate_partition, input_schema, states_from_table
from parcours.rules.columnar import event_from_rows
from parcours.rules.contracts.amc import apply_contract
from parcours.rules.contracts.loader import load_contract
from parcours.rules.engine import default_engine

DAY = dt.date(2025, 3, 3)
PLAFONDS = str(Path(__file__).parent / "contracts" / "plafonds.yaml")  # auxiliaries: 200 %, 15 € a year at most
SCHEMA = input_schema()


def consultation(claim_id: int, patient_id: int, contract: str | None, **overrides: Any) -> dict[str, Any]:
    """A cardiologist in secteur 2 (OPTAM) billing 60 € for a CS, referred by the médecin traitant."""
    row: dict[str, Any] = {
        "claim_id": claim_id, "patient_id": patient_id, "professional_id": 3, "date": DAY + dt.timedelta(days=claim_id),
        "birth_date": dt.date(1970, 6, 1), "has_gp": True, "referred_by_gp": True, "profession": "physician",
        "specialty": "cardiology", "sector": "2", "optam": True, "act_code": "CS", "fee": 6000, "line_number": 1,
        "contract": contract,
    }  # fmt: skip
    row.update(overrides)
    return row


def nurse(claim_id: int, contract: str | None = PLAFONDS, day: dt.date = DAY) -> dict[str, Any]:
    """An AMI 1 billed 10 € (an overrun the contract may cover: auxiliaries at 200 % of the base)."""
    return {
        "claim_id": claim_id, "patient_id": 5, "professional_id": 9, "date": day + dt.timedelta(days=claim_id),
        "birth_date": dt.date(1970, 6, 1), "profession": "nurse", "act_code": "AMI", "coefficient": 1.0,
        "fee": 1000, "line_number": 1, "contract": contract,
    }  # fmt: skip


def run(rows: list[dict[str, Any]], state: pa.Table | None = None) -> Any:
    return adjudicate_partition(pa.Table.from_pylist(rows, schema=SCHEMA), state)


def test_a_patient_with_a_contract_stays_in_the_twin_with_the_scalar_amounts() -> None:
    rows = [consultation(i, 1, "confort") for i in range(3)]
    result = run(rows)
    assert set(result.lines.column("engine").to_pylist()) == {"columnar"}
    scalar = adjudicate_partition(pa.Table.from_pylist(rows, schema=SCHEMA), scalar_only=True)
    assert result.lines.drop(["engine"]).to_pylist() == scalar.lines.drop(["engine"]).to_pylist()
    # The first claim, as parcours simulate computes it.
    event = event_from_rows(rows[:1])
    shares = apply_contract(load_contract("confort", DAY), event, default_engine().adjudicate(event))
    first = result.lines.to_pylist()[0]
    assert (first["amc"], first["out_of_pocket"]) == (shares.amc, shares.out_of_pocket)
    assert first["amc"] > 0


def test_a_patient_with_two_contracts_goes_to_the_scalar_engine() -> None:
    rows = [consultation(0, 1, "confort"), consultation(1, 1, "essentiel"), consultation(2, 2, "essentiel"),
            consultation(3, 3, "confort"), consultation(4, 3, None)]  # fmt: skip
    result = run(rows)
    engines = {(r["patient_id"], r["claim_id"]): r["engine"] for r in result.lines.to_pylist()}
    # A claim naming no contract beside the patient's one keeps the patient in the twin.
    assert engines == {(1, 0): "scalar", (1, 1): "scalar", (2, 2): "columnar", (3, 3): "columnar", (3, 4): "columnar"}
    scalar = adjudicate_partition(pa.Table.from_pylist(rows, schema=SCHEMA), scalar_only=True)
    assert result.lines.drop(["engine"]).to_pylist() == scalar.lines.drop(["engine"]).to_pylist()
    assert states_from_table(result.states) == states_from_table(scalar.states)


def test_an_unknown_contract_rejects_the_claims_naming_it() -> None:
    result = run([consultation(0, 1, "platine"), consultation(1, 2, "confort")])
    assert result.rejects.column("claim_id").to_pylist() == [0]
    assert result.rejects.column("reject_column").to_pylist() == ["contrat"]
    assert result.lines.column("engine").to_pylist() == ["columnar"]


def beyond_tm(result: Any) -> int:
    """What the contract paid beyond the ticket modérateur (the part its yearly ceiling limits)."""
    return sum(r["amc"] - (r["base"] - r["gross"]) for r in result.lines.to_pylist())


def test_the_yearly_ceiling_binds_in_the_twin_across_claims_and_files() -> None:
    rows = [nurse(i) for i in range(8)]
    whole = run(rows)
    assert set(whole.lines.column("engine").to_pylist()) == {"columnar"}
    assert beyond_tm(whole) == 1500  # the 15 € yearly ceiling of the auxiliaries, reached
    paid = json.loads(whole.states.column("details")[0].as_py())["contract"]["paid"]
    assert paid == {"auxiliaries": 15.0}
    first = run(rows[:3])
    second = run(rows[3:], first.states)
    assert beyond_tm(first) + beyond_tm(second) == 1500
    assert states_from_table(second.states) == states_from_table(whole.states)
    # A new calendar year starts afresh.
    after = run([nurse(0, day=dt.date(2026, 1, 5))], whole.states)
    assert beyond_tm(after) > 0


def same_as_scalar(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The kernel's lines, checked equal (every column but the engine, and the states) to its scalar route's."""
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    mixed, scalar = adjudicate_partition(table), adjudicate_partition(table, scalar_only=True)
    assert mixed.lines.drop(["engine"]).to_pylist() == scalar.lines.drop(["engine"]).to_pylist()
    assert states_from_table(mixed.states) == states_from_table(scalar.states)
    lines: list[dict[str, Any]] = mixed.lines.to_pylist()
    return lines


def test_a_secteur_1_specialist_out_of_the_pathway_dépassement_autorisé_is_not_paid() -> None:
    """R871-2: a contrat responsable does not pay the DA, even at 300 % of the base: the ticket modérateur only."""
    (line,) = same_as_scalar([consultation(0, 1, "renfort", sector="1", referred_by_gp=False, fee=4000)])
    assert line["engine"] == "columnar"
    assert line["in_pathway"] is False
    assert line["amc"] == line["base"] - line["gross"]


def test_a_long_stay_under_a_day_limit() -> None:
    """Hospital fees at 150 € a day (Sécurité sociale included) for at most 10 days a year, and the forfait journalier at 15 € a day for 12
    (tests/batch/contracts/libre.yaml): two stays of 8 days, the second one cut."""
    libre = str(Path(__file__).parent / "contracts" / "libre.yaml")
    stay = {"patient_id": 4, "birth_date": dt.date(1960, 1, 1), "profession": "hospital", "act_code": "HOSP_STAY",
            "days": 8, "fee": 80_000, "line_number": 1, "contract": libre}  # fmt: skip
    rows = [{**stay, "claim_id": 0, "date": DAY}, {**stay, "claim_id": 1, "date": DAY + dt.timedelta(days=20)}]
    lines = same_as_scalar(rows)
    assert [line["engine"] for line in lines] == ["columnar", "columnar"]
    days = json.loads(adjudicate_partition(pa.Table.from_pylist(rows, schema=SCHEMA)).states.column("details")[0]
                      .as_py())["contract"]["days"]  # fmt: skip
    assert days == {"daily_charge": 12, "hospital_fees": 10}
    assert lines[1]["amc"] < lines[0]["amc"]
