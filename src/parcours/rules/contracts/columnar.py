"""The mutuelle contract in columns: ``amc.apply_contract`` for arrays of adjudicated lines, to the cent.

Fed with the columnar twin's lines (base, gross, AMO, majoration, participation, franchise, overrun, kind of care…)
in the order (patient, date, claim, line), and each patient's contract year-to-date state before them, it gives the
AMC and the reste à charge of every line and the state before and after any line. The yearly envelopes, the day
limits and the yearly ceilings are sequential per (patient, calendar year, kind of care); each depends only on what
the earlier lines of its own group took, so each is one capped cumulative sum (as the twin's caps). Equal to the
scalar contract by construction and by test (``tests/batch/test_batch_differential.py``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from parcours.rules.catalogue import Category
from parcours.rules.contracts.amc import CORRECTIONS, FULL_RATE_BP, PERCENT_BASIS, ContractYear
from parcours.rules.contracts.kinds import (  # the scalar route's own tables: one definition of the kinds
    _PROSTHESIS,
    CATEGORY_KINDS,
    DOCTORS_FEES,
    PHARMACY_KINDS,
    TM_OPTIONAL,
    ZERO_REMAINDER,
    CareKind,
)
from parcours.rules.contracts.model import Contract
from parcours.rules.money import apply_rate, to_cents
from parcours.rules.params import ParameterSet

I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

KINDS: tuple[CareKind, ...] = tuple(CareKind)
PER = ("act", "day", "ear", "year")
# A class B equipment's limits (``OpticsGuarantee``): by its strongest correction, then the frame's.
OPTICS_B_LIMITS = (*CORRECTIONS, "frame")
NONE = -1  # an absent figure in the guarantee arrays
_UNLIMITED = 1 << 62  # no allowance: all that is coverable
_EPOCH = dt.date(1970, 1, 1)


def _index(kinds: frozenset[CareKind]) -> Bools:
    return np.array([k in kinds for k in KINDS], dtype=bool)


_DOCTORS = _index(DOCTORS_FEES)
_ZERO_REMAINDER = _index(ZERO_REMAINDER)
_TM_OPTIONAL = _index(TM_OPTIONAL)


CATEGORIES: tuple[Category, ...] = tuple(Category)


def kinds_of(
    category: I64,
    code: npt.NDArray[np.object_],
    dentist: Bools,
    teleconsultation: Bools,
    general_practice: Bools,
    daily_charge: Bools,
    optics_class_a: Bools,
    basket: npt.NDArray[np.object_] | None = None,
    hearing_class_i: Bools | None = None,
) -> I64:
    """``kinds.kind_of`` in columns (index into ``KINDS``; ``category``: index into ``CATEGORIES``, -1 unknown);
    ``basket``: a dental prosthesis's basket (rac0, moderate, free; missing: free, as ``kinds.kind_of``);
    ``hearing_class_i``: a hearing aid of class I (else class II, as ``kinds.kind_of``)."""
    out = np.full(category.size, NONE, dtype=np.int64)

    def put(where: Bools, kind: CareKind) -> None:
        out[where] = KINDS.index(kind)

    def of(c: Category) -> Bools:
        result: Bools = category == CATEGORIES.index(c)
        return result

    for c, kind in CATEGORY_KINDS.items():
        put(of(c), kind)
    doctor = of(Category.TECHNICAL_ACT) | of(Category.CONSULTATION)
    put(doctor & general_practice, CareKind.GP_CONSULTATION)
    put(doctor & ~general_practice, CareKind.SPECIALIST_CONSULTATION)
    consultation = of(Category.CONSULTATION)
    put(consultation & teleconsultation, CareKind.TELECONSULTATION)
    put(consultation & dentist, CareKind.DENTAL_CARE)
    medicine = of(Category.MEDICINE)
    put(medicine, CareKind.PHARMACY_MAJOR)
    rows = np.flatnonzero(medicine)
    for name, kind in PHARMACY_KINDS.items():
        out[rows[code[rows] == name]] = KINDS.index(kind)
    stay = of(Category.HOSPITAL_STAY)
    put(stay & ~daily_charge, CareKind.HOSPITAL_FEES)
    put(stay & daily_charge, CareKind.DAILY_CHARGE)
    optics = of(Category.OPTICS)
    put(optics & optics_class_a, CareKind.OPTICS_CLASS_A)
    put(optics & ~optics_class_a, CareKind.OPTICS_CLASS_B)
    prosthesis = of(Category.DENTAL_PROSTHESIS)
    if prosthesis.any():
        rows = np.flatnonzero(prosthesis)
        named = basket[rows] if basket is not None else np.full(rows.size, "free", dtype=object)
        for name, kind in _PROSTHESIS.items():
            out[rows[named == name]] = KINDS.index(kind)
        out[rows[~np.isin(named, list(_PROSTHESIS))]] = KINDS.index(CareKind.DENTAL_PROSTHESIS_FREE)
    hearing = of(Category.AUDIOLOGY)
    class_i = np.zeros(category.size, dtype=bool) if hearing_class_i is None else hearing_class_i
    put(hearing & class_i, CareKind.HEARING_CLASS_I)
    put(hearing & ~class_i, CareKind.HEARING_CLASS_II)
    return out


@dataclass(frozen=True)
class GuaranteeArrays:
    """The contracts' guarantees as arrays [contract, kind] (-1: absent), and their flags [contract]."""

    percent: I64
    non_optam_percent: I64
    amount: I64  # cents
    per: I64  # index into PER
    full_price: Bools
    yearly_ceiling: I64  # cents
    max_days: I64
    responsable: Bools
    c2s: Bools
    optics_class_b: I64  # [contract, OPTICS_B_LIMITS] cents, -1: no class B guarantee

    @staticmethod
    def build(contracts: Sequence[Contract]) -> GuaranteeArrays:
        shape = (len(contracts), len(KINDS))
        arrays = {name: np.full(shape, NONE, dtype=np.int64) for name in
                  ("percent", "non_optam_percent", "amount", "per", "yearly_ceiling", "max_days")}  # fmt: skip
        full_price = np.zeros(shape, dtype=bool)
        for i, contract in enumerate(contracts):
            for j, kind in enumerate(KINDS):
                g = contract.guarantee(kind)
                for name, value in (("percent", g.percent), ("non_optam_percent", g.non_optam_percent),
                                    ("max_days", g.max_days)):  # fmt: skip
                    if value is not None:
                        arrays[name][i, j] = value
                if g.amount is not None:
                    arrays["amount"][i, j] = to_cents(g.amount)
                if g.per is not None:
                    arrays["per"][i, j] = PER.index(g.per)
                if g.yearly_ceiling is not None:
                    arrays["yearly_ceiling"][i, j] = to_cents(g.yearly_ceiling)
                full_price[i, j] = g.full_price
        optics_class_b = np.full((len(contracts), len(OPTICS_B_LIMITS)), NONE, dtype=np.int64)
        for i, contract in enumerate(contracts):
            if contract.optics_class_b is not None:
                optics_class_b[i] = [to_cents(getattr(contract.optics_class_b, x)) for x in OPTICS_B_LIMITS]
        return GuaranteeArrays(
            full_price=full_price,
            responsable=np.array([c.responsable for c in contracts], dtype=bool),
            c2s=np.array([c.c2s for c in contracts], dtype=bool),
            optics_class_b=optics_class_b,
            **arrays,
        )


