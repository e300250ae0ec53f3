"""Hearing aids in the twin: a base of 400 € per ear, 60 % of it (240 €) from the Assurance Maladie [R21][R22]; class I
(100 % santé) billed at most, and by default at, its price limit of 950 € per ear from 20 years, 1 400 € below
[R21][R22]; class II at its free price; a renewal once per 4 years per ear [R23]; no participation forfaitaire nor
franchise. Equal to the scalar engine on every column, the state before each claim and the states after included.

A contrat responsable covers class I whole: the patient pays 0 [rules-brief-2 §3, R21][R22].
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from tests.batch.split_files import second_file_equal_to_whole
from tests.batch.test_twin_teleexpertise import same_as_scalar

from parcours.batch.kernel import adjudicate_partition, input_schema, states_from_table
from parcours.rules.params import default_parameters

SCHEMA = input_schema()
DAY = dt.date(2025, 3, 4)
BASE, LIMIT, LIMIT_YOUNG, AMO = 40_000, 95_000, 140_000, 24_000  # cents per ear [R21][R22]
ADULT, YOUNG = dt.date(1950, 1, 1), dt.date(2010, 6, 1)


def aid(claim_id: int, day: dt.date, klass: str | None = "I", quantity: int = 1, **extra: Any) -> dict[str, Any]:
    return {"claim_id": claim_id, "patient_id": 1, "professional_id": 6, "date": day, "birth_date": ADULT,
            "profession": "hearing_aid_provider", "act_code": "HEARING_AID", "device_class": klass,
            "quantity": quantity, **extra}  # fmt: skip


def test_the_brief_figures_are_the_parameters() -> None:
    p = default_parameters().at(DAY)
    audiology = "tariffs.audiology"
    assert (p[f"{audiology}.base_per_ear"], p[f"{audiology}.price_limit_class_1"]) == (BASE, LIMIT)
    assert (p[f"{audiology}.price_limit_class_1_young"], p[f"{audiology}.young_until_age"]) == (LIMIT_YOUNG, 20)
    assert (p["rates.audiology"], p[f"{audiology}.renewal_years"]) == (6000, 4)


def test_class_i_and_ii_for_one_and_two_ears_young_and_adult_in_the_twin() -> None:
    rows = [
        aid(0, DAY, "I", 2),  # both ears at the limit: 1 900 €, AMO 480 €
        {**aid(1, DAY, "II", 1, fee=150_000, ear="left"), "patient_id": 2},  # free price
        {**aid(2, DAY, "I", 1, birth_date=YOUNG), "patient_id": 3},  # under 20: 1 400 €
        {**aid(3, DAY, "I", 1, fee=80_000), "patient_id": 4},  # within the limit
    ]
    lines = same_as_scalar(pa.Table.from_pylist(rows, schema=SCHEMA))
    assert [line["engine"] for line in lines] == ["columnar"] * 4
    two, free, young, within = lines
    assert (two["fee"], two["base"], two["rate"], two["amo"], two["patient"]) == (
        2 * LIMIT, 2 * BASE, 6000, 2 * AMO, 2 * (LIMIT - AMO),
    )  # fmt: skip
    assert (free["fee"], free["amo"], free["overrun"]) == (150_000, AMO, 150_000 - BASE)
    assert (young["fee"], young["amo"]) == (LIMIT_YOUNG, AMO)
    assert (within["fee"], within["amo"]) == (80_000, AMO)
    assert all(line["participation"] == line["franchise"] == 0 for line in lines)


def test_the_renewal_period_is_per_ear() -> None:
    """Both ears on 4 March 2025; the left one again the next year (refused), then on 4 March 2029 (paid: four years
    to the day); the right one on 3 March 2029 (refused: one day short); the state before shows each ear's date."""
    rows = [
        aid(0, DAY, "I", 2),
        aid(1, dt.date(2026, 1, 5), "II", 1, fee=120_000, ear="left"),
        aid(2, dt.date(2029, 3, 3), "I", 1),  # no ear given, one aid: the right ear (engine._ears)
        aid(3, dt.date(2029, 3, 4), "II", 1, fee=120_000, ear="left"),
    ]
    lines = same_as_scalar(pa.Table.from_pylist(rows, schema=SCHEMA))
    assert [line["engine"] for line in lines] == ["columnar"] * 4
    assert [line["status"] for line in lines] == ["paid", "rejected", "rejected", "paid"]
    assert {lines[1]["reason"], lines[2]["reason"]} == {"early_renewal"}
    assert (lines[1]["amo"], lines[1]["patient"]) == (0, 120_000)
    assert json.loads(lines[3]["state_before"]) == {"last_hearing_aid": {"left": "2025-03-04", "right": "2025-03-04"}}
    result = adjudicate_partition(pa.Table.from_pylist(rows, schema=SCHEMA))
    assert states_from_table(result.states)[1].last_hearing == {"left": "2029-03-04", "right": "2025-03-04"}


