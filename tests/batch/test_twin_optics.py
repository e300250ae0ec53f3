"""Optics in the twin: class A (100 % santé, billed at most its price limit) and class B (free prices) bases, the
Assurance Maladie's 60 % of the base, and the renewal period since the last equipment (2 years from 16, 1 year
from 6, 6 months before [R7][R8]), carried across files in the batch state, equal to the scalar engine.

A class A frame: base 9,00 € [R1], price limit 30,00 € [R2][R3][R5], 60 % [R1]: the AMO pays 5,40 €.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from tests.batch.split_files import second_file_equal_to_whole
from tests.batch.test_twin_teleexpertise import same_as_scalar

from parcours.batch.kernel import input_schema, states_from_table
from parcours.rules.contracts.loader import load_contract
from parcours.rules.params import default_parameters

SCHEMA = input_schema()
FRAME_A_BASE, FRAME_A_LIMIT, AMO_FRAME_A = 900, 3000, 540  # cents [R1][R2]


def frame(claim_id: int, day: dt.date, birth: dt.date = dt.date(1970, 1, 1), **extra: Any) -> dict[str, Any]:
    return {"claim_id": claim_id, "patient_id": 1, "professional_id": 4, "date": day, "birth_date": birth,
            "profession": "optician", "act_code": "FRAME", "device_class": "A", **extra}  # fmt: skip


def test_a_frame_of_class_a_and_its_renewal_in_the_twin() -> None:
    p = default_parameters().at(dt.date(2025, 1, 2))
    assert p["tariffs.optics.frame_base_class_a"] == FRAME_A_BASE
    assert p["tariffs.optics.frame_price_limit_class_a"] == FRAME_A_LIMIT
    assert p["tariffs.optics.renewal.adult_months"] == 24
    days = [dt.date(2025, 1, 2), dt.date(2025, 1, 2), dt.date(2026, 12, 31), dt.date(2027, 1, 2)]
    lines = same_as_scalar(pa.Table.from_pylist([frame(i, day) for i, day in enumerate(days)], schema=SCHEMA))
    assert [line["engine"] for line in lines] == ["columnar"] * 4
    first = lines[0]
    assert (first["fee"], first["base"], first["rate"], first["amo"]) == (
        FRAME_A_LIMIT,
        FRAME_A_BASE,
        6000,
        AMO_FRAME_A,
    )
    assert first["patient"] == FRAME_A_LIMIT - AMO_FRAME_A
    # A second frame the same day and one before the 2 years are refused; on the 2nd of January 2027 it is paid.
    assert [line["status"] for line in lines] == ["paid", "rejected", "rejected", "paid"]
    assert {lines[1]["reason"], lines[2]["reason"]} == {"early_renewal"}
    assert lines[2]["state_before"] == '{"last_optical_equipment": "2025-01-02"}'


def test_a_child_renews_after_one_year() -> None:
    child = dt.date(2015, 6, 1)  # 9 and 10 years old: 12 months [R7]
    rows = [
        frame(0, dt.date(2024, 3, 1), child),
        frame(1, dt.date(2025, 2, 28), child),
        frame(2, dt.date(2025, 3, 1), child),
    ]
    lines = same_as_scalar(pa.Table.from_pylist(rows, schema=SCHEMA))
    assert [line["status"] for line in lines] == ["paid", "rejected", "paid"]
    assert all(line["engine"] == "columnar" for line in lines)


def test_the_last_equipment_is_carried_across_files(tmp_path: Path) -> None:
    """The renewal period spans years and files: the second file reads the last equipment from the state."""
    rows = [frame(0, dt.date(2024, 5, 2)), frame(1, dt.date(2025, 5, 2)), frame(2, dt.date(2026, 5, 2))]
    rows += [{**frame(3, dt.date(2026, 5, 3), correction="complex", quantity=2), "act_code": "LENS"}]
    second = second_file_equal_to_whole(pa.Table.from_pylist(rows, schema=SCHEMA), 1, tmp_path)
    assert all(line["engine"] == "columnar" for line in second)
    # 2025-05-02 is within 2 years of 2024-05-02: refused; 2026-05-02 is paid, and the lenses the day after refused.
    assert [line["status"] for line in second] == ["rejected", "paid", "rejected"]
    assert states_from_table(pq.read_table(tmp_path / "s2.parquet"))[1].last_optical == "2026-05-02"


def test_a_class_b_equipment_with_a_mutuelle_contract_in_the_twin() -> None:
    """Formule Confort (catalogue): class B glasses up to 400 € an equipment with complex lenses, the frame up to
    100 €, Sécurité sociale included. A 150 € frame and two complex lenses at 400 €: the frame gets 100 € (AMO 0,03 €
    + AMC 99,97 €), the lenses the 300 € left of the equipment (AMO 0,06 € + AMC 299,94 €): the patient pays
    550 − 400 = 150 €. Class A glasses (100 % santé) leave nothing to pay."""
    p = default_parameters().at(dt.date(2025, 3, 4))
    assert p["tariffs.optics.frame_base_class_b"] == 5
    assert p["tariffs.optics.lens_base_class_b"] == 5
    confort = load_contract("confort", dt.date(2025, 3, 4)).optics_class_b
    assert confort is not None
    assert (confort.complex, confort.frame) == (400, 100)
    day = dt.date(2025, 3, 4)
    rows = [
        frame(0, day, device_class="B", fee=15000, contract="confort"),
        {**frame(0, day, device_class="B", fee=40000, contract="confort"), "act_code": "LENS", "line_number": 2,
         "correction": "complex", "quantity": 2},
        {**frame(1, day, contract="confort"), "patient_id": 2},
        {**frame(1, day, contract="confort"), "patient_id": 2, "act_code": "LENS", "line_number": 2,
         "correction": "very_complex", "quantity": 2},
    ]  # fmt: skip
    lines = same_as_scalar(pa.Table.from_pylist(rows, schema=SCHEMA))
    assert [line["engine"] for line in lines] == ["columnar"] * 4
    b_frame, b_lenses, a_frame, a_lenses = lines
    assert (b_frame["amo"], b_frame["amc"], b_frame["out_of_pocket"]) == (3, 9997, 5000)
    assert (b_lenses["amo"], b_lenses["amc"], b_lenses["out_of_pocket"]) == (6, 29994, 10000)
    assert a_frame["contract"] == "confort"
    assert a_frame["out_of_pocket"] == a_lenses["out_of_pocket"] == 0
    assert a_frame["amo"] + a_frame["amc"] == a_frame["fee"] == FRAME_A_LIMIT


def test_the_strongest_correction_sets_the_equipment_limit() -> None:
    """A simple and a very complex lens in one claim: the equipment is a very complex one (500 € with Confort, Sécurité
    sociale included); two lenses at 300 € each leave the patient 100 €. The same lenses billed in two claims are two
    equipments' worth of lines, the second refused by the Sécurité sociale (one equipment per renewal period) and paid
    nothing by the contract either."""
    day = dt.date(2025, 5, 6)
    lens = {**frame(0, day, device_class="B", fee=30000, contract="confort"), "act_code": "LENS"}
    rows = [{**lens, "correction": "simple"}, {**lens, "correction": "very_complex", "line_number": 2}]
    rows += [{**lens, "claim_id": 1, "correction": "simple", "date": dt.date(2025, 5, 7)}]
    lines = same_as_scalar(pa.Table.from_pylist(rows, schema=SCHEMA))
    assert [line["engine"] for line in lines] == ["columnar"] * 3
    one, two, refused = lines
    assert one["amo"] + one["amc"] + two["amo"] + two["amc"] == 50000
    assert one["out_of_pocket"] + two["out_of_pocket"] == 10000
    assert (refused["status"], refused["amc"], refused["out_of_pocket"]) == ("rejected", 0, 30000)
