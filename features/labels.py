"""Churn labels for training: did the customer churn within the horizon H after each cutoff?

Two definitions (setting ``churn_definition``, issue 3; its default ``auto`` picks one from the data's shape,
``features.churn_definition``):

* ``non_contractual``: the population at a cutoff is every customer signed up before it with
  activity (any event or purchase) in the ``activity_lookback_days`` before it; ``churned = 1``
  when the customer has no activity at all in ``[as_of, as_of + H)``. Customers already gone
  before the lookback window are not in the population: predicting that a dormant customer
  stays dormant teaches a model nothing. With ``non_contractual_population = "rhythm"`` the population is
  instead every customer active before the cutoff who is not already gone by their *own* rhythm (the lapse rule
  of ``features.lapse``: idle longer than a multiple of their usual gap between active days), so a daily user
  silent for six weeks is out and a customer who comes every two months is in.
* ``contractual``: the population is every customer with a subscription active at the cutoff
  (started before it, not ended before it); ``churned = 1`` when no subscription is active at
  ``as_of + H``, i.e. the subscription ended within the horizon and was not renewed in it.

Labels look into the future by design, so they exist only for cutoffs whose whole horizon lies
inside the data (``as_of + H <= data end``); later cutoffs are a UserInputError naming them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from features.churn_definition import concrete_settings
from features.errors import UserInputError
from features.point_in_time import US_PER_DAY, normalize_cutoffs, present_columns
from features.settings import FeatureSettings

if TYPE_CHECKING:
    import duckdb
    import numpy as np
    import numpy.typing as npt
    import pandas as pd

logger = logging.getLogger(__name__)

ACTIVITY_TABLES = ("events", "transactions")


def _activity_sql(columns: dict[str, set[str]]) -> str:
    parts = [f"SELECT customer_id, occurred_at AS ts FROM {t}" for t in ACTIVITY_TABLES if t in columns]
    if not parts:
        raise UserInputError("the data has neither an events nor a transactions table: no activity to label")
    return " UNION ALL ".join(parts)


def data_time_range(con: duckdb.DuckDBPyConnection) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Earliest and latest activity (event or purchase) in the data, as naive-UTC timestamps."""
    import pandas as pd

    columns = present_columns(con)
    row = con.execute(f"SELECT min(ts), max(ts) FROM ({_activity_sql(columns)})").fetchone()
    if row is None or row[0] is None:
        raise UserInputError("the events and transactions tables are empty: the data has no time range")
    return pd.Timestamp(row[0]).as_unit("us"), pd.Timestamp(row[1]).as_unit("us")


def default_cutoffs(
    con: duckdb.DuckDBPyConnection,
    settings: FeatureSettings | None = None,
    n: int = 6,
    spacing_days: int | None = None,
) -> list[pd.Timestamp]:
    """Up to ``n`` midnight cutoffs, oldest first, derived from the data's date range.

    The latest is the data's last day minus the horizon (so its labels are complete); the others
    follow every ``spacing_days`` (default: the horizon) going back. A cutoff needs at least one
    horizon of history before it; when fewer than ``n`` fit, the ones that fit are returned (and
    a warning logged); when none fits, a UserInputError says how long the data would need to be.
    """
    import pandas as pd

    settings = settings or FeatureSettings()
    if n < 1:
        raise UserInputError(f"number of cutoffs must be >= 1, got {n}")
    spacing = spacing_days if spacing_days is not None else settings.horizon_days
    if spacing < 1:
        raise UserInputError(f"cutoff spacing must be >= 1 day, got {spacing}")
    start, end = data_time_range(con)
    horizon = pd.Timedelta(days=settings.horizon_days)
    latest = end.floor("D") - horizon
    earliest_allowed = start + horizon
    cutoffs = [latest - pd.Timedelta(days=spacing * i) for i in range(n)]
    fitting = sorted(c for c in cutoffs if c >= earliest_allowed)
    if not fitting:
        days = (end - start) / pd.Timedelta(days=1)
        raise UserInputError(
            f"the data covers only {days:.1f} days ({start} to {end}); a cutoff needs "
            f"{settings.horizon_days} days of history before it and {settings.horizon_days} days of labels after it "
            f"(horizon_days), so the data must span at least {2 * settings.horizon_days} days"
        )
    if len(fitting) < n:
        logger.warning(
            "only %d of %d cutoffs fit in the data (%s to %s) with %d-day spacing and a %d-day horizon",
            len(fitting),
            n,
            start,
            end,
            spacing,
            settings.horizon_days,
        )
    return [c.as_unit("us") for c in fitting]


