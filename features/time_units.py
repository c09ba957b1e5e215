"""Explicit time units for BTYD quantities and horizons.

BG/NBD's t, t_x and T are in "periods"; the classic bug is mixing a horizon in
months with a model fitted on weeks. Every quantity that carries a period says
which unit it is in, and conversions go through days.

A month is 365.25 / 12 = 30.4375 days in every unit (``MONTH_DAYS``), so a 12-month horizon is the same span of
time whether the model counts days, weeks or months. lifetimes' ``customer_lifetime_value`` instead steps
30 days, 4.345 weeks or 1 month depending on the unit (``LIFETIMES_PERIODS_PER_MONTH``), which makes 12 months on
daily data 0.989x the weekly value; that convention is kept only as an explicit compatibility choice
(``MonthConvention`` "lifetimes") for comparing numbers with lifetimes.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from features.errors import UserInputError

MONTH_DAYS = 365.25 / 12.0
"""Days in one month: a Julian year over 12 (the same in every time unit)."""

MonthConvention = Literal["calendar", "lifetimes"]
"""How long a month is in model periods: "calendar" = MONTH_DAYS in every unit; "lifetimes" = lifetimes' steps."""


class TimeUnit(StrEnum):
    """A period length. Values follow pandas/lifetimes frequency letters."""

    DAY = "D"
    WEEK = "W"
    MONTH = "M"

    @property
    def days(self) -> float:
        """Length of one period in days (a month is 365.25 / 12 days)."""
        return {TimeUnit.DAY: 1.0, TimeUnit.WEEK: 7.0, TimeUnit.MONTH: MONTH_DAYS}[self]

    def from_days(self, days: float) -> float:
        """Convert a duration in days to this unit."""
        return days / self.days

    def convert(self, value: float, to: TimeUnit) -> float:
        """Convert ``value`` periods of this unit into periods of ``to``."""
        return value * self.days / to.days

    def periods_per_month(self, convention: MonthConvention = "calendar") -> float:
        """One month in periods of this unit: MONTH_DAYS / days ("calendar"), or lifetimes' step ("lifetimes")."""
        if convention == "calendar":
            return MONTH_DAYS / self.days
        if convention == "lifetimes":
            return LIFETIMES_PERIODS_PER_MONTH[self]
        raise UserInputError(f"month convention must be 'calendar' or 'lifetimes', got {convention!r}")

    @classmethod
    def parse(cls, text: str) -> TimeUnit:
        """Accept D/W/M or day/week/month (any case); anything else is a ``UserInputError``."""
        key = str(text).strip().upper()
        aliases = {"DAY": "D", "DAYS": "D", "WEEK": "W", "WEEKS": "W", "MONTH": "M", "MONTHS": "M"}
        key = aliases.get(key, key)
        try:
            return cls(key)
        except ValueError:
            raise UserInputError(f"unknown time unit {text!r}; use D, W or M (day, week, month)") from None


LIFETIMES_PERIODS_PER_MONTH = {TimeUnit.DAY: 30.0, TimeUnit.WEEK: 4.345, TimeUnit.MONTH: 1.0}
"""One month in model periods as lifetimes' ``customer_lifetime_value`` steps (its ``freq`` factor)."""
