"""The columnar twin's fast kernels give exactly what the plain numpy calls they replace give.

``_claim_order`` stands for ``np.lexsort((claim, date, patient))`` (the order caps are taken in), ``_dense_unique``
for ``np.unique(..., return_inverse=True)``.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from parcours.rules.columnar import _claim_order, _dense_unique

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
