"""The columnar twin of the engine: the same rules over columns of millions of one-act care events.

One row is one care event with one act (the shape of almost every claim). The twin reads every figure from the
same dated parameters as the scalar engine (``ParameterSet.at(date)``, once per distinct date of the batch) and
the same catalogue; the pathway is decided by the same rule table (``pathway.rule_index_columns``). The yearly
count of téléexpertises and the renewal periods of optics and hearing aids are taken in the caps' order too. Rows it
does not cover (CCAM modifiers, invalid input…) are flagged; their patients are routed whole to the scalar
engine, fed sequentially with the year-to-date state (``adjudicate_rows``), so every row gets an answer and the
caps see every claim of the patient in the order (patient, date, claim id). The batch kernel routes them only from
their first claim not covered on (``run(..., up_to_first_routed=True)``) and hands them back afterwards.

The differential test (``tests/batch/test_differential.py``) keeps both paths equal to the cent.
Pure: numpy and pyarrow, no I/O.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from parcours.rules.catalogue import Catalogue, Category, Profession, default_catalogue
from parcours.rules.engine import Engine, RuleInputError, default_engine
from parcours.rules.event import (
    CareEvent,
    ExcludedContext,
    Institution,
    Regime,
    Specialty,
    VisitReason,
    YearToDate,
)
from parcours.rules.identifiers import rpps_with_check_digit
from parcours.rules.money import apply_rate, euros
from parcours.rules.params import NoValueInForceError, ParameterSet, Snapshot, default_parameters
from parcours.rules.pathway import (
    ALL_RULES,
    TELE_KNOWN_OK,
    TELE_ORIENTATION_OK,
    Fact,
    rule_index_columns,
)

I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

# RPPS numbers used when a row becomes a scalar event. The professional's is made from ``professional_id`` (its
# last 10 digits and a Luhn key), so that what the engine counts per professional (téléexpertises per expert) is
# counted per ``professional_id``; a row without one gets ROW_OTHER_RPPS. The row says only whether the patient
# has a declared MT and whether the professional is that MT: an MT who is not the professional gets ROW_GP_RPPS
# (ROW_OTHER_RPPS when that is the professional's).
ROW_GP_RPPS = "10101010105"
ROW_OTHER_RPPS = "10000000009"
_RPPS_DIGITS = 10
_NULL_RPPS_NUMBER = 1_000_000_000  # the 10 digits of ROW_OTHER_RPPS (checked at import below)


@lru_cache(maxsize=1 << 16)
def professional_rpps(professional_id: int | None) -> str:
    """The RPPS a row's professional has in the scalar event (see ROW_GP_RPPS)."""
    if professional_id is None:
        return ROW_OTHER_RPPS
    return rpps_with_check_digit(f"{int(professional_id) % 10**_RPPS_DIGITS:0{_RPPS_DIGITS}d}")


assert professional_rpps(_NULL_RPPS_NUMBER) == ROW_OTHER_RPPS

_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
NULL_CODE = -1  # a null in a coded column
UNKNOWN_CODE = -2  # a value outside the vocabulary (the scalar engine will say what is wrong)

VOCABULARIES: dict[str, tuple[str, ...]] = {
    "profession": tuple(p.value for p in Profession),
    "specialty": tuple(s.value for s in Specialty),
    "regime": tuple(r.value for r in Regime),
    "institution": tuple(i.value for i in Institution),
    "visit_reason": tuple(v.value for v in VisitReason),
    "excluded_context": tuple(c.value for c in ExcludedContext),
    "sector": ("1", "2"),
}

# Regimes the twin computes (codes in VOCABULARIES["regime"]); the others go to the scalar engine.
_TWIN_REGIMES = [
    VOCABULARIES["regime"].index(r.value) for r in (Regime.GENERAL, Regime.AME, Regime.MAYOTTE, Regime.FOREIGN_VISITOR)
]

# name → (arrow type, required, description). The order is the order of the Parquet files parcours writes.
INPUT_COLUMNS: dict[str, tuple[pa.DataType, bool, str]] = {
    "claim_id": (pa.int64(), True, "identifier of the claim (one act); breaks ties of the order"),
    "patient_id": (pa.int64(), True, "pseudonymous patient identifier (caps are per patient)"),
    "professional_id": (pa.int64(), False, "professional identifier (4 participations a day per professional)"),
    "date": (pa.date32(), True, "date of care"),
    "birth_date": (pa.date32(), True, "patient's birth date"),
    "has_gp": (pa.bool_(), False, "the patient has declared a médecin traitant on that date"),
    "seen_by_gp": (pa.bool_(), False, "the professional is the patient's médecin traitant"),
    "c2s": (pa.bool_(), False, "Complémentaire santé solidaire"),
    "ald": (pa.bool_(), False, "affection de longue durée recognised"),
    "ald_care": (pa.bool_(), False, "care related to the ALD, in the care protocol (100 %)"),
    "regime": (
        pa.string(),
        False,
        "general (default), ame, mayotte, foreign_visitor; alsace_moselle and out-of-scope regimes: routed",
    ),
    "pregnancy_start": (pa.date32(), False, "start of an ongoing pregnancy"),
    "delivery_date": (pa.date32(), False, "delivery date (actual or expected)"),
    "institution": (pa.string(), False, "prison, nursing_home, disability_home"),
    "profession": (pa.string(), True, "physician, nurse, physiotherapist, pharmacist, laboratory, …"),
    "specialty": (pa.string(), False, "physicians only: general_practice, psychiatry, …"),
    "sector": (pa.string(), False, "'1' (default) or '2'"),
    "optam": (pa.bool_(), False, "the secteur 2 physician adheres to OPTAM"),
    "installed_on": (pa.date32(), False, "installation date (code J)"),
    "underserved_area": (pa.bool_(), False, "installed in an underserved area (code B)"),
    "declares_gp": (pa.bool_(), False, "the patient declares this MT at this visit (N)"),
    "referred_by_gp": (pa.bool_(), False, "referred by the MT (O)"),
    "referred_by_other_doctor": (pa.bool_(), False, "referred by another doctor (M)"),
    "replacing_gp": (pa.bool_(), False, "the doctor replaces the MT (R)"),
    "emergency": (pa.bool_(), False, "emergency (U)"),
    "away_from_home": (pa.bool_(), False, "away from home (H)"),
    "teleconsultation": (pa.bool_(), False, "teleconsultation"),
    "gp_unavailable": (pa.bool_(), False, "MT unavailable in time (teleconsultation)"),
    "last_in_person_visit": (pa.date32(), False, "last in-person visit with this doctor (teleconsultation)"),
    "visit_reason": (pa.string(), False, "gynaecology / ophthalmology direct-access reason"),
    "excluded_context": (pa.string(), False, "art. D162-1-6 CSS situation"),
    "act_code": (pa.string(), True, "act code of the catalogue (G, CS, AMI, B, PH7, TRANSPORT…)"),
    "quantity": (pa.int64(), False, "number of acts, boxes or trips (default 1)"),
    "fee": (pa.int64(), False, "billed amount in cents (default: the tariff)"),
    "coefficient": (pa.float64(), False, "coefficient of a key-letter act (AMI 1.5, B 70)"),
    "days": (pa.int64(), False, "days of a hospital stay"),
    "device_class": (pa.string(), False, "optics A/B, audiology I/II"),
    "correction": (pa.string(), False, "optics lenses: simple, complex, very_complex"),
    "basket": (pa.string(), False, "dental prosthesis: rac0, moderate, free"),
    "ear": (pa.string(), False, "audiology: left, right (default: both ears for 2 aids, else the right one)"),
    "psychiatry": (pa.bool_(), False, "hospital stay in psychiatry (its daily charge)"),
    "costly_act": (pa.bool_(), False, "hospital stay with a costly act (flat fee in place of the ticket modérateur)"),
    "modifiers": (pa.string(), False, "CCAM modifiers billed with the act, comma-separated: 'F,P' (routed)"),
    "association": (pa.string(), False, "CCAM association code 1-5 (routed)"),
    "tiers_payant": (pa.bool_(), False, "tiers payant: participation and franchises stay owed (routed)"),
    "work_injury": (pa.bool_(), False, "care for a work injury or occupational disease, AT-MP (routed)"),
    "invalidity_pension": (pa.bool_(), False, "the patient holds an invalidity pension (routed)"),
    "compulsory_child_exam": (pa.int64(), False, "number 1-20 of the compulsory child examination (routed)"),
    "participation_paid_ytd": (pa.int64(), False, "cents of participations already paid this year, before the batch"),
    "last_optical_equipment": (pa.date32(), False, "date of the patient's last optical equipment, before the batch"),
    "last_hearing_aid_left": (pa.date32(), False, "date of the patient's last hearing aid, left ear, before the batch"),
    "last_hearing_aid_right": (
        pa.date32(),
        False,
        "date of the patient's last hearing aid, right ear, before the batch",
    ),
    "teleexpertise_done_ytd": (
        pa.int64(),
        False,
        "téléexpertises of this act already billed this year by this professional for this patient, before the batch",
    ),
    "franchises_paid_ytd": (pa.int64(), False, "cents of franchises already paid this year, before the batch"),
    "same_day_participations": (pa.int64(), False, "participations already taken that day by that professional"),
    "same_day_paramedical_franchises": (
        pa.int64(),
        False,
        "cents of paramedical franchises already taken that day by that professional",
    ),
    "same_day_transport_franchises": (pa.int64(), False, "cents of transport franchises already taken that day"),
}

OUTPUT_SCHEMA = pa.schema(
    [
        ("claim_id", pa.int64()),
        ("pathway", pa.string()),
        ("in_pathway", pa.bool_()),
        ("pathway_rule", pa.string()),
        ("status", pa.string()),
        ("reason", pa.string()),
        ("fee", pa.int64()),
        ("base", pa.int64()),
        ("rate", pa.int64()),
        ("gross", pa.int64()),
        ("majoration", pa.int64()),
        ("participation", pa.int64()),
        ("franchise", pa.int64()),
        ("amo", pa.int64()),
        ("patient", pa.int64()),
        ("engine", pa.string()),
        ("error", pa.string()),
    ]
)
AMOUNT_COLUMNS = ("fee", "base", "rate", "gross", "majoration", "participation", "franchise", "amo", "patient")

# What the twin covers: kinds of care whose base is a tariff, a key letter or the billed fee.
SUPPORTED_CATEGORIES = (
    Category.CONSULTATION,
    Category.DENTAL_CARE,
    Category.PARAMEDICAL,
    Category.BIOLOGY,
    Category.MEDICINE,
    Category.TRANSPORT,
    Category.HOSPITAL_STAY,  # the stay's line and its daily charge (forfait journalier), summed on the stay's line
    Category.TELEEXPERTISE,  # billed alone; the yearly limit per act, patient and professional counted in columns
    Category.OPTICS,  # frames and lenses of class A (100 % santé, price limits) and B; the renewal period in order
    Category.DENTAL_PROSTHESIS,  # crowns: the base, the basket's fee limit (100 % santé, tarifs maîtrisés) or free
    Category.AUDIOLOGY,  # hearing aids of class I (price limit by age) and II; the renewal period per ear in order
)
_SUPPORTED_BASES = ("tariff", "letter", "fee", "device")  # "device": optics, crowns, hearing aids
_FRANCHISE_KINDS = ("medicine", "paramedical", "transport")
_REASONS = (
    "age_condition",
    "teleconsultation_not_oriented",
    "teleconsultation_unknown_patient",
    "teleexpertise_yearly_limit",
    "early_renewal",
)
_CORRECTIONS = ("simple", "complex", "very_complex")
_BASKETS = ("rac0", "moderate", "free")  # a dental prosthesis's basket (event.Basket)
_OPTICS = "tariffs.optics"
_AUDIOLOGY = "tariffs.audiology"
_EARS = ("left", "right")  # Act.ear; a row's ears as bits: 1 << index
# Figures only some rows read: a date where one is not in force routes those rows, not the whole date.
_ROW_SCALAR_PATHS = (
    "teleexpertise.yearly_limit_per_patient",
    "participation.applies_to_teleexpertise",
    f"{_OPTICS}.frame_base_class_a",
    f"{_OPTICS}.frame_base_class_b",
    f"{_OPTICS}.frame_price_limit_class_a",
    f"{_OPTICS}.lens_base_class_b",
    *(f"{_OPTICS}.lens_base_class_a.{c}" for c in _CORRECTIONS),
    *(f"{_OPTICS}.lens_price_limit_class_a.{c}" for c in _CORRECTIONS),
    *(f"{_OPTICS}.renewal.{x}" for x in ("adult_from_age", "child_from_age", "adult_months", "child_months")),
    f"{_OPTICS}.renewal.infant_months",
    *(f"tariffs.dental.crown_fee_limit_{b}" for b in _BASKETS[:2]),  # engine._prosthesis: no limit when free
    *(f"{_AUDIOLOGY}.{x}" for x in ("price_limit_class_1", "price_limit_class_1_young", "young_until_age")),
    f"{_AUDIOLOGY}.renewal_years",
)
_ROW_AFTER_LIMIT = 99  # Act.quantity bound
_MAX_CENTS = 10**12  # Euros: 12 digits, 2 decimals
_MAX_STAY_DAYS = 3650  # Act.days bound
_DENSE_RANGE = 1 << 20  # widest range of day numbers counted rather than sorted


