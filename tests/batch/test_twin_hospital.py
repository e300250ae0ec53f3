"""Hospital stays in the columnar twin: the stay's gross (80 % up to the 30th day, 100 % from the 31st, the costly
act's flat fee) and its daily charge (forfait journalier) summed on the stay's line, equal to the scalar engine."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa

from parcours.batch.kernel import OUTPUT_SCHEMA, adjudicate_partition, input_schema

SCHEMA = input_schema()
DAY = dt.date(2025, 3, 4)


def stay(claim_id: int, **facts: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "claim_id": claim_id,
        "patient_id": claim_id,
        "date": DAY,
        "birth_date": dt.date(1970, 1, 1),
        "profession": "hospital",
        "act_code": "HOSP_STAY",
        "fee": 400_000,
        "days": 40,
    }
    return {**base, **facts}


def test_a_long_stay_in_the_twin_pays_the_larger_of_the_daily_charge_and_the_ticket_moderateur() -> None:
    # 4 000 € over 40 days: 30 days at 80 % [S18, R30 — 100 % from the 31st day], 3 000 × 80 % + 1 000 = 3 400 €
    # reimbursed; the ticket modérateur (600 €) is imputed on the daily charge, 40 × 20 € = 800 € [R29, R30b]:
    # the patient pays 800 €.
    result = adjudicate_partition(pa.Table.from_pylist([stay(1)], schema=SCHEMA))
    [line] = result.lines.to_pylist()
    assert line["engine"] == "columnar"
    assert (line["gross"], line["amo"], line["patient"], line["participation"], line["franchise"]) == (
        340_000,
        340_000,
        80_000,
        0,
        0,
    )


def test_stays_in_the_twin_equal_the_scalar_engine() -> None:
    rows = [
        stay(1),
        stay(2, days=3, psychiatry=True),
        stay(3, days=12, costly_act=True),
        stay(4, days=2, birth_date=DAY - dt.timedelta(days=10)),  # a newborn: daily charge covered [R30]
        stay(5, days=5, pregnancy_start=dt.date(2024, 9, 1)),  # maternity: 100 %, daily charge covered
        stay(6, days=5, ald=True, ald_care=True),  # the ALD: 100 %, the daily charge borne
        stay(7, days=6, fee=1_000),  # a ticket modérateur below the daily charge
    ]
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    twin = adjudicate_partition(table)
    scalar = adjudicate_partition(table, scalar_only=True)
    assert set(twin.lines.column("engine").to_pylist()) == {"columnar"}
    columns = [name for name in OUTPUT_SCHEMA.names if name != "engine"]
    assert twin.lines.select(columns).to_pylist() == scalar.lines.select(columns).to_pylist()