@dataclass(frozen=True)
class ContractLines:
    """Adjudicated lines (one per scalar ``Line``: a hospital stay's daily charge is a line of its own), sorted by
    (patient, date, claim, line), amounts in cents."""

    patient: I64
    date: I64  # days since 1970-01-01
    kind: I64  # index into KINDS
    contract: I64  # index into the contracts given
    fee: I64
    amo: I64
    base: I64
    gross: I64
    majoration: I64
    overrun: I64
    quantity: I64
    days: I64  # the line's days (a stay's), else its quantity: the units of a per-day forfait
    paid: Bools  # status "paid" (a refused line: the contract pays nothing either)
    non_optam: Bools  # a secteur 2 professional outside OPTAM (the event's)
    patient_c2s: Bools
    authorised_overrun: Bools  # the overrun is a secteur 1 dépassement autorisé (or billed beyond it)
    device_price: Bools  # the overrun is a device's free price (optics, hearing, prostheses)
    claim: I64  # the claim's number in the lines' order: a class B equipment is reimbursed per claim
    frame: Bools  # an optical frame (the others of class B are lenses)
    correction: I64  # a lens's correction, index into CORRECTIONS (-1: none given)


def _capped(wanted: I64, cap: I64, opening: I64, starts: Bools) -> I64:
    """Sequential min(wanted, max(0, cap − taken so far)) per group in one pass (see ``rules.columnar._capped``)."""
    total = np.cumsum(wanted)
    before = total - wanted
    group = np.cumsum(starts) - 1
    room = cap - opening - (before - before[starts][group])
    result: I64 = np.clip(room, 0, wanted)
    return result