def _rhythm_population_sql(columns: dict[str, set[str]], settings: FeatureSettings) -> str:
    """Non-contractual labels over the customers active before the cutoff and not gone by their own rhythm.

    The lapse rule of ``features.lapse`` on the label's activity (events and purchases): idle days at the cutoff
    against the median gap between distinct active days in the ``RHYTHM_LOOKBACK_DAYS`` before it. Activity older
    than the rule's longest threshold cannot keep anyone in, so only that window is read.
    """
    from features.lapse import RHYTHM_LOOKBACK_DAYS, lapsed_sql

    rule, h = settings.lapse, settings.horizon_days
    reach = math.ceil(max(rule.max_idle_days, rule.fallback_idle_days))
    idle = f"(date_diff('microsecond', b.last_ts, b.as_of) / {US_PER_DAY}.0)"
    return f"""
        WITH cut AS (SELECT unnest($1::TIMESTAMP[]) AS as_of),
        activity AS ({_activity_sql(columns)}),
        before AS (
            SELECT c.as_of, a.customer_id, max(a.ts) AS last_ts
            FROM activity a JOIN cut c ON a.ts < c.as_of AND a.ts >= c.as_of - INTERVAL {reach} DAY
            GROUP BY ALL
        ),
        days AS (
            SELECT DISTINCT c.as_of, a.customer_id, CAST(a.ts AS DATE) AS d
            FROM activity a JOIN cut c ON a.ts < c.as_of AND a.ts >= c.as_of - INTERVAL {RHYTHM_LOOKBACK_DAYS} DAY
        ),
        gaps AS (
            SELECT as_of, customer_id, quantile_cont(gap, 0.5) AS usual_gap
            FROM (SELECT as_of, customer_id, d - lag(d) OVER (PARTITION BY as_of, customer_id ORDER BY d) AS gap
                  FROM days)
            WHERE gap IS NOT NULL
            GROUP BY ALL
        ),
        after AS (
            SELECT DISTINCT c.as_of, a.customer_id
            FROM activity a JOIN cut c ON a.ts >= c.as_of AND a.ts < c.as_of + INTERVAL {h} DAY
        )
        SELECT b.customer_id, b.as_of, CASE WHEN af.customer_id IS NULL THEN 1 ELSE 0 END AS churned
        FROM before b JOIN customers cu ON cu.customer_id = b.customer_id
        LEFT JOIN gaps g ON g.as_of = b.as_of AND g.customer_id = b.customer_id
        LEFT JOIN after af ON af.as_of = b.as_of AND af.customer_id = b.customer_id
        WHERE cu.signup_at < b.as_of AND NOT {lapsed_sql(idle, "g.usual_gap", rule)}
        ORDER BY b.as_of, b.customer_id
    """


def build_labels(
    con: duckdb.DuckDBPyConnection,
    cutoffs: Sequence[pd.Timestamp | str],
    settings: FeatureSettings | None = None,
) -> pd.DataFrame:
    """Columns customer_id (str), as_of (datetime64[us]), churned (int8), sorted by as_of, customer_id."""
    import pandas as pd

    settings = concrete_settings(con, settings or FeatureSettings())
    as_ofs = normalize_cutoffs(cutoffs)
    columns = present_columns(con)
    if "customers" not in columns:
        raise UserInputError("the data has no customers table; it is required to build labels")
    _, end = data_time_range(con)
    horizon = pd.Timedelta(days=settings.horizon_days)
    late = [c for c in as_ofs if c + horizon > end]
    if late:
        raise UserInputError(
            f"cutoff {late[0]} is too late for {settings.horizon_days}-day labels: its horizon ends "
            f"{late[0] + horizon}, after the data's last activity {end}; use a cutoff on or before {end - horizon}"
        )
    params: list[object] = [[c.to_pydatetime() for c in as_ofs]]
    h = settings.horizon_days
    if settings.churn_definition == "contractual":
        if "subscriptions" not in columns:
            raise UserInputError(
                "churn_definition 'contractual' needs a subscriptions table; the data has none "
                "(use churn_definition non_contractual)"
            )
        sql = f"""
            WITH cut AS (SELECT unnest($1::TIMESTAMP[]) AS as_of),
            flags AS (
                SELECT c.as_of, s.customer_id,
                       bool_or(s.started_at < c.as_of AND (s.ended_at IS NULL OR s.ended_at >= c.as_of))
                           AS active_at_cutoff,
                       bool_or(s.started_at < c.as_of + INTERVAL {h} DAY
                               AND (s.ended_at IS NULL OR s.ended_at >= c.as_of + INTERVAL {h} DAY)) AS active_at_end
                FROM subscriptions s JOIN cut c ON s.started_at < c.as_of + INTERVAL {h} DAY
                GROUP BY ALL
            )
            SELECT f.customer_id, f.as_of, CASE WHEN f.active_at_end THEN 0 ELSE 1 END AS churned
            FROM flags f JOIN customers cu ON cu.customer_id = f.customer_id
            WHERE f.active_at_cutoff AND cu.signup_at < f.as_of
            ORDER BY f.as_of, f.customer_id
        """
    elif settings.non_contractual_population == "rhythm":
        sql = _rhythm_population_sql(columns, settings)
    else:
        lookback = settings.activity_lookback_days
        sql = f"""
            WITH cut AS (SELECT unnest($1::TIMESTAMP[]) AS as_of),
            activity AS ({_activity_sql(columns)}),
            flags AS (
                SELECT c.as_of, a.customer_id, bool_or(a.ts < c.as_of) AS active_before,
                       bool_or(a.ts >= c.as_of) AS active_after
                FROM activity a JOIN cut c
                  ON a.ts >= c.as_of - INTERVAL {lookback} DAY AND a.ts < c.as_of + INTERVAL {h} DAY
                GROUP BY ALL
            )
            SELECT f.customer_id, f.as_of, CASE WHEN f.active_after THEN 0 ELSE 1 END AS churned
            FROM flags f JOIN customers cu ON cu.customer_id = f.customer_id
            WHERE f.active_before AND cu.signup_at < f.as_of
            ORDER BY f.as_of, f.customer_id
        """
    frame = con.execute(sql, params).df()
    out = pd.DataFrame(
        {
            "customer_id": frame["customer_id"].astype(str),
            "as_of": frame["as_of"].astype("datetime64[us]"),
            "churned": frame["churned"].astype("int8"),
        },
        index=pd.RangeIndex(len(frame)),
    )
    logger.info(
        "built %d labels for %d cutoff(s) (%s, horizon %d days): churn rate %.3f",
        len(out),
        len(as_ofs),
        settings.churn_definition,
        h,
        float(out["churned"].mean()) if len(out) else float("nan"),
    )
    return out


