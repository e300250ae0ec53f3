"""The mutuelle contract on the twin's lines: ``rules.contracts.columnar`` fed with the twin's output, the AMC and
the reste à charge put on its lines and the contract year-to-date state in its states (before each claim, after each
patient), as the scalar route writes them.

Routing (``scalar_contract_patients``): a patient with a contract stays with the twin, claim by claim as any other,
unless the columnar contract cannot take them whole — their claims name more than one contract (the yearly limits
would change along one year's running sum: not vectorised), or their contract cannot be loaded for a year of their
claims (the scalar engine then rejects the claims with the reason). The kinds of care the twin does not cover (optics, hearing aids, dental prostheses, private room…) go to the
scalar engine with their claim, as without a contract.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from parcours.rules.catalogue import Category, Profession
from parcours.rules.columnar import ColumnarResult
from parcours.rules.contracts.amc import ContractYear
from parcours.rules.contracts.columnar import CATEGORIES, ContractLines, apply_contracts, kinds_of
from parcours.rules.contracts.model import Contract, ContractError
from parcours.rules.event import Specialty
from parcours.rules.params import ParameterSet

I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
Loader = Callable[[str, int], Contract]
_YEARS = 10_000  # (contract, year) pairs as one integer key


def _years(date: I64) -> I64:
    days = date.astype("datetime64[D]")
    years: I64 = days.astype("datetime64[Y]").astype(np.int64) + 1970
    return years


def scalar_contract_patients(contracts: npt.NDArray[np.object_], patient: I64, date: I64, load: Loader) -> Bools:
    """Rows of the patients with a contract that the columnar contract does not take (see the module's docstring)."""
    has = contracts != ""
    if not has.any():
        return np.zeros(patient.size, dtype=bool)
    encoded = pa.array(contracts, pa.string()).dictionary_encode()
    names = np.asarray(encoded.dictionary.to_pylist(), dtype=object)
    code = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    # Patients whose claims name different contracts (rows sorted by patient; claims naming none do not count:
    # they neither pay nor consume the contract's year).
    start = np.ones(patient.size, dtype=bool)
    start[1:] = patient[1:] != patient[:-1]
    group = np.cumsum(start) - 1
    lo = np.minimum.reduceat(np.where(has, code, names.size), np.flatnonzero(start))
    hi = np.maximum.reduceat(np.where(has, code, -1), np.flatnonzero(start))
    bad_patient = (hi >= 0) & (lo != hi)
    # Contracts that cannot be loaded for a year of the claims.
    years = _years(date)
    pairs = np.unique(code[has] * _YEARS + years[has])
    failing = np.zeros(patient.size, dtype=bool)
    for name_code, year in zip((pairs // _YEARS).tolist(), (pairs % _YEARS).tolist(), strict=True):
        try:
            load(str(names[name_code]), int(year))
        except ContractError:
            failing |= (code == name_code) & (years == year)
    bad_patient |= np.bitwise_or.reduceat(failing, np.flatnonzero(start)).astype(bool)
    routed: Bools = bad_patient[group]
    return routed


def _column(table: pa.Table, name: str) -> pa.ChunkedArray:
    column = table.column(name)
    return column.cast(column.type.value_type) if pa.types.is_dictionary(column.type) else column


def _flag(table: pa.Table, name: str) -> Bools:
    return np.asarray(table.column(name).fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def _strings(table: pa.Table, name: str) -> npt.NDArray[np.object_]:
    column = table.column(name)
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    return np.asarray(column.fill_null("").to_numpy(zero_copy_only=False), dtype=object)


def _merge(details: str | None, contract: str | None) -> str | None:
    """A state's details (JSON) with the contract's year-to-date state (JSON) put in, as ``PatientState.details``
    writes them (keys sorted)."""
    if contract is None:
        return details
    if not details:
        return f'{{"contract": {contract}}}'
    data = json.loads(details)
    data["contract"] = json.loads(contract)
    return json.dumps(data, sort_keys=True)


def add_contracts(
    sub: pa.Table,
    r: ColumnarResult,
    contracts: npt.NDArray[np.object_],
    patient: I64,
    date: I64,
    claim_start: Bools,
    states_in: Mapping[int, Any],
    lines: pa.Table,
    states: pa.Table,
    load: Loader,
    parameters: ParameterSet,
    categories: Callable[[str, str], Category | None],
) -> tuple[pa.Table, pa.Table]:
    """The twin's ``lines`` and ``states`` of ``sub`` (rows sorted by patient, date, claim, line) with the contract
    of the rows that name one: AMC, reste à charge, contract state before each claim and after each patient."""
    take = np.flatnonzero(r.answered & (contracts != ""))
    if take.size == 0:
        return lines, states
    # ``lines`` holds the answered rows only, in order: each row's position among them.
    done = np.flatnonzero(r.answered)
    assert lines.num_rows == done.size
    at = np.full(sub.num_rows, -1, dtype=np.int64)
    at[done] = np.arange(done.size)
    # The kind of care of each row, from its act and profession (one catalogue look-up per distinct pair).
    pair = pc.binary_join_element_wise(
        _column(sub, "act_code").take(pa.array(take)), _column(sub, "profession").take(pa.array(take)), "\x1f"
    ).dictionary_encode()
    pair = pair.combine_chunks() if isinstance(pair, pa.ChunkedArray) else pair
    known = [categories(*value.split("\x1f")) for value in pair.dictionary.to_pylist()]
    category_codes = np.array([CATEGORIES.index(c) if c is not None else -1 for c in known] + [-1], dtype=np.int64)
    row_category = category_codes[pair.indices.fill_null(len(known)).to_numpy(zero_copy_only=False)]
    stay = row_category == CATEGORIES.index(Category.HOSPITAL_STAY)
    # One contract line per scalar line: a stay's daily charge (forfait journalier) follows the stay's line.
    repeat = 1 + stay.astype(np.int64)
    row = np.repeat(take, repeat)
    charge = np.zeros(row.size, dtype=bool)
    charge[np.cumsum(repeat)[stay] - 1] = True
    main = ~charge
    of_row = np.repeat(np.arange(take.size), repeat)  # each contract line's taken row
    line_category = row_category[of_row]
    row_stay = stay[of_row]
    specialty = _strings(sub, "specialty")[row]
    kind = kinds_of(
        line_category,
        _strings(sub, "act_code")[row],
        _strings(sub, "profession")[row] == Profession.DENTIST.value,
        _flag(sub, "teleconsultation")[row],
        specialty == Specialty.GENERAL_PRACTICE.value,
        charge,
    )
    if (kind < 0).any():  # not a kind the twin covers: never reached (SUPPORTEDCATEGORIES)
        raise AssertionError("contract: a twin line without a kind of care")
    sector = _strings(sub, "sector")[row]
    quantity = np.asarray(sub.column("quantity").fill_null(1).to_numpy(zero_copy_only=False), dtype=np.int64)[row]
    days_col = sub.column("days")
    days_in = np.asarray(days_col.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)[row]
    days_given = ~np.asarray(days_col.is_null().to_numpy(zero_copy_only=False), dtype=bool)[row]
    daily_fee = r.daily_charge[row] if r.daily_charge is not None else np.zeros(row.size, dtype=np.int64)
    # The daily charge's AMO (covered for maternity, a newborn) is in the twin's AMO of the stay's row.
    daily_amo = r.amo[row] - (r.gross[row] - r.majoration[row] - r.participation[row] - r.franchise[row])
    fee = np.where(charge, daily_fee, r.fee[row])
    base = np.where(charge, daily_fee, r.base[row])
    gross = np.where(charge, daily_amo, r.gross[row])
    amo = np.where(charge, daily_amo, r.amo[row] - np.where(row_stay, daily_amo, 0))
    in_pathway = lines.column("in_pathway")
    out_of_pathway = np.asarray(pc.equal(in_pathway, False).fill_null(False).to_numpy(zero_copy_only=False))[at[row]]
    c2s = _flag(sub, "c2s")[row]
    overrun = np.where(charge, 0, np.maximum(r.fee[row] - r.base[row], 0))
    # A secteur 1 specialist's consultation out of the pathway: its overrun is a dépassement autorisé (engine.
    # _classify_overrun), excluded by a contrat responsable.
    consultation = (line_category == CATEGORIES.index(Category.CONSULTATION)) & main
    authorised = (
        (overrun > 0) & consultation & (sector != "2") & out_of_pathway & (specialty != Specialty.GENERAL_PRACTICE.value)
        & ~c2s
    )  # fmt: skip
    encoded = pa.array(contracts[row], pa.string()).dictionary_encode()
    names = encoded.dictionary.to_pylist()
    pairs, contract_index = np.unique(
        np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64) * _YEARS + _years(date[row]),
        return_inverse=True,
    )
    day_units = np.where(charge, days_in, np.where(days_given, days_in, quantity))
    contract_lines = ContractLines(
        patient=patient[row],
        date=date[row],
        kind=kind,
        contract=contract_index.astype(np.int64),
        fee=fee,
        amo=amo,
        base=base,
        gross=gross,
        majoration=np.where(charge, 0, r.majoration[row]),
        overrun=overrun,
        quantity=np.where(charge, days_in, quantity),
        days=day_units,
        paid=charge | ~r.status_rejected[row],  # the daily charge line is never refused itself
        non_optam=(sector == "2") & ~_flag(sub, "optam")[row],
        patient_c2s=c2s,
        authorised_overrun=authorised,
        device_price=np.zeros(row.size, dtype=bool),
    )
    openings: dict[int, ContractYear] = {}
    for p in np.unique(patient[take]).tolist():
        state = states_in.get(p)
        data = getattr(state, "contract", None)
        if data:
            year = int(data["year"])
            openings[p] = ContractYear.from_dict(data, dt.date(year, 1, 1))
    loaded = [load(names[int(p) // _YEARS], int(p) % _YEARS) for p in pairs.tolist()]
    outcome = apply_contracts(loaded, contract_lines, openings, parameters)

    n = sub.num_rows
    amc = np.zeros(n, dtype=np.int64)
    np.add.at(amc, row, outcome.amc)
    oop = np.zeros(n, dtype=np.int64)
    np.add.at(oop, row, outcome.out_of_pocket)
    with_contract = np.zeros(n, dtype=bool)
    with_contract[take] = True
    name_out = pa.array(contracts[done], pa.string())
    amc, oop, with_contract = amc[done], oop[done], with_contract[done]
    lines = lines.set_column(lines.column_names.index("contract"), "contract",
                             pc.if_else(pa.array(with_contract), name_out, lines.column("contract")))  # fmt: skip
    for column, values in (("amc", amc), ("out_of_pocket", oop)):
        lines = lines.set_column(
            lines.column_names.index(column),
            column,
            pc.if_else(pa.array(with_contract), pa.array(values), lines.column(column)),
        )
    # The contract state before each claim (on all its lines) and after each patient's last line.
    first_line = np.flatnonzero(main)  # each taken row's main contract line
    claim_first = (np.flatnonzero(claim_start)[np.cumsum(claim_start) - 1])[take]
    claims, of_claim = np.unique(claim_first, return_inverse=True)
    # A claim's state before is its first line's; the same key, the same state (built once).
    key = outcome.state_key[first_line[np.searchsorted(take, claims)]]
    _, first_with, of_key = np.unique(key, return_index=True, return_inverse=True)
    states_of_key = outcome.before(first_line[np.searchsorted(take, claims[first_with])])
    given = lines.column("state_before")
    claim_details = given.take(pa.array(at[claims])).to_pylist()
    texts = np.empty(claims.size, dtype=object)
    plain = [d is None for d in claim_details]
    if all(plain):  # no state given: the contract's state alone (the common case), no JSON to read
        by_key = np.array([None if t is None else f'{{"contract": {t}}}' for t in states_of_key], dtype=object)
        texts[:] = by_key[of_key]
    else:
        merged: dict[tuple[int, str | None], str | None] = {}
        for j, (k, details) in enumerate(zip(of_key.tolist(), claim_details, strict=True)):
            if (k, details) not in merged:
                merged[(k, details)] = _merge(details, states_of_key[k])
            texts[j] = merged[(k, details)]
    per_row = np.full(sub.num_rows, None, dtype=object)
    per_row[take] = texts[of_claim]
    lines = lines.set_column(
        lines.column_names.index("state_before"),
        "state_before",
        pc.if_else(pa.array(with_contract), pa.array(per_row[done], pa.string()), given),
    )
    last_line = np.append(first_line[1:] - 1, row.size - 1)  # each taken row's last contract line
    patient_ids = states.column("patient_id").to_numpy()
    taken_patients = patient[take]
    last_of = np.append(taken_patients[1:] != taken_patients[:-1], True)
    last_rows = np.flatnonzero(last_of)
    after = dict(zip(taken_patients[last_rows].tolist(), outcome.after(last_line[last_rows]), strict=True))
    details = states.column("details").to_pylist()
    details = [_merge(d, after.get(int(p))) for p, d in zip(patient_ids.tolist(), details, strict=True)]
    states = states.set_column(states.column_names.index("details"), "details", pa.array(details, pa.string()))
    return lines, states
