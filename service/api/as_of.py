"""Request cutoffs (``as_of``): naive UTC, now when absent, never in the future; a 422 names the field otherwise."""

from __future__ import annotations

import datetime as dt

from fastapi import HTTPException


def now_utc() -> dt.datetime:
    """The current time as naive UTC (every timestamp in churnltv is naive UTC)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def naive_as_of(when: dt.datetime | None, field: str = "as_of") -> dt.datetime:
    """``when`` as naive UTC (now when None); 422 naming ``field`` (e.g. ``customers.2.as_of``) when unusable."""
    if when is None:
        return now_utc()
    if when.tzinfo is not None:
        try:
            when = when.astimezone(dt.UTC).replace(tzinfo=None)
        except OverflowError:  # e.g. 0001-01-01T00:00+14:00 is before datetime.min in UTC
            raise HTTPException(422, detail=f"{field}: {when.isoformat()} is out of the supported date range") from None
    if when > now_utc() + dt.timedelta(minutes=5):
        raise HTTPException(422, detail=f"{field}: {when.isoformat()} is in the future")
    return when
