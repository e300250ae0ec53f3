"""Calendar arithmetic the rules need (ages, 'within 12 months', 'from the 6th month'), via dateutil."""

from __future__ import annotations

import datetime as dt

from dateutil.relativedelta import relativedelta


def add_months(day: dt.date, months: int) -> dt.date:
    """Same day n months later, clamped to the month's end (31 Jan + 1 month = 28/29 Feb)."""
    result: dt.date = day + relativedelta(months=months)
    return result


def add_years(day: dt.date, years: int) -> dt.date:
    result: dt.date = day + relativedelta(years=years)
    return result


def age_on(birth: dt.date, on: dt.date) -> int:
    """Age in whole years on a date (a person born on 29 Feb turns a year older on 28 Feb)."""
    return relativedelta(on, birth).years
