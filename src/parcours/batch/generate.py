"""Synthetic claims: realistic one-act care events in columns, seeded, millions of rows a second.

The distributions are rough French orders of magnitude (sources: Assurance Maladie's open data and the brief's
figures), enough to exercise every branch the columnar twin covers in realistic proportions:

- patients: ages from a French-like pyramid, ~90 % with a declared médecin traitant (adults), ALD ~20 % (rising
  with age), C2S ~10 %, a few AME / Mayotte / foreign visitors, ongoing pregnancies for some women of 18-42;
- claims: physicians' consultations (GPs and a dozen specialties, secteur 1 / secteur 2 with or without OPTAM,
  overruns in secteur 2), pharmacy (boxes at 65/30/15/100 %), nurses and physiotherapists (key letter ×
  coefficient), biology, dentists, transports; pathway situations (MT, referral, direct access, emergency, away
  from home, teleconsultation);
- dates uniform over 2024-2026, so the batch crosses the changes of value (2024-05-15, 2024-12-22, 2025-07-01).

Codes whose tariff is not yet in force on the drawn date are replaced by the specialty's general code (CS, G).
``other_share`` adds the shapes of other care: optics (class A and B glasses), hospital stays, téléexpertise, dental
crowns and hearing aids; the twin takes them all, their invalid rows staying with the scalar engine (the routing
is measured).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from parcours.rules.catalogue import Catalogue, default_catalogue
from parcours.rules.columnar import INPUT_COLUMNS, age_on_days
from parcours.rules.params import ParameterSet, default_parameters

I64 = npt.NDArray[np.int64]

FIRST_DAY = dt.date(2024, 1, 1)
LAST_DAY = dt.date(2026, 12, 31)
_EPOCH = dt.date(1970, 1, 1)

# Age pyramid by 10-year band (share of consultations rises with age).
_AGE_BANDS = np.array([0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100])
_AGE_WEIGHTS = np.array([0.11, 0.07, 0.08, 0.10, 0.11, 0.12, 0.14, 0.14, 0.10, 0.03])

_KINDS = ("physician", "pharmacist", "nurse", "physiotherapist", "laboratory", "dentist", "transport")
_KIND_WEIGHTS = np.array([0.52, 0.22, 0.08, 0.05, 0.08, 0.03, 0.02])

_SPECIALTIES = (
    "general_practice",
    "gynecology",
    "ophthalmology",
    "psychiatry",
    "pediatrics",
    "cardiology",
    "dermatology",
    "neurology",
    "stomatology",
    "geriatrics",
    "radiology",
    "other",
)
_SPECIALTY_WEIGHTS = np.array([0.62, 0.05, 0.05, 0.03, 0.04, 0.04, 0.04, 0.02, 0.01, 0.01, 0.03, 0.06])
# The consultation code of each specialty (pediatrics by age below).
_SPECIALTY_CODE = {
    "general_practice": "G",
    "gynecology": "GYN",
    "ophthalmology": "CS",
    "psychiatry": "CNPSY",
    "pediatrics": "CEG",
    "cardiology": "CSC",
    "dermatology": "CS",
    "neurology": "CNPSY",
    "stomatology": "CS",
    "geriatrics": "GER",
    "radiology": "CS",
    "other": "CS",
}
_MEDICINES = ("PH7", "PH4", "PH2", "PH1")
_MEDICINE_WEIGHTS = np.array([0.62, 0.2, 0.1, 0.08])
_VISIT_REASONS = ("periodic_exam", "screening", "contraception", "glasses", "glaucoma", "other")
_OTHER_SHAPES = ("optician", "hospital", "teleexpertise", "dental_prosthesis", "hearing_aid")
# Devices (approximate, docs/batch.md): glasses of class B (free prices) 80 %, class A (100 % santé) 20 %; crowns in
# the 100 % santé basket 55 %, tarifs maîtrisés 25 %, tarifs libres 20 %; hearing aids of class I 40 %, two ears 80 %.
_OPTICS_CLASS_B = 0.8
_BASKETS = ("rac0", "moderate", "free")
_BASKET_WEIGHTS = np.array([0.55, 0.25, 0.20])
_HEARING_CLASS_I = 0.4
_HEARING_TWO_EARS = 0.8
_CORRECTIONS = ("simple", "complex", "very_complex")
_CORRECTION_WEIGHTS = np.array([0.6, 0.3, 0.1])


def _days(day: dt.date) -> int:
    return (day - _EPOCH).days


def _dictionary(indices: I64, values: tuple[str, ...], null: npt.NDArray[np.bool_] | None = None) -> pa.Array:
    """A dictionary-encoded string column (what Parquet stores and what the twin reads fastest)."""
    return pa.DictionaryArray.from_arrays(pa.array(indices.astype(np.int32), mask=null), pa.array(values, pa.string()))


class _Tariffs:
    """Per code, the day from which its tariff is in force, and its value per distinct date (for overruns)."""

    def __init__(self, parameters: ParameterSet, catalogue: Catalogue, codes: tuple[str, ...]) -> None:
        self.codes = codes
        self.first_day = np.zeros(len(codes), dtype=np.int64)
        self.changes: list[tuple[I64, I64]] = []
        for i, code in enumerate(codes):
            path = catalogue.acts[code].tariff
            assert path is not None
            values = parameters.parameter(path).values
            self.first_day[i] = _days(values[0].valid_from)
            starts = np.array([_days(v.valid_from) for v in values], dtype=np.int64)
            amounts = np.array([0 if v.value is None else int(v.value) for v in values], dtype=np.int64)
            self.changes.append((starts, amounts))

    def value(self, code_index: I64, day: I64) -> I64:
        out = np.zeros(len(day), dtype=np.int64)
        for i, (starts, amounts) in enumerate(self.changes):
            rows = code_index == i
            if rows.any():
                out[rows] = amounts[np.maximum(np.searchsorted(starts, day[rows], side="right") - 1, 0)]
        return out


def generate(
    rows: int,
    seed: int = 0,
    patients: int | None = None,
    other_share: float = 0.0,
    first_day: dt.date = FIRST_DAY,
    last_day: dt.date = LAST_DAY,
    chunk: int | None = None,
) -> pa.Table:
    """``rows`` claims of about ``rows / 8`` patients, reproducible from ``seed``, dated ``first_day``-``last_day``.

    With ``chunk``, the patients (drawn from ``seed``) are the same whatever the chunk and the claims are drawn from
    (``seed``, ``chunk``): the chunks of one synthetic year share their patients."""
    rng = np.random.default_rng(seed)
    parameters, catalogue = default_parameters(), default_catalogue()
    n = rows
    n_patients = patients or max(1, rows // 8)

    # Patients.
    band = rng.choice(len(_AGE_WEIGHTS), size=n_patients, p=_AGE_WEIGHTS / _AGE_WEIGHTS.sum())
    age_years = _AGE_BANDS[band] + rng.integers(0, 10, size=n_patients)
    birth_p = (
        _days(first_day + (last_day - first_day) / 2)
        - (age_years * 36525) // 100
        - rng.integers(0, 365, size=n_patients)
    )
    female = rng.random(n_patients) < 0.52
    c2s_p = rng.random(n_patients) < 0.10
    ald_p = rng.random(n_patients) < np.clip(0.04 + age_years * 0.0045, 0, 0.6)
    has_gp_p = rng.random(n_patients) < np.where(age_years < 16, 0.6, 0.92)
    regime_p = rng.choice(4, size=n_patients, p=[0.985, 0.008, 0.004, 0.003])
    if chunk is not None:
        rng = np.random.default_rng((seed, chunk + 1))

    patient = rng.integers(0, n_patients, size=n)
    date = rng.integers(_days(first_day), _days(last_day) + 1, size=n)
    birth = np.minimum(birth_p[patient], date)
    age = age_on_days(birth, date)
    has_gp = has_gp_p[patient]
    ald = ald_p[patient]

    # Pregnancies: some women of 18-42, started 0-9 months before the claim.
    pregnant = female[patient] & (age >= 18) & (age <= 42) & (rng.random(n) < 0.06)
    pregnancy_start = date - rng.integers(0, 270, size=n)
    delivery = pregnancy_start + 280

    kind = rng.choice(len(_KINDS), size=n, p=_KIND_WEIGHTS / _KIND_WEIGHTS.sum())
    physician = kind == 0
    specialty = rng.choice(len(_SPECIALTIES), size=n, p=_SPECIALTY_WEIGHTS / _SPECIALTY_WEIGHTS.sum())
    pediatrics = _SPECIALTIES.index("pediatrics")
    gp_spec = _SPECIALTIES.index("general_practice")
    specialty = np.where((specialty == pediatrics) & (age >= 16), gp_spec, specialty)
    is_gp_specialty = physician & (specialty == gp_spec)
    sector2 = np.where(is_gp_specialty, rng.random(n) < 0.06, rng.random(n) < 0.45) & physician
    optam = sector2 & (rng.random(n) < 0.6)

    # Pathway situations.
    seen_by_gp = is_gp_specialty & has_gp & (rng.random(n) < 0.8)
    teleconsultation = is_gp_specialty & (rng.random(n) < 0.05)
    referred_by_gp = physician & ~is_gp_specialty & has_gp & (rng.random(n) < 0.55)
    r = rng.random(n)
    declares_gp = is_gp_specialty & ~has_gp & (r < 0.05)
    referred_by_other = physician & ~is_gp_specialty & ~referred_by_gp & (r < 0.05)
    replacing_gp = is_gp_specialty & ~seen_by_gp & (r > 0.97)
    emergency = physician & (rng.random(n) < 0.02)
    away = physician & (rng.random(n) < 0.02)
    gp_unavailable = teleconsultation & (rng.random(n) < 0.1)
    last_visit = date - rng.integers(0, 500, size=n)
    has_last_visit = teleconsultation & (rng.random(n) < 0.9)
    reason = rng.integers(0, len(_VISIT_REASONS), size=n)
    has_reason = physician & np.isin(specialty, [_SPECIALTIES.index("gynecology"), _SPECIALTIES.index("ophthalmology")])
    installed = date - rng.integers(0, 365 * 30, size=n)
    ald_care = ald & (rng.random(n) < 0.6)

    # Acts.
    codes = tuple(catalogue.acts)
    code = np.zeros(n, dtype=np.int64)
    spec_code = np.array([codes.index(_SPECIALTY_CODE[s]) for s in _SPECIALTIES])
    code[physician] = spec_code[specialty[physician]]
    ped = physician & (specialty == pediatrics)
    code = np.where(ped & (age < 2), codes.index("CEH"), code)
    code = np.where(ped & (age >= 2) & (age < 6), codes.index("CEK"), code)
    code = np.where(teleconsultation, codes.index("TCG"), code)
    code = np.where(physician & ~is_gp_specialty & (rng.random(n) < 0.03), codes.index("APC"), code)
    medicine = np.array([codes.index(c) for c in _MEDICINES])[
        rng.choice(len(_MEDICINES), size=n, p=_MEDICINE_WEIGHTS / _MEDICINE_WEIGHTS.sum())
    ]
    code = np.where(kind == 1, medicine, code)
    code = np.where(kind == 2, codes.index("AMI"), code)
    code = np.where(kind == 3, codes.index("AMK"), code)
    code = np.where(kind == 4, codes.index("B"), code)
    dental = np.array([codes.index(c) for c in ("C", "SCALING", "FILLING")])[rng.integers(0, 3, size=n)]
    code = np.where(kind == 5, dental, code)
    code = np.where(kind == 6, codes.index("TRANSPORT"), code)

    # Tariff not yet in force on that date: the specialty's general code.
    tariff_codes = tuple(c for c in codes if catalogue.acts[c].base == "tariff")
    tariffs = _Tariffs(parameters, catalogue, tariff_codes)
    in_tariff = np.isin(code, [codes.index(c) for c in tariff_codes])
    tariff_index = np.full(n, -1, dtype=np.int64)
    lookup = np.full(len(codes), -1, dtype=np.int64)
    lookup[[codes.index(c) for c in tariff_codes]] = np.arange(len(tariff_codes))
    tariff_index[in_tariff] = lookup[code[in_tariff]]
    too_early = in_tariff & (date < tariffs.first_day[np.maximum(tariff_index, 0)])
    fallback = np.where(is_gp_specialty, codes.index("G"), codes.index("CS"))
    code = np.where(too_early, fallback, code)
    tariff_index = np.where(too_early, lookup[fallback], tariff_index)
    teleconsultation &= code == codes.index("TCG")

    quantity = np.ones(n, dtype=np.int64)
    quantity = np.where(kind == 1, rng.integers(1, 5, size=n), quantity)
    quantity = np.where(kind == 2, rng.integers(1, 4, size=n), quantity)
    coefficient = np.full(n, np.nan)
    coefficient = np.where(kind == 2, rng.choice([1.0, 1.5, 2.0, 3.0, 4.0], size=n), coefficient)
    coefficient = np.where(kind == 3, rng.choice([7.5, 8.0, 8.5, 9.0, 9.5], size=n), coefficient)
    coefficient = np.where(kind == 4, rng.integers(10, 400, size=n).astype(np.float64), coefficient)

    # Fees: the tariff (null) in secteur 1, overruns in secteur 2; billed prices for pharmacy and transport.
    tariff = tariffs.value(np.maximum(tariff_index, 0), date)
    overrun = np.exp(rng.normal(np.log(0.5), 0.5, size=n))
    secteur2_fee = (np.rint(tariff * (1 + np.where(optam, np.minimum(overrun, 1.0), overrun)) / 100) * 100).astype(
        np.int64
    )
    fee = np.where(sector2 & in_tariff, secteur2_fee, 0)
    fee_null = ~(sector2 & in_tariff)
    box = np.rint(np.exp(rng.normal(np.log(900), 0.9, size=n))).astype(np.int64) + 100
    fee = np.where(kind == 1, box * quantity, fee)
    trip = rng.integers(3000, 15000, size=n)
    fee = np.where(kind == 6, trip * quantity, fee)
    fee_null &= ~np.isin(kind, [1, 6])

    professional_id = np.where(physician, rng.integers(0, max(1, n_patients // 20), size=n), 0)
    professional_id = np.where(~physician, 1_000_000 + kind * 100_000 + rng.integers(0, 5_000, size=n), professional_id)

    # Shapes the twin does not cover, routed to the scalar engine.
    other = rng.random(n) < other_share
    other_kind = rng.integers(0, len(_OTHER_SHAPES), size=n)
    profession_names = (*_KINDS, "optician", "hospital", "hearing_aid_provider")
    profession = kind.copy()
    device_classes = ("A", "B", "I", "II")
    device_class = np.where(rng.random(n) < _OPTICS_CLASS_B, 1, 0)
    basket = rng.choice(len(_BASKETS), size=n, p=_BASKET_WEIGHTS)
    days_col = np.ones(n, dtype=np.int64)
    if other.any():
        optician = other & (other_kind == 0)
        hospital = other & (other_kind == 1)
        tele_expertise = other & (other_kind == 2)
        prosthesis = other & (other_kind == 3)
        hearing = other & (other_kind == 4)
        profession = np.where(optician, len(_KINDS), profession)
        profession = np.where(hospital, len(_KINDS) + 1, profession)
        profession = np.where(hearing, len(_KINDS) + 2, profession)
        profession = np.where(prosthesis, _KINDS.index("dentist"), profession)
        profession = np.where(tele_expertise, 0, profession)
        specialty = np.where(tele_expertise, gp_spec, specialty)
        physician = (physician & ~optician & ~hospital & ~prosthesis & ~hearing) | tele_expertise
        code = np.where(optician, codes.index("FRAME"), code)
        code = np.where(hospital, codes.index("HOSP_STAY"), code)
        code = np.where(tele_expertise, codes.index("TE2"), code)
        code = np.where(prosthesis, codes.index("CROWN"), code)
        code = np.where(hearing, codes.index("HEARING_AID"), code)
        hearing_class_1 = rng.random(n) < _HEARING_CLASS_I
        device_class = np.where(hearing, np.where(hearing_class_1, 2, 3), device_class)
        # Free prices: a class B frame (its lenses in ``generate_claims``), a crown of tarifs libres, a class II
        # hearing aid; the others are billed at their limit (fee null).
        frame_price = np.rint(np.exp(rng.normal(np.log(13_000), 0.4, size=n))).astype(np.int64)
        crown_price = np.rint(np.exp(rng.normal(np.log(70_000), 0.3, size=n))).astype(np.int64)
        aid_price = np.rint(np.exp(rng.normal(np.log(150_000), 0.25, size=n))).astype(np.int64)
        quantity_aids = np.where(rng.random(n) < _HEARING_TWO_EARS, 2, 1)
        fee = np.where(optician, np.where(device_class == 1, frame_price, 3000), fee)
        fee = np.where(hospital, rng.integers(50_000, 500_000, size=n), fee)
        fee = np.where(prosthesis, crown_price, fee)
        fee = np.where(hearing, aid_price * quantity_aids, fee)
        fee_null &= ~(optician | hospital)
        fee_null = np.where(prosthesis, basket != _BASKETS.index("free"), fee_null)
        fee_null = np.where(hearing, hearing_class_1, fee_null)
        fee_null |= tele_expertise
        quantity = np.where(other, np.where(hearing, quantity_aids, 1), quantity)
        coefficient = np.where(other, np.nan, coefficient)
        days_col = np.where(hospital, rng.integers(1, 15, size=n), 1)
        teleconsultation &= ~other
        sector2 &= ~other
        optam &= ~other
    else:
        optician = hospital = prosthesis = hearing = np.zeros(n, dtype=bool)

    columns = {
        "claim_id": pa.array(np.arange(n, dtype=np.int64)),
        "patient_id": pa.array(patient.astype(np.int64)),
        "professional_id": pa.array(professional_id.astype(np.int64)),
        "date": pa.array(date.astype(np.int32), pa.int32()).cast(pa.date32()),
        "birth_date": pa.array(birth.astype(np.int32), pa.int32()).cast(pa.date32()),
        "has_gp": pa.array(has_gp),
        "seen_by_gp": pa.array(seen_by_gp),
        "c2s": pa.array(c2s_p[patient]),
        "ald": pa.array(ald),
        "ald_care": pa.array(ald_care),
        "regime": _dictionary(regime_p[patient], ("general", "ame", "mayotte", "foreign_visitor")),
        "pregnancy_start": pa.array(pregnancy_start.astype(np.int32), pa.int32(), mask=~pregnant).cast(pa.date32()),
        "delivery_date": pa.array(delivery.astype(np.int32), pa.int32(), mask=~pregnant).cast(pa.date32()),
        "profession": _dictionary(profession, profession_names),
        "specialty": _dictionary(specialty, _SPECIALTIES, null=~physician),
        "sector": _dictionary(sector2.astype(np.int64), ("1", "2"), null=~physician),
        "optam": pa.array(optam),
        "installed_on": pa.array(installed.astype(np.int32), pa.int32(), mask=~is_gp_specialty).cast(pa.date32()),
        "underserved_area": pa.array(is_gp_specialty & (rng.random(n) < 0.05)),
        "declares_gp": pa.array(declares_gp),
        "referred_by_gp": pa.array(referred_by_gp),
        "referred_by_other_doctor": pa.array(referred_by_other),
        "replacing_gp": pa.array(replacing_gp),
        "emergency": pa.array(emergency),
        "away_from_home": pa.array(away),
        "teleconsultation": pa.array(teleconsultation),
        "gp_unavailable": pa.array(gp_unavailable),
        "last_in_person_visit": pa.array(last_visit.astype(np.int32), pa.int32(), mask=~has_last_visit).cast(
            pa.date32()
        ),
        "visit_reason": _dictionary(reason, _VISIT_REASONS, null=~has_reason),
        "act_code": _dictionary(code, codes),
        "quantity": pa.array(quantity),
        "fee": pa.array(fee.astype(np.int64), mask=fee_null),
        "coefficient": pa.array(coefficient, mask=np.isnan(coefficient)),
        "days": pa.array(days_col, mask=~hospital),
        "device_class": _dictionary(device_class, device_classes, null=~(optician | hearing)),
        "basket": _dictionary(basket, _BASKETS, null=~prosthesis),
    }
    table = pa.table(columns)
    missing = [name for name in INPUT_COLUMNS if name in columns and name not in table.column_names]
    assert not missing
    return table


# --- multi-act claims ------------------------------------------------------------------------------------------

# Extra lines per claim, by kind of care (see docs/batch.md for the orders of magnitude and their sources).
_EXTRA_MEDICINES = 1.5  # Poisson mean: ~2.5 lines (distinct medicines) per pharmacy claim
_EXTRA_ANALYSES = 2.0  # Poisson mean: ~3 analyses per laboratory claim
_NURSE_SECOND_ACT = 0.3
_DENTAL_SECOND_ACT = 0.4
_ROUND_TRIP = 0.6


def generate_claims(
    claims: int,
    seed: int = 0,
    patients: int | None = None,
    other_share: float = 0.02,
    first_day: dt.date = FIRST_DAY,
    last_day: dt.date = LAST_DAY,
    chunk: int | None = None,
    first_claim_id: int = 0,
) -> pa.Table:
    """``claims`` multi-act claims (one row per act line, grouped by ``claim_id``, numbered by ``line_number``):
    a pharmacy's several medicines, a laboratory's analyses, a nurse's acts, G + MEG for a young child, a dentist's
    consultation and care (or a crown), a round trip, glasses (a frame and two lenses), hearing aids, hospital
    stays, téléexpertises."""
    head = generate(claims, seed=seed, patients=patients, other_share=other_share, first_day=first_day,
                    last_day=last_day, chunk=chunk)  # fmt: skip
    rng = np.random.default_rng((seed, 0 if chunk is None else chunk + 1, 7))
    catalogue = default_catalogue()
    codes = tuple(catalogue.acts)
    code_col = head.column("act_code").combine_chunks()
    code = np.asarray(code_col.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    profession_col = head.column("profession").combine_chunks()
    profession = np.asarray(profession_col.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    names = profession_col.dictionary.to_pylist()
    kind = {name: profession == names.index(name) for name in names}
    birth = pc.cast(head.column("birth_date"), pa.int32()).to_numpy().astype(np.int64)
    date = pc.cast(head.column("date"), pa.int32()).to_numpy().astype(np.int64)
    young = age_on_days(birth, date) < 6
    n = head.num_rows

    extra = np.zeros(n, dtype=np.int64)
    extra = np.where(kind["pharmacist"], np.minimum(rng.poisson(_EXTRA_MEDICINES, n), 5), extra)
    extra = np.where(kind["laboratory"], np.minimum(rng.poisson(_EXTRA_ANALYSES, n), 7), extra)
    extra = np.where(kind["nurse"], rng.random(n) < _NURSE_SECOND_ACT, extra)
    extra = np.where(kind["dentist"], rng.random(n) < _DENTAL_SECOND_ACT, extra)
    extra = np.where(kind["transport"], rng.random(n) < _ROUND_TRIP, extra)
    extra = np.where(kind["physician"] & young & (code == codes.index("G")), 1, extra)
    optician = kind["optician"] if "optician" in kind else np.zeros(n, dtype=bool)
    extra = np.where(optician & (code == codes.index("FRAME")), 1, extra)  # a frame and a pair of lenses
    lines = 1 + extra
    rows = np.repeat(np.arange(n), lines)
    table = head.take(pa.array(rows))
    m = table.num_rows
    starts = np.cumsum(lines) - lines
    line_number = np.arange(m) - np.repeat(starts, lines) + 1
    added = line_number > 1

    line_code = code[rows].copy()
    medicine = np.array([codes.index(c) for c in _MEDICINES])[
        rng.choice(len(_MEDICINES), size=m, p=_MEDICINE_WEIGHTS / _MEDICINE_WEIGHTS.sum())
    ]
    k = {name: value[rows] for name, value in kind.items()}
    line_code = np.where(added & k["pharmacist"], medicine, line_code)
    line_code = np.where(added & k["dentist"], codes.index("FILLING"), line_code)
    line_code = np.where(added & k["physician"], codes.index("MEG"), line_code)
    line_code = np.where(added & optician[rows], codes.index("LENS"), line_code)

    fee = table.column("fee").combine_chunks()
    fee_np = fee.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    fee_null = fee.is_null().to_numpy(zero_copy_only=False)
    quantity = table.column("quantity").combine_chunks().to_numpy(zero_copy_only=False).astype(np.int64)
    coefficient = table.column("coefficient").combine_chunks()
    coef_np = coefficient.fill_null(np.nan).to_numpy(zero_copy_only=False).astype(np.float64)
    box = np.rint(np.exp(rng.normal(np.log(900), 0.9, size=m))).astype(np.int64) + 100
    boxes = rng.integers(1, 4, size=m)
    pharmacy_line = added & k["pharmacist"]
    quantity = np.where(pharmacy_line, boxes, quantity)
    fee_np = np.where(pharmacy_line, box * boxes, fee_np)
    lab_line = added & k["laboratory"]
    coef_np = np.where(lab_line, rng.integers(10, 200, size=m).astype(np.float64), coef_np)
    nurse_line = added & k["nurse"]
    coef_np = np.where(nurse_line, rng.choice([1.0, 1.5, 2.0], size=m), coef_np)
    quantity = np.where(nurse_line | lab_line, 1, quantity)
    trip = added & k["transport"]
    fee_np = np.where(trip, rng.integers(3000, 15000, size=m), fee_np)
    quantity = np.where(trip, 1, quantity)
    tariffed = added & (k["dentist"] | k["physician"])
    fee_null = np.where(tariffed, True, fee_null)
    quantity = np.where(tariffed, 1, quantity)
    glasses = optician[rows]
    device_class = table.column("device_class").combine_chunks()
    class_b = np.asarray(pc.equal(device_class.cast(pa.string()), "B").fill_null(False), dtype=bool) & glasses
    fee_null = np.where(glasses, ~class_b, fee_null)  # class A at its price limit, class B at its price
    pair = np.rint(np.exp(rng.normal(np.log(25_000), 0.5, size=m))).astype(np.int64)
    fee_np = np.where(class_b & added, pair, fee_np)
    quantity = np.where(glasses & added, 2, quantity)
    strength = rng.choice(len(_CORRECTIONS), size=m, p=_CORRECTION_WEIGHTS).astype(np.int32)
    correction = pa.DictionaryArray.from_arrays(
        pa.array(strength, mask=~(glasses & added)), pa.array(_CORRECTIONS, pa.string())
    )
    # A crown's claim may hold a filling too: the basket is the crown's alone.
    basket = table.column("basket").combine_chunks()
    crown_only = added | basket.is_null().to_numpy(zero_copy_only=False)
    basket_index = basket.indices.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int32)
    basket = pa.DictionaryArray.from_arrays(pa.array(basket_index, mask=crown_only), basket.dictionary)

    first = np.repeat(np.arange(n, dtype=np.int64) + first_claim_id, lines)
    replace = {
        "claim_id": pa.array(first),
        "act_code": pa.DictionaryArray.from_arrays(pa.array(line_code.astype(np.int32)), code_col.dictionary),
        "quantity": pa.array(quantity),
        "fee": pa.array(fee_np, mask=fee_null),
        "coefficient": pa.array(coef_np, mask=np.isnan(coef_np)),
        "basket": basket,
    }
    for name, column in replace.items():
        table = table.set_column(table.column_names.index(name), name, column)
    return table.append_column("line_number", pa.array(line_number.astype(np.int64))).append_column(
        "correction", correction
    )
