"""The mutuelle contract on the twin's lines: ``rules.contracts.columnar`` fed with the twin's output, the AMC and
the reste à charge put on its lines and the contract year-to-date state in its states (before each claim, after each
patient), as the scalar route writes them.

Routing (``scalar_contract_patients``): a patient with a contract stays with the twin, claim by claim as any other,
unless the columnar contract cannot take them whole — their claims name more than one contract (the yearly limits
would change along one year's running sum: not vectorised), or their contract cannot be loaded for a year of their
claims (the scalar engine then rejects the claims with the reason). The kinds of care the twin does not cover
(private room, emergency flat fee…) go to the scalar engine with their claim, as without a contract; optics, dental
crowns and hearing aids stay with the twin (optics class B reimbursed per equipment as ``amc._optics_allowance``,
a hearing aid's forfait per ear as its quantity of ears, as ``amc._allowance``).
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
from parcours.rules.contracts.amc import CORRECTIONS, ContractYear
from parcours.rules.contracts.columnar import CATEGORIES, ContractLines, ContractOutcome, apply_contracts, kinds_of
from parcours.rules.contracts.model import Contract, ContractError
from parcours.rules.event import Specialty
from parcours.rules.params import ParameterSet

I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
Loader = Callable[[str, int], Contract]
_YEARS = 10_000  # (contract, year) pairs as one integer key
_OTHER_DEVICES = (Category.DENTAL_PROSTHESIS, Category.AUDIOLOGY)  # priced freely beyond the base, as optics


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


def _at(table: pa.Table, name: str, rows: pa.Array) -> pa.Array:
    """The values of column ``name`` at ``rows``, dictionaries decoded (taken first: only those rows decoded)."""
    column = table.column(name).take(rows).combine_chunks()
    return column.cast(column.type.value_type) if pa.types.is_dictionary(column.type) else column


def _flag(table: pa.Table, name: str, rows: pa.Array) -> Bools:
    return np.asarray(_at(table, name, rows).fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def _is(table: pa.Table, name: str, rows: pa.Array, value: str) -> Bools:
    """Whether column ``name`` equals ``value`` at ``rows`` (a null is not equal)."""
    return np.asarray(pc.equal(_at(table, name, rows), value).fill_null(False).to_numpy(zero_copy_only=False))


def _integers(table: pa.Table, name: str, rows: pa.Array, default: int) -> I64:
    values = _at(table, name, rows).fill_null(default).to_numpy(zero_copy_only=False)
    return np.asarray(values, dtype=np.int64)


def _corrections(table: pa.Table, rows: pa.Array) -> I64:
    """Each row's lens correction as an index into ``CORRECTIONS`` (-1: none)."""
    values = _at(table, "correction", rows)
    index = pc.index_in(values, value_set=pa.array(CORRECTIONS)).fill_null(-1)
    return np.asarray(index.to_numpy(zero_copy_only=False), dtype=np.int64)


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


_CONTRACT_KEY = '{"contract": '
# A contract state as ``_merge`` (json.dumps of ``ContractYear.to_dict``, keys sorted) writes it, then what follows it.
_WRITTEN_CONTRACT = (
    r'^\{"contract": \{"days": \{[^{}]*\}, "envelopes": \{[^{}]*\}, "paid": \{[^{}]*\}, "year": -?[0-9]+\}(, |\}$)'
)