class ColumnError(ValueError):
    """The batch itself is malformed (missing or mistyped column); ``field`` names the column."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field} : {message}")
        self.field = field
        self.message = message


# --- calendar on day numbers --------------------------------------------------------------------------------


_CALENDAR_FIRST_YEAR = 1800
_CALENDAR_YEARS = 400


def _calendar_tables() -> tuple[int, int, I64, I64, I64, I64, I64]:
    """Year, month, day of every day number in 1800-2199, and the first day and length of every month.

    Calendar arithmetic on millions of rows becomes table look-ups (gathers), much faster than numpy's datetime
    conversions; the tables come from numpy's own calendar, so they agree with ``datetime``.
    """
    first = np.datetime64(f"{_CALENDAR_FIRST_YEAR}-01-01", "D")
    months = np.arange(_CALENDAR_YEARS * 12) + (first.astype("datetime64[M]").astype(np.int64))
    month_start = months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    month_length = np.diff(
        np.append(month_start, (months[-1] + 1).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64))
    )
    lo, hi = int(month_start[0]), int(month_start[-1] + month_length[-1])
    day_numbers = np.arange(lo, hi)
    month_of_day = np.searchsorted(month_start, day_numbers, side="right") - 1
    year = _CALENDAR_FIRST_YEAR + month_of_day // 12
    day = day_numbers - month_start[month_of_day] + 1
    return lo, hi, year, month_of_day, day, month_start, month_length


_CAL_LO, _CAL_HI, _CAL_YEAR, _CAL_MONTH_INDEX, _CAL_DAY, _CAL_MONTH_START, _CAL_MONTH_LENGTH = _calendar_tables()
# Month and day of every day number as month × 32 + day (the order of dates within a year), and leap years.
_CAL_MONTH_DAY = ((_CAL_MONTH_INDEX % 12 + 1) * 32 + _CAL_DAY).astype(np.int16)
_LEAP_DAY = 2 * 32 + 29
_CAL_LEAP = np.array(
    [calendar.isleap(y) for y in range(_CALENDAR_FIRST_YEAR, _CALENDAR_FIRST_YEAR + _CALENDAR_YEARS)], dtype=bool
)


def in_calendar(days: I64) -> Bools:
    """Day numbers the calendar tables cover with room to add years (1800-2099); other rows go to the scalar engine."""
    result: Bools = (days >= _CAL_LO) & (days < _CAL_HI - 366 * 100)  # room for "n years later"
    return result


def add_months_days(days: I64, months: I64 | int) -> I64:
    """``dates.add_months`` on day numbers (days since 1970-01-01): same day n months later, clamped to the
    month's end. Days outside the calendar tables are clipped (the caller routes those rows elsewhere)."""
    offset = _calendar_offset(days)
    target = np.take(_CAL_MONTH_INDEX, offset)
    target += months
    np.maximum(target, 0, out=target)
    np.minimum(target, len(_CAL_MONTH_START) - 1, out=target)
    day = np.take(_CAL_DAY, offset)
    np.minimum(day, np.take(_CAL_MONTH_LENGTH, target), out=day)
    day += np.take(_CAL_MONTH_START, target)
    day -= 1
    return day


def _calendar_offset(days: I64) -> I64:
    """Each day's place in the calendar tables, clipped to them."""
    offset: I64 = days - _CAL_LO
    np.maximum(offset, 0, out=offset)
    np.minimum(offset, _CAL_HI - _CAL_LO - 1, out=offset)
    return offset


def year_of_days(days: I64) -> I64:
    result: I64 = np.take(_CAL_YEAR, _calendar_offset(days))
    return result


def age_on_days(birth: I64, on: I64) -> I64:
    """``dates.age_on`` on day numbers: whole years, a 29 February birthday on 28 February in a common year."""
    at_birth, at_on = _calendar_offset(birth), _calendar_offset(on)
    years: I64 = np.take(_CAL_YEAR, at_on)
    years -= np.take(_CAL_YEAR, at_birth)
    birthday = np.take(_CAL_MONTH_DAY, at_birth)
    leap_day = np.flatnonzero(birthday == _LEAP_DAY)
    if leap_day.size:
        birthday[leap_day] -= ~_CAL_LEAP[np.take(_CAL_YEAR, at_on[leap_day]) - _CALENDAR_FIRST_YEAR]
    years -= np.take(_CAL_MONTH_DAY, at_on) < birthday
    return years


# --- the parameters of the batch's dates --------------------------------------------------------------------


def _value_or(p: Snapshot, path: str, default: int = -1) -> int:
    try:
        return int(p[path])
    except NoValueInForceError:
        return default


@dataclass(frozen=True, slots=True)
class _Tables:
    """Every figure the twin reads, one row per distinct date of the batch (the same snapshots as the engine)."""

    ok: Bools  # the rules the twin reads are all in force on that date
    scalars: dict[str, I64]
    tariff: I64  # [date, act code]: base per unit (tariff + majorations, or key letter), -1 when not in force
    coordination: I64  # [date, act code]: coordination majoration (in the pathway only), 0 none, -1 not in force
    non_optam: I64  # [date, act code]: secteur 2 non-OPTAM base, -1 when none in force
    rate: I64  # [date, rate path]: value of each rate path of the catalogue, -1 when not in force
    member: dict[str, Bools]  # [date, code] membership of the set-valued parameters

    @staticmethod
    def build(parameters: ParameterSet, catalogue: Catalogue, days: I64, codes: Sequence[str]) -> _Tables:
        n = len(days)
        scalar_paths = (
            "pathway.minimum_age",
            "pathway.direct_access.psychiatry_min_age",
            "pathway.direct_access.psychiatry_max_age",
            "pathway.recently_installed_gp_years",
            "pathway.teleconsultation.known_patient_months",
            "pathway.out_of_pathway_rate_reduction",
            "pathway.out_of_pathway_reduction_cap",
            "maternity.from_pregnancy_month",
            "maternity.days_after_delivery",
            "rates.full",
            "participation.exempt_under_age",
            "franchises.exempt_under_age",
            "participation.amount",
            "participation.daily_count_per_professional",
            "participation.annual_cap",
            "franchises.medicine_per_box",
            "franchises.paramedical_per_act",
            "franchises.transport_per_trip",
            "franchises.paramedical_daily_cap",
            "franchises.transport_daily_cap",
            "franchises.annual_cap",
            "tariffs.hospital.costly_act_threshold",
            "tariffs.hospital.costly_act_flat_fee",
            "tariffs.hospital.full_rate_from_day",
            "tariffs.hospital.daily_charge",
            "tariffs.hospital.daily_charge_psychiatry",
            "tariffs.hospital.newborn_exempt_days",
            "tariffs.hospital.daily_charge_imputed_on_copayment",
        )
        member_paths = {
            "excluded_regime": ("pathway.excluded_regimes", "regime"),
            "excluded_specialty": ("pathway.excluded_specialties", "specialty"),
            "excluded_context": ("pathway.excluded_contexts", "excluded_context"),
            "gynecology_reason": ("pathway.direct_access.gynecology_reasons", "visit_reason"),
            "ophthalmology_reason": ("pathway.direct_access.ophthalmology_reasons", "visit_reason"),
            "stomatology": ("pathway.direct_access.stomatology_specialties", "specialty"),
            "tele_direct": ("pathway.teleconsultation.direct_access_specialties", "specialty"),
            "tele_institution": ("pathway.teleconsultation.exempt_institutions", "institution"),
            "participation_exempt_regime": ("participation.exempt_regimes", "regime"),
            "franchise_exempt_regime": ("franchises.exempt_regimes", "regime"),
        }
        ok = np.ones(n, dtype=bool)
        scalars = {path: np.full(n, -1, dtype=np.int64) for path in (*scalar_paths, *_ROW_SCALAR_PATHS)}
        member = {
            name: np.zeros((n, len(VOCABULARIES[vocab])), dtype=bool) for name, (_, vocab) in member_paths.items()
        }
        tariff = np.full((n, len(codes)), -1, dtype=np.int64)
        coordination = np.zeros((n, len(codes)), dtype=np.int64)
        non_optam = np.full((n, len(codes)), -1, dtype=np.int64)
        rate_paths = _rate_paths(catalogue)
        rate = np.full((n, len(rate_paths)), -1, dtype=np.int64)
        for i, day in enumerate(days.tolist()):
            p = parameters.at(dt.date(1970, 1, 1) + dt.timedelta(days=day))
            for path in (*scalar_paths, *_ROW_SCALAR_PATHS):
                scalars[path][i] = _value_or(p, path)
            ok[i] = bool((np.array([scalars[path][i] for path in scalar_paths]) >= 0).all())
            for name, (path, vocab) in member_paths.items():
                try:
                    values = set(p[path])
                except NoValueInForceError:
                    ok[i] = False
                    continue
                member[name][i] = [v in values for v in VOCABULARIES[vocab]]
            for j, rate_path in enumerate(rate_paths):
                rate[i, j] = _value_or(p, rate_path)
            for j, code in enumerate(codes):
                definition = catalogue.acts[code]
                unit_path = definition.tariff if definition.base == "tariff" else definition.letter
                if unit_path is not None and definition.base in ("tariff", "letter"):
                    parts = [_value_or(p, path) for path in (unit_path, *definition.supplements)]
                    tariff[i, j] = -1 if min(parts) < 0 else sum(parts)
                elif definition.base == "device" and definition.tariff is not None:
                    tariff[i, j] = _value_or(p, definition.tariff)  # a device's base per unit (a crown's)
                if definition.coordination is not None:
                    coordination[i, j] = _value_or(p, definition.coordination)
                if definition.non_optam_tariff is not None:
                    non_optam[i, j] = _value_or(p, definition.non_optam_tariff)
        return _Tables(ok, scalars, tariff, coordination, non_optam, rate, member)


def _rate_paths(catalogue: Catalogue) -> list[str]:
    paths = {d.rate for d in catalogue.acts.values()} | {r.rate for r in catalogue.categories.values()}
    paths |= {path for r in catalogue.categories.values() for path in r.rate_by_profession.values()}
    return sorted(p for p in paths if p is not None)


# --- the catalogue as arrays -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _CatalogueArrays:
    codes: tuple[str, ...]
    supported: Bools  # [code, profession]: the twin covers this act billed by this profession
    allowed: Bools  # [code, profession]
    base_kind: I64  # index into _SUPPORTED_BASES, -1 otherwise
    full_rate: Bools  # [code, profession]: always at 100 % (rate path rates.full, or full_rate)
    rate_path: I64  # [code, profession]: index into _rate_paths(catalogue), -1 when not reimbursable
    tele_only: Bools
    min_age: I64
    max_age: I64
    participation: Bools  # [code, profession]
    majoration: Bools  # [code, profession]
    franchise: I64  # [code, profession]: index into _FRANCHISE_KINDS, -1 none
    consultation: Bools  # [code, profession]: a physician's consultation (teleconsultation refusals apply)
    costly: Bools  # [code, profession]: the « forfait 24 € » may replace the ticket modérateur (rows routed)
    stay: Bools  # [code, profession]: a hospital stay (its own gross, and a daily charge line)
    teleexpertise: Bools  # [code, profession]: a téléexpertise act (billed alone, yearly limit)
    optics: Bools  # [code, profession]: an optical device (base and price limit by class, renewal period)
    prosthesis: Bools  # [code, profession]: a dental prosthesis (base, the basket's fee limit)
    hearing: Bools  # [code, profession]: a hearing aid (base per ear, class I price limit, renewal per ear)

    @staticmethod
    def build(catalogue: Catalogue) -> _CatalogueArrays:
        codes = tuple(catalogue.acts)
        professions = VOCABULARIES["profession"]
        shape = (len(codes), len(professions))
        supported = np.zeros(shape, dtype=bool)
        allowed = np.zeros(shape, dtype=bool)
        participation = np.zeros(shape, dtype=bool)
        majoration = np.zeros(shape, dtype=bool)
        franchise = np.full(shape, -1, dtype=np.int64)
        consultation = np.zeros(shape, dtype=bool)
        costly = np.zeros(shape, dtype=bool)
        stay = np.zeros(shape, dtype=bool)
        teleexpertise = np.zeros(shape, dtype=bool)
        optics = np.zeros(shape, dtype=bool)
        prosthesis = np.zeros(shape, dtype=bool)
        hearing = np.zeros(shape, dtype=bool)
        base_kind = np.full(len(codes), -1, dtype=np.int64)
        full_rate = np.zeros(shape, dtype=bool)
        rate_path = np.full(shape, -1, dtype=np.int64)
        rate_paths = _rate_paths(catalogue)
        tele_only = np.zeros(len(codes), dtype=bool)
        min_age = np.full(len(codes), -1, dtype=np.int64)
        max_age = np.full(len(codes), 10_000, dtype=np.int64)
        for i, code in enumerate(codes):
            d = catalogue.acts[code]
            if d.base in _SUPPORTED_BASES:
                base_kind[i] = _SUPPORTED_BASES.index(d.base)
            tele_only[i] = d.teleconsultation_only
            if d.min_age is not None:
                min_age[i] = d.min_age
            if d.max_age is not None:
                max_age[i] = d.max_age
            for j, name in enumerate(professions):
                profession = Profession(name)
                category = d.category_for(profession)
                rule = catalogue.categories[category]
                allowed[i, j] = profession in d.professions
                supported[i, j] = allowed[i, j] and category in SUPPORTED_CATEGORIES and base_kind[i] >= 0
                participation[i, j] = d.bears_participation(rule, profession)
                majoration[i, j] = rule.pathway_majoration
                path = d.rate_path(rule, profession)
                full_rate[i, j] = d.full_rate or path == "rates.full"
                rate_path[i, j] = -1 if path is None else rate_paths.index(path)
                consultation[i, j] = category is Category.CONSULTATION
                costly[i, j] = rule.costly_act_participation
                stay[i, j] = category is Category.HOSPITAL_STAY
                teleexpertise[i, j] = category is Category.TELEEXPERTISE
                optics[i, j] = category is Category.OPTICS
                prosthesis[i, j] = category is Category.DENTAL_PROSTHESIS
                hearing[i, j] = category is Category.AUDIOLOGY
                if rule.franchise is not None:
                    franchise[i, j] = _FRANCHISE_KINDS.index(rule.franchise)
        return _CatalogueArrays(
            codes,
            supported,
            allowed,
            base_kind,
            full_rate,
            rate_path,
            tele_only,
            min_age,
            max_age,
            participation,
            majoration,
            franchise,
            consultation,
            costly,
            stay,
            teleexpertise,
            optics,
            prosthesis,
            hearing,
        )