def test_what_the_engine_refuses_as_input_stays_with_it() -> None:
    """No class, three aids, class II without its fee, class I above its limit, a date before the base was in force:
    the scalar engine's errors, in the rejects with the field."""
    rows = [
        aid(0, DAY, None),
        {**aid(1, DAY, "I", 3), "patient_id": 2},
        {**aid(2, DAY, "II"), "patient_id": 3},
        {**aid(3, DAY, "I", 2, fee=2 * LIMIT + 1), "patient_id": 4},
        {**aid(4, dt.date(2020, 6, 1), "I"), "patient_id": 5},
    ]
    result = adjudicate_partition(pa.Table.from_pylist(rows, schema=SCHEMA))
    assert result.lines.num_rows == 0
    assert result.rejects.column("reject_column").to_pylist() == [
        "acts.0.device_class", "acts.0.quantity", "acts.0.fee", "acts.0.fee", "date",
    ]  # fmt: skip
    assert "classe I (1\u202f900,00 €)" in result.rejects.column("reject_reason")[3].as_py()  # two ears' limit


def test_a_class_i_aid_with_a_contrat_responsable_leaves_nothing_to_pay() -> None:
    """Class I is a 100 % santé basket: the contrat responsable pays all the Assurance Maladie leaves (1 420 € for
    two ears at 950 €), the patient 0; class II gets the contract's forfait per ear (Confort: 900 € an ear,
    Sécurité sociale included)."""
    rows = [aid(0, DAY, "I", 2, contract="confort"),
            {**aid(1, DAY, "II", 2, fee=300_000, contract="confort"), "patient_id": 2}]  # fmt: skip
    lines = same_as_scalar(pa.Table.from_pylist(rows, schema=SCHEMA))
    assert [line["engine"] for line in lines] == ["columnar"] * 2
    class_i, class_ii = lines
    assert (class_i["amo"], class_i["amc"], class_i["out_of_pocket"]) == (2 * AMO, 2 * (LIMIT - AMO), 0)
    assert (class_ii["amo"], class_ii["amc"]) == (2 * AMO, 2 * (90_000 - AMO))
    assert class_ii["out_of_pocket"] == 300_000 - 2 * 90_000


def test_the_last_aids_are_carried_across_files(tmp_path: Path) -> None:
    """--state-out then --state-in: the second file reads each ear's last aid from the state (``last_hearing_aid``)
    and refuses the ear renewed too early, pays the other; equal to the whole file adjudicated at once."""
    rows = [aid(0, DAY, "I", 1, ear="left"), aid(1, dt.date(2026, 2, 1), "I", 1, ear="right"),
            aid(2, dt.date(2027, 5, 2), "I", 1, ear="left"), aid(3, dt.date(2029, 3, 4), "I", 2)]  # fmt: skip
    second = second_file_equal_to_whole(pa.Table.from_pylist(rows, schema=SCHEMA), 2, tmp_path)
    state = states_from_table(pq.read_table(tmp_path / "s.parquet"))[1]
    assert state.last_hearing == {"left": "2025-03-04", "right": "2026-02-01"}
    assert all(line["engine"] == "columnar" for line in second)
    # The left ear again in 2027: refused; both ears in March 2029: the right one's 4 years are not over (refused).
    assert [line["status"] for line in second] == ["rejected", "rejected"]
    assert json.loads(second[0]["state_before"]) == {"last_hearing_aid": {"left": "2025-03-04", "right": "2026-02-01"}}
    after = states_from_table(pq.read_table(tmp_path / "s2.parquet"))[1]
    assert after.last_hearing == state.last_hearing
    assert after == states_from_table(pq.read_table(tmp_path / "w.parquet"))[1]


def test_the_young_price_limit_ends_on_the_twentieth_birthday() -> None:
    """Class I billed without a fee: at the « jeune » limit until the day before the 20th birthday, at the adult
    limit on it and after (``young_until_age``, excluded) [R22]."""
    rows = [
        {**aid(0, DAY, birth_date=dt.date(2005, 3, 5)), "patient_id": 1},  # 20 tomorrow
        {**aid(1, DAY, birth_date=dt.date(2005, 3, 4)), "patient_id": 2},  # 20 today
        {**aid(2, DAY, birth_date=dt.date(2005, 3, 3)), "patient_id": 3},  # 20 yesterday
        {**aid(3, DAY, birth_date=dt.date(2006, 3, 4)), "patient_id": 4},  # 19 today
    ]
    lines = same_as_scalar(pa.Table.from_pylist(rows, schema=SCHEMA))
    assert [line["engine"] for line in lines] == ["columnar"] * 4
    assert [line["fee"] for line in lines] == [LIMIT_YOUNG, LIMIT, LIMIT, LIMIT_YOUNG]