@dataclass
class _Kept:
    """One part of the contract state (paid, days or envelopes), to read it before or after any line: for each kind
    of care, its lines and the running sums over them (what they added, how many put the kind in the state), so
    that reading a state costs a search per kind at the positions asked, not a [line, kind] matrix."""

    kinds: tuple[str, ...]
    rows: list[I64]  # per kind: its lines, increasing
    added: list[I64]  # per kind: 0 then the inclusive running sum of what its lines added
    counted: list[I64]  # per kind: 0 then the running count of its lines that put it in the state
    opening: I64  # [opening, kind]: the patients' openings (rows of ``ContractOutcome._opening_row``)
    opening_set: Bools

    def at(self, j: int, positions: I64, first: I64, inclusive: bool) -> tuple[I64, I64]:
        """Kind ``j``'s sum and count over the lines from ``first`` to ``positions`` (included or not)."""
        rows = self.rows[j]
        end = np.searchsorted(rows, positions, side="right" if inclusive else "left")
        start = np.searchsorted(rows, first, side="left")
        return self.added[j][end] - self.added[j][start], self.counted[j][end] - self.counted[j][start]


@dataclass
class ContractOutcome:
    amc: I64
    out_of_pocket: I64
    year: I64
    # Lines with the same key have the same state before them (same patient and year, nothing added in between):
    # the states before need building once per key.
    state_key: I64
    _parts: dict[str, _Kept]
    _first: I64  # each line's first line of its (patient, year)
    _opening_same_year: Bools
    _opening_row: I64  # each line's patient's row in the openings (meaningful where ``_opening_same_year``)

    def _texts(self, positions: I64, inclusive: bool) -> pa.StringArray:
        at, first = positions, self._first[positions]
        same_year, opening_row = self._opening_same_year[at], self._opening_row[at]
        parts: dict[str, pa.Array] = {}
        for name, part in self._parts.items():
            # Euros as ``ContractYear.to_dict`` writes them: an int of cents over 100 is the nearest float.
            number = _int_text if name == "days" else _euros_text
            texts, present = [], np.zeros((at.size, len(part.kinds)), dtype=bool)
            for j in range(len(part.kinds)):
                value, count = part.at(j, at, first, inclusive)
                opened = same_year & part.opening_set[opening_row, j]
                value = value + np.where(same_year, part.opening[opening_row, j], 0)
                present[:, j] = (count > 0) | opened
                texts.append(number(value))
            parts[name] = _json_object(part.kinds, texts, present)
        fresh = (at == first) & ~self._opening_same_year[at] & (not inclusive)
        year = pa.array(self.year[at], mask=fresh).cast(pa.string())
        text: pa.StringArray = pc.binary_join_element_wise(
            '{"days": ', parts["days"], ', "envelopes": ', parts["envelopes"], ', "paid": ', parts["paid"],
            ', "year": ', year, "}", "",
        )  # fmt: skip
        return text

    def before(self, positions: I64) -> pa.StringArray:
        """The contract state before each line, as ``json.dumps(ContractYear.to_dict(), sort_keys=True)`` writes
        it; null when there is no state of its year. Built by Arrow's string kernels, not line by line."""
        return self._texts(positions, False)

    def after(self, positions: I64) -> pa.StringArray:
        """The contract state once each line is paid (the same text)."""
        return self._texts(positions, True)


_CENTS = pa.array([f"{c:02d}".rstrip("0") or "0" for c in range(100)])  # repr's decimals of c / 100
_SIGN = pa.array(["", "-"])
_EXACT_CENTS = 10**13  # below, repr(v / 100) is "units.cents" (the float's spacing is far under a cent)


def _int_text(values: I64) -> pa.Array:
    return pa.array(values).cast(pa.string())


