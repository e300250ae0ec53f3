"""Differential test: the columnar twin and the scalar engine give the same answer, row by row, to the cent.

The scalar reference (``adjudicate_rows``) feeds each row to ``Engine.adjudicate`` in the order (patient, date,
claim id), carrying the year-to-date state; the twin computes the same caps in one pass. Rows are drawn by
hypothesis (few patients, professionals and dates, so that the daily and annual caps bind) and by the generator.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from parcours.batch.generate import generate
from parcours.rules.catalogue import Profession, default_catalogue
from parcours.rules.columnar import INPUT_COLUMNS, SUPPORTED_CATEGORIES, ColumnarEngine, adjudicate_rows
from parcours.rules.event import ExcludedContext, Institution, Specialty, VisitReason

SCHEMA = pa.schema([(name, spec[0]) for name, spec in INPUT_COLUMNS.items()])
CATALOGUE = default_catalogue()
TWIN = ColumnarEngine()

SUPPORTED_PROFESSIONS = [
    Profession.PHYSICIAN,
    Profession.NURSE,
    Profession.PHYSIOTHERAPIST,
    Profession.PHARMACIST,
    Profession.LABORATORY,
    Profession.DENTIST,
    Profession.TRANSPORT,
    Profession.MIDWIFE,
    Profession.OPTICIAN,
    Profession.HEARING_AID_PROVIDER,
]
# Each patient's last optical equipment before the batch (one per patient, as the batch state gives it).
LAST_OPTICAL = {0: None, 1: dt.date(2023, 11, 30), 2: dt.date(2025, 2, 28), 3: None}
# And the last hearing aid of each ear (left, right): renewals within the 4 years and beyond them in 2024-2026.
LAST_HEARING = {0: (None, None), 1: (dt.date(2021, 6, 1), None), 2: (dt.date(2022, 1, 15), dt.date(2020, 12, 31)),
                3: (None, dt.date(2024, 2, 29))}  # fmt: skip
# A few change dates of the parameters and days around them, so caps bind within a day and values change.
KEY_DATES = [
    dt.date(2024, 5, 14),
    dt.date(2024, 5, 15),
    dt.date(2024, 12, 21),
    dt.date(2024, 12, 22),
    dt.date(2025, 6, 30),
    dt.date(2025, 7, 1),
    dt.date(2025, 12, 31),
    dt.date(2026, 1, 1),
]


def codes_for(profession: Profession) -> list[str]:
    return sorted(
        code
        for code, d in CATALOGUE.acts.items()
        if profession in d.professions and d.category_for(profession) in SUPPORTED_CATEGORIES
    )


@st.composite
def claim_rows(draw: st.DrawFn, claim_id: int) -> dict[str, Any]:
    date = draw(st.sampled_from(KEY_DATES) | st.dates(dt.date(2024, 1, 1), dt.date(2026, 12, 31)))
    birth = date - dt.timedelta(days=draw(st.integers(0, 95 * 366)))
    if draw(st.integers(0, 30)) == 0:
        birth = draw(st.sampled_from([dt.date(2000, 2, 29), dt.date(2008, 2, 29), date + dt.timedelta(days=1)]))
    profession = draw(st.sampled_from(SUPPORTED_PROFESSIONS))
    unsupported = draw(st.integers(0, 25)) == 0
    if unsupported:  # an act the twin does not cover, or one this profession cannot bill: routed
        code = draw(st.sampled_from(sorted(CATALOGUE.acts)))
    else:
        code = draw(st.sampled_from(codes_for(profession)))
    definition = CATALOGUE.acts[code]
    physician = profession is Profession.PHYSICIAN
    row: dict[str, Any] = {
        "claim_id": claim_id,
        "patient_id": draw(st.integers(0, 3)),
        "professional_id": draw(st.integers(0, 2)),
        "date": date,
        "birth_date": birth,
        "has_gp": draw(st.booleans()),
        "seen_by_gp": draw(st.booleans()),
        "c2s": draw(st.integers(0, 5)) == 0,
        "ald": draw(st.booleans()),
        "regime": draw(
            st.sampled_from([None, None, "general", "ame", "mayotte", "foreign_visitor", "alsace_moselle", "mines"])
        ),
        "institution": draw(st.none() | st.sampled_from([i.value for i in Institution])),
        "profession": profession.value,
        "specialty": draw(st.sampled_from([s.value for s in Specialty])) if physician else None,
        "sector": draw(st.sampled_from([None, "1", "2"])),
        "optam": draw(st.booleans()),
        "installed_on": draw(st.none() | st.just(date - dt.timedelta(days=draw(st.integers(0, 4000))))),
        "underserved_area": draw(st.booleans()),
        "declares_gp": draw(st.integers(0, 8)) == 0,
        "referred_by_gp": draw(st.booleans()),
        "referred_by_other_doctor": draw(st.integers(0, 6)) == 0,
        "replacing_gp": draw(st.integers(0, 8)) == 0,
        "emergency": draw(st.integers(0, 8)) == 0,
        "away_from_home": draw(st.integers(0, 8)) == 0,
        "teleconsultation": definition.teleconsultation_only or draw(st.integers(0, 6)) == 0,
        "gp_unavailable": draw(st.integers(0, 6)) == 0,
        "last_in_person_visit": draw(st.none() | st.just(date - dt.timedelta(days=draw(st.integers(0, 800))))),
        "visit_reason": draw(st.none() | st.sampled_from([v.value for v in VisitReason])),
        "excluded_context": draw(st.none() | st.none() | st.sampled_from([c.value for c in ExcludedContext])),
        "act_code": code,
        "quantity": draw(st.integers(1, 5)),
        "fee": draw(st.none() | st.integers(0, 20_000)),
        "coefficient": draw(st.none() | st.integers(1, 4000).map(lambda x: x / 10)),
        "participation_paid_ytd": draw(st.sampled_from([0, 0, 4600, 4900, 5000, 6000])),
        "franchises_paid_ytd": draw(st.sampled_from([0, 0, 4700, 4900, 5000])),
        "same_day_participations": draw(st.integers(0, 5)),
        "same_day_paramedical_franchises": draw(st.sampled_from([0, 0, 100, 300, 400])),
        "same_day_transport_franchises": draw(st.sampled_from([0, 0, 400, 800])),
        "teleexpertise_done_ytd": draw(st.sampled_from([0, 0, 0, 2, 4, 5])),
    }
    row["ald_care"] = (row["ald"] or draw(st.integers(0, 30)) == 0) and draw(st.booleans())
    if definition.base == "letter" and row["coefficient"] is None and draw(st.integers(0, 10)):
        row["coefficient"] = draw(st.sampled_from([1.0, 1.5, 8.5, 70.0]))
    if definition.base == "fee" and row["fee"] is None and draw(st.integers(0, 10)):
        row["fee"] = draw(st.integers(1, 20_000))
    row["last_optical_equipment"] = LAST_OPTICAL[row["patient_id"]]
    row["last_hearing_aid_left"], row["last_hearing_aid_right"] = LAST_HEARING[row["patient_id"]]
    if definition.base == "device":  # optics: class, correction, one frame or two lenses, within the price limit
        row["device_class"] = draw(st.sampled_from(["A", "A", "B", "I", None]))
        row["correction"] = draw(st.sampled_from(["simple", "complex", "very_complex", None]))
        row["quantity"] = draw(st.sampled_from([1, 1, 1, 2, 3]))
        row["fee"] = draw(st.none() | st.integers(500, 3_000) | st.integers(0, 40_000))
    if code == "CROWN":  # each basket (none: the engine's error), at or within the limit, or above it
        row["basket"] = draw(st.sampled_from(["rac0", "moderate", "free", None]))
        row["fee"] = draw(st.none() | st.integers(5_000, 60_000) | st.integers(0, 200_000))
    if code == "HEARING_AID":  # each class (none, A: the engine's error), one or two ears (three: its error), young
        # (under 20: their own class I limit) or not, at the limit, within it or above it (refused as input)
        row["device_class"] = draw(st.sampled_from(["I", "I", "II", "II", None, "A"]))
        row["quantity"] = draw(st.sampled_from([1, 1, 2, 2, 3]))
        row["ear"] = draw(st.sampled_from([None, None, "left", "right", "both"]))
        row["fee"] = draw(st.none() | st.integers(20_000, 140_000) | st.integers(0, 400_000))
        if draw(st.booleans()):
            row["birth_date"] = date - dt.timedelta(days=draw(st.integers(18 * 365, 22 * 365)))
    if draw(st.integers(0, 6)) == 0:
        start = date - dt.timedelta(days=draw(st.integers(0, 300)))
        row["pregnancy_start"] = start
        row["delivery_date"] = draw(st.none() | st.just(start + dt.timedelta(days=draw(st.integers(150, 290)))))
    return row


@st.composite
def teleexpertise_rows(draw: st.DrawFn, claim_id: int) -> dict[str, Any]:
    """A téléexpertise (TE2, RQD) of one of two patients by one of three professionals (one without an id), in 2025
    or 2026, mostly of one act: the yearly limit per act, patient and professional binds, with a count before."""
    profession = draw(
        st.sampled_from([Profession.PHYSICIAN, Profession.PHYSICIAN, Profession.MIDWIFE, Profession.NURSE])
    )
    code = draw(st.sampled_from([c for c in ("TE2", "RQD") if profession in CATALOGUE.acts[c].professions]))
    return {
        **draw(claim_rows(claim_id)),
        "patient_id": draw(st.integers(0, 1)),
        "professional_id": draw(st.sampled_from([0, 0, 1, None])),
        "date": draw(st.sampled_from([dt.date(2025, 2, 1), dt.date(2025, 6, 1), dt.date(2026, 3, 1)])),
        "birth_date": dt.date(1960, 1, 1),
        "profession": profession.value,
        "specialty": Specialty.GENERAL_PRACTICE.value if profession is Profession.PHYSICIAN else None,
        "regime": None,
        "act_code": code,
        "quantity": draw(st.sampled_from([1, 1, 1, 1, 2, 3])),
        "fee": draw(st.none() | st.none() | st.integers(0, 3000)),
        "teleexpertise_done_ytd": draw(st.sampled_from([0, 0, 0, 2, 4])),
    }


ROUTING_FACTS = ("regime", "institution", "pregnancy_start", "delivery_date", "coefficient", "sector", "installed_on",
                 "last_in_person_visit")  # fmt: skip


@st.composite
def hearing_rows(draw: st.DrawFn, claim_id: int) -> dict[str, Any]:
    """A hearing aid of one of two patients (one with aids before the batch), on dates around four years apart (the
    renewal period per ear: within it, on its last day, beyond it), now and then another kind of care."""
    row = draw(claim_rows(claim_id))
    if draw(st.integers(0, 9)) == 0:
        return {**row, "patient_id": draw(st.sampled_from([0, 2]))}
    # (the twin's dates: from 2023, every rule it reads in force)
    date = draw(st.sampled_from([dt.date(2023, 3, 4), dt.date(2024, 1, 15), dt.date(2026, 1, 14), dt.date(2026, 1, 15),
                                 dt.date(2027, 3, 3), dt.date(2027, 3, 4), dt.date(2028, 1, 15)]))  # fmt: skip
    patient = draw(st.sampled_from([0, 2]))
    klass = draw(st.sampled_from(["I", "I", "II"]))
    error = draw(st.integers(0, 15)) == 0  # now and then the engine's error: routed with the patient
    if klass == "I":  # at the limit, within it, above it (an error)
        fee = draw(st.integers(95_001, 300_000)) if error else draw(st.none() | st.integers(0, 95_000))
    else:  # with its fee, without it (an error)
        fee = None if error else draw(st.integers(40_000, 250_000))
    return {
        **row,
        "patient_id": patient,
        "date": date,
        "birth_date": draw(st.sampled_from([dt.date(1950, 1, 1), dt.date(2007, 3, 4), dt.date(2012, 7, 1)])),
        "profession": Profession.HEARING_AID_PROVIDER.value,
        "specialty": None,
        "act_code": "HEARING_AID",
        "device_class": klass,
        "quantity": draw(st.sampled_from([1, 1, 2])),
        "ear": draw(st.sampled_from([None, None, "left", "right"])),
        "fee": fee,
        "last_hearing_aid_left": LAST_HEARING[patient][0],
        "last_hearing_aid_right": LAST_HEARING[patient][1],
        # what would route the patient whole: drawn by the other tests
        **dict.fromkeys(ROUTING_FACTS, None),
        "ald_care": row["ald"] and row["ald_care"],
        "teleconsultation": False,
    }


@st.composite
def batches(draw: st.DrawFn, teleexpertise: bool = False, hearing: bool = False) -> list[dict[str, Any]]:
    size = draw(st.integers(1, 25))
    rows = teleexpertise_rows if teleexpertise else hearing_rows if hearing else claim_rows
    return [draw(rows(claim_id)) for claim_id in draw(st.permutations(range(size)))]


def comparable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "engine"} for row in rows]


def both(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    twin = TWIN.adjudicate(table).to_pylist()
    scalar = adjudicate_rows(rows)
    answered = sum(row["engine"] == "columnar" for row in twin)
    return comparable(twin), comparable(scalar), answered


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches())
def test_twin_equals_scalar_engine_row_by_row(rows: list[dict[str, Any]]) -> None:
    twin, scalar, answered = both(rows)
    event(f"rows answered by the twin: {'none' if not answered else 'all' if answered == len(rows) else 'some'}")
    for got, expected in zip(twin, scalar, strict=True):
        assert got == expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches(teleexpertise=True))
def test_teleexpertises_in_the_twin_equal_the_scalar_engine(rows: list[dict[str, Any]]) -> None:
    """The yearly limit per act, patient and professional: refused when passed, a refused row counting nothing."""
    twin, scalar, answered = both(rows)
    over = sum(row["reason"] == "teleexpertise_yearly_limit" for row in twin)
    event(f"rows answered by the twin: {'none' if not answered else 'all' if answered == len(rows) else 'some'}")
    event(f"over the yearly limit: {'yes' if over else 'no'}")
    for got, expected in zip(twin, scalar, strict=True):
        assert got == expected


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_generated_claims_equal_row_by_row(seed: int) -> None:
    table = generate(4_000, seed=seed, patients=300, other_share=0.01)
    twin = TWIN.adjudicate(table).to_pylist()
    scalar = adjudicate_rows(table.to_pylist())
    assert comparable(twin) == comparable(scalar)
    assert sum(row["engine"] == "columnar" for row in twin) > len(twin) // 2
    assert all(row["error"] is None for row in twin)


def test_generated_claims_without_other_shapes_are_all_answered_by_the_twin() -> None:
    result = TWIN.run(generate(20_000, seed=7))
    assert result.answered.all()


def test_order_is_patient_date_claim_id_whatever_the_row_order() -> None:
    """Two claims of one patient on one day at the annual cap: the lower claim id takes what is left."""
    base = {
        "patient_id": 1,
        "professional_id": 1,
        "date": dt.date(2026, 3, 2),
        "birth_date": dt.date(1980, 1, 1),
        "has_gp": True,
        "seen_by_gp": True,
        "profession": "physician",
        "specialty": "general_practice",
        "act_code": "G",
        "participation_paid_ytd": 4900,
    }
    rows = [{**base, "claim_id": 9}, {**base, "claim_id": 3}]
    twin, scalar, answered = both(rows)
    assert answered == 2
    assert twin == scalar
    assert [row["participation"] for row in twin] == [0, 100]


def test_paramedical_daily_cap_is_per_professional_even_interleaved() -> None:
    """Two nurses the same day, A then B then A: the 4 € cap counts each nurse's own acts [S13][R33]."""
    base = {
        "patient_id": 1,
        "date": dt.date(2026, 3, 2),
        "birth_date": dt.date(1980, 1, 1),
        "has_gp": True,
        "seen_by_gp": False,
        "profession": "nurse",
        "act_code": "AMI",
        "coefficient": 1.0,
        "quantity": 3,
    }
    rows = [
        {**base, "claim_id": 1, "professional_id": 7},
        {**base, "claim_id": 2, "professional_id": 8},
        {**base, "claim_id": 3, "professional_id": 7},
    ]
    twin, scalar, answered = both(rows)
    assert answered == 3
    assert twin == scalar
    assert [row["franchise"] for row in twin] == [300, 300, 100]  # A 3 €, B 3 €, A 1 € more (cap 4 € for A)