# --- reading the columns ------------------------------------------------------------------------------------


class _Columns:
    """The input table as numpy arrays: dates as day numbers, strings as vocabulary codes, nulls made explicit."""

    def __init__(self, table: pa.Table, codes: Sequence[str]) -> None:
        self.n = table.num_rows
        self.table = table
        self.names = set(table.column_names)
        for name, (_, required, _) in INPUT_COLUMNS.items():
            if required and name not in self.names:
                raise ColumnError(name, "colonne obligatoire absente")
        self.codes = codes

    def column(self, name: str) -> pa.ChunkedArray | None:
        if name not in self.names:
            return None
        col = self.table.column(name)
        wanted = INPUT_COLUMNS[name][0]
        if col.type != wanted:
            try:
                col = col.cast(wanted)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise ColumnError(name, f"type {col.type} au lieu de {wanted}") from exc
        return col

    def ints(self, name: str, default: int) -> tuple[I64, Bools]:
        col = self.column(name)
        if (
            col is None or col.null_count == self.n
        ):  # an absent column is a column of nulls (a missing fee is the tariff)
            return np.full(self.n, default, dtype=np.int64), np.ones(self.n, dtype=bool)
        if col.null_count == 0:
            return col.to_numpy().astype(np.int64, copy=False), np.zeros(self.n, dtype=bool)
        values, valid = _values_and_validity(col)
        return np.where(valid, values, default), ~valid

    def days(self, name: str) -> tuple[I64, Bools]:
        col = self.column(name)
        if col is None or col.null_count == self.n:
            return np.zeros(self.n, dtype=np.int64), np.ones(self.n, dtype=bool)
        values, valid = _values_and_validity(col)
        if col.null_count == 0:
            return values.astype(np.int64), ~valid
        return np.where(valid, values, 0).astype(np.int64), ~valid

    def flag(self, name: str) -> Bools:
        col = self.column(name)
        if col is None or col.null_count == self.n:
            return np.zeros(self.n, dtype=bool)
        if col.null_count:
            col = col.fill_null(False)
        return np.asarray(col.to_numpy(zero_copy_only=False), dtype=bool)

    def floats(self, name: str) -> tuple[npt.NDArray[np.float64], Bools]:
        col = self.column(name)
        if col is None or col.null_count == self.n:
            return np.zeros(self.n), np.ones(self.n, dtype=bool)
        nulls = col.is_null().to_numpy(zero_copy_only=False)
        return np.asarray(col.fill_null(0.0).to_numpy(zero_copy_only=False), dtype=np.float64), nulls

    def coded(self, name: str, vocabulary: Sequence[str]) -> I64:
        if name not in self.names or self.table.column(name).null_count == self.n:
            return np.full(self.n, NULL_CODE, dtype=np.int64)
        value_set = pa.array(vocabulary, pa.string())
        raw = self.table.column(name)
        if pa.types.is_dictionary(raw.type) and raw.num_chunks:
            dictionary = raw.chunk(0).dictionary
            if dictionary.null_count == 0 and all(chunk.dictionary.equals(dictionary) for chunk in raw.chunks[1:]):
                # Map the (small) dictionary once, then gather by index: no string is materialised per row.
                mapping = pc.index_in(dictionary.cast(pa.string()), value_set=value_set)
                with_null = np.append(
                    mapping.fill_null(UNKNOWN_CODE).to_numpy(zero_copy_only=False).astype(np.int64), NULL_CODE
                )
                indices, valid = _values_and_validity(raw)
                if raw.null_count:
                    indices = np.where(valid, indices, len(with_null) - 1)
                return np.take(with_null, indices.astype(np.intp))
            parts = []  # a dictionary with nulls, or one per chunk: each chunk mapped
            for chunk in raw.chunks:
                mapping = pc.index_in(chunk.dictionary.cast(pa.string()), value_set=value_set)
                mapping_np = mapping.fill_null(UNKNOWN_CODE).to_numpy(zero_copy_only=False).astype(np.int64)
                indices = chunk.indices.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
                part = mapping_np[indices] if len(mapping_np) else np.full(len(chunk), UNKNOWN_CODE, dtype=np.int64)
                part[chunk.is_null().to_numpy(zero_copy_only=False)] = NULL_CODE
                parts.append(part)
            return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        col = self.column(name)
        assert col is not None
        index = pc.index_in(col, value_set=value_set)
        codes: I64 = index.fill_null(UNKNOWN_CODE).to_numpy(zero_copy_only=False).astype(np.int64)
        codes[col.is_null().to_numpy(zero_copy_only=False)] = NULL_CODE
        return codes


def _values_and_validity(col: pa.ChunkedArray) -> tuple[npt.NDArray[Any], Bools]:
    """A fixed-width column's values buffer as numpy (whatever lies under a null: the caller fills it) and which
    values are valid: no fill pass in Arrow."""
    arr = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if pa.types.is_dictionary(arr.type):
        arr = arr.indices
    dtype = np.int32 if pa.types.is_date32(arr.type) else arr.type.to_pandas_dtype()
    values = np.frombuffer(arr.buffers()[1], dtype=dtype, count=len(arr) + arr.offset)[arr.offset :]
    valid = np.ones(len(arr), dtype=bool) if arr.null_count == 0 else arr.is_valid().to_numpy(zero_copy_only=False)
    return values, valid


class _PerRow:
    """A parameter's value for each row: a plain int when the batch's dates all read the same value (the common
    case, and numpy broadcasts it for free), else gathered by row."""

    def __init__(self, columns: dict[str, I64], span_index: I64) -> None:
        self._columns = columns
        self._span_index = span_index
        self._cache: dict[str, I64 | int] = {}

    def __getitem__(self, path: str) -> Any:
        found = self._cache.get(path)
        if found is None:
            column = self._columns[path]
            found = int(column[0]) if (column == column[0]).all() else column[self._span_index]
            self._cache[path] = found
        return found


def _dense_unique(values: I64) -> tuple[I64, I64]:
    """``np.unique(values, return_inverse=True)`` by counting when the values span a small range (the dates of a
    batch span a few thousand days): linear time instead of a sort of the whole column."""
    if values.size == 0:
        return values, values
    lo, hi = int(values.min()), int(values.max())
    if hi - lo > _DENSE_RANGE:
        uniques, inverse = np.unique(values, return_inverse=True)
        return uniques, inverse.reshape(-1)
    present = np.bincount(values - lo) > 0
    slot = np.cumsum(present) - 1
    return np.flatnonzero(present) + lo, slot[values - lo]


def _claim_order(patient: I64, date: I64, claim: I64) -> I64:
    """``np.lexsort((claim, date, patient))``, the order the caps are taken in, with one stable sort of a
    (patient, date) key when it fits 63 bits, after a sort by claim only when the claims are not already in
    order (they usually are): the same permutation, in less than half the time of a three-key sort."""
    if patient.size == 0:
        return np.arange(0, dtype=np.int64)
    p_lo, d_lo = int(patient.min()), int(date.min())
    p_span, d_span = int(patient.max()) - p_lo + 1, int(date.max()) - d_lo + 1
    if p_span * d_span >= 2**62:
        return np.lexsort((claim, date, patient))
    key = (patient - p_lo) * d_span + (date - d_lo)
    if bool(np.all(claim[1:] >= claim[:-1])):
        if bool(np.all(key[1:] >= key[:-1])):  # already in order (the batch kernel's rows)
            return np.arange(patient.size, dtype=np.int64)
        return np.argsort(key, kind="stable")
    by_claim = np.argsort(claim, kind="stable")
    result: I64 = by_claim[np.argsort(key[by_claim], kind="stable")]
    return result


def _group_starts(*keys: I64) -> Bools:
    """First row of each run of equal keys (the arrays are sorted by these keys)."""
    n = len(keys[0])
    start = np.zeros(n, dtype=bool)
    if n:
        start[0] = True
        for key in keys:
            start[1:] |= key[1:] != key[:-1]
    return start


def _exclusive_cumsum(values: I64, starts: Bools) -> I64:
    """Sum of the previous rows of the same group (rows sorted, ``starts`` marks each group's first row)."""
    before: I64 = np.cumsum(values, dtype=np.int64)
    before -= values
    group: I64 = np.cumsum(starts, dtype=np.int64)
    group -= 1
    before -= np.take(before[starts], group)
    return before


def _capped(wanted: I64, cap: I64 | int, opening: I64 | None, starts: Bools) -> I64:
    """Sequential capping in one pass: each row takes min(wanted, max(0, cap − taken so far)).

    Once a row is capped the room left is zero for the rest of the group, so 'taken so far' is the opening amount
    plus the plain sum of the previous rows' wishes while there is room: the exclusive cumulative sum. ``opening``
    None: nothing taken before the batch.
    """
    room = _exclusive_cumsum(wanted, starts)
    np.subtract(cap, room, out=room)
    if opening is not None:
        group = np.cumsum(starts) - 1
        room -= np.take(opening[starts], group)
    np.maximum(room, 0, out=room)
    np.minimum(room, wanted, out=room)
    return room


def _is_identity(order: I64) -> bool:
    """``order`` is 0, 1, 2, …: the rows already are in that order."""
    return bool(np.array_equal(order, np.arange(order.size)))


# The flags _stateless reads (the rest of a row's stateless facts are codes, a span of dates, date facts).
_STATELESS_FLAGS = (
    "teleconsultation",
    "has_gp",
    "seen_by_gp",
    "c2s",
    "ald",
    "ald_care",
    "optam",
    "emergency",
    "gp_unavailable",
    "declares_gp",
    "replacing_gp",
    "referred_by_gp",
    "referred_by_other_doctor",
    "away_from_home",
    "underserved_area",
    "psychiatry",
    "costly_act",
)
_DEVICE_CLASSES = ("A", "B", "I", "II")
_DENSE_KEYS = 1 << 22  # widest key range grouped by counting rather than hashing


def _factorize(key: I64, span: int) -> tuple[I64, int]:
    """Dense ids 0, 1, … of the distinct values of ``key`` (in [0, span)) and their number: by counting when the
    range is small, else by Arrow's hash table."""
    if key.size == 0:
        return key, 1
    if span <= _DENSE_KEYS:
        present = np.bincount(key, minlength=span) > 0
        slot = np.cumsum(present) - 1
        return np.take(slot, key), int(slot[-1]) + 1
    encoded = pc.dictionary_encode(pa.array(key))
    return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64), len(encoded.dictionary)


class _Combos:
    """A key per row packing small codes (each in [0, its cardinality) once ``offset`` is added), and the rows
    grouped by distinct key."""

    def __init__(self, n: int) -> None:
        self.key = np.zeros(n, dtype=np.int64)
        self.span = 1
        self.offset = 0  # what the key lacks: the offsets of the values, added once at the end

    def add(self, values: npt.NDArray[Any], cardinality: int, offset: int = 0) -> None:
        cardinality = max(int(cardinality), 1)
        if self.span * cardinality >= 1 << 62:
            self.key, self.span = _factorize(self._packed(), self.span)
            self.offset = 0
        if self.span > 1:
            self.key *= cardinality
        self.key += values
        self.offset = self.offset * cardinality + offset
        self.span *= cardinality

    def _packed(self) -> I64:
        if self.offset:
            self.key += self.offset
            self.offset = 0
        return self.key

    def groups(self) -> tuple[I64, I64]:
        """Each row's combination (0, 1, …) and one row of each (any: they all read the same)."""
        inverse, count = _factorize(self._packed(), self.span)
        representative = np.zeros(count if inverse.size else 0, dtype=np.int64)
        representative[inverse] = np.arange(inverse.size)
        return inverse, representative


def _packed_bits(flags: Sequence[Bools]) -> list[tuple[npt.NDArray[np.uint32], int]]:
    """Boolean columns as codes per row, 31 columns a code (bit j: the code's column j), each with its
    cardinality. Shifted into one preallocated buffer: no temporary per column."""
    n = len(flags[0])
    words = []
    shifted = np.empty(n, dtype=np.uint32)
    for start in range(0, len(flags), 31):
        word = np.zeros(n, dtype=np.uint32)
        part = flags[start : start + 31]
        for j, flag in enumerate(part):
            np.left_shift(flag, j, out=shifted, dtype=np.uint32)
            word |= shifted
        words.append((word, 1 << len(part)))
    return words


