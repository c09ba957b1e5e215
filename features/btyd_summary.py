"""The one definition of the BTYD (buy-till-you-die) customer summary: frequency, recency, T, monetary value.

BG/NBD (Fader, Hardie & Lee 2005) and Gamma-Gamma (Fader, Hardie & Lee 2005b) consume, per customer:

* ``frequency`` x: number of *repeat* purchase days (distinct purchase days - 1);
* ``recency`` t_x: time from the first to the last purchase day;
* ``T``: time from the first purchase day to the last observable day before the cutoff ``as_of`` (the day of
  ``as_of`` minus one nanosecond: ``as_of`` = 1997-10-01 means "observed through 1997-09-30");
* ``monetary_value``: mean spend per repeat purchase day (the first day is excluded, as in the Gamma-Gamma
  paper's z-bar); NaN when x = 0 (one-time buyers carry no repeat-spend information).

Purchases are merged per calendar *day* (same-day payments are one purchase), not binned into weeks: this is
how the paper built the CDNOW summary (docs/LTV.md, docs/DOMAIN.md section 10). Recency and T are measured in days
and expressed in ``unit`` (days / ``unit.days``). Only transactions with ``occurred_at < as_of`` are used
(cutoffs are exclusive). Customers without a transaction before ``as_of`` are absent from the result.

Both implementations (pandas and DuckDB SQL) return the same frame: index ``customer_id`` (string, sorted),
columns ``frequency`` (int64), ``recency``, ``T``, ``monetary_value`` (float64).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features.errors import UserInputError
from features.time_units import TimeUnit
from features.value_repr import shown

if TYPE_CHECKING:
    import duckdb

SUMMARY_COLUMNS = ("frequency", "recency", "T", "monetary_value")


def last_observable_day(as_of: pd.Timestamp) -> pd.Timestamp:
    """The last calendar day that can hold a purchase before the exclusive cutoff ``as_of``.

    ``as_of`` = 1997-10-01 00:00 gives 1997-09-30; ``as_of`` = 1997-10-01 12:00 gives 1997-10-01 (its morning
    is observed). T is measured to this day so that recency and T use the same day grid: t_x = T exactly when
    the customer bought on the last observed day, as in the paper's CDNOW summary (T = 38.86 weeks = 272 days
    for a first purchase on 1997-01-01 with calibration through 1997-09-30).
    """
    return (pd.Timestamp(as_of) - pd.Timedelta(1, "ns")).floor("D")


def _empty_summary() -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "frequency": pd.Series([], dtype="int64"),
            "recency": pd.Series([], dtype="float64"),
            "T": pd.Series([], dtype="float64"),
            "monetary_value": pd.Series([], dtype="float64"),
        }
    )
    frame.index = pd.Index([], dtype=object, name="customer_id")
    return frame


def btyd_summary(
    transactions: pd.DataFrame,
    as_of: pd.Timestamp,
    unit: TimeUnit,
    *,
    customer_col: str = "customer_id",
    time_col: str = "occurred_at",
    amount_col: str = "amount",
) -> pd.DataFrame:
    """BTYD summary of ``transactions`` before ``as_of`` (exclusive), in periods of ``unit``.

    Vectorised: one groupby per (customer, day) and one per customer. Raises ``UserInputError`` naming the
    column when a column is missing, a timestamp cannot be parsed or an amount is missing or negative.
    """
    for col in (customer_col, time_col, amount_col):
        if col not in transactions.columns:
            raise UserInputError(
                f"transactions: column {col!r} not found (columns: {', '.join(map(str, transactions.columns))})"
            )
    as_of = pd.Timestamp(as_of)
    if as_of.tzinfo is not None:
        as_of = as_of.tz_convert("UTC").tz_localize(None)
    try:
        times = pd.to_datetime(transactions[time_col])
    except (ValueError, TypeError) as err:
        raise UserInputError(f"transactions: column {time_col!r} has values that are not timestamps: {err}") from None
    if getattr(times.dt, "tz", None) is not None:
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    amounts = pd.to_numeric(transactions[amount_col], errors="coerce").astype("float64")
    bad = amounts.isna() | (amounts < 0) | (amounts == np.inf)  # NaN and inf are not amounts
    if bool(bad.any()):
        pos = int(np.flatnonzero(bad.to_numpy())[0])
        value = transactions[amount_col].iloc[pos]
        raise UserInputError(
            f"transactions: row {pos + 1}, column {amount_col!r}: amount must be a non-negative number "
            f"(value: {shown(value)}; {int(bad.sum())} such row(s))"
        )
    if bool(times.isna().any()):
        pos = int(np.flatnonzero(times.isna().to_numpy())[0])
        raise UserInputError(f"transactions: row {pos + 1}, column {time_col!r}: missing timestamp")

    keep = (times < as_of).to_numpy()
    if not keep.any():
        return _empty_summary()
    frame = pd.DataFrame(
        {
            "customer_id": transactions[customer_col].to_numpy()[keep].astype(str),
            "day": times.to_numpy()[keep].astype("datetime64[D]"),
            "amount": amounts.to_numpy()[keep],
        }
    )
    daily = frame.groupby(["customer_id", "day"], sort=True, as_index=False)["amount"].sum()
    per = daily.groupby("customer_id", sort=True).agg(
        first_day=("day", "min"),
        last_day=("day", "max"),
        n_days=("day", "size"),
        total=("amount", "sum"),
        first_amount=("amount", "first"),  # rows are sorted by day within a customer
    )
    frequency = per["n_days"].to_numpy(dtype="int64") - 1
    first = per["first_day"].to_numpy().astype("datetime64[D]")
    last = per["last_day"].to_numpy().astype("datetime64[D]")
    recency_days = (last - first).astype("int64").astype("float64")
    t_days = (np.datetime64(last_observable_day(as_of).date(), "D") - first).astype("int64").astype("float64")
    repeat_total = per["total"].to_numpy() - per["first_amount"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        monetary = np.where(frequency > 0, repeat_total / np.maximum(frequency, 1), np.nan)
    result = pd.DataFrame(
        {
            "frequency": frequency,
            "recency": recency_days / unit.days,
            "T": t_days / unit.days,
            "monetary_value": monetary.astype("float64"),
        },
        index=pd.Index(per.index.to_numpy(dtype=object), dtype=object, name="customer_id"),
    )
    return result


def btyd_summary_sql(con: duckdb.DuckDBPyConnection, as_of: pd.Timestamp, unit: TimeUnit) -> pd.DataFrame:
    """The same summary computed inside DuckDB from the ``transactions`` table of a contract connection.

    Equal to :func:`btyd_summary` on the same rows; scales to millions of customers because only the
    per-customer result leaves DuckDB.
    """
    as_of = pd.Timestamp(as_of)
    if as_of.tzinfo is not None:
        as_of = as_of.tz_convert("UTC").tz_localize(None)
    tables = {row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    if "transactions" not in tables:
        raise UserInputError(
            "the data has no transactions table; BG/NBD + Gamma-Gamma need purchases (customer_id, occurred_at, amount)"
        )
    query = """
        WITH daily AS (
            SELECT CAST(customer_id AS VARCHAR) AS customer_id,
                   CAST(occurred_at AS DATE) AS day,
                   SUM(amount) AS amount
            FROM transactions
            WHERE occurred_at < CAST($as_of AS TIMESTAMP)
            GROUP BY 1, 2
        ),
        per AS (
            SELECT customer_id,
                   MIN(day) AS first_day,
                   MAX(day) AS last_day,
                   COUNT(*) AS n_days,
                   SUM(amount) AS total,
                   arg_min(amount, day) AS first_amount
            FROM daily
            GROUP BY 1
        )
        SELECT customer_id,
               CAST(n_days - 1 AS BIGINT) AS frequency,
               CAST(date_diff('day', first_day, last_day) AS DOUBLE) / $unit_days AS recency,
               CAST(date_diff('day', first_day, CAST($last_day AS DATE)) AS DOUBLE) / $unit_days AS "T",
               CASE WHEN n_days > 1 THEN (total - first_amount) / (n_days - 1) ELSE NULL END AS monetary_value
        FROM per
        ORDER BY customer_id
    """
    params = {"as_of": as_of.to_pydatetime(), "last_day": last_observable_day(as_of).date(), "unit_days": unit.days}
    frame = con.execute(query, params).df()
    if len(frame) == 0:
        return _empty_summary()
    result = pd.DataFrame(
        {
            "frequency": frame["frequency"].to_numpy(dtype="int64"),
            "recency": frame["recency"].to_numpy(dtype="float64"),
            "T": frame["T"].to_numpy(dtype="float64"),
            "monetary_value": frame["monetary_value"].to_numpy(dtype="float64", na_value=np.nan),
        },
        index=pd.Index(frame["customer_id"].to_numpy(dtype=object), dtype=object, name="customer_id"),
    )
    return result