def _euros_text(cents: I64) -> pa.Array:
    """``repr(cents / 100)`` of each value, in columns (the float ``ContractYear.to_dict`` writes)."""
    magnitude = np.abs(cents)
    if magnitude.size and int(magnitude.max()) >= _EXACT_CENTS:
        return pa.array([repr(v / 100) for v in cents.tolist()], pa.string())
    return pc.binary_join_element_wise(
        _SIGN.take(pa.array((cents < 0).astype(np.int8))),
        _int_text(magnitude // 100),
        ".",
        _CENTS.take(pa.array(magnitude % 100)),
        "",
    )


def _json_object(keys: Sequence[str], values: Sequence[pa.Array], present: Bools) -> pa.Array:
    """Per row, the JSON object (``json.dumps(..., sort_keys=True)``) of the ``keys`` present in the row, each with
    its value's text (``values[j]``: key ``j``'s texts, ``present[:, j]``: whether the row has key ``j``)."""
    rows = present.shape[0]
    if not keys:
        return pa.repeat(pa.scalar("{}"), rows)
    # Each present entry as ', "key": value', absent ones empty; the first entry's ', ' cut off afterwards (Arrow's
    # null_handling="skip" is not used: it drops rows whose entries are all null).
    entries = [
        pc.if_else(pa.array(present[:, j]), pc.binary_join_element_wise(f', "{keys[j]}": ', values[j], ""), "")
        for j in sorted(range(len(keys)), key=lambda j: keys[j])
    ]
    joined = pc.binary_join_element_wise(*entries, "") if len(entries) > 1 else entries[0]
    return pc.binary_join_element_wise("{", pc.utf8_slice_codeunits(joined, 2), "}", "")


def _optics_allowance(limits: I64, lines: ContractLines, rows: I64) -> I64:
    """``amc._optics_allowance`` for the class B ``rows`` (increasing): per claim, one equipment's limit by its
    strongest lens correction less what the Sécurité sociale paid on the claim's class B lines, taken by the frames
    first (each within the frame's sub-limit), then the lenses, in line order. Each line may take what is still left
    (its allowance) and takes at most its ticket modérateur and overrun: a capped running sum (``_capped``)."""
    claim, frame = lines.claim[rows], lines.frame[rows]
    order = np.lexsort((rows, frame == 0, claim))  # frames first within their claim, then the lines in order
    claim, frame, sorted_rows = claim[order], frame[order], rows[order]
    starts = np.ones(rows.size, dtype=bool)
    starts[1:] = claim[1:] != claim[:-1]
    first = np.flatnonzero(starts)
    group = np.cumsum(starts) - 1
    strongest = np.maximum.reduceat(np.where(frame, 0, np.maximum(lines.correction[sorted_rows], 0)), first)
    contract = lines.contract[sorted_rows][first]
    equipment = limits[contract, strongest]
    gross = lines.gross[sorted_rows]
    remaining = (equipment - np.add.reduceat(gross, first))[group]
    frame_room = np.maximum(0, limits[contract, OPTICS_B_LIMITS.index("frame")][group] - gross)
    takes = np.maximum(0, lines.base[sorted_rows] - gross) + lines.overrun[sorted_rows]
    wanted = np.where(frame, np.minimum(frame_room, takes), takes)
    before = np.cumsum(wanted) - wanted
    room = np.maximum(0, remaining - (before - before[first][group]))
    room = np.where(frame, np.minimum(room, frame_room), room)
    room = np.where(equipment[group] >= 0, room, 0)  # a contract without a class B guarantee pays none
    result = np.empty(rows.size, dtype=np.int64)
    result[order] = room
    return result


def _years(days: I64) -> I64:
    unique, inverse = np.unique(days, return_inverse=True)
    years = np.array([(_EPOCH + dt.timedelta(days=int(d))).year for d in unique.tolist()], dtype=np.int64)
    result: I64 = years[inverse]
    return result


def apply_contracts(
    contracts: Sequence[Contract],
    lines: ContractLines,
    openings: Mapping[int, ContractYear],
    parameters: ParameterSet,
) -> ContractOutcome:
    """``apply_contract`` over the lines (see the module's docstring); ``openings``: each patient's contract state
    before the first of their lines (of any year: only a state of the line's year counts)."""
    g = GuaranteeArrays.build(contracts)
    n = lines.patient.size
    c, k = lines.contract, lines.kind
    responsable, contract_c2s = g.responsable[c], g.c2s[c]
    # What the contract may cover (amc._coverable).
    majoration = np.where(responsable & ~contract_c2s, 0, lines.majoration)
    overrun = np.where(responsable & lines.authorised_overrun, 0, lines.overrun)
    overrun = np.where(lines.patient_c2s & ~lines.device_price, 0, overrun)
    copayment = np.maximum(0, lines.base - lines.gross)
    coverable = np.where(lines.paid, copayment + majoration + overrun, 0)
    # The allowance by percentage or forfait (amc._allowance).
    full_price = g.full_price[c, k]
    non_optam = _DOCTORS[k] & lines.non_optam
    percent = np.maximum(g.percent[c, k], 0)
    alternative = g.non_optam_percent[c, k]
    percent = np.where(non_optam & (alternative >= 0), alternative, percent)
    total = np.where(percent > 0, np.maximum(0, lines.base * percent // PERCENT_BASIS - lines.gross), 0)
    amount, per = g.amount[c, k], g.per[c, k]
    units = np.where(per == PER.index("day"), lines.days, lines.quantity)
    by_amount = (amount >= 0) & (per != PER.index("year"))
    total = np.where(by_amount, np.maximum(total, amount * units - lines.gross), total)
    allowance = np.where(full_price, _UNLIMITED, np.maximum(0, total))
    class_b = k == KINDS.index(CareKind.OPTICS_CLASS_B)
    if class_b.any():
        allowance[class_b] = _optics_allowance(g.optics_class_b, lines, np.flatnonzero(class_b))
    # The contrat responsable's cap on a non-OPTAM doctor's fees (amc._non_optam_cap), with the parameters of the day.
    capped_doctor = responsable & non_optam
    if capped_doctor.any():
        unique, inverse = np.unique(lines.date[capped_doctor], return_inverse=True)
        snapshots = [parameters.at(_EPOCH + dt.timedelta(days=int(d))) for d in unique.tolist()]
        cap_bp = np.zeros(n, dtype=np.int64)
        gap_bp = np.zeros(n, dtype=np.int64)
        cap_bp[capped_doctor] = np.array([s["contrat_responsable.non_optam_overrun_cap"] for s in snapshots])[inverse]
        gap_bp[capped_doctor] = np.array([s["contrat_responsable.optam_gap"] for s in snapshots])[inverse]
        level = FULL_RATE_BP + cap_bp
        by_percent = (g.percent[c, k] >= 0) & ~full_price & (amount < 0)
        level = np.where(
            by_percent, np.minimum(level, np.maximum(FULL_RATE_BP, g.percent[c, k] * PERCENT_BASIS - gap_bp)), level
        )
        cap = np.maximum(0, apply_rate(lines.base, level) - lines.gross)
        allowance = np.where(capped_doctor, np.minimum(allowance, cap), allowance)
    amc = np.minimum(coverable, allowance)
    # The floor of a contrat responsable (amc._floor).
    floor = np.where(
        contract_c2s,
        np.minimum(coverable, copayment + lines.majoration),
        np.minimum(coverable, copayment),
    )
    floor = np.where(_TM_OPTIONAL[k], 0, floor)
    floor = np.where(_ZERO_REMAINDER[k], coverable, floor)
    floor = np.where(responsable & lines.paid, floor, 0)
    amc = np.maximum(amc, floor)

    # The sequential part, per (patient, year, kind) in the lines' order.
    year = _years(lines.date)
    order = np.lexsort((np.arange(n), k, year, lines.patient))
    sp, sy, sk = lines.patient[order], year[order], k[order]
    starts = np.ones(n, dtype=bool)
    if n:
        starts[1:] = (sp[1:] != sp[:-1]) | (sy[1:] != sy[:-1]) | (sk[1:] != sk[:-1])
    # Openings of each line's (patient, kind) when of the line's year.
    used_kinds = sorted(set(k.tolist()) | {KINDS.index(CareKind(x)) for s in openings.values()
                                           for part in (s.paid, s.days, s.envelopes) for x in part})  # fmt: skip
    column = np.full(len(KINDS), -1, dtype=np.int64)
    column[used_kinds] = np.arange(len(used_kinds))
    ids = np.array(sorted(openings), dtype=np.int64)
    m = len(used_kinds)
    open_year = np.array([openings[i].year for i in ids.tolist()], dtype=np.int64)
    open_values = {name: np.zeros((ids.size, m), dtype=np.int64) for name in ("paid", "days", "envelopes")}
    open_set = {name: np.zeros((ids.size, m), dtype=bool) for name in ("paid", "days", "envelopes")}
    for row, pid in enumerate(ids.tolist()):
        state = openings[pid]
        for name, part in (("paid", state.paid), ("days", state.days), ("envelopes", state.envelopes)):
            for kind, value in part.items():
                col = column[KINDS.index(CareKind(kind))]
                open_values[name][row, col] = value
                open_set[name][row, col] = True
    at = np.minimum(np.searchsorted(ids, lines.patient), max(ids.size - 1, 0))
    opening_same_year = (ids[at] == lines.patient) & (open_year[at] == year) if ids.size else np.zeros(n, dtype=bool)

    def opening(name: str) -> tuple[I64, Bools]:
        if not ids.size:
            return np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
        value = np.where(opening_same_year, open_values[name][at, column[k]], 0)
        present = opening_same_year & open_set[name][at, column[k]]
        return value, present

    def sequential(wanted: I64, cap: I64, name: str) -> I64:
        """``wanted`` capped by ``cap`` (-1: no cap) given the opening and the group's earlier lines."""
        result = np.empty(n, dtype=np.int64)
        limited = np.where(cap >= 0, cap, _UNLIMITED)[order]
        result[order] = _capped(wanted[order], limited, opening(name)[0][order], starts)
        return result

    # The yearly envelope (amc._draw_envelope), on top of the percentage.
    left = coverable - amc
    yearly = (amount >= 0) & (per == PER.index("year"))
    draws_envelope = yearly & (left > 0)
    envelope = sequential(np.where(draws_envelope, left, 0), np.where(yearly, amount, -1), "envelopes")
    above = amc + envelope - floor
    # The day limit (amc._apply_yearly_limits), counted on every line of the kind.
    max_days = g.max_days[c, k]
    counts_days = max_days >= 0
    allowed = sequential(np.where(counts_days, lines.days, 0), max_days, "days")
    cut = counts_days & (allowed < lines.days) & (lines.days > 0)
    above = np.where(cut, above * allowed // np.maximum(lines.days, 1), above)
    # The yearly ceiling.
    above = sequential(above, g.yearly_ceiling[c, k], "paid")
    amc = floor + above

    # The state by kind, for the lines' states before and after.
    year_start = np.ones(n, dtype=bool)
    if n:
        year_start[1:] = (lines.patient[1:] != lines.patient[:-1]) | (year[1:] != year[:-1])
    first = np.flatnonzero(year_start)[np.cumsum(year_start) - 1]
    parts: dict[str, _Kept] = {}
    for name, added, sets in (
        ("paid", above, above > 0),
        ("days", np.where(counts_days, allowed, 0), counts_days),
        ("envelopes", envelope, draws_envelope),
    ):
        kept = sorted(set(k[sets].tolist()) | {i for i in used_kinds if open_set[name][:, column[i]].any()})
        if not n:
            kept = []
        rows = [np.flatnonzero(k == i) for i in kept]
        chosen = column[kept]
        no_opening = not ids.size  # one row of zeros, read where no line has an opening
        parts[name] = _Kept(
            tuple(KINDS[i].value for i in kept),
            rows,
            [np.concatenate(([0], np.cumsum(added[r]))) for r in rows],
            [np.concatenate(([0], np.cumsum(sets[r]))) for r in rows],
            np.zeros((1, len(kept)), dtype=np.int64) if no_opening else open_values[name][:, chosen],
            np.zeros((1, len(kept)), dtype=bool) if no_opening else open_set[name][:, chosen],
        )
    changes = ((above > 0) | counts_days | draws_envelope).astype(np.int64)
    changed_before = np.cumsum(changes) - changes
    group = np.cumsum(year_start) - 1
    # The year's first line has no state of the year before it (unless given): a key of its own.
    version = 2 * (changed_before - changed_before[first]) + (np.arange(n) != first)
    return ContractOutcome(
        amc=amc,
        out_of_pocket=lines.fee - lines.amo - amc,
        year=year,
        state_key=group * (2 * n + 2) + version,
        _parts=parts,
        _first=first,
        _opening_same_year=opening_same_year,
        _opening_row=at,
    )