def _at(value: Any, rows: I64) -> Any:
    """A parameter's value (``_PerRow``: an int, or one per row) on ``rows``."""
    return value if isinstance(value, int) else value[rows]


def _age_bands(age: I64, thresholds: I64) -> tuple[I64, int]:
    """Each age's band: how many of ``thresholds`` (sorted) are at most that age. Two ages of one band compare
    alike with every threshold (``age < t``). A table look-up on the clipped age."""
    lo, hi = int(thresholds[0]) - 1, int(thresholds[-1])
    bands = np.searchsorted(thresholds, np.arange(lo, hi + 1), side="right")
    return np.take(bands, np.clip(age, lo, hi) - lo), int(thresholds.size) + 1


def _teleexpertise_count(
    rows: I64,
    n: int,
    refused_already: Bools,
    patient: I64,
    date: I64,
    professional: I64,
    code: I64,
    quantity: I64,
    opening: I64,
    limit: Any,
) -> tuple[Bools, I64, Bools]:
    """The yearly limit of téléexpertises per (patient, year, professional, act), as the scalar engine takes it
    claim after claim: a row is refused when what is counted with it would pass the limit, and a refused row counts
    nothing. Returns, by row, refused, what it counts, and the rows the one pass cannot decide (a row after a
    refusal that would still fit: only quantities above 1 make one), for the scalar engine.

    ``rows``: the téléexpertise rows the twin answers, in the caps' order (of ``n`` rows); ``refused_already``:
    refused before the count (age), they count nothing; ``opening``: the count before the batch, read on each
    group's first row."""
    refused = np.zeros(n, dtype=bool)
    counted = np.zeros(n, dtype=np.int64)
    unsure = np.zeros(n, dtype=bool)
    if rows.size == 0:
        return refused, counted, unsure
    # (patient, year) in the caps' order (by patient, then date), then professional and act, ties in that order.
    year = year_of_days(date[rows])
    by_group = np.lexsort((np.arange(rows.size), code[rows], professional[rows], year, patient[rows]))
    rows, year = rows[by_group], year[by_group]
    starts = _group_starts(patient[rows], year, professional[rows], code[rows])
    group = np.cumsum(starts) - 1
    q = quantity[rows]
    already = refused_already[rows]
    cap = limit if isinstance(limit, int) else limit[rows]
    before = opening[rows][starts][group] + _exclusive_cumsum(np.where(already, 0, q), starts)
    over = ~already & (before + q > cap)
    # After a group's first refusal the one pass refuses every row; the scalar engine would take one that fits.
    first_over = np.flatnonzero(over & (_exclusive_cumsum(over.astype(np.int64), starts) == 0))
    room = np.full(int(group[-1]) + 1, -1, dtype=np.int64)
    room[group[first_over]] = (cap if isinstance(cap, int) else cap[first_over]) - before[first_over]
    after_first = over & ~np.isin(np.arange(rows.size), first_over)
    doubt = after_first & (q <= room[group])
    if not isinstance(cap, int):
        doubt |= cap != cap[starts][group]  # a limit changing within the year: the scalar engine
    refused[rows] = over
    counted[rows] = np.where(over | already, 0, q)
    unsure[rows] = doubt
    return refused, counted, unsure


def _patient_opening(order: I64, patient: I64, days: I64, none: Bools, rows: I64) -> tuple[I64, Bools]:
    """A state column read as its patient's fact, on ``rows``: the value of the patient's first row giving one, in
    the caps' order (the same for every row of the patient, whatever the other rows say; adjudicate_rows reads it
    so). ``order`` sorts by patient first (``_claim_order``): the patients' first values come out sorted by patient."""
    giving = order[~none[order]]
    if giving.size == 0:
        return np.zeros(rows.size, dtype=np.int64), np.ones(rows.size, dtype=bool)
    owners = patient[giving]
    first = np.ones(giving.size, dtype=bool)
    first[1:] = owners[1:] != owners[:-1]
    ids, values = owners[first], days[giving[first]]
    wanted = patient[rows]
    at = np.minimum(np.searchsorted(ids, wanted), ids.size - 1)
    found = ids[at] == wanted
    return np.where(found, values[at], 0), ~found


def _hearing_opening(order: I64, patient: I64, rows: I64, *ears: tuple[I64, Bools]) -> tuple[tuple[I64, Bools], ...]:
    """The last aid of each ear as its patient's fact, on ``rows``: both ears from the patient's first row giving one
    of them."""
    none = np.logical_and.reduce([no for _, no in ears])
    row = np.arange(patient.size, dtype=np.int64)
    source, no_source = _patient_opening(order, patient, row, none, rows)
    return tuple((np.where(no_source, 0, days[source]), no_source | no[source]) for days, no in ears)


def _add_months_day(day: int, months: int) -> int:
    """``add_months_days`` of one day number, in Python (the renewal loops call it claim by claim)."""
    offset = min(max(day - _CAL_LO, 0), _CAL_HI - _CAL_LO - 1)
    target = min(max(int(_CAL_MONTH_INDEX[offset]) + months, 0), len(_CAL_MONTH_START) - 1)
    return min(int(_CAL_DAY[offset]), int(_CAL_MONTH_LENGTH[target])) + int(_CAL_MONTH_START[target]) - 1


def _optics_renewal(
    patient: I64,
    date: I64,
    claim: I64,
    months: I64,
    opening: I64,
    no_opening: Bools,
) -> tuple[Bools, Bools]:
    """Early renewals of optical equipment, as the scalar engine takes them: a claim's devices are refused before
    ``months`` after the last equipment paid (the opening, then the claims paid here), all of a claim alike (the
    state before it). In Python over the candidate rows (the twin's optics rows, rare; the arrays are theirs, in the
    caps' order). Returns, by candidate, refused and bought."""
    early = np.zeros(patient.size, dtype=bool)
    owner, last, claim_key, refused = -1, -1, (-1, -1), False
    columns = (patient, date, claim, months, opening, no_opening)
    rows = zip(*(column.tolist() for column in columns), strict=True)
    for i, (p, day, k, wait, given, no_given) in enumerate(rows):
        if p != owner:
            owner, last, claim_key = p, -1 if no_given else given, (-1, -1)
        if (day, k) != claim_key:
            if claim_key[0] >= 0 and not refused:
                last = claim_key[0]  # the previous claim's devices were paid
            claim_key = (day, k)
            refused = last >= 0 and day < _add_months_day(last, wait)
        early[i] = refused
    return early, ~early


def _hearing_renewal(
    patient: I64,
    date: I64,
    claim: I64,
    ears: I64,
    years: I64,
    left: tuple[I64, Bools],
    right: tuple[I64, Bools],
) -> tuple[Bools, I64]:
    """Early renewals of hearing aids, as the scalar engine takes them: a row is refused when one of its ``ears``
    (bits of ``_EARS``) had an aid paid less than ``years`` before (the opening ``left`` / ``right``, as (day, none),
    then the claims paid here), every row of a claim against the state before it; the ears of the rows paid take
    the claim's date after it. In Python over the candidate rows (rare; the arrays are theirs, in the caps' order).
    Returns, by candidate, refused and the ears bought."""
    early = np.zeros(patient.size, dtype=bool)
    bought = np.zeros(patient.size, dtype=np.int64)
    owner, claim_key, pending = -1, (-1, -1), 0
    last = [-1, -1]
    openings = [(days.tolist(), none.tolist()) for days, none in (left, right)]
    rows = zip(*(column.tolist() for column in (patient, date, claim, ears, years)), strict=True)
    for i, (p, day, k, bits, wait) in enumerate(rows):
        if p != owner:
            owner, claim_key, pending = p, (-1, -1), 0
            last = [-1 if none[i] else days[i] for days, none in openings]
        if (day, k) != claim_key:
            for e in range(len(_EARS)):
                if pending >> e & 1:
                    last[e] = claim_key[0]  # the previous claim's aids were paid
            claim_key, pending = (day, k), 0
        refused = False
        for e in range(len(_EARS)):
            if bits >> e & 1 and last[e] >= 0:
                refused |= day < _add_months_day(last[e], 12 * wait)
        early[i] = refused
        if not refused:
            bought[i] = bits
            pending |= bits
    return early, bought


@dataclass(frozen=True, slots=True)
class ColumnarResult:
    """Outputs of the twin for every row, and which rows it answered (the others go to the scalar engine)."""

    answered: Bools
    pathway_rule: I64  # index into ALL_RULES
    status_rejected: Bools
    reason: I64  # index into _REASONS, -1 none
    fee: I64
    base: I64
    rate: I64
    gross: I64
    majoration: I64
    participation: I64
    franchise: I64
    amo: I64  # with the daily charge's (a hospital stay's forfait journalier, on the stay's line)
    # What each row adds to the same-day counters of the scalar engine (state carried between batches):
    # participations taken (units) and paramedical / transport franchises counted against the daily caps (cents).
    participation_units: I64 | None = None
    ok: Bools | None = None  # the rows the twin could answer, before whole patients are routed
    paramedical_counted: I64 | None = None
    transport_counted: I64 | None = None
    daily_charge: I64 | None = None  # billed amount of a stay's daily charge line (forfait journalier), 0 otherwise
    teleexpertise_counted: I64 | None = None  # téléexpertises a row adds to its yearly count (act, professional)
    optics_bought: Bools | None = None  # an optical device paid: the patient's last equipment is of that date
    hearing_bought: I64 | None = None  # the ears (bits of _EARS) of a hearing aid paid: their last aid is of that date
    # When the rows came in the caps' order: the rows by (patient, date, professional, row) and the first row of
    # each (patient, date, professional), as the per-professional caps took them.
    by_professional: I64 | None = None
    professional_start: Bools | None = None
    year_start: Bools | None = None  # and the first row of each (patient, year), of each (patient, date)
    day_start: Bools | None = None


