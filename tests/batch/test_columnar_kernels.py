"""The columnar twin's fast kernels give exactly what the plain numpy calls they replace give.

``_claim_order`` stands for ``np.lexsort((claim, date, patient))`` (the order caps are taken in), ``_dense_unique``
for ``np.unique(..., return_inverse=True)``; ``_Combos`` groups rows by their tuple of codes, ``_age_bands`` puts
ages no threshold separates in one band.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from parcours.batch.kernel import _json_objects
from parcours.rules.columnar import _age_bands, _claim_order, _Combos, _dense_unique, age_on_days
from parcours.rules.dates import age_on

SIZES = st.integers(0, 300)


def int_arrays(size: int, low: int, high: int) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(np.int64, size, elements=st.integers(low, high))


@st.composite
def claim_columns(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    size = draw(SIZES)
    # Narrow ranges make ties on patient and date; wide ones take the three-key fallback.
    patient_high = draw(st.sampled_from([3, 1_000, 2**40]))
    date_high = draw(st.sampled_from([2, 20_000, 2**30]))
    patient = draw(int_arrays(size, -patient_high, patient_high))
    date = draw(int_arrays(size, 0, date_high))
    claim = draw(int_arrays(size, -5, 50))
    if draw(st.booleans()):
        claim = np.sort(claim)  # claims usually arrive in order
    return patient, date, claim


@given(claim_columns())
def test_claim_order_is_the_lexsort(columns: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    patient, date, claim = columns
    assert np.array_equal(_claim_order(patient, date, claim), np.lexsort((claim, date, patient)))


@given(SIZES.flatmap(lambda n: int_arrays(n, -(2**21), 2**22)))
def test_dense_unique_is_numpy_unique(values: np.ndarray) -> None:
    uniques, inverse = _dense_unique(values)
    expected_uniques, expected_inverse = np.unique(values, return_inverse=True)
    assert np.array_equal(uniques, expected_uniques)
    assert np.array_equal(inverse, expected_inverse.reshape(-1))


@st.composite
def coded_columns(draw: st.DrawFn) -> list[tuple[np.ndarray, int]]:
    """Columns of codes in [0, cardinality): small ones (ties), and wide ones, whose product passes 63 bits and
    makes the key be renumbered on the way."""
    size = draw(SIZES)
    columns = []
    for _ in range(draw(st.integers(1, 6))):
        cardinality = draw(st.sampled_from([1, 2, 3, 7, 2**21, 2**40]))
        high = min(cardinality - 1, draw(st.sampled_from([1, 3, 2**50])))
        columns.append((draw(int_arrays(size, 0, high)), cardinality))
    return columns


@given(coded_columns())
def test_combinations_group_the_rows_with_equal_codes(columns: list[tuple[np.ndarray, int]]) -> None:
    combos = _Combos(columns[0][0].size)
    for values, cardinality in columns:
        combos.add(values, cardinality)
    inverse, representative = combos.groups()
    rows = list(zip(*(values.tolist() for values, _ in columns), strict=True))
    distinct = sorted(set(rows))
    assert representative.size == len(distinct)
    for i, row in enumerate(rows):
        assert rows[representative[inverse[i]]] == row  # the representative reads what the row reads
    # Equal codes, equal combination; different codes, different combinations.
    assert len({(row, int(inverse[i])) for i, row in enumerate(rows)}) == len(distinct)


@given(
    hnp.arrays(np.int64, st.integers(0, 200), elements=st.integers(-50, 400)),
    st.lists(st.integers(-5, 130) | st.just(10_001), min_size=1, max_size=12),
)
def test_ages_of_one_band_compare_alike_with_every_threshold(ages: np.ndarray, thresholds: list[int]) -> None:
    t = np.unique(np.array(thresholds, dtype=np.int64))
    bands, count = _age_bands(ages, t)
    assert count == t.size + 1
    for age, band in zip(ages.tolist(), bands.tolist(), strict=True):
        assert 0 <= band < count
        assert band == sum(1 for x in t.tolist() if x <= age)  # so equal bands, equal answers to every age < t


LEAP_DAYS = [dt.date(y, 2, 29) for y in (1804, 1896, 1904, 2000, 2008, 2024)]


@given(
    st.lists(
        st.tuples(
            st.dates(dt.date(1800, 1, 1), dt.date(2099, 12, 31)) | st.sampled_from(LEAP_DAYS),
            st.dates(dt.date(1800, 1, 1), dt.date(2099, 12, 31))
            | st.sampled_from([dt.date(2025, 2, 28), dt.date(2100, 2, 28)]),
        ).filter(lambda pair: pair[0] <= pair[1]),
        max_size=50,
    )
)
def test_age_on_days_is_the_scalar_age(pairs: list[tuple[dt.date, dt.date]]) -> None:
    epoch = dt.date(1970, 1, 1)
    birth = np.array([(b - epoch).days for b, _ in pairs], dtype=np.int64)
    on = np.array([(d - epoch).days for _, d in pairs], dtype=np.int64)
    assert age_on_days(birth, on).tolist() == [age_on(b, d) for b, d in pairs]


@given(
    st.lists(
        st.tuples(st.integers(0, 6), st.sampled_from([-1, 0, 2, 9, 10, 11, 100, 2**40]), st.integers(0, 500)),
        unique_by=lambda e: (e[0], e[1]),
        max_size=40,
    ),
    st.booleans(),
)
def test_json_objects_is_json_dumps_per_owner(entries: list[tuple[int, int, int]], grouped: bool) -> None:
    """One JSON object per id, its keys sorted as text ("10" before "9"), as ``json.dumps(sort_keys=True)``;
    entries grouped by owner (the kernel's case) or not."""
    if grouped:
        entries = sorted(entries, key=lambda e: e[0])
    ids = np.arange(8, dtype=np.int64)
    owner, keys, values = (np.array([e[i] for e in entries], dtype=np.int64) for i in range(3))
    got = _json_objects(owner, keys, values, ids).to_pylist()
    expected = []
    for i in ids.tolist():
        mine = {str(k): v for o, k, v in entries if o == i}
        expected.append(json.dumps(mine, sort_keys=True) if mine else None)
    assert got == expected