def test_a_row_reaching_the_costly_act_threshold_goes_to_the_scalar_engine(tmp_path: Any) -> None:
    """The « forfait 24 € » is the scalar engine's: with the threshold lowered to 20 € (a copy of the parameters),
    a G at 30 € is routed and both paths agree: 30 € − 24 € − 2 € = 4 €."""
    import shutil

    from parcours.rules.engine import Engine
    from parcours.rules.params import PARAMETERS_DIR, load_parameters

    shutil.copytree(PARAMETERS_DIR, tmp_path / "p")
    hospital = tmp_path / "p" / "tariffs" / "hospital.yaml"
    text = hospital.read_text(encoding="utf-8")
    hospital.write_text(
        text.replace("2019-01-01: {value: 120.00, sources: [S15]}", "2019-01-01: {value: 20.00, sources: [S15]}"),
        encoding="utf-8",
    )
    parameters = load_parameters(tmp_path / "p")
    row = {
        "claim_id": 1,
        "patient_id": 1,
        "professional_id": 1,
        "date": dt.date(2026, 3, 2),
        "birth_date": dt.date(1980, 1, 1),
        "has_gp": True,
        "seen_by_gp": True,
        "profession": "physician",
        "specialty": "general_practice",
        "act_code": "G",
    }
    engine = Engine(parameters)
    twin = ColumnarEngine(parameters).adjudicate(pa.Table.from_pylist([row], schema=SCHEMA), engine).to_pylist()
    scalar = adjudicate_rows([row], engine=engine)
    assert twin[0]["engine"] == "scalar"
    assert comparable(twin) == comparable(scalar)
    assert twin[0]["amo"] == 400


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches(hearing=True))
def test_hearing_aids_in_the_twin_equal_the_scalar_engine(rows: list[dict[str, Any]]) -> None:
    """Class I (the price limit by age) and II, one or two ears, the renewal period per ear carried claim after
    claim from the aids before the batch."""
    twin, scalar, answered = both(rows)
    aids = [row for row, given in zip(twin, rows, strict=True) if given["act_code"] == "HEARING_AID"]
    early = sum(row["reason"] == "early_renewal" for row in aids)
    event(f"rows answered by the twin: {'none' if not answered else 'all' if answered == len(rows) else 'some'}")
    event(f"hearing aids refused as early renewals: {'none' if not early else 'some'}")
    for got, expected in zip(twin, scalar, strict=True):
        assert got == expected


