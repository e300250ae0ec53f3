"""Calendar arithmetic the rules need (ages, 'within 12 months', 'from the 6th month'), via dateutil."""

from __future__ import annotations

import calendar
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
    """Age in whole years on a date (a person born on 29 Feb turns a year older on 28 Feb in a common year).

    The same answer as ``relativedelta(on, birth).years`` (a hypothesis test proves it), in plain integer
    arithmetic: the age is read for every event, and relativedelta costs several microseconds.
    """
    years = on.year - birth.year
    month, day = birth.month, birth.day
    if month == 2 and day == 29 and not calendar.isleap(on.year):
        day = 28  # the birthday of a 29 February baby falls on 28 February in a common year
    if (on.month, on.day) < (month, day):
        years -= 1
    return years
