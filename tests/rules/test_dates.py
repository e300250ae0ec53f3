"""Calendar arithmetic: the fast whole-years age agrees with dateutil's relativedelta, 29 February included."""

from __future__ import annotations

import datetime as dt

from dateutil.relativedelta import relativedelta
from hypothesis import example, given
from hypothesis import strategies as st

from parcours.rules.dates import age_on

BIRTHS = st.dates(dt.date(1900, 1, 1), dt.date(2100, 12, 31))
LEAP_BIRTHS = (
    st.integers(1904, 2096).filter(lambda y: y % 4 == 0 and (y % 100 or y % 400 == 0)).map(lambda y: dt.date(y, 2, 29))
)


@given(birth=BIRTHS | LEAP_BIRTHS, days=st.integers(0, 120 * 366))
@example(birth=dt.date(2000, 2, 29), days=365)  # 2001-02-28: one year old already
@example(birth=dt.date(2000, 2, 29), days=364)  # 2001-02-27: not yet
@example(birth=dt.date(2000, 2, 29), days=366 + 365 + 365 + 365)  # 2004-02-29
@example(birth=dt.date(2000, 3, 1), days=365)  # 2001-03-01
def test_age_on_equals_relativedelta(birth: dt.date, days: int) -> None:
    on = birth + dt.timedelta(days=days)
    assert age_on(birth, on) == relativedelta(on, birth).years


def test_29_february_birthday_in_a_common_year() -> None:
    assert age_on(dt.date(2008, 2, 29), dt.date(2026, 2, 27)) == 17
    assert age_on(dt.date(2008, 2, 29), dt.date(2026, 2, 28)) == 18