class ColumnarEngine:
    """The twin of ``Engine`` for one-act events in columns."""

    def __init__(self, parameters: ParameterSet | None = None, catalogue: Catalogue | None = None) -> None:
        self.parameters = parameters or default_parameters()
        self.catalogue = catalogue or default_catalogue()
        self.arrays = _CatalogueArrays.build(self.catalogue)

    def run(self, table: pa.Table, *, up_to_first_routed: bool = False) -> ColumnarResult:
        """The twin over ``table``. Rows it cannot answer route their whole patient; with ``up_to_first_routed``,
        only from the patient's first claim it cannot answer on (the claims before it are answered: the caps are
        taken in order, so what comes later does not change them; the caller carries the state on from there).

        What does not depend on the amounts, the days or the order (which rows are covered, the pathway, the act's
        refusals, the rate, the exemptions, the unit bases…) is computed once per distinct combination of the
        columns it reads (``_stateless``, a few thousand for a million rows), then gathered by row; the amounts and
        the caps are computed by row."""
        a = self.arrays
        c = _Columns(table, a.codes)
        n = c.n
        claim, claim_null = c.ints("claim_id", 0)
        patient_id, patient_null = c.ints("patient_id", 0)
        professional_id, professional_null = c.ints("professional_id", -1)
        date, date_null = c.days("date")
        birth, birth_null = c.days("birth_date")
        quantity, quantity_null = c.ints("quantity", 1)
        fee_in, fee_null = c.ints("fee", 0)
        coefficient, coefficient_null = c.floats("coefficient")
        pregnancy_start, no_pregnancy = c.days("pregnancy_start")
        delivery, no_delivery = c.days("delivery_date")
        installed, not_installed = c.days("installed_on")
        last_visit, no_last_visit = c.days("last_in_person_visit")
        stay_days, days_null = c.ints("days", 1)
        # Defaults of the event model: regime general, sector 1, quantity 1.
        if quantity_null.any():
            quantity = np.where(quantity_null, 1, quantity)
        k = _Combos(n)  # the key of each row's combination of the columns _stateless reads
        coded: dict[str, I64] = {}
        for name, vocabulary in (
            ("act_code", a.codes),
            ("profession", VOCABULARIES["profession"]),
            ("specialty", VOCABULARIES["specialty"]),
            ("regime", VOCABULARIES["regime"]),
            ("institution", VOCABULARIES["institution"]),
            ("visit_reason", VOCABULARIES["visit_reason"]),
            ("excluded_context", VOCABULARIES["excluded_context"]),
            ("sector", VOCABULARIES["sector"]),
            ("device_class", _DEVICE_CLASSES),
            ("correction", _CORRECTIONS),
            ("basket", _BASKETS),
            ("ear", _EARS),
        ):
            coded[name] = c.coded(name, vocabulary)
            k.add(coded[name], len(vocabulary) - UNKNOWN_CODE, -UNKNOWN_CODE)
        flags = {name: c.flag(name) for name in _STATELESS_FLAGS}
        flags["seen_by_gp"] = flags["seen_by_gp"] & flags["has_gp"]

        # Parameters: the snapshots of the batch's dates, one per span between two changes of value (all dates of
        # a span read the same values), gathered by row.
        dates, date_index = _dense_unique(np.where(date_null, 0, date) if date_null.any() else date)
        changes = np.array([d.toordinal() - _EPOCH_ORDINAL for d in self.parameters.change_dates()], dtype=np.int64)
        span = np.searchsorted(changes, dates, side="right")
        _, first_of_span, span_of_date = np.unique(span, return_index=True, return_inverse=True)
        tables = _Tables.build(self.parameters, self.catalogue, dates[first_of_span], a.codes)
        date_index = np.take(span_of_date, date_index)
        k.add(date_index, len(first_of_span))
        s = _PerRow(tables.scalars, date_index)

        # The facts of a row's dates: its age band (the ages every age threshold of the rules puts alike), the
        # maternity period, a recently installed GP, a known patient (teleconsultation).
        age = age_on_days(birth, date)
        k.add(*_age_bands(age, self._age_thresholds(tables)))
        # Each on the rows with the date it reads (few, most of the time).
        maternity = np.zeros(n, dtype=bool)
        at = np.flatnonzero(~no_pregnancy)
        if at.size:
            start_full = add_months_days(pregnancy_start[at], _at(s["maternity.from_pregnancy_month"], at) - 1)
            maternity[at] = (date[at] >= start_full) & (
                no_delivery[at] | (date[at] <= delivery[at] + _at(s["maternity.days_after_delivery"], at))
            )
        recently_installed = np.zeros(n, dtype=bool)
        at = np.flatnonzero(~not_installed)
        if at.size:
            recent_limit = add_months_days(installed[at], _at(s["pathway.recently_installed_gp_years"], at) * 12)
            recently_installed[at] = date[at] < recent_limit
        known_patient = np.zeros(n, dtype=bool)
        at = np.flatnonzero(~no_last_visit)
        if at.size:
            known_limit = add_months_days(last_visit[at], _at(s["pathway.teleconsultation.known_patient_months"], at))
            known_patient[at] = date[at] <= known_limit
        bits = [*flags.values(), fee_null, maternity, recently_installed, known_patient]
        for word, cardinality in _packed_bits(bits):
            k.add(word, cardinality)

        inverse, rep = k.groups()
        one = self._stateless(
            tables,
            {name: values[rep] for name, values in coded.items()},
            {name: values[rep] for name, values in flags.items()},
            fee_null[rep],
            date_index[rep],
            age[rep],
            maternity[rep],
            recently_installed[rep],
            known_patient[rep],
        )
        # Columns no longer read are dropped as the run goes: the heap gives their memory to the next arrays
        # (a page touched for the first time costs a fault, about as much as the arithmetic on it; docs/batch.md).
        del k, rep, bits, flags, age, recently_installed, known_patient
        coded = {name: coded[name] for name in ("act_code", "device_class", "ear")}

        def g(name: str, rows: I64 | None = None) -> Any:
            """A _stateless output by row (of ``rows``: those only)."""
            return np.take(one[name], inverse if rows is None else inverse[rows])

        code = coded["act_code"]
        letter, stay, te, optics = g("letter"), g("stay"), g("teleexpertise"), g("optics")

        # Which rows the twin can answer: valid input of a supported shape, on dates the rules cover.
        ok = g("ok")
        for nulls in (date_null, birth_null, claim_null, patient_null):
            if nulls.any():
                ok &= ~nulls
        ok &= (quantity >= 1) & (quantity <= _ROW_AFTER_LIMIT)
        ok &= fee_null | ((fee_in >= 0) & (fee_in < _MAX_CENTS))
        ok &= birth <= date
        ok &= in_calendar(date) & in_calendar(birth)
        for day_column, missing in (
            (pregnancy_start, no_pregnancy),
            (delivery, no_delivery),
            (installed, not_installed),
            (last_visit, no_last_visit),
        ):
            if not missing.all():
                ok &= missing | in_calendar(day_column)
        # Facts whose rules the twin does not reproduce (tiers payant recovery, AT-MP, invalidity, the compulsory
        # child examinations, CCAM association and modifiers): the scalar engine.
        for flag in ("tiers_payant", "work_injury", "invalidity_pension"):
            ok &= ~c.flag(flag)
        for name in ("compulsory_child_exam", "modifiers", "association"):
            column = c.column(name)
            if column is not None and column.null_count < n:
                ok &= column.is_null().to_numpy(zero_copy_only=False)
        if not no_last_visit.all():
            ok &= no_last_visit | (last_visit <= date)
        if not not_installed.all():
            ok &= not_installed | (installed <= date)  # the scalar engine names the incoherence
        if not no_pregnancy.all():
            ok &= no_pregnancy | (pregnancy_start <= date)
            ok &= no_pregnancy | no_delivery | (delivery >= pregnancy_start)
        ok &= no_delivery | ~no_pregnancy  # a delivery without a pregnancy is not an event the model accepts
        by_letter = np.flatnonzero(letter)  # a key letter's coefficient, in hundredths
        hundredths = np.rint(coefficient[by_letter] * 100).astype(np.int64)
        ok[by_letter] &= (
            ~coefficient_null[by_letter]
            & (hundredths > 0)
            & (hundredths <= 100_000)
            & (hundredths == coefficient[by_letter] * 100)
        )
        # A hospital stay says how many days (the event model's bounds).
        if not days_null.all():
            ok &= days_null | ((stay_days >= 1) & (stay_days <= _MAX_STAY_DAYS))
        ok &= ~stay | ~days_null
        del pregnancy_start, delivery, installed, last_visit, coefficient, day_column
        # The devices (optics, crowns, hearing aids) are rare: their checks and amounts on their rows only.
        # Optics: one frame or two lenses a line; class A within its price limit.
        optics_at = np.flatnonzero(optics)
        if optics_at.size:
            frame = code[optics_at] == (a.codes.index("FRAME") if "FRAME" in a.codes else -1)
            class_b = coded["device_class"][optics_at] == 1
            device_limit = g("device_limit", optics_at)
            q_at, fee_at, no_fee_at = quantity[optics_at], fee_in[optics_at], fee_null[optics_at]
            ok[optics_at] &= np.where(frame, q_at == 1, q_at <= 2)
            ok[optics_at] &= class_b | no_fee_at | (fee_at <= device_limit * q_at)
        # A crown (engine._prosthesis): billed at most (by default at) its basket's fee limit, a free one at its fee.
        prosthesis_at = np.flatnonzero(g("prosthesis"))
        if prosthesis_at.size:
            crown_limit = g("crown_limit", prosthesis_at)
            q_at, fee_at, no_fee_at = quantity[prosthesis_at], fee_in[prosthesis_at], fee_null[prosthesis_at]
            ok[prosthesis_at] &= (crown_limit < 0) | no_fee_at | (fee_at <= crown_limit * q_at)
        # A hearing aid (engine._hearing_aid): one per ear; class I billed at most (by default at) its price limit.
        hearing = g("hearing")
        hearing_at = np.flatnonzero(hearing)
        if hearing_at.size:
            hearing_limit = g("hearing_limit", hearing_at)
            q_at, fee_at, no_fee_at = quantity[hearing_at], fee_in[hearing_at], fee_null[hearing_at]
            ok[hearing_at] &= q_at <= len(_EARS)
            ok[hearing_at] &= (hearing_limit < 0) | no_fee_at | (fee_at <= hearing_limit * q_at)
        te_limit = s["teleexpertise.yearly_limit_per_patient"]
        reason = g("reason")
        rule_index = g("rule")

        # The order the caps and the counts are taken in: (patient, date, claim id).
        order = _claim_order(patient_id, date, claim)
        in_order = _is_identity(order)

        def sort(values: Any) -> Any:
            """``values[order]`` (a value per row in the caps' order), a view when the rows are in that order."""
            return values if in_order or isinstance(values, int) else values[order]

        def unsort(values: I64) -> I64:
            """The inverse of ``sort``."""
            if in_order:
                return values
            out = np.empty(n, dtype=values.dtype)
            out[order] = values
            return out

        sp = sort(patient_id)
        sd = sort(date)

        # Téléexpertise: billed alone (a claim with another act is the scalar engine's error), within a yearly
        # number per act, patient and professional (engine._refusal); the professional as the RPPS the scalar
        # event gets (professional_rpps: the last 10 digits, a missing one as ROW_OTHER_RPPS).
        positions: list[I64] = []

        def in_caps_order(at: I64) -> I64:
            """The rows ``at`` (increasing) in the caps' order."""
            if in_order or at.size == 0:
                return at
            if not positions:
                positions.append(np.empty(n, dtype=np.int64))
                positions[0][order] = np.arange(n)
            result: I64 = at[np.argsort(positions[0][at])]
            return result

        te_at = np.flatnonzero(te)  # rare: on their rows only
        if te_at.size:
            at = in_caps_order(te_at)
            place = at if in_order else positions[0][at]  # their places in the caps' order
            sc = sort(claim)

            def same_claim(other: I64) -> Bools:
                other = np.clip(other, 0, n - 1)
                same: Bools = (other != place) & (sp[other] == sp[place]) & (sd[other] == sd[place])
                same &= sc[other] == sc[place]
                return same

            ok[at] &= ~same_claim(place - 1) & ~same_claim(place + 1)
            te_professional = np.zeros(n, dtype=np.int64)
            te_professional[te_at] = np.where(
                professional_null[te_at], _NULL_RPPS_NUMBER, professional_id[te_at] % 10**_RPPS_DIGITS
            )
            over, te_counted, unsure = _teleexpertise_count(
                at[ok[at]],
                n,
                reason >= 0,
                patient_id,
                date,
                te_professional,
                code,
                quantity,
                c.ints("teleexpertise_done_ytd", 0)[0],
                te_limit,
            )
            reason[over] = _REASONS.index("teleexpertise_yearly_limit")
            ok &= ~unsure
        else:
            te_counted = np.zeros(n, dtype=np.int64)

        # Optics: refused before the renewal period since the last equipment (engine._refusal), claim after claim.
        def candidates(at: I64) -> I64:
            """The rows of ``at`` (increasing) the twin answers and has not refused yet, in the caps' order."""
            return in_caps_order(at[ok[at] & (reason[at] < 0)])

        def given_days(name: str) -> tuple[I64, Bools] | None:
            """A day column of the state before the batch, None when it gives none (the usual case)."""
            column = c.column(name)
            return None if column is None or column.null_count == n else c.days(name)

        optics_bought = np.zeros(n, dtype=bool)
        at = candidates(optics_at)
        if at.size:
            months = g("renewal_months", at)
            last_optical = given_days("last_optical_equipment")
            opening_at = (
                (np.zeros(at.size, dtype=np.int64), np.ones(at.size, dtype=bool))
                if last_optical is None
                else _patient_opening(order, patient_id, *last_optical, at)
            )
            early, optics_bought[at] = _optics_renewal(patient_id[at], date[at], claim[at], months, *opening_at)
            reason[at[early]] = _REASONS.index("early_renewal")
        # Hearing aids: refused before the renewal period since the last aid of one of its ears (engine._refusal).
        hearing_bought = np.zeros(n, dtype=np.int64)
        at = candidates(hearing_at)
        if at.size:
            ear = coded["ear"][at]
            ears = np.where(
                ear >= 0, 1 << np.maximum(ear, 0), np.where(quantity[at] == 2, 3, 1 << _EARS.index("right"))
            )
            years = np.broadcast_to(np.asarray(_at(s[f"{_AUDIOLOGY}.renewal_years"], at), dtype=np.int64), at.shape)
            last_aids = [given_days(f"last_hearing_aid_{e}") for e in _EARS]
            if all(x is None for x in last_aids):
                no_aid = (np.zeros(at.size, dtype=np.int64), np.ones(at.size, dtype=bool))
                openings: tuple[tuple[I64, Bools], ...] = (no_aid, no_aid)
            else:
                none = (np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool))
                openings = _hearing_opening(order, patient_id, at, *(none if x is None else x for x in last_aids))
            early, hearing_bought[at] = _hearing_renewal(patient_id[at], date[at], claim[at], ears, years, *openings)
            reason[at[early]] = _REASONS.index("early_renewal")
        rejected = reason >= 0

        # Base and fee: the unit base with the coordination majoration when not out of the pathway (_stateless);
        # the secteur 2 non-OPTAM base only when the doctor bills a dépassement (fee above the tariff) [R43].
        unit_base = g("unit_base")
        per_unit = unit_base
        maybe_non_optam = g("maybe_non_optam")
        if maybe_non_optam.any():
            use_non_optam = maybe_non_optam & (fee_in > unit_base * quantity)
            per_unit = np.where(use_non_optam, g("non_optam"), unit_base)
        base = per_unit * quantity
        if by_letter.size:
            base[by_letter] = (per_unit[by_letter] * hundredths + 50) // 100 * quantity[by_letter]
        by_fee = g("by_fee")
        base = np.where(by_fee, fee_in, base)
        fee = np.where(fee_null, base, fee_in)
        np.minimum(base, fee, out=base)
        if optics_at.size:
            # A device: its class's base; class A billed at most (by default at) its price limit.
            at = optics_at
            device_fee = np.where(~class_b & fee_null[at], device_limit * quantity[at], fee_in[at])
            fee[at] = device_fee
            base[at] = np.minimum(g("device_unit", at) * quantity[at], device_fee)
        if prosthesis_at.size:
            at = prosthesis_at
            crown_fee = np.where(fee_null[at], crown_limit * quantity[at], fee_in[at])
            fee[at] = crown_fee
            base[at] = np.minimum(unit_base[at] * quantity[at], crown_fee)
        if hearing_at.size:
            at = hearing_at
            aid_fee = np.where(fee_null[at], hearing_limit * quantity[at], fee_in[at])
            fee[at] = aid_fee
            base[at] = np.minimum(unit_base[at] * quantity[at], aid_fee)

        # Rate: the act's own, or 100 % (the act, ALD care, maternity) (_stateless); none for a refusal.
        rate = g("rate")
        if rejected.any():
            rate[rejected] = 0
        gross = apply_rate(base, rate)
        charge_fee = np.zeros(n, dtype=np.int64)
        charge_amo = np.zeros(n, dtype=np.int64)
        if stay.any():
            at = np.flatnonzero(stay)

            def here(path: str) -> Any:
                value = s[path]
                return value if isinstance(value, int) else value[at]

            full = here("rates.full")
            b, r_, d_, no = base[at], rate[at], stay_days[at], rejected[at]
            # A hospital stay (engine._stay_gross): at 100 % the whole base; with a costly act the flat fee in
            # place of the ticket modérateur; else the rate up to the day from which the stay is at 100 %.
            costly_stay = g("costly_stay", at)
            copay_days = np.minimum(d_, here("tariffs.hospital.full_rate_from_day") - 1)
            copay_base = b * copay_days // np.maximum(d_, 1)
            stay_gross = np.where(
                r_ == full,
                b,
                np.where(
                    costly_stay,
                    np.maximum(0, b - here("tariffs.hospital.costly_act_flat_fee")),
                    apply_rate(copay_base, r_) + (b - copay_base),
                ),
            )
            g_ = np.where(no, gross[at], stay_gross)
            gross[at] = g_
            # Its daily charge line (engine._daily_charge_line): borne by the patient, imputed on the stay's
            # ticket modérateur, or covered (maternity, newborn); billed in full when the stay is refused.
            charge = g("daily_charge", at) * d_
            newborn = (date[at] - birth[at]) < here("tariffs.hospital.newborn_exempt_days")
            covered = ~no & (maternity[at] | newborn)
            copayment = b - g_
            imputed = (
                ~no
                & ~covered
                & (here("tariffs.hospital.daily_charge_imputed_on_copayment") > 0)
                & ~costly_stay
                & (r_ < full)
                & (copayment > 0)
            )
            charge_fee[at] = np.where(imputed, np.maximum(0, charge - copayment), charge)
            charge_amo[at] = np.where(covered, charge, 0)

        majoration = np.zeros(n, dtype=np.int64)
        at = np.flatnonzero(g("majoration") & ~rejected)
        if at.size:
            reduction, reduction_cap = (
                s[path] if isinstance(s[path], int) else s[path][at]
                for path in ("pathway.out_of_pathway_rate_reduction", "pathway.out_of_pathway_reduction_cap")
            )
            majoration[at] = np.minimum(np.minimum(apply_rate(base[at], reduction), gross[at]), reduction_cap)

        # The costly-act flat fee is the scalar engine's (no shipped tariff of these kinds reaches the threshold today).
        at = np.flatnonzero(g("costly"))
        if at.size:
            threshold = s["tariffs.hospital.costly_act_threshold"]
            threshold = threshold if isinstance(threshold, int) else threshold[at]
            ok[at] &= ~(base[at] >= threshold * quantity[at])

        del fee_in, fee_null, birth, maternity, stay_days, unit_base, per_unit, maybe_non_optam, by_fee, code, coded
        del letter, stay, te, optics, hearing

        # Caps, in the order (patient, date, claim id).

        # A patient with any row the twin cannot answer goes whole to the scalar engine (caps are sequential), or
        # from the first claim with such a row on.
        if ok.all():
            routed = np.zeros(n, dtype=bool)
        elif up_to_first_routed:
            claim_no = np.cumsum(_group_starts(sp, sd, sort(claim))) - 1
            bad_claim = np.zeros(int(claim_no[-1]) + 1 if n else 0, dtype=bool)
            bad_claim[claim_no[~sort(ok)]] = True
            bad_row = bad_claim[claim_no].astype(np.int64)
            routed = unsort((_exclusive_cumsum(bad_row, _group_starts(sp)) + bad_row) > 0)
        else:
            routed = np.isin(patient_id, patient_id[~ok])
        answered = ok & ~routed
        year = year_of_days(sd)
        live = sort(answered & ~rejected)
        pf_live = live & sort(~g("pf_exempt"))
        fr_live = live & sort(~g("fr_exempt"))
        year_start = _group_starts(sp, year)
        day_start = _group_starts(sp, sd)
        # The caps per professional and day (participations, paramedical franchises) are taken in the order
        # (patient, date, professional, claim): a professional seen twice that day around another one stays one
        # group. ``regroup`` takes an array in the caps' order to that order and ``back`` returns it.
        # One stable sort of a (patient-day group, professional) key of the rows already in the caps' order.
        day_group = np.cumsum(day_start) - 1
        sprof = sort(professional_id)
        prof_lo = int(sprof.min()) if n else 0
        prof_span = (int(sprof.max()) - prof_lo + 1) if n else 1
        if n * prof_span < 2**62:
            pro_key = day_group * prof_span + (sprof - prof_lo)
            to_pro = np.argsort(pro_key, kind="stable")  # position in ``order`` of each row, by professional
        else:
            to_pro = np.lexsort((np.arange(n), sprof, day_group))
        pro_identity = _is_identity(to_pro)
        pro_start = _group_starts(day_group, sprof) if pro_identity else _group_starts(day_group[to_pro], sprof[to_pro])

        def per_professional(wanted_s: I64, cap: Any, opening_s: I64 | None) -> I64:
            if pro_identity:
                return _capped(wanted_s, cap, opening_s, pro_start)
            cap_p: Any = cap if isinstance(cap, int) else cap[to_pro]
            taken = _capped(wanted_s[to_pro], cap_p, None if opening_s is None else opening_s[to_pro], pro_start)
            out = np.empty(n, dtype=np.int64)
            out[to_pro] = taken
            return out

        def opening(name: str) -> I64 | None:
            """The opening column in the caps' order, None when all zero (the usual case)."""
            if name not in c.names:
                return None
            values = c.ints(name, 0)[0]
            return sort(values) if values.any() else None

        pf_applies = pf_live & sort(g("bears"))
        q = sort(quantity) * pf_applies
        units = per_professional(
            q, sort(s["participation.daily_count_per_professional"]), opening("same_day_participations")
        )
        units_ref = unsort(units)
        room = sort(gross - majoration)
        nominal = np.minimum(units * sort(s["participation.amount"]), room)
        participation_s = _capped(
            nominal, sort(s["participation.annual_cap"]), opening("participation_paid_ytd"), year_start
        )

        kind = sort(g("franchise_kind"))
        wanted = sort(g("franchise_per_unit") * quantity) * fr_live
        counted_s: dict[int, I64] = {}
        for kind_index, cap_path, opening_name in (
            (1, "franchises.paramedical_daily_cap", "same_day_paramedical_franchises"),
            (2, "franchises.transport_daily_cap", "same_day_transport_franchises"),
        ):
            of_kind = kind == kind_index
            counted_s[kind_index] = np.zeros(n, dtype=np.int64)
            if not of_kind.any():
                continue
            # the paramedical cap is per professional and day, the transport cap per day (engine._Counters)
            cap, before_batch = sort(s[cap_path]), opening(opening_name)
            if before_batch is None:  # nothing taken before the batch: the rows of the kind alone make the sums
                if kind_index == 1:
                    in_pro = np.flatnonzero(of_kind if pro_identity else of_kind[to_pro])
                    rows_k = in_pro if pro_identity else to_pro[in_pro]
                    starts_k = _group_starts(np.cumsum(pro_start, dtype=np.int64)[in_pro])
                else:
                    rows_k = np.flatnonzero(of_kind)
                    starts_k = _group_starts(day_group[rows_k])
                daily_k = _capped(wanted[rows_k], _at(cap, rows_k), None, starts_k)
                wanted[rows_k] = daily_k
                counted_s[kind_index][rows_k] = daily_k
                continue
            of_kind_wanted = wanted * of_kind
            if kind_index == 1:
                daily = per_professional(of_kind_wanted, cap, before_batch)
            else:
                daily = _capped(of_kind_wanted, cap, before_batch, day_start)
            wanted = np.where(of_kind, daily, wanted)
            counted_s[kind_index] = daily * of_kind
        wanted = np.minimum(wanted, room - participation_s)
        franchise_s = _capped(wanted, sort(s["franchises.annual_cap"]), opening("franchises_paid_ytd"), year_start)

        del q, units, nominal, room, kind, wanted, live, pf_live, fr_live, day_group, sprof, year

        # Annual caps must be one figure per calendar year for the one-pass capping; else the scalar engine.
        for path in ("participation.annual_cap", "franchises.annual_cap"):
            cap = sort(s[path])
            if isinstance(cap, int):
                continue
            group = np.cumsum(year_start) - 1
            changed = cap != cap[year_start][group]
            if changed.any():
                bad = np.isin(patient_id, sp[changed])
                answered &= ~bad

        participation = unsort(participation_s)
        franchise = unsort(franchise_s)
        units_out = units_ref * unsort(pf_applies)
        amo = gross - majoration - participation - franchise + charge_amo
        return ColumnarResult(
            answered=answered,
            pathway_rule=rule_index,
            status_rejected=rejected,
            reason=reason,
            fee=fee,
            base=base,
            rate=rate,
            gross=gross,
            majoration=majoration,
            participation=participation,
            franchise=franchise,
            amo=amo,
            participation_units=units_out,
            ok=ok,
            paramedical_counted=unsort(counted_s[1]),
            transport_counted=unsort(counted_s[2]),
            daily_charge=charge_fee,
            teleexpertise_counted=np.where(answered & ~rejected, te_counted, 0),
            optics_bought=answered & optics_bought,
            hearing_bought=np.where(answered, hearing_bought, 0),
            by_professional=to_pro if in_order else None,
            professional_start=pro_start if in_order else None,
            year_start=year_start if in_order else None,
            day_start=day_start if in_order else None,
        )

    def _age_thresholds(self, tables: _Tables) -> I64:
        """Every age the rules compare an age with, as ``age < t`` (``t <= age`` and ``age <= t`` are written so
        too): two ages no threshold separates get the same answers."""
        a = self.arrays
        t = [a.min_age, a.max_age + 1]
        for path in (
            "pathway.minimum_age",
            "pathway.direct_access.psychiatry_min_age",
            "participation.exempt_under_age",
            "franchises.exempt_under_age",
            f"{_OPTICS}.renewal.adult_from_age",
            f"{_OPTICS}.renewal.child_from_age",
            f"{_AUDIOLOGY}.young_until_age",
        ):
            t.append(tables.scalars[path])
        t.append(tables.scalars["pathway.direct_access.psychiatry_max_age"] + 1)
        return np.unique(np.concatenate(t))

    def _stateless(
        self,
        tables: _Tables,
        coded: dict[str, I64],
        flags: dict[str, Bools],
        fee_null: Bools,
        date_index: I64,
        age: I64,
        maternity: Bools,
        recently_installed: Bools,
        known_patient: Bools,
    ) -> dict[str, npt.NDArray[Any]]:
        """What the twin decides from the row's codes, flags, span of dates and date facts alone: one row per
        combination (the arrays are one representative row of each)."""
        a = self.arrays
        n = len(date_index)
        s = _PerRow(tables.scalars, date_index)
        code, profession, specialty = coded["act_code"], coded["profession"], coded["specialty"]
        regime, institution, reason_code = coded["regime"], coded["institution"], coded["visit_reason"]
        context, sector, klass, correction = (
            coded["excluded_context"],
            coded["sector"],
            coded["device_class"],
            coded["correction"],
        )
        tele, has_gp, seen_by_gp, ald_care = (
            flags["teleconsultation"],
            flags["has_gp"],
            flags["seen_by_gp"],
            flags["ald_care"],
        )
        regime = np.where(regime == NULL_CODE, VOCABULARIES["regime"].index(Regime.GENERAL.value), regime)
        sector = np.where(sector == NULL_CODE, 0, sector)
        physician = profession == VOCABULARIES["profession"].index(Profession.PHYSICIAN.value)

        code_ok = code >= 0
        profession_ok = profession >= 0
        safe_code = np.where(code_ok, code, 0)
        safe_profession = np.where(profession_ok, profession, 0)
        ok = code_ok & profession_ok
        ok &= a.supported[safe_code, safe_profession]
        ok &= ~(a.tele_only[safe_code] & ~tele)
        ok &= (specialty != UNKNOWN_CODE) & (regime >= 0) & (institution != UNKNOWN_CODE)
        # Alsace-Moselle's own rates and the out-of-scope regimes' refusal: the scalar engine.
        ok &= np.isin(regime, _TWIN_REGIMES)
        ok &= (reason_code != UNKNOWN_CODE) & (context != UNKNOWN_CODE) & (sector >= 0)
        ok &= physician == (specialty >= 0)
        ok &= ~(ald_care & ~flags["ald"])
        base_kind = a.base_kind[safe_code]
        letter = base_kind == _SUPPORTED_BASES.index("letter")
        by_fee = base_kind == _SUPPORTED_BASES.index("fee")
        ok &= ~by_fee | ~fee_null
        stay = a.stay[safe_code, safe_profession]
        te = a.teleexpertise[safe_code, safe_profession]
        ok &= tables.ok[date_index]
        unit_base = tables.tariff[date_index, safe_code]
        coordination = tables.coordination[date_index, safe_code]
        ok &= (base_kind >= _SUPPORTED_BASES.index("fee")) | ((unit_base >= 0) & (coordination >= 0))
        rate_path = a.rate_path[safe_code, safe_profession]
        act_rate = np.where(rate_path >= 0, tables.rate[date_index, np.maximum(rate_path, 0)], 0)
        ok &= act_rate >= 0
        te_limit = s["teleexpertise.yearly_limit_per_patient"]
        te_participation = s["participation.applies_to_teleexpertise"]
        ok &= ~te | ((te_limit >= 0) & (te_participation >= 0))
        # Optics (engine._optics): a class, and a correction for a lens; one frame or two lenses a line (by row);
        # class B at the billed price, class A (100 % santé) within its price limit.
        optics = a.optics[safe_code, safe_profession]
        ok &= (klass != UNKNOWN_CODE) & (correction != UNKNOWN_CODE)  # the event model names the field
        frame = optics & (code == (a.codes.index("FRAME") if "FRAME" in a.codes else -1))
        lens = optics & ~frame
        class_b = klass == 1
        corr = np.maximum(correction, 0)

        def by_correction(prefix: str) -> I64:
            values = [np.broadcast_to(np.asarray(s[f"{prefix}.{x}"], dtype=np.int64), (n,)) for x in _CORRECTIONS]
            chosen: I64 = np.choose(corr, values)
            return chosen

        device_unit = np.where(
            frame,
            np.where(class_b, s[f"{_OPTICS}.frame_base_class_b"], s[f"{_OPTICS}.frame_base_class_a"]),
            np.where(class_b, s[f"{_OPTICS}.lens_base_class_b"], by_correction(f"{_OPTICS}.lens_base_class_a")),
        )
        device_limit = np.where(
            frame, s[f"{_OPTICS}.frame_price_limit_class_a"], by_correction(f"{_OPTICS}.lens_price_limit_class_a")
        )
        ok &= ~optics | ((klass == 0) | class_b)
        ok &= ~lens | (correction >= 0)
        ok &= ~optics | (device_unit >= 0)
        ok &= ~(optics & class_b & fee_null)
        ok &= ~optics | class_b | (device_limit >= 0)
        renewal = {x: s[f"{_OPTICS}.renewal.{x}"] for x in
                   ("adult_from_age", "child_from_age", "adult_months", "child_months", "infant_months")}  # fmt: skip
        for value in renewal.values():
            ok &= ~optics | (value >= 0)

        # A dental prosthesis (engine._prosthesis): a basket; a free one with its fee, the others within the basket's
        # fee limit (by row); the crown's base per unit (tables.tariff).
        prosthesis = a.prosthesis[safe_code, safe_profession]
        basket = coded["basket"]
        free = basket == _BASKETS.index("free")
        crown_limit = np.select(
            [basket == b for b in range(2)],
            [np.broadcast_to(np.asarray(s[f"tariffs.dental.crown_fee_limit_{b}"], dtype=np.int64), (n,))
             for b in _BASKETS[:2]],
            -1,
        )  # fmt: skip
        ok &= basket != UNKNOWN_CODE  # the event model names the field
        ok &= ~prosthesis | ((basket >= 0) & (unit_base >= 0))
        ok &= ~(prosthesis & free & fee_null)
        ok &= ~prosthesis | free | (crown_limit >= 0)

        # A hearing aid (engine._hearing_aid): class I or II; class II with its fee, class I within the price limit
        # of the patient's age (by row); the base per ear (tables.tariff); the renewal period read for every one.
        hearing = a.hearing[safe_code, safe_profession]
        class_ii = klass == _DEVICE_CLASSES.index("II")
        young_until = s[f"{_AUDIOLOGY}.young_until_age"]
        young = age < young_until
        hearing_limit = np.where(
            young, s[f"{_AUDIOLOGY}.price_limit_class_1_young"], s[f"{_AUDIOLOGY}.price_limit_class_1"]
        )
        ok &= coded["ear"] != UNKNOWN_CODE  # the event model names the field
        ok &= ~hearing | (((klass == _DEVICE_CLASSES.index("I")) | class_ii) & (unit_base >= 0))
        ok &= ~(hearing & class_ii & fee_null)
        ok &= ~hearing | class_ii | ((young_until >= 0) & (hearing_limit >= 0))
        ok &= ~hearing | (s[f"{_AUDIOLOGY}.renewal_years"] >= 0)

        def member(name: str, codes: I64) -> Bools:
            return (codes >= 0) & tables.member[name][date_index, np.maximum(codes, 0)]

        # Pathway facts, the twin of pathway.event_facts.
        f = np.zeros(n, dtype=np.int64)

        def put(fact: Fact, where: Bools) -> None:
            nonlocal f
            f |= np.where(where, int(fact), 0)

        gyn = VOCABULARIES["specialty"].index(Specialty.GYNECOLOGY.value)
        oph = VOCABULARIES["specialty"].index(Specialty.OPHTHALMOLOGY.value)
        psy = [VOCABULARIES["specialty"].index(x.value) for x in (Specialty.PSYCHIATRY, Specialty.NEUROPSYCHIATRY)]
        gp_specialty = VOCABULARIES["specialty"].index(Specialty.GENERAL_PRACTICE.value)
        replacing, referred_gp, referred_other = (
            flags["replacing_gp"],
            flags["referred_by_gp"],
            flags["referred_by_other_doctor"],
        )
        put(Fact.PHYSICIAN, physician)
        put(Fact.EXCLUDED_REGIME, member("excluded_regime", regime))
        put(Fact.UNDER_MINIMUM_AGE, age < s["pathway.minimum_age"])
        put(Fact.EXCLUDED_SPECIALTY, member("excluded_specialty", specialty))
        put(Fact.EXCLUDED_CONTEXT, member("excluded_context", context))
        put(Fact.EMERGENCY, flags["emergency"])
        put(Fact.TELECONSULTATION, tele)
        put(Fact.HAS_GP, has_gp)
        put(Fact.IS_GP, seen_by_gp)
        put(Fact.GP_UNAVAILABLE, flags["gp_unavailable"])
        put(Fact.DECLARES_GP, flags["declares_gp"])
        put(Fact.REPLACING_GP, replacing)
        put(Fact.REFERRED_BY_GP, referred_gp)
        put(Fact.AWAY_FROM_HOME, flags["away_from_home"])
        put(Fact.REFERRED_BY_OTHER, referred_other)
        put(Fact.CLAIMS_REFERRAL, replacing | referred_gp | referred_other)
        no_reason = reason_code == NULL_CODE
        put(
            Fact.GYNECOLOGY_DIRECT | Fact.DIRECT_ACCESS,
            (specialty == gyn) & (no_reason | member("gynecology_reason", reason_code)),
        )
        put(
            Fact.OPHTHALMOLOGY_DIRECT | Fact.DIRECT_ACCESS,
            (specialty == oph) & (no_reason | member("ophthalmology_reason", reason_code)),
        )
        put(
            Fact.PSYCHIATRY_DIRECT | Fact.DIRECT_ACCESS,
            np.isin(specialty, psy)
            & (s["pathway.direct_access.psychiatry_min_age"] <= age)
            & (age <= s["pathway.direct_access.psychiatry_max_age"]),
        )
        put(Fact.STOMATOLOGY_DIRECT | Fact.DIRECT_ACCESS, member("stomatology", specialty))
        general = specialty == gp_specialty
        put(Fact.RECENTLY_INSTALLED_GP, general & recently_installed)
        put(Fact.UNDERSERVED_GP, general & flags["underserved_area"])
        put(Fact.ALD_CARE, ald_care)
        put(Fact.TELE_DIRECT_SPECIALTY, tele & member("tele_direct", specialty))
        put(Fact.TELE_EXEMPT_INSTITUTION, tele & member("tele_institution", institution))
        put(Fact.KNOWN_PATIENT, tele & known_patient)
        put(Fact.TELEEXPERTISE_ONLY, te)  # one act a row: a téléexpertise row is a téléexpertise-only event
        rule_index = rule_index_columns(f)
        out_of_pathway = np.array([r.in_pathway is False for r in ALL_RULES])[rule_index]

        # Teleconsultation refusal (pathway.teleconsultation_refusal) and the act's age conditions.
        with_gp = tele & has_gp
        not_oriented = with_gp & ((f & int(TELE_ORIENTATION_OK)) == 0)
        unknown = with_gp & ~not_oriented & ((f & int(TELE_KNOWN_OK)) == 0)
        age_refused = (age < a.min_age[safe_code]) | (age > a.max_age[safe_code])
        consultation = a.consultation[safe_code, safe_profession]
        reason = np.full(n, -1, dtype=np.int64)
        reason[consultation & unknown] = _REASONS.index("teleconsultation_unknown_patient")
        reason[consultation & not_oriented] = _REASONS.index("teleconsultation_not_oriented")
        reason[age_refused] = _REASONS.index("age_condition")
        months = np.where(
            age >= renewal["adult_from_age"],
            renewal["adult_months"],
            np.where(age >= renewal["child_from_age"], renewal["child_months"], renewal["infant_months"]),
        )

        # Exemptions.
        c2s = flags["c2s"]
        pf_exempt = (
            (age < s["participation.exempt_under_age"])
            | maternity
            | c2s
            | member("participation_exempt_regime", regime)
        )
        fr_exempt = (
            (age < s["franchises.exempt_under_age"]) | maternity | c2s | member("franchise_exempt_regime", regime)
        )
        # The coordination majoration only when not out of the pathway; the secteur 2 non-OPTAM base is a
        # candidate (the fee decides, by row).
        unit_base = unit_base + np.where(out_of_pathway, 0, coordination)
        non_optam = tables.non_optam[date_index, safe_code]
        maybe_non_optam = physician & (sector == 1) & ~flags["optam"] & (non_optam >= 0) & (base_kind == 0) & ~fee_null
        full = s["rates.full"]
        rate = np.where(
            (rate_path >= 0) & (a.full_rate[safe_code, safe_profession] | ald_care | maternity),
            full,
            act_rate,
        )
        daily = np.where(
            flags["psychiatry"], s["tariffs.hospital.daily_charge_psychiatry"], s["tariffs.hospital.daily_charge"]
        )
        kind = a.franchise[safe_code, safe_profession]
        kind = np.where((kind == _FRANCHISE_KINDS.index("transport")) & flags["emergency"], -1, kind)
        per_unit_fr = np.select(
            [kind == 0, kind == 1, kind == 2],
            [
                np.broadcast_to(np.asarray(s[f"franchises.{path}"], dtype=np.int64), (n,))
                for path in ("medicine_per_box", "paramedical_per_act", "transport_per_trip")
            ],
            0,
        )
        return {
            "ok": ok,
            "letter": letter,
            "by_fee": by_fee,
            "stay": stay,
            "teleexpertise": te,
            "optics": optics,
            "prosthesis": prosthesis,
            "crown_limit": np.where(prosthesis & ~free, crown_limit, -1),
            "hearing": hearing,
            "hearing_limit": np.where(hearing & ~class_ii, hearing_limit, -1),
            "device_unit": device_unit,
            "device_limit": device_limit,
            "renewal_months": months,
            "rule": rule_index,
            "reason": reason,
            "pf_exempt": pf_exempt,
            "fr_exempt": fr_exempt,
            "unit_base": unit_base,
            "non_optam": non_optam,
            "maybe_non_optam": maybe_non_optam,
            "rate": rate,
            "costly_stay": stay & flags["costly_act"],
            "daily_charge": daily,
            "majoration": a.majoration[safe_code, safe_profession] & out_of_pathway,
            "costly": a.costly[safe_code, safe_profession] & ~stay,
            "bears": a.participation[safe_code, safe_profession] | (te & (te_participation == 1)),
            "franchise_kind": kind,
            "franchise_per_unit": per_unit_fr,
        }

    # -- the whole batch: twin where it can, scalar engine for the rest ----------------------------------------

    def adjudicate(self, table: pa.Table, engine: Engine | None = None) -> pa.Table:
        """Every row answered: the twin's rows, and the routed patients through the scalar engine in order."""
        result = self.run(table)
        out = result_table(table.column("claim_id"), result)
        routed = np.flatnonzero(~result.answered)
        if routed.size == 0:
            return out
        rows = table.take(pa.array(routed)).to_pylist()
        scalar = adjudicate_rows(rows, engine)
        replacement = pa.Table.from_pylist(scalar, schema=OUTPUT_SCHEMA)
        # Put the scalar answers in place of the twin's placeholders.
        answered_idx = np.flatnonzero(result.answered)
        merged = pa.concat_tables([out.take(pa.array(answered_idx)), replacement])
        origin = np.concatenate([answered_idx, routed])
        return merged.take(pa.array(np.argsort(origin, kind="stable")))