def churned_after(
    con: duckdb.DuckDBPyConnection,
    pairs: pd.DataFrame,
    settings: FeatureSettings | None = None,
    *,
    time_column: str = "as_of",
) -> npt.NDArray[np.float64]:
    """The churn label of ``build_labels`` for arbitrary (customer, time) pairs, row-aligned: 1.0 churned, 0.0
    retained, NaN when the horizon after the time is not over by the data's last activity.

    The same rule as ``build_labels`` (one definition for the churn model and for campaign outcomes), without its
    population filter: the caller chose the rows (e.g. everyone a campaign selected). ``non_contractual``: no event
    or purchase in ``[t, t + H)``; ``contractual``: no subscription active at ``t + H``.
    """
    import numpy as np
    import pandas as pd

    settings = concrete_settings(con, settings or FeatureSettings())
    columns = present_columns(con)
    _, end = data_time_range(con)
    h = settings.horizon_days
    times = pd.to_datetime(pairs[time_column]).astype("datetime64[us]")
    params = {
        "i": list(range(len(pairs))),
        "ids": pairs["customer_id"].astype(str).tolist(),
        "t0": [t.to_pydatetime() for t in times],
    }
    pairs_sql = (
        "SELECT unnest($i::BIGINT[]) AS i, unnest($ids::VARCHAR[]) AS customer_id, unnest($t0::TIMESTAMP[]) AS t0"
    )
    if settings.churn_definition == "contractual":
        if "subscriptions" not in columns:
            raise UserInputError(
                "churn_definition 'contractual' needs a subscriptions table; the data has none "
                "(use churn_definition non_contractual)"
            )
        sql = f"""
            SELECT p.i, bool_or(s.started_at < p.t0 + INTERVAL {h} DAY
                                AND (s.ended_at IS NULL OR s.ended_at >= p.t0 + INTERVAL {h} DAY)) AS kept
            FROM ({pairs_sql}) p LEFT JOIN subscriptions s ON s.customer_id = p.customer_id
            GROUP BY p.i
        """
    else:
        sql = f"""
            WITH activity AS ({_activity_sql(columns)})
            SELECT p.i, count(a.ts) > 0 AS kept
            FROM ({pairs_sql}) p LEFT JOIN activity a
              ON a.customer_id = p.customer_id AND a.ts >= p.t0 AND a.ts < p.t0 + INTERVAL {h} DAY
            GROUP BY p.i
        """
    rows = con.execute(sql, params).fetchall()
    out = np.ones(len(pairs))
    for i, kept in rows:
        out[int(i)] = 0.0 if kept else 1.0
    late = (times + pd.Timedelta(days=h) > end).to_numpy()
    out[late] = np.nan
    return out