def _merged(details: pa.Array, contract: pa.Array) -> pa.Array:
    """``_merge`` of each row, by Arrow's string kernels: "contract" is the first of the details' sorted keys, so
    the contract's text goes first and the details' other keys follow as they are. A details text holding a
    contract in another shape than the batch writes (a state file made by hand) is merged by ``_merge``."""
    has_old = pc.starts_with(details, _CONTRACT_KEY).fill_null(False)
    rest = pc.if_else(has_old, pc.replace_substring_regex(details, _WRITTEN_CONTRACT, "{", max_replacements=1), details)
    odd = np.flatnonzero(np.asarray(pc.starts_with(rest, _CONTRACT_KEY).fill_null(False)))
    rest = pc.if_else(pc.equal(rest, "{").fill_null(False), pa.scalar(None, pa.string()), rest)  # nothing else kept
    tail = pc.if_else(rest.is_null(), "}", pc.binary_join_element_wise(", ", pc.utf8_slice_codeunits(rest, 1), ""))
    merged = pc.if_else(contract.is_null(), details, pc.binary_join_element_wise(_CONTRACT_KEY, contract, tail, ""))
    if odd.size:
        texts = merged.to_pylist()
        for i, d, c in zip(odd.tolist(), details.take(odd).to_pylist(), contract.take(odd).to_pylist(), strict=True):
            texts[i] = _merge(d, c)
        merged = pa.array(texts, pa.string())
    return merged


def _indices(column: pa.Array) -> tuple[I64, pa.Array]:
    """A dictionary column's indices (-1 for null) and dictionary."""
    if not pa.types.is_dictionary(column.type):
        column = column.dictionary_encode()
    return np.asarray(column.indices.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64), column.dictionary


def _dictionary(indices: I64, dictionary: pa.Array) -> pa.DictionaryArray:
    """Strings as a dictionary column (int32 indices, -1 or a null value: null), as ``PART_SCHEMA`` has them."""
    null = indices < 0
    if dictionary.null_count:  # a null value as a null index (Arrow unifies no dictionary holding nulls)
        null |= np.asarray(dictionary.is_null().to_numpy(zero_copy_only=False))[np.maximum(indices, 0)]
        dictionary = dictionary.fill_null("")
    return pa.DictionaryArray.from_arrays(pa.array(np.where(null, 0, indices).astype(np.int32), mask=null), dictionary)


