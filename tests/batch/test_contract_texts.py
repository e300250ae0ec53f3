"""The contract's state texts built by Arrow's string kernels (``rules.contracts.columnar``, ``batch.contracts``)
equal, text for text, what Python's ``json`` writes: the scalar route's ``ContractYear.to_dict`` and
``PatientState.details`` (property tests; the batch as a whole is compared in test_batch_differential.py)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from parcours.batch.contracts import _merge, _merged
from parcours.batch.kernel import PatientState
from parcours.rules.contracts.amc import ContractYear
from parcours.rules.contracts.columnar import KINDS, _euros_text, _json_object

KIND_NAMES = [k.value for k in KINDS]
cents = st.integers(min_value=-(10**12), max_value=10**12)


@settings(max_examples=60, deadline=None)
@given(st.lists(cents, max_size=50))
def test_euros_are_written_as_repr_of_the_float(values: list[int]) -> None:
    assert _euros_text(np.array(values, dtype=np.int64)).to_pylist() == [repr(v / 100) for v in values]


def test_euros_beyond_the_exact_range_fall_back_to_repr() -> None:
    values = [10**17 + 1, -(10**16), 5]
    assert _euros_text(np.array(values, dtype=np.int64)).to_pylist() == [repr(v / 100) for v in values]


contract_years = st.builds(
    ContractYear,
    year=st.integers(2020, 2030),
    paid=st.dictionaries(st.sampled_from(KIND_NAMES), st.integers(0, 10**9), max_size=4),
    days=st.dictionaries(st.sampled_from(KIND_NAMES), st.integers(0, 400), max_size=3),
    envelopes=st.dictionaries(st.sampled_from(KIND_NAMES), st.integers(0, 10**7), max_size=3),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(contract_years, min_size=1, max_size=8))
def test_a_contract_state_is_json_dumps_of_to_dict(years: list[ContractYear]) -> None:
    parts: dict[str, pa.Array] = {}
    for name in ("days", "envelopes", "paid"):
        keys = sorted({k for y in years for k in getattr(y, name)}, reverse=True)  # any order in, sorted out
        present = np.array([[k in getattr(y, name) for k in keys] for y in years], dtype=bool).reshape(len(years), -1)
        value = [np.array([getattr(y, name).get(k, 0) for y in years], dtype=np.int64) for k in keys]
        texts = [pa.array(v).cast(pa.string()) if name == "days" else _euros_text(v) for v in value]
        parts[name] = _json_object(keys, texts, present)
    built = [
        f'{{"days": {d}, "envelopes": {e}, "paid": {p}, "year": {y.year}}}'
        for d, e, p, y in zip(*(parts[n].to_pylist() for n in ("days", "envelopes", "paid")), years, strict=True)
    ]
    assert built == [json.dumps(y.to_dict(), sort_keys=True) for y in years]


patient_states = st.builds(
    PatientState,
    as_of=st.just(dt.date(2025, 3, 1)),
    teleexpertise=st.dictionaries(st.sampled_from(["TE1", "TE2"]), st.integers(1, 4), max_size=2),
    psychologist_sessions=st.integers(0, 12),
    participation_owed=st.integers(0, 5000),
    franchises_owed=st.sampled_from([0, 150]),
    last_optical=st.sampled_from([None, "2024-05-01"]),
    last_hearing=st.sampled_from([{}, {"left": "2023-01-02", "right": None}]),
    contract=st.one_of(
        st.none(),
        contract_years.map(ContractYear.to_dict),
        st.just({"year": 2025, "paid": {"pharmacy_major": 1.5}}),  # another shape (a state file made by hand)
    ),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(patient_states, st.one_of(st.none(), contract_years)), min_size=1, max_size=10))
def test_merged_is_merge_row_by_row(rows: list[tuple[PatientState, ContractYear | None]]) -> None:
    details = [state.details() for state, _ in rows]
    contract: list[Any] = [None if y is None else json.dumps(y.to_dict(), sort_keys=True) for _, y in rows]
    merged = _merged(pa.array(details, pa.string()), pa.array(contract, pa.string()))
    assert merged.to_pylist() == [_merge(d, c) for d, c in zip(details, contract, strict=True)]