def test_a_patients_last_devices_are_read_from_their_first_row_giving_them() -> None:
    """The opening columns are facts of the patient: the first row (in the caps' order) giving one is read for all
    the patient's rows, whatever later rows say; both engines read it so (a hypothesis case found them apart)."""
    base = {
        "patient_id": 1,
        "professional_id": 1,
        "birth_date": dt.date(1980, 1, 1),
        "has_gp": True,
        "seen_by_gp": True,
    }
    visit = {**base, "profession": "physician", "specialty": "general_practice", "act_code": "G"}
    lens = {**base, "profession": "optician", "act_code": "LENS", "device_class": "A", "correction": "simple"}
    rows = [
        {**visit, "claim_id": 1, "date": dt.date(2025, 3, 1)},  # gives nothing
        {**lens, "claim_id": 2, "date": dt.date(2025, 3, 2), "last_optical_equipment": dt.date(2024, 1, 10)},
        {**lens, "claim_id": 3, "date": dt.date(2025, 3, 3), "last_optical_equipment": None},
        {
            **lens,
            "claim_id": 4,
            "date": dt.date(2025, 3, 4),
            "patient_id": 2,
            "last_optical_equipment": dt.date(2020, 1, 1),
        },
        {
            **lens,
            "claim_id": 5,
            "date": dt.date(2025, 3, 5),
            "patient_id": 2,
            "last_optical_equipment": dt.date(2025, 1, 1),
        },
        # patient 3: a visit gives it, the lens gives none
        {
            **visit,
            "claim_id": 6,
            "date": dt.date(2025, 3, 1),
            "patient_id": 3,
            "last_optical_equipment": dt.date(2024, 6, 1),
        },
        {**lens, "claim_id": 7, "date": dt.date(2025, 3, 2), "patient_id": 3},
    ]
    twin, scalar, answered = both(rows)
    assert answered == len(rows)
    assert twin == scalar
    # patient 1: the 2024 equipment read for claims 2 and 3; patient 2: the 2020 one, then claim 4's own
    assert [row["reason"] for row in twin] == [
        None,
        "early_renewal",
        "early_renewal",
        None,
        "early_renewal",
        None,
        "early_renewal",
    ]