def _states_before(
    given: pa.Array, claim_at: I64, of_key: I64, key_text: pa.Array, rows_at: I64, of_claim: I64
) -> pa.DictionaryArray:
    """The ``state_before`` column with the contract's state put in the details of the claims taken: one text per
    distinct (contract state, details given), the rows pointing at it (no text per claim).

    ``given``: the column as the twin wrote it; ``claim_at``: each claim's first line in it; ``of_key``: each
    claim's contract state in ``key_text``; ``rows_at``: the lines of the claims, ``of_claim`` their claim."""
    indices, dictionary = _indices(given)
    choices = len(dictionary) + 1
    pair = of_key * choices + indices[claim_at] + 1
    pairs, of_pair = np.unique(pair, return_inverse=True)
    details = pairs % choices - 1
    texts = _merged(dictionary.take(pa.array(details, mask=details < 0)), key_text.take(pa.array(pairs // choices)))
    indices[rows_at] = len(dictionary) + of_pair[of_claim]
    return _dictionary(indices, pa.concat_arrays([dictionary.cast(pa.string()), texts.cast(pa.string())]))


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
    of the rows that name one: AMC, reste à charge, contract state before each claim and after each patient of
    ``states`` (the patients whose state is asked for). The strings come as ``lines`` has them (dictionaries)."""
    take = np.flatnonzero(r.answered & (contracts != ""))
    if take.size == 0:
        return lines, states
    # ``lines`` holds the answered rows only, in order: each row's position among them.
    done = np.flatnonzero(r.answered)
    assert lines.num_rows == done.size
    at = np.full(sub.num_rows, -1, dtype=np.int64)
    at[done] = np.arange(done.size)
    taken = pa.array(take)
    # The kind of care of each row, from its act and profession (one catalogue look-up per distinct pair).
    act_code, profession = _at(sub, "act_code", taken), _at(sub, "profession", taken)
    pair = pc.binary_join_element_wise(act_code, profession, "\x1f").dictionary_encode()
    known = [categories(*value.split("\x1f")) for value in pair.dictionary.to_pylist()]
    category_codes = np.array([CATEGORIES.index(c) if c is not None else -1 for c in known] + [-1], dtype=np.int64)
    take_category = category_codes[pair.indices.fill_null(len(known)).to_numpy(zero_copy_only=False)]
    take_stay = take_category == CATEGORIES.index(Category.HOSPITAL_STAY)
    # One contract line per scalar line: a stay's daily charge (forfait journalier) follows the stay's line.
    repeat = 1 + take_stay.astype(np.int64)
    row = np.repeat(take, repeat)
    charge = np.zeros(row.size, dtype=bool)
    charge[np.cumsum(repeat)[take_stay] - 1] = True
    main = ~charge
    of_row = np.repeat(np.arange(take.size), repeat)  # each contract line's taken row
    line_category = take_category[of_row]
    row_stay = take_stay[of_row]
    general_practice = _is(sub, "specialty", taken, Specialty.GENERAL_PRACTICE.value)[of_row]
    act_code_rows = np.asarray(act_code.fill_null("").to_numpy(zero_copy_only=False), dtype=object)[of_row]
    kind = kinds_of(
        line_category,
        act_code_rows,
        np.asarray(pc.equal(profession, Profession.DENTIST.value).fill_null(False))[of_row],
        _flag(sub, "teleconsultation", taken)[of_row],
        general_practice,
        charge,
        _is(sub, "device_class", taken, "A")[of_row],
        np.asarray(_at(sub, "basket", taken).fill_null("").to_numpy(zero_copy_only=False), dtype=object)[of_row],
        _is(sub, "device_class", taken, "I")[of_row],
    )
    if (kind < 0).any():  # not a kind the twin covers: never reached (SUPPORTEDCATEGORIES)
        raise AssertionError("contract: a twin line without a kind of care")
    optics = line_category == CATEGORIES.index(Category.OPTICS)
    sector_2 = _is(sub, "sector", taken, "2")[of_row]
    quantity = _integers(sub, "quantity", taken, 1)[of_row]
    days_in = _integers(sub, "days", taken, 0)[of_row]
    days_given = ~np.asarray(_at(sub, "days", taken).is_null().to_numpy(zero_copy_only=False), dtype=bool)[of_row]
    daily_fee = r.daily_charge[row] if r.daily_charge is not None else np.zeros(row.size, dtype=np.int64)
    # The daily charge's AMO (covered for maternity, a newborn) is in the twin's AMO of the stay's row.
    daily_amo = r.amo[row] - (r.gross[row] - r.majoration[row] - r.participation[row] - r.franchise[row])
    fee = np.where(charge, daily_fee, r.fee[row])
    base = np.where(charge, daily_fee, r.base[row])
    gross = np.where(charge, daily_amo, r.gross[row])
    amo = np.where(charge, daily_amo, r.amo[row] - np.where(row_stay, daily_amo, 0))
    in_pathway = lines.column("in_pathway")
    out_of_pathway = np.asarray(pc.equal(in_pathway, False).fill_null(False).to_numpy(zero_copy_only=False))[at[row]]
    c2s = _flag(sub, "c2s", taken)[of_row]
    overrun = np.where(charge, 0, np.maximum(r.fee[row] - r.base[row], 0))
    # A secteur 1 specialist's consultation out of the pathway: its overrun is a dépassement autorisé (engine.
    # _classify_overrun), excluded by a contrat responsable.
    consultation = (line_category == CATEGORIES.index(Category.CONSULTATION)) & main
    authorised = (overrun > 0) & consultation & ~sector_2 & out_of_pathway & ~general_practice & ~c2s
    encoded = pa.array(contracts[take], pa.string()).dictionary_encode()
    names = encoded.dictionary.to_pylist()
    take_contract = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    pairs, contract_index = np.unique(take_contract[of_row] * _YEARS + _years(date[row]), return_inverse=True)
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
        non_optam=sector_2 & ~_flag(sub, "optam", taken)[of_row],
        patient_c2s=c2s,
        authorised_overrun=authorised,
        # the devices the twin takes: optics, dental prostheses, hearing aids (engine._classify_overrun)
        device_price=optics | np.isin(line_category, [CATEGORIES.index(c) for c in _OTHER_DEVICES]),
        claim=(np.cumsum(claim_start) - 1)[row],
        frame=optics & (act_code_rows == "FRAME"),
        correction=_corrections(sub, taken)[of_row],
    )
    openings: dict[int, ContractYear] = {}
    for p in np.unique(patient[take]).tolist() if states_in else []:
        state = states_in.get(p)
        data = getattr(state, "contract", None)
        if data:
            year = int(data["year"])
            openings[p] = ContractYear.from_dict(data, dt.date(year, 1, 1))
    loaded = [load(names[int(p) // _YEARS], int(p) % _YEARS) for p in pairs.tolist()]
    outcome = apply_contracts(loaded, contract_lines, openings, parameters)

    # The taken rows' AMC and reste à charge (a stay's with its daily charge's), at their lines.
    line_at = at[row]
    amc = np.zeros(done.size, dtype=np.int64)
    np.add.at(amc, line_at, outcome.amc)
    oop = np.zeros(done.size, dtype=np.int64)
    np.add.at(oop, line_at, outcome.out_of_pocket)
    without = np.ones(done.size, dtype=bool)
    without[at[take]] = False
    contract_code = np.full(done.size, -1, dtype=np.int64)
    contract_code[at[take]] = take_contract
    # The contract state before each claim (on all its lines) and after each patient's last line.
    first_line = np.flatnonzero(main)  # each taken row's main contract line
    claim_first = (np.flatnonzero(claim_start)[np.cumsum(claim_start) - 1])[take]
    claims, of_claim = np.unique(claim_first, return_inverse=True)
    # A claim's state before is its first line's; the same key, the same state (built once).
    key = outcome.state_key[first_line[np.searchsorted(take, claims)]]
    _, first_with, of_key = np.unique(key, return_index=True, return_inverse=True)
    key_text = outcome.before(first_line[np.searchsorted(take, claims[first_with])])
    given = lines.column("state_before").combine_chunks()
    for name, values in (
        ("contract", _dictionary(contract_code, encoded.dictionary)),
        ("amc", pa.array(amc, mask=without)),
        ("out_of_pocket", pa.array(oop, mask=without)),
        ("state_before", _states_before(given, at[claims], of_key, key_text, at[take], of_claim)),
    ):
        i = lines.schema.get_field_index(name)
        lines = lines.set_column(i, lines.schema.field(i), values)
    return lines, _states_after(states, patient[take], first_line, outcome)


def _states_after(states: pa.Table, taken_patient: I64, first_line: I64, outcome: ContractOutcome) -> pa.Table:
    """``states`` with each patient's contract state after their last taken row put in their details."""
    last_line = np.append(first_line[1:] - 1, outcome.amc.size - 1)  # each taken row's last contract line
    last_rows = np.flatnonzero(np.append(taken_patient[1:] != taken_patient[:-1], True))
    ids = states.column("patient_id").to_numpy()
    by_id = np.argsort(ids, kind="stable")
    wanted = last_rows[np.isin(taken_patient[last_rows], ids)]
    if not wanted.size:
        return states
    at = np.full(ids.size, -1, dtype=np.int64)
    at[by_id[np.searchsorted(ids[by_id], taken_patient[wanted])]] = np.arange(wanted.size)
    contract = outcome.after(last_line[wanted]).take(pa.array(at, mask=at < 0))
    i = states.schema.get_field_index("details")
    details = _merged(states.column(i).combine_chunks(), contract)
    return states.set_column(i, states.schema.field(i), details)