def result_table(claim_id: pa.ChunkedArray | pa.Array, r: ColumnarResult) -> pa.Table:
    indicators = pa.array([rule.indicator for rule in ALL_RULES], pa.string())
    in_pathway = pa.array([rule.in_pathway for rule in ALL_RULES], pa.bool_())
    rule_ids = pa.array([rule.id for rule in ALL_RULES], pa.string())
    reasons = pa.array(list(_REASONS), pa.string())
    rule_index = pa.array(r.pathway_rule)
    reason_index = pa.array(r.reason, mask=r.reason < 0)
    n = len(r.amo)
    columns: dict[str, Any] = {
        "claim_id": claim_id,
        "pathway": indicators.take(rule_index),
        "in_pathway": in_pathway.take(rule_index),
        "pathway_rule": rule_ids.take(rule_index),
        "status": pa.array(np.where(r.status_rejected, "rejected", "paid")),
        "reason": reasons.take(reason_index),
        "fee": r.fee,
        "base": r.base,
        "rate": r.rate,
        "gross": r.gross,
        "majoration": r.majoration,
        "participation": r.participation,
        "franchise": r.franchise,
        "amo": r.amo,
        "patient": r.fee - r.amo + (0 if r.daily_charge is None else r.daily_charge),
        "engine": pa.array(np.full(n, "columnar")),
        "error": pa.nulls(n, pa.string()),
    }
    return pa.table(columns, schema=OUTPUT_SCHEMA)


