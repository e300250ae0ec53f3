"""Differential test of the batch: random multi-act claims over whole patient-years (hypothesis), the batch kernel
(twin where it can, scalar engine for the rest) equal to the scalar engine fed claim by claim, line by line, to
the cent, caps included; and the same through files split in two with the state carried.

The reference here is written independently of the kernel: each claim becomes one event (its lines its acts;
tiers payant, AT-MP and invalidity drawn too), fed to ``Engine.adjudicate`` in the order (patient, date, claim id,
line) with a year-to-date state kept per patient and calendar year, per day for the transport's daily cap, and per
(day, professional) for the participation's daily count and the paramedical franchise's daily cap (the engine's
``_Counters``: both are per professional and day), and the amounts owed after a tiers payant per patient. With a
mutuelle contract of the catalogue (``contracts=True``), the reference applies ``apply_contract`` to each claim with
the patient's contract year carried from claim to claim, and the AMC and the reste à charge are compared too.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import pyarrow as pa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from parcours.batch.kernel import OUTPUT_SCHEMA, adjudicate_partition, input_schema, states_from_table
from parcours.rules.catalogue import Category, Profession, default_catalogue
from parcours.rules.columnar import SUPPORTED_CATEGORIES, event_from_rows
from parcours.rules.contracts.amc import ContractYear, apply_contract
from parcours.rules.contracts.loader import load_contract
from parcours.rules.contracts.model import catalogue_names
from parcours.rules.engine import RuleInputError, default_engine
from parcours.rules.event import Specialty, YearToDate
from parcours.rules.money import euros, to_cents

CATALOGUE = default_catalogue()
ENGINE = default_engine()
SCHEMA = input_schema()
PROFESSIONS = [Profession.PHYSICIAN, Profession.NURSE, Profession.PHYSIOTHERAPIST, Profession.PHARMACIST,
               Profession.LABORATORY, Profession.TRANSPORT, Profession.DENTIST]  # fmt: skip
OTHERS = {Profession.OPTICIAN: ["FRAME", "LENS"], Profession.HOSPITAL: ["HOSP_STAY"], Profession.PHYSICIAN: ["TE2"]}
DAYS = [dt.date(2025, 1, 2), dt.date(2025, 3, 4), dt.date(2025, 3, 5), dt.date(2025, 7, 1), dt.date(2025, 12, 31),
        dt.date(2026, 1, 1), dt.date(2024, 12, 21), dt.date(2024, 12, 22)]  # fmt: skip
# Two newborns on some of the days (a stay's daily charge is covered in the first 30 days).
BIRTHS = [dt.date(1950, 5, 5), dt.date(1990, 2, 28), dt.date(2015, 1, 1), dt.date(2024, 12, 10), dt.date(2025, 12, 15)]
# The catalogue's formulas and two of the tests (yearly ceilings, envelopes and day limits on the kinds of care the
# twin covers; a contract that is not responsable).
CONTRACTS = [*catalogue_names(), *(str(p) for p in sorted((Path(__file__).parent / "contracts").glob("*.yaml")))]
LINE_KEYS = ("act_code", "quantity", "fee", "coefficient", "days", "device_class", "correction", "basket", "ear",
             "psychiatry", "costly_act", "line_number")  # fmt: skip
# Hearing aids: the days above and four years later (the renewal period per ear: on its last day, beyond it), a
# patient turning 20 on one of them (the class I price limit of the young until then).
HEARING_DAYS = [*DAYS, dt.date(2029, 1, 1), dt.date(2029, 1, 2), dt.date(2029, 3, 4)]
HEARING_BIRTHS = [*BIRTHS, dt.date(2009, 3, 4)]


@lru_cache(maxsize=64)
def contract_of(name: str, on: dt.date) -> Any:
    return load_contract(name, on)


def codes_for(profession: Profession) -> list[str]:
    return sorted(c for c, d in CATALOGUE.acts.items()
                  if profession in d.professions and d.category_for(profession) in SUPPORTED_CATEGORIES)  # fmt: skip


@st.composite
def act_line(draw: st.DrawFn, profession: Profession, other: bool) -> dict[str, Any]:
    code = draw(st.sampled_from(OTHERS[profession] if other else codes_for(profession)))
    d = CATALOGUE.acts[code]
    line: dict[str, Any] = {"act_code": code, "quantity": draw(st.integers(1, 4)),
                            "fee": draw(st.none() | st.integers(100, 15_000))}  # fmt: skip
    if d.base == "letter":
        line["coefficient"] = draw(st.sampled_from([1.0, 1.5, 2.0, 8.5, 70.0]))
    if d.base == "fee" and line["fee"] is None:
        line["fee"] = draw(st.integers(100, 15_000))
    if code in ("FRAME", "LENS"):  # class A at its price limit (fee none), within it or above it (refused as input)
        line.update(device_class=draw(st.sampled_from(["A", "B"])), quantity=1 if code == "FRAME" else draw(
            st.integers(1, 2)), correction=draw(st.sampled_from(["simple", "complex", "very_complex"])),
            fee=draw(st.none() | st.none() | st.integers(500, 4_000) | st.integers(1_000, 40_000)))  # fmt: skip
        if line["device_class"] == "B" and line["fee"] is None:
            line["fee"] = draw(st.integers(1_000, 40_000))
    if code == "CROWN":  # each basket; rac0 / moderate at their limit (fee none), within or above it (refused)
        line.update(basket=draw(st.sampled_from(["rac0", "moderate", "free", "free"])),
                    fee=draw(st.none() | st.integers(10_000, 60_000) | st.integers(50_000, 120_000)))  # fmt: skip
        if line["basket"] == "free" and line["fee"] is None:
            line["fee"] = draw(st.integers(10_000, 120_000))
    if code == "HOSP_STAY":  # short and long stays (100 % from the 31st day), psychiatry, a costly act
        line.update(days=draw(st.integers(1, 5) | st.integers(25, 40)), quantity=1, psychiatry=draw(st.booleans()),
                    costly_act=draw(st.integers(0, 3)) == 0)  # fmt: skip
    if d.category_for(profession) is Category.TELEEXPERTISE:  # mostly one act, now and then several on the line
        line.update(quantity=draw(st.sampled_from([1, 1, 1, 1, 2, 3])), fee=None)
    return line


# Téléexpertise-heavy patients: expert (TE2) and requesting (RQD) acts by few professionals, so that the yearly
# limit per act, patient and professional binds.
TELEEXPERTISE = {Profession.PHYSICIAN: ["TE2", "RQD"], Profession.MIDWIFE: ["TE2"], Profession.NURSE: ["RQD"]}
ROUTED_FLAGS = ("tiers_payant", "work_injury", "invalidity_pension")  # claims the scalar engine takes


@st.composite
def hearing_line(draw: st.DrawFn) -> dict[str, Any]:
    """A hearing aid of class I (at its limit, within it, now and then above it: the engine's error) or II (with
    its fee, now and then without: the engine's error), for one or two ears."""
    klass = draw(st.sampled_from(["I", "I", "II"]))
    error = draw(st.integers(0, 12)) == 0
    if klass == "I":
        fee = draw(st.integers(95_001, 300_000)) if error else draw(st.none() | st.integers(0, 95_000))
    else:
        fee = None if error else draw(st.integers(40_000, 250_000))
    return {"act_code": "HEARING_AID", "device_class": klass, "quantity": draw(st.sampled_from([1, 1, 2])),
            "ear": draw(st.sampled_from([None, None, "left", "right"])), "fee": fee, "coefficient": None}  # fmt: skip


@st.composite
def claim(
    draw: st.DrawFn,
    claim_id: int,
    other_one_in: int = 13,
    te_one_in: int = 0,
    optics_one_in: int = 0,
    hearing_one_in: int = 0,
) -> list[dict[str, Any]]:
    if te_one_in and draw(st.integers(1, te_one_in)) == 1:
        return [{**draw(claim(claim_id, 10**6))[0], **draw(teleexpertise_line())}]
    if hearing_one_in and draw(st.integers(1, hearing_one_in)) == 1:  # one line, or an aid for each ear
        head = {**draw(claim(claim_id, 10**6))[0], **dict.fromkeys(ROUTED_FLAGS, False)}
        head.update(profession=Profession.HEARING_AID_PROVIDER.value, specialty=None, sector=None,
                    patient_id=draw(st.sampled_from([0, 0, 1])), date=draw(st.sampled_from(HEARING_DAYS)),
                    birth_date=draw(st.sampled_from(HEARING_BIRTHS)))  # fmt: skip
        lines = [draw(hearing_line())]
        if draw(st.integers(0, 3)) == 0:
            lines = [
                {**lines[0], "ear": "left", "quantity": 1},
                {**draw(hearing_line()), "ear": "right", "quantity": 1},
            ]
        return [{**head, **line, "line_number": i + 1} for i, line in enumerate(lines)]
    if optics_one_in and draw(st.integers(1, optics_one_in)) == 1:  # an equipment: a frame and lenses, or either
        head = {**draw(claim(claim_id, 10**6))[0], **dict.fromkeys(ROUTED_FLAGS, False)}
        head.update(profession=Profession.OPTICIAN.value, specialty=None, sector=None, coefficient=None,
                    patient_id=draw(st.sampled_from([0, 0, 1])))  # fmt: skip
        codes = draw(st.sampled_from([["FRAME", "LENS"], ["FRAME"], ["LENS"]]))
        lines = [draw(act_line(Profession.OPTICIAN, True)) for _ in codes]
        return [{**head, **line, "act_code": code, "line_number": i + 1}
                for i, (code, line) in enumerate(zip(codes, lines, strict=True))]  # fmt: skip
    other = draw(st.integers(1, other_one_in)) == 1
    profession = draw(st.sampled_from(list(OTHERS) if other else PROFESSIONS))
    physician = profession is Profession.PHYSICIAN
    head: dict[str, Any] = {
        "claim_id": claim_id,
        "patient_id": draw(st.integers(0, 2)),
        "professional_id": draw(st.integers(0, 2)),
        "date": draw(st.sampled_from(DAYS)),
        "birth_date": draw(st.sampled_from(BIRTHS)),
        "has_gp": draw(st.booleans()),
        "seen_by_gp": draw(st.booleans()),
        "c2s": draw(st.integers(0, 8)) == 0,
        "ald": (ald := draw(st.integers(0, 5)) == 0),
        "ald_care": ald and draw(st.booleans()),
        "pregnancy_start": draw(st.none() | st.sampled_from([dt.date(2024, 6, 1), dt.date(2025, 4, 1)])),
        "profession": profession.value,
        "specialty": draw(
            st.sampled_from([Specialty.GENERAL_PRACTICE.value, Specialty.CARDIOLOGY.value, Specialty.PSYCHIATRY.value])
        )
        if physician
        else None,
        "sector": draw(st.sampled_from(["1", "2"])) if physician else None,
        "optam": draw(st.booleans()),
        "referred_by_gp": draw(st.booleans()),
        "emergency": draw(st.integers(0, 8)) == 0,
        "tiers_payant": draw(st.integers(0, 5)) == 0,
        "work_injury": draw(st.integers(0, 12)) == 0,
        "invalidity_pension": draw(st.integers(0, 12)) == 0,
    }
    most = 2 if profession is Profession.OPTICIAN else 1 if other else 3  # a frame and its lenses in one claim
    lines = draw(st.lists(act_line(profession, other), min_size=1, max_size=most))
    return [{**head, **line, "line_number": i + 1} for i, line in enumerate(lines)]


@st.composite
def teleexpertise_line(draw: st.DrawFn) -> dict[str, Any]:
    """The columns of a téléexpertise claim that replace those of a claim drawn otherwise (one line)."""
    profession = draw(st.sampled_from([Profession.PHYSICIAN, Profession.PHYSICIAN, *TELEEXPERTISE]))
    physician = profession is Profession.PHYSICIAN
    return {
        "profession": profession.value,
        "specialty": Specialty.GENERAL_PRACTICE.value if physician else None,
        "sector": "1" if physician else None,
        "act_code": draw(st.sampled_from(TELEEXPERTISE[profession])),
        "quantity": draw(st.sampled_from([1, 1, 1, 1, 2, 3])),
        "fee": None,
        "coefficient": None,
        "line_number": 1,
        "professional_id": draw(st.integers(0, 1)),
        "patient_id": draw(st.sampled_from([0, 0, 1])),
        "date": draw(st.sampled_from(DAYS[:5])),  # 2025
        **dict.fromkeys(ROUTED_FLAGS, False),
    }


@st.composite
def patient_years(
    draw: st.DrawFn,
    other_one_in: int = 13,
    contracts: bool = False,
    te_one_in: int = 0,
    optics_one_in: int = 0,
    hearing_one_in: int = 0,
) -> list[dict[str, Any]]:
    n = draw(st.integers(1, 30))
    rows = [
        row
        for i in draw(st.permutations(range(n)))
        for row in draw(claim(i, other_one_in, te_one_in, optics_one_in, hearing_one_in))
    ]
    if contracts:
        # Each patient's formula of the catalogue (or none); now and then a claim names another one or none (such
        # a patient goes whole to the scalar engine).
        formula = {p: draw(st.sampled_from([*CONTRACTS, ""])) for p in range(3)}
        by_claim = {}
        for row in rows:
            if row["claim_id"] not in by_claim:
                other = draw(st.integers(0, 25)) == 0
                by_claim[row["claim_id"]] = (
                    draw(st.sampled_from(["", "renfort"])) if other else formula[row["patient_id"]]
                )
            row["contract"] = by_claim[row["claim_id"]] or None
    return rows


def reference(rows: list[dict[str, Any]]) -> tuple[dict[tuple[int, int], dict[str, int]], set[int]]:
    """Claim by claim through the scalar engine: output per (claim, line), and the claims it refuses as input."""
    claims: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        claims.setdefault(row["claim_id"], []).append(row)
    order = sorted(claims, key=lambda c: (claims[c][0]["patient_id"], claims[c][0]["date"], c))
    year: dict[tuple[int, int], dict[str, Any]] = {}
    devices: dict[int, dict[str, Any]] = {}
    owed: dict[int, dict[str, Any]] = {}  # tiers payant: owed across years until recovered
    pro_day: dict[tuple[int, dt.date, int], int] = {}
    para: dict[tuple[int, dt.date, int], int] = {}  # per professional and day, like the participations
    trans: dict[tuple[int, dt.date], int] = {}
    contract_years: dict[int, dict[str, Any]] = {}  # the mutuelle's year-to-date per patient
    out: dict[tuple[int, int], dict[str, int]] = {}
    refused: set[int] = set()
    for c in order:
        lines = sorted(claims[c], key=lambda r: r["line_number"])
        p, on, pro = lines[0]["patient_id"], lines[0]["date"], lines[0]["professional_id"]
        y = year.setdefault((p, on.year), {"participation_paid": 0, "franchises_paid": 0, "teleexpertise_acts": {}})
        state = YearToDate.model_validate({
            "participation_paid": euros(y["participation_paid"]), "franchises_paid": euros(y["franchises_paid"]),
            "teleexpertise_acts": y["teleexpertise_acts"], **devices.get(p, {}), **owed.get(p, {}),
            "same_day_participations": pro_day.get((p, on, pro), 0),
            "same_day_paramedical_franchises": euros(para.get((p, on, pro), 0)),
            "same_day_transport_franchises": euros(trans.get((p, on), 0)),
        })  # fmt: skip
        try:
            event_ = event_from_rows(lines)
            result = ENGINE.adjudicate(event_, state)
        except (ValidationError, RuleInputError):
            refused.add(c)
            continue
        shares = {}
        if lines[0].get("contract"):
            contract = contract_of(lines[0]["contract"], on)
            applied = apply_contract(contract, event_, result, ContractYear.from_dict(contract_years.get(p), on))
            contract_years[p] = applied.state_after.to_dict()
            shares = {s.line.index: s for s in applied.shares}
        after = result.state_after
        y["participation_paid"] = to_cents(Decimal(after["participation_paid"]))
        y["franchises_paid"] = to_cents(Decimal(after["franchises_paid"]))
        y["teleexpertise_acts"] = after["teleexpertise_acts"]
        devices[p] = {k: after[k] for k in ("last_optical_equipment", "last_hearing_aid")}
        owed[p] = {k: after[k] for k in ("participation_owed", "franchises_owed")}
        pro_day[(p, on, pro)] = after["same_day_participations"]
        para[(p, on, pro)] = to_cents(Decimal(after["same_day_paramedical_franchises"]))
        trans[(p, on)] = to_cents(Decimal(after["same_day_transport_franchises"]))
        position = 0
        for k, row in enumerate(lines):
            group = [result.lines[position]]
            position += 1
            if group[0].category is Category.HOSPITAL_STAY:
                group.append(result.lines[position])
                position += 1
            line = group[0]
            out[(c, row["line_number"])] = {
                "fee": line.fee, "base": line.base, "rate": line.rate, "majoration": line.majoration,
                "participation": line.participation, "franchise": line.franchise,
                "amo": sum(x.amo for x in group), "patient": sum(x.patient for x in group),
                "status": line.status != "rejected",
                "deferred": result.deferred if k == 0 else 0, "recovered": result.recovered if k == 0 else 0,
                "amc": sum(shares[x.index].amc for x in group) if shares else None,
                "out_of_pocket": sum(shares[x.index].out_of_pocket for x in group) if shares else None,
            }  # fmt: skip
    return out, refused


def hearing_event(rows: list[dict[str, Any]], with_contract: bool = False) -> str:
    """What the lines of hearing aids were (of a contract's claims), for the test's statistics: taken by the twin,
    an early renewal."""
    aids = {(r["claim_id"], r["line_number"]) for r in rows
            if r["act_code"] == "HEARING_AID" and (r.get("contract") or not with_contract)}  # fmt: skip
    if not aids:
        return "none"
    lines = [r for r in adjudicate_partition(pa.Table.from_pylist(rows, schema=SCHEMA)).lines.to_pylist()
             if (r["claim_id"], r["line_number"]) in aids]  # fmt: skip
    twin = [r for r in lines if r["engine"] == "columnar"]
    early = any(r["reason"] == "early_renewal" for r in twin)
    return "early renewal in the twin" if early else "some in the twin" if twin else "scalar only"


def batch(rows: list[dict[str, Any]]) -> tuple[dict[tuple[int, int], dict[str, int]], set[int], int]:
    result = adjudicate_partition(pa.Table.from_pylist(rows, schema=SCHEMA))
    out = {}
    for r in result.lines.to_pylist():
        out[(r["claim_id"], r["line_number"])] = {
            "fee": r["fee"], "base": r["base"], "rate": r["rate"], "majoration": r["majoration"],
            "participation": r["participation"], "franchise": r["franchise"], "amo": r["amo"],
            "patient": r["patient"], "status": r["status"] == "paid",
            "deferred": r["deferred"], "recovered": r["recovered"], "amc": r["amc"],
            "out_of_pocket": r["out_of_pocket"],
        }  # fmt: skip
    twin = sum(r == "columnar" for r in result.lines.column("engine").to_pylist())
    return out, set(result.rejects.column("claim_id").to_pylist()), twin


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    st.tuples(st.sampled_from([0, 0, 3]), st.sampled_from([0, 0, 3]), st.sampled_from([0, 0, 3])).flatmap(
        lambda p: patient_years(te_one_in=p[0], optics_one_in=p[1], hearing_one_in=p[2])
    )
)
def test_batch_equals_the_scalar_engine_claim_by_claim(rows: list[dict[str, Any]]) -> None:
    expected, refused = reference(rows)
    got, rejected, twin = batch(rows)
    event(f"lines answered by the twin: {'none' if not twin else 'all' if twin == len(got) else 'some'}")
    event(f"hearing aids: {hearing_event(rows)}")
    event(f"multi-act claims: {'yes' if len(rows) > len({r['claim_id'] for r in rows}) else 'no'}")
    assert rejected == refused
    assert got == expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    st.tuples(st.sampled_from([0, 3]), st.sampled_from([0, 0, 3])).flatmap(
        lambda p: patient_years(contracts=True, optics_one_in=p[0], hearing_one_in=p[1])
    )
)
def test_batch_with_contracts_equals_the_scalar_engine_claim_by_claim(rows: list[dict[str, Any]]) -> None:
    """The catalogue's contracts: AMC and reste à charge of every line to the cent, the contract's year carried
    from claim to claim (yearly ceilings, envelopes, day limits), optical equipments reimbursed per claim."""
    expected, refused = reference(rows)
    got, rejected, twin = batch(rows)
    with_contract = [k for k, v in got.items() if v["amc"] is not None]
    event(f"lines with a contract answered by the twin: {'none' if not twin or not with_contract else 'some'}")
    optics = {r["act_code"] for r in rows if r.get("contract") and r["act_code"] in ("FRAME", "LENS")}
    event(f"optics with a contract: {'frame and lenses' if len(optics) == 2 else 'some' if optics else 'none'}")
    event(f"hearing aids with a contract: {hearing_event(rows, with_contract=True)}")
    assert rejected == refused
    assert got == expected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    st.tuples(st.booleans(), st.sampled_from([0, 2]), st.sampled_from([0, 3]), st.sampled_from([0, 3])).flatmap(
        lambda p: patient_years(contracts=p[0], te_one_in=p[1], optics_one_in=p[2], hearing_one_in=p[3])
    ),
    st.sampled_from(HEARING_DAYS),
)
def test_two_files_with_the_state_carried_equal_one(rows: list[dict[str, Any]], cut: dt.date) -> None:
    """Claims before ``cut`` in a first batch, the rest in a second one fed the first's states."""
    first = [r for r in rows if r["date"] < cut]
    second = [r for r in rows if r["date"] >= cut]
    whole = adjudicate_partition(pa.Table.from_pylist(rows, schema=SCHEMA))
    a = adjudicate_partition(pa.Table.from_pylist(first, schema=SCHEMA))
    b = adjudicate_partition(pa.Table.from_pylist(second, schema=SCHEMA), a.states)
    split = pa.concat_tables([a.lines, b.lines])
    key = [("claim_id", "ascending"), ("line_number", "ascending")]
    columns = ["claim_id", "line_number", "fee", "base", "majoration", "participation", "franchise", "amo", "patient",
               "deferred", "recovered", "contract", "amc", "out_of_pocket", "state_before"]  # fmt: skip
    assert split.sort_by(key).select(columns).to_pylist() == whole.lines.sort_by(key).select(columns).to_pylist()
    # The states after the second file are those after the whole (the contract's year included).
    final = {**states_from_table(a.states), **states_from_table(b.states)}
    assert final == states_from_table(whole.states)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    st.tuples(
        st.sampled_from([2, 4, 13]),
        st.booleans(),
        st.sampled_from([0, 0, 1, 2]),
        st.sampled_from([0, 3]),
        st.sampled_from([0, 0, 3]),
    ).flatmap(lambda p: patient_years(p[0], contracts=p[1], te_one_in=p[2], optics_one_in=p[3], hearing_one_in=p[4]))
)
def test_batch_equals_its_scalar_route_on_every_column(rows: list[dict[str, Any]]) -> None:
    """The kernel hands a patient from the twin to the scalar engine and back (at each claim the twin does not
    cover, with the state carried both ways): every output column (the state before each claim included), the
    rejects and the states after are those of the scalar engine alone."""
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    mixed = adjudicate_partition(table)
    scalar = adjudicate_partition(table, scalar_only=True)
    engines = mixed.lines.column("engine").to_pylist()
    switches = sum(a != b for a, b in pairwise(engines))
    event(f"engine switches between lines: {min(switches, 4)}{'+' if switches >= 4 else ''}")
    twin_stays = [r for r in mixed.lines.to_pylist() if r["act_code"] == "HOSP_STAY" and r["engine"] == "columnar"]
    event(f"hospital stays taken by the twin: {'yes' if twin_stays else 'no'}")
    twin_te = [r for r in mixed.lines.to_pylist() if r["act_code"] in ("TE2", "RQD") and r["engine"] == "columnar"]
    over = any(r["reason"] == "teleexpertise_yearly_limit" for r in twin_te)
    event(f"téléexpertises taken by the twin: {'none' if not twin_te else 'over the limit' if over else 'some'}")
    twin_optics = [
        r for r in mixed.lines.to_pylist() if r["act_code"] in ("FRAME", "LENS") and r["engine"] == "columnar"
    ]
    early = any(r["reason"] == "early_renewal" for r in twin_optics)
    event(f"optics taken by the twin: {'none' if not twin_optics else 'early renewal' if early else 'some'}")
    twin_aids = [r for r in mixed.lines.to_pylist() if r["act_code"] == "HEARING_AID" and r["engine"] == "columnar"]
    early = any(r["reason"] == "early_renewal" for r in twin_aids)
    event(f"hearing aids taken by the twin: {'none' if not twin_aids else 'early renewal' if early else 'some'}")
    columns = [name for name in OUTPUT_SCHEMA.names if name != "engine"]
    assert mixed.lines.select(columns).to_pylist() == scalar.lines.select(columns).to_pylist()
    key = [("claim_id", "ascending"), ("line_number", "ascending")]
    assert mixed.rejects.sort_by(key).to_pylist() == scalar.rejects.sort_by(key).to_pylist()
    assert states_from_table(mixed.states) == states_from_table(scalar.states)
