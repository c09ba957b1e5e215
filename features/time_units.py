"""Explicit time units for BTYD quantities and horizons.

BG/NBD's t, t_x and T are in "periods"; the classic bug is mixing a horizon in
months with a model fitted on weeks. Every quantity that carries a period says
which unit it is in, and conversions go through days.
"""

from __future__ import annotations

from enum import StrEnum


class TimeUnit(StrEnum):
    """A period length. Values follow pandas/lifetimes frequency letters."""

    DAY = "D"
    WEEK = "W"
    MONTH = "M"

    @property
    def days(self) -> float:
        """Length of one period in days (a month is 365.25 / 12 days)."""
        return {TimeUnit.DAY: 1.0, TimeUnit.WEEK: 7.0, TimeUnit.MONTH: 365.25 / 12.0}[self]

    def from_days(self, days: float) -> float:
        """Convert a duration in days to this unit."""
        return days / self.days

    def convert(self, value: float, to: TimeUnit) -> float:
        """Convert ``value`` periods of this unit into periods of ``to``."""
        return value * self.days / to.days

    @classmethod
    def parse(cls, text: str) -> TimeUnit:
        """Accept D/W/M or day/week/month (any case)."""
        key = text.strip().upper()
        aliases = {"DAY": "D", "DAYS": "D", "WEEK": "W", "WEEKS": "W", "MONTH": "M", "MONTHS": "M"}
        key = aliases.get(key, key)
        try:
            return cls(key)
        except ValueError:
            raise ValueError(f"unknown time unit {text!r}; use D, W or M (day, week, month)") from None