@lru_cache(maxsize=1)
def _words() -> tuple[pa.Array, npt.NDArray[np.int32], pa.Array, pa.Array, pa.Array]:
    """The result's strings as small vocabularies: indicators (and each rule's index in them, -1 for none), the
    in-pathway flag of each rule, the rule ids, the reasons."""
    indicators = [rule.indicator for rule in ALL_RULES]
    words = sorted({w for w in indicators if w is not None})
    indicator_of = np.array([-1 if w is None else words.index(w) for w in indicators], dtype=np.int32)
    return (
        pa.array(words, pa.string()),
        indicator_of,
        pa.array([rule.in_pathway for rule in ALL_RULES], pa.bool_()),
        pa.array([rule.id for rule in ALL_RULES], pa.string()),
        pa.array(list(_REASONS), pa.string()),
    )


def twin_result_columns(r: ColumnarResult, rows: I64 | None = None) -> dict[str, pa.Array]:
    """``result_table``'s columns (but the claim id and the error) for ``rows`` (all when None), the strings as
    dictionary arrays over the vocabularies: no string is written per row."""
    words, indicator_of, in_pathway, rule_ids, reasons = _words()

    def pick(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
        return values if rows is None else values[rows]

    rule = pick(r.pathway_rule).astype(np.int32)
    indicator = indicator_of[rule]
    reason = pick(r.reason).astype(np.int32)
    fee, amo = pick(r.fee), pick(r.amo)
    return {
        "pathway": pa.DictionaryArray.from_arrays(pa.array(indicator, mask=indicator < 0), words),
        "in_pathway": in_pathway.take(pa.array(rule)),
        "pathway_rule": pa.DictionaryArray.from_arrays(pa.array(rule), rule_ids),
        "status": pa.DictionaryArray.from_arrays(
            pa.array(pick(r.status_rejected).astype(np.int32)), pa.array(["paid", "rejected"])
        ),
        "reason": pa.DictionaryArray.from_arrays(pa.array(reason, mask=reason < 0), reasons),
        "fee": pa.array(fee),
        "base": pa.array(pick(r.base)),
        "rate": pa.array(pick(r.rate)),
        "gross": pa.array(pick(r.gross)),
        "majoration": pa.array(pick(r.majoration)),
        "participation": pa.array(pick(r.participation)),
        "franchise": pa.array(pick(r.franchise)),
        "amo": pa.array(amo),
        "patient": pa.array(fee - amo + (0 if r.daily_charge is None else pick(r.daily_charge))),
        "engine": pa.DictionaryArray.from_arrays(pa.array(np.zeros(len(fee), dtype=np.int32)), pa.array(["columnar"])),
    }


# --- the scalar path: rows as events, fed in order with the year-to-date state ---------------------------------


def _day(value: Any) -> dt.date | None:
    return value if isinstance(value, dt.date) or value is None else dt.date.fromisoformat(str(value))


def act_data(row: Mapping[str, Any]) -> dict[str, Any]:
    """The act a row describes, as the event model's input."""
    quantity = row.get("quantity")
    act: dict[str, Any] = {"code": row.get("act_code"), "quantity": 1 if quantity is None else quantity}
    if row.get("fee") is not None:
        act["fee"] = euros(int(row["fee"]))
    for name in ("days", "device_class", "correction", "basket", "ear"):
        if row.get(name) is not None:
            act[name] = row[name]
    for name in ("psychiatry", "costly_act"):
        if row.get(name):
            act[name] = True
    if row.get("coefficient") is not None:
        act["coefficient"] = Decimal(str(row["coefficient"]))
    if row.get("modifiers") is not None:
        act["modifiers"] = [m for m in str(row["modifiers"]).replace(" ", "").split(",") if m]
    if row.get("association") is not None:
        act["association"] = str(row["association"])
    return act


def event_data(row: Mapping[str, Any], acts: list[dict[str, Any]]) -> dict[str, Any]:
    """The care event's input (the event model's JSON shape) from the claim-level columns of a row."""
    has_gp = bool(row.get("has_gp"))
    pregnancy = None
    if row.get("pregnancy_start") is not None or row.get("delivery_date") is not None:
        pregnancy = {"start": row.get("pregnancy_start"), "delivery": row.get("delivery_date")}
    rpps = professional_rpps(row.get("professional_id"))
    gp = None
    if has_gp:
        gp = rpps if row.get("seen_by_gp") else ROW_GP_RPPS if rpps != ROW_GP_RPPS else ROW_OTHER_RPPS
    professional: dict[str, Any] = {
        "rpps": rpps,
        "profession": row.get("profession"),
        "specialty": row.get("specialty"),
        "sector": row.get("sector") or "1",
        "optam": bool(row.get("optam")),
        "installed_on": row.get("installed_on"),
        "underserved_area": bool(row.get("underserved_area")),
    }
    patient: dict[str, Any] = {
        "birth_date": row.get("birth_date"),
        "gp": gp,
        "c2s": bool(row.get("c2s")),
        "ald": bool(row.get("ald")),
        "pregnancy": pregnancy,
        "institution": row.get("institution"),
        "invalidity_pension": bool(row.get("invalidity_pension")),
    }
    if row.get("regime") is not None:
        patient["regime"] = row["regime"]
    data: dict[str, Any] = {
        "date": row.get("date"),
        "patient": patient,
        "professional": professional,
        "acts": acts,
        "last_in_person_visit": row.get("last_in_person_visit"),
        "in_person_history_on_record": True,  # a row is a claim: no date means no in-person visit
        "visit_reason": row.get("visit_reason"),
        "excluded_context": row.get("excluded_context"),
        "compulsory_child_exam": row.get("compulsory_child_exam"),
    }
    for flag in (
        "declares_gp",
        "referred_by_gp",
        "referred_by_other_doctor",
        "replacing_gp",
        "emergency",
        "away_from_home",
        "teleconsultation",
        "gp_unavailable",
        "ald_care",
        "work_injury",
        "tiers_payant",
    ):
        data[flag] = bool(row.get(flag))
    return data


def event_from_row(row: Mapping[str, Any]) -> CareEvent:
    """The care event a row describes (validated by the event model, which names the faulty field)."""
    return CareEvent.model_validate(event_data(row, [act_data(row)]))


def event_from_rows(rows: Sequence[Mapping[str, Any]]) -> CareEvent:
    """The care event of a multi-act claim: claim-level facts from its first line, one act per line."""
    return CareEvent.model_validate(event_data(rows[0], [act_data(row) for row in rows]))


def _order_key(row: Mapping[str, Any]) -> tuple[int, dt.date, int]:
    return (int(row["patient_id"]), _day(row["date"]) or dt.date.min, int(row["claim_id"]))


def adjudicate_rows(rows: Iterable[Mapping[str, Any]], engine: Engine | None = None) -> list[dict[str, Any]]:
    """The reference: each row through the scalar engine, in the order (patient, date, claim id), the year-to-date
    state carried from one row to the next (reset each calendar year; same-day counters per day, and per
    professional for the participation). The opening columns seed the state of each group as the twin reads them.
    Returns the output rows in the order given, errors included (``error`` = "field : message")."""
    from pydantic import ValidationError

    engine = engine or default_engine()
    given = list(rows)
    ordered = sorted(
        range(len(given)), key=lambda i: _order_key(given[i]) if _sortable(given[i]) else (0, dt.date.min, 0)
    )
    out: list[dict[str, Any]] = [{} for _ in given]
    year_state: dict[tuple[int, int], dict[str, Any]] = {}  # caps and téléexpertise count: per calendar year
    devices: dict[int, dict[str, Any]] = {}  # last optical / hearing equipment: across years
    participations: dict[tuple[int, dt.date, int], int] = {}
    paramedical: dict[tuple[int, dt.date, int], int] = {}  # per professional, like the participations
    transport: dict[tuple[int, dt.date], int] = {}
    # téléexpertises: 4 a year per patient and per doctor, so counted per (patient, year, professional's RPPS)
    teleexpertise: dict[tuple[int, int, str], dict[str, int]] = {}
    # The last devices before the batch, as the twin reads them: a patient's first row giving one.
    for i in ordered:
        row = given[i]
        if not _sortable(row):
            continue
        seen = devices.setdefault(int(row["patient_id"]), {})
        if "last_optical_equipment" not in seen and row.get("last_optical_equipment") is not None:
            seen["last_optical_equipment"] = row["last_optical_equipment"]
        hearing = {ear: row.get(f"last_hearing_aid_{ear}") for ear in _EARS}
        if "last_hearing_aid" not in seen and any(hearing.values()):
            seen["last_hearing_aid"] = hearing
    for i in ordered:
        row = given[i]
        if not _sortable(row):
            missing = next(k for k in ("claim_id", "patient_id", "date") if row.get(k) is None)
            out[i] = _error_row(row, f"{missing} : valeur manquante")
            continue
        try:
            event = event_from_row(row)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(x) for x in error["loc"]) or "ligne"
            out[i] = _error_row(row, f"{where} : {error['msg']}")
            continue
        patient_id = int(row["patient_id"])
        professional_id = int(row["professional_id"]) if row.get("professional_id") is not None else -1
        year_key = (patient_id, event.date.year)
        day_key = (patient_id, event.date)
        pro_key = (patient_id, event.date, professional_id)
        state = year_state.setdefault(
            year_key,
            {
                "participation_paid": euros(int(row.get("participation_paid_ytd") or 0)),
                "franchises_paid": euros(int(row.get("franchises_paid_ytd") or 0)),
            },
        )
        participations.setdefault(pro_key, int(row.get("same_day_participations") or 0))
        paramedical.setdefault(pro_key, int(row.get("same_day_paramedical_franchises") or 0))
        transport.setdefault(day_key, int(row.get("same_day_transport_franchises") or 0))
        te_key = (*year_key, professional_rpps(row.get("professional_id")))
        te_done = teleexpertise.setdefault(te_key, {})
        if _is_teleexpertise(engine, event):  # the count before the batch: the act's first row, as the twin reads it
            te_done.setdefault(event.acts[0].code, int(row.get("teleexpertise_done_ytd") or 0))
        ytd = YearToDate.model_validate(
            {
                **state,
                **devices.get(patient_id, {}),
                "same_day_participations": participations[pro_key],
                "same_day_paramedical_franchises": euros(paramedical[pro_key]),
                "same_day_transport_franchises": euros(transport[day_key]),
                "teleexpertise_acts": te_done,
            }
        )
        try:
            result = engine.adjudicate(event, ytd)
        except RuleInputError as exc:
            out[i] = _error_row(row, str(exc))
            continue
        after = result.state_after
        year_state[year_key] = {key: after[key] for key in ("participation_paid", "franchises_paid")}
        teleexpertise[te_key] = {key.partition(":")[0]: count for key, count in after["teleexpertise_acts"].items()}
        devices[patient_id] = {key: after[key] for key in ("last_optical_equipment", "last_hearing_aid")}
        participations[pro_key] = after["same_day_participations"]
        paramedical[pro_key] = int(Decimal(str(after["same_day_paramedical_franchises"])) * 100)
        transport[day_key] = int(Decimal(str(after["same_day_transport_franchises"])) * 100)
        line = result.lines[0]
        out[i] = {
            "claim_id": int(row["claim_id"]),
            "pathway": result.pathway,
            "in_pathway": result.in_pathway,
            "pathway_rule": result.pathway_rule,
            "status": "rejected" if line.status == "rejected" else "paid",
            "reason": line.reason,
            "fee": line.fee,
            "base": line.base,
            "rate": line.rate,
            "gross": line.gross,
            "majoration": line.majoration,
            "participation": line.participation,
            "franchise": line.franchise,
            "amo": sum(x.amo for x in result.lines),
            "patient": sum(x.patient for x in result.lines),
            "engine": "scalar",
            "error": None,
        }
    return out


def _is_teleexpertise(engine: Engine, event: CareEvent) -> bool:
    definition = engine.catalogue.acts.get(event.acts[0].code)
    return definition is not None and definition.category_for(event.professional.profession) is Category.TELEEXPERTISE


def _sortable(row: Mapping[str, Any]) -> bool:
    return row.get("patient_id") is not None and row.get("claim_id") is not None and row.get("date") is not None


def _error_row(row: Mapping[str, Any], message: str) -> dict[str, Any]:
    empty: dict[str, Any] = dict.fromkeys(OUTPUT_SCHEMA.names)
    empty["claim_id"] = row.get("claim_id")
    empty["engine"] = "scalar"
    empty["error"] = message
    return empty
