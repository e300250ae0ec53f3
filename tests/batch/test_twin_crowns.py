"""Dental crowns in the twin: the base of 120 € whatever the basket [R14][R17], the basket's fee limit (HLF) for
the 100 % santé (500 € in 2024 [R14][R17]) and tarifs maîtrisés baskets, free fees otherwise, 60 % of the base
(rates.dental), no participation forfaitaire nor franchise; equal to the scalar engine.

A 100 % santé crown in 2024, billed at its HLF: the AMO pays 60 % × 120 € = 72 €, the patient 428 € before the
mutuelle; a contrat responsable pays the 428 € (no reste à charge).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
from tests.batch.test_twin_teleexpertise import same_as_scalar

from parcours.batch.kernel import input_schema
from parcours.rules.params import default_parameters

SCHEMA = input_schema()
DAY = dt.date(2024, 6, 3)
CROWN_BASE, HLF_RAC0, AMO_CROWN = 12_000, 50_000, 7_200  # cents [R14][R17]


def crown(claim_id: int, basket: str | None, fee: int | None = None, **extra: Any) -> dict[str, Any]:
    return {"claim_id": claim_id, "patient_id": 1, "professional_id": 4, "date": DAY,
            "birth_date": dt.date(1970, 1, 1), "profession": "dentist", "act_code": "CROWN", "basket": basket,
            "fee": fee, **extra}  # fmt: skip


def test_a_crown_of_each_basket_in_the_twin() -> None:
    p = default_parameters().at(DAY)
    assert (p["tariffs.dental.crown_base"], p["tariffs.dental.crown_fee_limit_rac0"]) == (CROWN_BASE, HLF_RAC0)
    assert p["rates.dental"] == 6000
    moderate = p["tariffs.dental.crown_fee_limit_moderate"]
    rows = [crown(0, "rac0"), crown(1, "moderate", 40_000), crown(2, "free", 90_000), crown(3, "moderate")]
    lines = same_as_scalar(pa.Table.from_pylist(rows, schema=SCHEMA))
    assert [line["engine"] for line in lines] == ["columnar"] * 4
    rac0, within, free, at_limit = lines
    assert (rac0["fee"], rac0["base"], rac0["rate"], rac0["amo"], rac0["patient"]) == (
        HLF_RAC0, CROWN_BASE, 6000, AMO_CROWN, HLF_RAC0 - AMO_CROWN,
    )  # fmt: skip
    assert all(line["participation"] == line["franchise"] == 0 for line in lines)
    assert (within["fee"], within["amo"]) == (40_000, AMO_CROWN)
    assert (free["fee"], free["amo"], free["overrun"]) == (90_000, AMO_CROWN, 90_000 - CROWN_BASE)
    assert at_limit["fee"] == moderate


def test_what_the_engine_refuses_as_input_stays_with_it() -> None:
    """No basket, a free crown without its fee, a fee above the basket's limit: the scalar engine's errors."""
    rows = [crown(0, None), crown(1, "free"), crown(2, "rac0", HLF_RAC0 + 1)]
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    from parcours.batch.kernel import adjudicate_partition

    result = adjudicate_partition(table)
    assert result.lines.num_rows == 0
    assert result.rejects.column("reject_column").to_pylist() == ["acts.0.basket", "acts.0.fee", "acts.0.fee"]


def test_a_100_percent_sante_crown_with_a_contrat_responsable_leaves_nothing_to_pay() -> None:
    lines = same_as_scalar(pa.Table.from_pylist([crown(0, "rac0", contract="confort")], schema=SCHEMA))
    (line,) = lines
    assert line["engine"] == "columnar"
    assert (line["amo"], line["amc"], line["out_of_pocket"]) == (AMO_CROWN, HLF_RAC0 - AMO_CROWN, 0)
