"""Point-in-time features: what we knew about each customer just before each cutoff.

Every feature of one (customer, as_of) row uses only rows dated strictly before ``as_of``
(cutoffs are exclusive, docs/ARCHITECTURE.md "Time"), so a model trained on stacked cutoffs
never sees its own future. The heavy lifting is DuckDB SQL over a contract connection:

1. the cutoffs go into a tiny table that is range-joined (``ts < as_of``) to the data, so many
   cutoffs (the stacked training set) cost one pass per table rather than one per cutoff;
2. events are first projected once into a compact temporary table (integer customer index,
   timestamp, core/Aha flags, module hash) that every later aggregate reads;
3. window counts and recency are ``count(*) FILTER (WHERE ts >= as_of - INTERVAL n DAY)``
   aggregates grouped by customer (one small state per customer); only the last 180 days are
   grouped per (customer, day), for active days and the usual gap, and reactivations group
   activity into ``dormant_days``-long blocks instead of days. Grouping 50M events per
   (customer, day) was where the time and memory went (benchmarks/bench_features.py has the numbers).

Two features are computed once from all data before the latest cutoff and then compared with
each cutoff: the Aha moment (the time the rule became true) and reactivations (first activity
after a dormant gap). Both are monotone: the moment is fixed by rows before it, so comparing it
with ``as_of`` gives the same answer as recomputing from rows before ``as_of`` (the hypothesis
test in tests/unit/test_feature_leakage.py checks this property on random data).

Tables that are absent leave their features out; ``FeatureSpec.absent`` says why (issue 4:
"Works on any data in the contract"). A table that is present but empty is data: zero counts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from features.behaviour_vocabulary import active_vocabulary, aggregate_sql, catalog, code_columns, column_exprs
from features.errors import UserInputError
from features.feature_spec import FeatureDef, FeatureSpec
from features.settings import FeatureSettings

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

logger = logging.getLogger(__name__)

US_PER_DAY = 86_400_000_000
US_PER_WEEK = 7 * US_PER_DAY
USUAL_GAP_LOOKBACK_DAYS = 180
OPTIONAL_SOURCES = ("transactions", "subscriptions", "nps_responses", "support_tickets")


def sql_str(text: str) -> str:
    """An SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def sql_list(values: Sequence[str]) -> str:
    """An SQL list of string literals for ``IN (...)``."""
    return "(" + ", ".join(sql_str(v) for v in values) + ")"


def normalize_cutoffs(cutoffs: Sequence[pd.Timestamp | str]) -> list[pd.Timestamp]:
    """Parse cutoffs to sorted, unique, naive-UTC timestamps; a bad one is a UserInputError naming it."""
    import pandas as pd

    if isinstance(cutoffs, (str, pd.Timestamp)):
        cutoffs = [cutoffs]
    out: set[pd.Timestamp] = set()
    for raw in cutoffs:
        try:
            ts = pd.Timestamp(raw)
        except (ValueError, TypeError) as err:
            raise UserInputError(f"cutoff {raw!r} is not a date/time (use e.g. 2025-06-30): {err}") from None
        if pd.isna(ts):
            raise UserInputError(f"cutoff {raw!r} is not a date/time (use e.g. 2025-06-30)")
        if ts.tzinfo is not None:
            ts = ts.tz_convert("UTC").tz_localize(None)
        out.add(ts.as_unit("us"))
    if not out:
        raise UserInputError("no cutoff given: pass at least one as-of date")
    return sorted(out)


def present_columns(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    """Contract tables (or views) visible on ``con`` and their columns."""
    rows = con.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_name IN ('customers', 'events', 'transactions', 'subscriptions', 'nps_responses', "
        "'support_tickets')"
    ).fetchall()
    out: dict[str, set[str]] = {}
    for table_name, column_name in rows:
        out.setdefault(str(table_name), set()).add(str(column_name))
    return out


@dataclass
class _Build:
    """The common table expressions of one build, run as a single DuckDB query at the end.

    One query (each CTE ``MATERIALIZED``: computed once, reused by every later step) rather than
    temporary tables: DDL costs milliseconds per table, which matters when the API scores one
    customer, and nothing is left behind on the caller's connection.
    """

    con: duckdb.DuckDBPyConnection
    ctes: list[tuple[str, str]] = field(default_factory=list)
    params: dict[str, object] = field(default_factory=dict)

    @staticmethod
    def name(what: str) -> str:
        return "pit_" + what

    def create(self, what: str, select_sql: str, params: dict[str, object] | None = None) -> str:
        self.ctes.append((self.name(what), select_sql))
        self.params.update(params or {})
        return self.name(what)

    def run(self, final_sql: str) -> pd.DataFrame:
        body = ",\n".join(f"{name} AS MATERIALIZED ({sql})" for name, sql in self.ctes)
        start = time.perf_counter()
        frame = self.con.execute(f"WITH {body}\n{final_sql}", self.params).df()
        logger.debug("feature query ran in %.3f s", time.perf_counter() - start)
        return frame


def _days(later: str, earlier: str) -> str:
    """SQL for (later - earlier) in fractional days, exact to the microsecond."""
    return f"(date_diff('microsecond', {earlier}, {later}) / {US_PER_DAY}.0)"


def build_features(
    con: duckdb.DuckDBPyConnection,
    cutoffs: Sequence[pd.Timestamp | str],
    settings: FeatureSettings | None = None,
    customer_ids: Sequence[str] | None = None,
    *,
    columns: Mapping[str, set[str]] | None = None,
) -> tuple[pd.DataFrame, FeatureSpec]:
    """One row per (customer_id, as_of) for every customer signed up before ``as_of``.

    Columns: ``customer_id`` (str), ``as_of`` (datetime64[us]), then the features in spec order;
    categoricals are pandas 'category', counts int64, everything else float64 (NaN where a
    feature is undefined, e.g. ``days_since_last_event`` for a customer who was never active).
    ``customer_ids`` restricts the rows (members of their B2B accounts are read too, for the
    account roll-ups); an id absent from ``customers`` is a UserInputError. ``columns`` is
    ``present_columns(con)`` when the caller already holds it (the API's live lookups keep it per data
    source: reading the catalog costs more than the features of one customer).
    """
    settings = settings or FeatureSettings()
    as_ofs = normalize_cutoffs(cutoffs)
    columns = present_columns(con) if columns is None else {name: set(cols) for name, cols in columns.items()}
    if "customers" not in columns:
        raise UserInputError("the data has no customers table; it is required to build features")
    has_events = "events" in columns
    has_account = "account_id" in columns["customers"]
    absent: dict[str, str] = {}
    every = catalog(settings)
    for feat in every:
        source = feat.source
        if source == "customers.account_id" and not has_account:
            absent[feat.name] = "the customers table has no account_id column"
        elif source == "customers.account_id" and not has_events and feat.name != "account_users":
            absent[feat.name] = "no events table"
        elif source in ("events", *OPTIONAL_SOURCES) and source not in columns:
            absent[feat.name] = f"no {source} table"
    features = [f for f in every if f.name not in absent]
    start = time.perf_counter()
    b = _Build(con)
    count_modules = _prepare(b, as_ofs, settings, customer_ids, columns)
    parts = _feature_tables(b, settings, columns, has_account)
    frame = _assemble(b, features, parts, settings, restrict=customer_ids is not None, count_modules=count_modules)
    n_core_modules: int | None = None
    if count_modules:
        n_core_modules = int(frame["n_core_modules__"].iloc[0]) if len(frame) else None
        frame = frame.drop(columns="n_core_modules__")
    frame = _typed(frame, features)
    spec_settings = settings.summary()
    # a base without core actions has no core modules to count: unknown (None), never 0 (the setting is >= 1)
    spec_settings["n_core_modules"] = settings.n_core_modules or n_core_modules or None
    spec = FeatureSpec(features=features, absent=absent, time_unit=settings.btyd_time_unit, settings=spec_settings)
    logger.info(
        "built %d feature rows x %d features for %d cutoff(s) in %.2f s",
        len(frame),
        len(features),
        len(as_ofs),
        time.perf_counter() - start,
    )
    return frame, spec


def _prepare(
    b: _Build,
    as_ofs: list[pd.Timestamp],
    settings: FeatureSettings,
    customer_ids: Sequence[str] | None,
    columns: dict[str, set[str]],
) -> bool:
    """Cutoffs, the customer index and compact event/transaction CTEs; True when core modules are to be counted."""
    con = b.con
    latest = as_ofs[-1]
    b.create(
        "cut",
        "SELECT unnest($cutoffs::TIMESTAMP[]) AS as_of",
        {"cutoffs": [ts.to_pydatetime() for ts in as_ofs], "latest": latest.to_pydatetime()},
    )
    account = "account_id" if "account_id" in columns["customers"] else "NULL::VARCHAR AS account_id"
    where = "signup_at < $latest"
    if customer_ids is not None:
        ids = sorted({str(c) for c in customer_ids})
        ids_table = b.create("ids", "SELECT unnest($ids::VARCHAR[]) AS customer_id", {"ids": ids})
        known = con.execute(
            "SELECT customer_id FROM customers WHERE customer_id IN (SELECT unnest($ids))", {"ids": ids}
        )
        found = {r[0] for r in known.fetchall()}
        unknown = [c for c in ids if c not in found]
        if unknown:
            shown = ", ".join(repr(c) for c in unknown[:10])
            raise UserInputError(f"unknown customer id(s) {shown}: not in the customers table")
        # account members of the requested customers are needed for the B2B roll-ups
        scope = f"customer_id IN (FROM {ids_table})"
        if "account_id" in columns["customers"]:
            scope += (
                f" OR account_id IN (SELECT account_id FROM customers WHERE customer_id IN (FROM {ids_table}) "
                "AND account_id IS NOT NULL)"
            )
        where += f" AND ({scope})"
    cust = b.create(
        "cust",
        f"SELECT (row_number() OVER (ORDER BY customer_id))::INTEGER AS cidx, customer_id, signup_at, "
        f"segment, acquisition_channel, {account} FROM customers WHERE {where}",
    )
    b.create(
        "pop",
        f"SELECT c.as_of, p.cidx, p.customer_id, p.signup_at, p.segment, p.acquisition_channel, p.account_id "
        f"FROM {b.name('cut')} c JOIN {cust} p ON p.signup_at < c.as_of",
    )
    if "events" in columns:
        core = sql_list(settings.core_event_types)
        rule = settings.aha
        is_aha = f"e.event_type IN {sql_list(rule.event_types)}"
        if rule.mode == "within_days_of_signup":
            # only events inside the rule's window after signup can make the Aha moment: flag exactly those
            is_aha += (
                f" AND e.occurred_at >= p.signup_at AND e.occurred_at < p.signup_at + INTERVAL {rule.within_days} DAY"
            )
        vocabulary = active_vocabulary(settings)
        codes = f", {code_columns(vocabulary, 'e')}" if vocabulary is not None else ""
        b.create(
            "ev",
            f"SELECT p.cidx, e.occurred_at AS ts, e.event_type IN {core} AS is_core, "
            # a 32-bit hash of the module name: distinct counts only need equality, and it keeps the row small
            f"{is_aha} AS is_aha, (hash(e.module) % 4294967291)::UINTEGER AS mh{codes} "
            f"FROM events e JOIN {cust} p ON e.customer_id = p.customer_id WHERE e.occurred_at < $latest",
        )
    if "transactions" in columns:
        b.create(
            "tx",
            f"SELECT p.cidx, t.occurred_at AS ts, t.amount FROM transactions t "
            f"JOIN {cust} p ON t.customer_id = p.customer_id WHERE t.occurred_at < $latest",
        )
    return "events" in columns and customer_ids is None and settings.n_core_modules is None


def _feature_tables(
    b: _Build, settings: FeatureSettings, columns: dict[str, set[str]], has_account: bool
) -> dict[str, str]:
    """Build one temporary table per input; returns feature-group name -> table name."""
    parts: dict[str, str] = {}
    cut, pop = b.name("cut"), b.name("pop")
    if "events" in columns:
        parts["events"], parts["active_days"], parts["modules"] = _event_aggregates(b)
        parts["weeks"] = b.create(
            "weeks",
            f"""
            WITH blocks AS (
                SELECT c.as_of, e.cidx, date_diff('microsecond', e.ts, c.as_of) // {US_PER_WEEK} + 1 AS k
                FROM {b.name("ev")} e JOIN {cut} c ON e.ts < c.as_of
                WHERE e.is_core
                GROUP BY ALL HAVING count(*) >= {settings.weekly_aha_bar}
            )
            SELECT as_of, cidx, min(k) AS first_ok_block FROM blocks GROUP BY ALL
            """,
        )
        parts["aha"] = _aha_moments(b, settings)
        vocabulary = active_vocabulary(settings)
        if vocabulary is not None:
            parts["vocabulary"] = b.create("vocab", aggregate_sql(vocabulary, b.name("ev"), cut))
        parts["reactivation"] = _reactivations(b, settings, has_transactions="transactions" in columns)
    if "transactions" in columns:
        parts["transactions"] = b.create(
            "txagg",
            f"""
            WITH daily AS (
                SELECT c.as_of, t.cidx, CAST(t.ts AS DATE) AS d, count(*) AS n, sum(t.amount) AS amount,
                       count(*) FILTER (WHERE t.ts >= c.as_of - INTERVAL 90 DAY) AS n90,
                       coalesce(sum(t.amount) FILTER (WHERE t.ts >= c.as_of - INTERVAL 90 DAY), 0) AS amount90,
                       max(t.ts) AS last_ts
                FROM {b.name("tx")} t JOIN {cut} c ON t.ts < c.as_of
                GROUP BY ALL
            )
            SELECT as_of, cidx,
                   sum(n90)::BIGINT AS txn_count_90d, sum(amount90)::DOUBLE AS txn_amount_90d,
                   sum(n)::BIGINT AS txn_count_total, sum(amount)::DOUBLE AS txn_amount_total,
                   max(last_ts) AS last_txn,
                   count(*) AS purchase_days, min(d) AS first_day, max(d) AS last_day,
                   (sum(amount) - arg_min(amount, d)) / nullif(count(*) - 1, 0) AS btyd_monetary
            FROM daily GROUP BY ALL
            """,
        )
    if "subscriptions" in columns:
        parts["subscriptions"] = b.create(
            "sub",
            f"""
            SELECT c.as_of, p.cidx,
                   max(CASE WHEN s.ended_at IS NULL OR s.ended_at >= c.as_of THEN 1 ELSE 0 END) AS sub_active,
                   list(s.plan ORDER BY s.started_at DESC, s.plan DESC)[1] AS sub_plan,
                   coalesce(sum(s.mrr) FILTER (WHERE s.ended_at IS NULL OR s.ended_at >= c.as_of), 0) AS sub_mrr,
                   {_days("c.as_of", "min(s.started_at)")} AS sub_tenure_days,
                   count(*) FILTER (WHERE s.ended_at < c.as_of) AS sub_ended_count
            FROM subscriptions s JOIN {b.name("cust")} p ON s.customer_id = p.customer_id
            JOIN {cut} c ON s.started_at < c.as_of
            GROUP BY c.as_of, p.cidx
            """,
        )
    if "nps_responses" in columns:
        parts["nps"] = b.create(
            "nps",
            f"""
            SELECT c.as_of, p.cidx,
                   list(n.score ORDER BY n.answered_at DESC, n.score ASC)[1]::DOUBLE AS nps_last,
                   avg(n.score)::DOUBLE AS nps_mean, count(*) AS nps_count,
                   {_days("c.as_of", "max(n.answered_at)")} AS days_since_last_nps
            FROM nps_responses n JOIN {b.name("cust")} p ON n.customer_id = p.customer_id
            JOIN {cut} c ON n.answered_at < c.as_of
            GROUP BY c.as_of, p.cidx
            """,
        )
    if "support_tickets" in columns:
        resolved = "(t.resolved_at < c.as_of)"
        parts["tickets"] = b.create(
            "tickets",
            f"""
            SELECT c.as_of, p.cidx,
                   count(*) FILTER (WHERE t.opened_at >= c.as_of - INTERVAL 90 DAY) AS tickets_90d,
                   count(*) FILTER (WHERE t.resolved_at IS NULL OR t.resolved_at >= c.as_of) AS tickets_open,
                   count(*) FILTER (WHERE {resolved} AND t.resolved_at >= c.as_of - INTERVAL 90 DAY)
                       AS tickets_resolved_90d,
                   avg(t.satisfaction) FILTER (WHERE {resolved})::DOUBLE AS ticket_satisfaction_mean,
                   {_days("c.as_of", f"max(t.resolved_at) FILTER (WHERE {resolved})")}
                       AS days_since_last_ticket_resolved,
                   avg(date_diff('microsecond', t.opened_at, t.resolved_at) / 3600e6) FILTER (WHERE {resolved})
                       AS ticket_resolution_hours_mean
            FROM support_tickets t JOIN {b.name("cust")} p ON t.customer_id = p.customer_id
            JOIN {cut} c ON t.opened_at < c.as_of
            GROUP BY c.as_of, p.cidx
            """,
        )
    if has_account:
        ev = parts.get("events")
        join = f"LEFT JOIN {ev} ea ON ea.as_of = p.as_of AND ea.cidx = p.cidx" if ev else ""
        active = "count(*) FILTER (WHERE ea.events_30d > 0)" if ev else "NULL"
        core30 = "sum(coalesce(ea.core_actions_30d, 0))" if ev else "NULL"
        prev30 = "sum(coalesce(ea.core_actions_prev_30d, 0))" if ev else "NULL"
        parts["accounts"] = b.create(
            "acc",
            f"""
            SELECT p.as_of, p.account_id, count(*)::DOUBLE AS account_users,
                   {active}::DOUBLE AS account_active_users_30d,
                   {core30}::DOUBLE AS account_core_actions_30d,
                   ({core30} / nullif({prev30}, 0))::DOUBLE AS account_core_trend_ratio
            FROM {pop} p {join}
            WHERE p.account_id IS NOT NULL
            GROUP BY ALL
            """,
        )
    return parts


def _event_aggregates(b: _Build) -> tuple[str, str, str]:
    """Window counts and recency, active days and usual gap, module breadth per (as_of, customer).

    Three narrow aggregates rather than one wide per-day table: counts and recency group by
    customer (cheap: one small state per customer), while only the days of the last
    ``USUAL_GAP_LOOKBACK_DAYS`` days, the only ones any day-based feature looks at, are grouped
    per day. A day is active in a window when its latest event lies inside the window, so the
    per-day table needs that one timestamp; the usual gap is the median gap between those days.
    """
    ev, cut = b.name("ev"), b.name("cut")
    win = {d: f"e.ts >= c.as_of - INTERVAL {d} DAY" for d in (7, 30, 90)}
    counts = b.create(
        "evcnt",
        f"""
        SELECT c.as_of, e.cidx,
               count(*) FILTER (WHERE {win[7]}) AS events_7d,
               count(*) FILTER (WHERE {win[30]}) AS events_30d,
               count(*) FILTER (WHERE {win[90]}) AS events_90d,
               count(*) FILTER (WHERE e.is_core AND {win[30]}) AS core_actions_30d,
               count(*) FILTER (WHERE e.is_core AND e.ts >= c.as_of - INTERVAL 60 DAY AND NOT {win[30]})
                   AS core_actions_prev_30d,
               max(e.ts) AS last_ts,
               max(e.ts) FILTER (WHERE e.is_core) AS last_core_ts
        FROM {ev} e JOIN {cut} c ON e.ts < c.as_of
        GROUP BY ALL
        """,
    )
    days = b.create(
        "evdays",
        f"""
        SELECT c.as_of, e.cidx, CAST(e.ts AS DATE) AS d, max(e.ts) AS last_ts
        FROM {ev} e JOIN {cut} c ON e.ts < c.as_of AND e.ts >= c.as_of - INTERVAL {USUAL_GAP_LOOKBACK_DAYS} DAY
        GROUP BY ALL
        """,
    )
    active = b.create(
        "evact",
        f"""
        SELECT as_of, cidx,
               count(*) FILTER (WHERE last_ts >= as_of - INTERVAL 7 DAY) AS active_days_7d,
               count(*) FILTER (WHERE last_ts >= as_of - INTERVAL 30 DAY) AS active_days_30d,
               count(*) FILTER (WHERE last_ts >= as_of - INTERVAL 90 DAY) AS active_days_90d,
               quantile_cont(gap, 0.5) AS usual_gap_days
        FROM (SELECT as_of, cidx, last_ts, d - lag(d) OVER (PARTITION BY as_of, cidx ORDER BY d) AS gap FROM {days})
        GROUP BY ALL
        """,
    )
    modules = b.create(
        "evmod",
        f"""
        SELECT as_of, cidx, count(*) AS modules_used_90d, count(*) FILTER (WHERE any_core) AS core_modules_used_90d
        FROM (
            SELECT c.as_of, e.cidx, e.mh, bool_or(e.is_core) AS any_core
            FROM {ev} e JOIN {cut} c ON e.ts < c.as_of AND {win[90]}
            GROUP BY ALL
        ) GROUP BY ALL
        """,
    )
    return counts, active, modules


def _aha_moments(b: _Build, settings: FeatureSettings) -> str:
    """When each customer met the Aha rule (docs/DOMAIN.md section 2), from rows before the latest cutoff.

    within_days_of_signup: the time of the N-th qualifying event in [signup, signup + K days).
    days_in_a_row: a day qualifies at the time of its N-th qualifying event; the rule is met at
    the qualifying time of the K-th day of a run of consecutive qualifying days.
    """
    rule = settings.aha
    ev = b.name("ev")
    if rule.mode == "within_days_of_signup":
        # is_aha already holds the window after signup (see _prepare): the moment is the N-th such event
        return b.create(
            "aha",
            f"""
            SELECT cidx, list_sort(list(ts))[{rule.count}] AS aha_at FROM {ev}
            WHERE is_aha GROUP BY cidx HAVING count(*) >= {rule.count}
            """,
        )
    return b.create(
        "aha",
        f"""
        WITH daily AS (
            SELECT cidx, CAST(ts AS DATE) AS d, ts,
                   row_number() OVER (PARTITION BY cidx, CAST(ts AS DATE) ORDER BY ts) AS rn
            FROM {ev} WHERE is_aha
        ), qualified AS (
            SELECT cidx, d, ts AS qualified_at,
                   d - CAST(row_number() OVER (PARTITION BY cidx ORDER BY d) AS INTEGER) AS run
            FROM daily WHERE rn = {rule.count}
        ), positioned AS (
            SELECT cidx, qualified_at, row_number() OVER (PARTITION BY cidx, run ORDER BY d) AS pos FROM qualified
        )
        SELECT cidx, min(qualified_at) AS aha_at FROM positioned WHERE pos = {rule.within_days} GROUP BY cidx
        """,
    )


def _reactivations(b: _Build, settings: FeatureSettings, has_transactions: bool) -> str:
    """Per (as_of, customer): the latest return after a dormant gap (>= dormant_days) before as_of.

    Activity is any event or purchase. A return is the first activity of an active day whose
    previous active day lies at least ``dormant_days`` days earlier.

    Days are grouped into blocks of ``dormant_days`` consecutive calendar days, far fewer groups
    than (customer, day) pairs. A return is always the first active day of its block (a later
    day of the same block is less than ``dormant_days`` after the block's first), and the active
    day before it is the last active day of the previous non-empty block; so the per-block first
    and last activity decide every return exactly.
    """
    cut = b.name("cut")
    dormant = settings.dormant_days
    # events and purchases are cut at the latest cutoff: together they are every activity before it
    activity = f"SELECT cidx, ts FROM {b.name('ev')}"
    if has_transactions:
        activity += f" UNION ALL SELECT cidx, ts FROM {b.name('tx')}"
    returns = b.create(
        "returns",
        f"""
        WITH blocks AS (
            SELECT cidx, (CAST(ts AS DATE) - DATE '0001-01-01') // {dormant} AS block,
                   min(ts) AS first_ts, max(ts) AS last_ts
            FROM ({activity}) GROUP BY ALL
        ), gaps AS (
            SELECT cidx, first_ts,
                   CAST(first_ts AS DATE) - CAST(lag(last_ts) OVER (PARTITION BY cidx ORDER BY block) AS DATE) AS gap
            FROM blocks
        )
        SELECT cidx, first_ts AS returned_at FROM gaps WHERE gap >= {dormant}
        """,
    )
    return b.create(
        "react",
        f"""
        SELECT c.as_of, r.cidx, max(r.returned_at) AS returned_at
        FROM {returns} r JOIN {cut} c ON r.returned_at < c.as_of GROUP BY ALL
        """,
    )


# Part table -> (alias, join condition); parts join on (as_of, cidx) unless said otherwise.
_JOINS: dict[str, tuple[str, str | None]] = {
    "events": ("ev", None),
    "active_days": ("g", None),
    "modules": ("m", None),
    "weeks": ("w", None),
    "aha": ("a", "a.cidx = p.cidx"),
    "reactivation": ("ra", None),
    "transactions": ("tx", None),
    "subscriptions": ("s", None),
    "nps": ("n", None),
    "tickets": ("t", None),
    "accounts": ("acc", "acc.as_of = p.as_of AND acc.account_id = p.account_id"),
    "vocabulary": ("vc", None),
}
_EVENT_COUNTS = (
    "events_7d",
    "events_30d",
    "events_90d",
    "active_days_7d",
    "active_days_30d",
    "active_days_90d",
    "core_actions_30d",
    "core_actions_prev_30d",
    "modules_used_90d",
    "core_modules_used_90d",
)


def _event_exprs(settings: FeatureSettings) -> dict[str, str]:
    blocks = f"CAST(ceil(date_diff('microsecond', p.signup_at, p.as_of) / {US_PER_WEEK}.0) AS BIGINT)"
    table = {"active_days_7d": "g", "active_days_30d": "g", "active_days_90d": "g"}
    table |= {"modules_used_90d": "m", "core_modules_used_90d": "m"}
    many = int(settings.core_modules_threshold)
    exprs = {col: f"coalesce({table.get(col, 'ev')}.{col}, 0)" for col in _EVENT_COUNTS}
    exprs |= {
        "core_trend_ratio": "coalesce(ev.core_actions_30d, 0) / nullif(coalesce(ev.core_actions_prev_30d, 0), 0)",
        "days_since_last_event": _days("p.as_of", "ev.last_ts"),
        "days_since_last_core_action": _days("p.as_of", "ev.last_core_ts"),
        # the column keeps its feature-spec name; the threshold is the setting core_modules_threshold
        "uses_3plus_modules": f"CASE WHEN coalesce(m.core_modules_used_90d, 0) >= {many} THEN 1 ELSE 0 END",
        "aha_reached": "CASE WHEN a.aha_at < p.as_of THEN 1 ELSE 0 END",
        "days_to_aha": f"CASE WHEN a.aha_at < p.as_of THEN {_days('a.aha_at', 'p.signup_at')} END",
        # blocks before the first one that reached the bar, never more blocks than the tenure spans
        "weeks_below_aha_bar": f"least(coalesce(w.first_ok_block - 1, {blocks}), {blocks})",
        "usual_gap_days": "g.usual_gap_days",
        "idle_ratio": f"{_days('p.as_of', 'ev.last_ts')} / nullif(g.usual_gap_days, 0)",
        "days_since_reactivation": _days("p.as_of", "ra.returned_at"),
    }
    return exprs


def _transaction_exprs(settings: FeatureSettings) -> dict[str, str]:
    # BTYD summary (docs/DOMAIN.md section 10, same definition as features/btyd_summary.py): purchase DAYS;
    # recency and T in whole days from the first purchase day, divided by the unit's length in days
    unit_days = repr(float(settings.btyd_time_unit.days))
    return {
        "txn_count_90d": "coalesce(tx.txn_count_90d, 0)",
        "txn_amount_90d": "coalesce(tx.txn_amount_90d, 0.0)",
        "txn_count_total": "coalesce(tx.txn_count_total, 0)",
        "txn_amount_total": "coalesce(tx.txn_amount_total, 0.0)",
        "days_since_last_txn": _days("p.as_of", "tx.last_txn"),
        "btyd_frequency": "(tx.purchase_days - 1)::DOUBLE",
        "btyd_recency": f"(tx.last_day - tx.first_day) / {unit_days}",
        # T runs to the last observable DAY (as_of minus 1 us, as a date), as features/btyd_summary.py does
        "btyd_T": f"date_diff('day', tx.first_day, CAST(p.as_of - INTERVAL 1 MICROSECOND AS DATE)) / {unit_days}",
        "btyd_monetary": "tx.btyd_monetary",
    }


def _other_exprs() -> dict[str, str]:
    """Subscriptions, NPS, tickets and account roll-ups: absent parts are never selected."""
    exprs = {
        "sub_active": "coalesce(s.sub_active, 0)",
        "sub_plan": "s.sub_plan",
        "sub_mrr": "coalesce(s.sub_mrr, 0.0)",
        "sub_tenure_days": "s.sub_tenure_days",
        "sub_ended_count": "coalesce(s.sub_ended_count, 0)",
        "nps_count": "coalesce(n.nps_count, 0)",
    }
    exprs |= {col: f"n.{col}" for col in ("nps_last", "nps_mean", "days_since_last_nps")}
    exprs |= {col: f"coalesce(t.{col}, 0)" for col in ("tickets_90d", "tickets_open", "tickets_resolved_90d")}
    exprs |= {
        col: f"t.{col}"
        for col in ("ticket_satisfaction_mean", "days_since_last_ticket_resolved", "ticket_resolution_hours_mean")
    }
    exprs |= {
        col: f"acc.{col}"
        for col in ("account_users", "account_active_users_30d", "account_core_actions_30d", "account_core_trend_ratio")
    }
    return exprs


def _assemble(
    b: _Build,
    features: list[FeatureDef],
    parts: dict[str, str],
    settings: FeatureSettings,
    *,
    restrict: bool,
    count_modules: bool,
) -> pd.DataFrame:
    """Join every part onto the population and compute the derived columns in one query."""
    exprs: dict[str, str] = {
        "tenure_days": _days("p.as_of", "p.signup_at"),
        "segment": "p.segment",
        "acquisition_channel": "p.acquisition_channel",
        **_event_exprs(settings),
        **_transaction_exprs(settings),
        **_other_exprs(),
    }
    vocabulary = active_vocabulary(settings)
    if vocabulary is not None:
        # per day of tenure, at least one day: a customer who signed up an hour ago has no rate of 72 a day
        exprs |= column_exprs(vocabulary, "vc", f"greatest({_days('p.as_of', 'p.signup_at')}, 1.0)")
    joins = []
    for part, (alias, on) in _JOINS.items():
        if part in parts:
            cond = on or f"{alias}.as_of = p.as_of AND {alias}.cidx = p.cidx"
            joins.append(f"LEFT JOIN {parts[part]} {alias} ON {cond}")
    sql_type = {"int": "BIGINT", "float": "DOUBLE", "category": "VARCHAR"}
    select = [f"CAST({exprs[f.name]} AS {sql_type[f.dtype]}) AS {f.name}" for f in features]
    if count_modules:
        select.append(f"(SELECT count(DISTINCT mh) FROM {b.name('ev')} WHERE is_core) AS n_core_modules__")
    where = f"WHERE p.customer_id IN (FROM {b.name('ids')})" if restrict else ""
    sql = (
        f"SELECT p.customer_id, p.as_of, {', '.join(select)} FROM {b.name('pop')} p "
        + " ".join(joins)
        + f" {where} ORDER BY p.as_of, p.customer_id"
    )
    return b.run(sql)


def _typed(frame: pd.DataFrame, features: list[FeatureDef]) -> pd.DataFrame:
    """Cast to the spec's dtypes: str ids, datetime64[us] as_of, int64 counts, float64, category."""
    target = {"customer_id": "str", "as_of": "datetime64[us]"}
    target |= {f.name: {"int": "int64", "float": "float64", "category": "category"}[f.dtype] for f in features}
    changes = {name: dtype for name, dtype in target.items() if str(frame[name].dtype) != dtype}
    # column by column: DataFrame.astype(dict) rebuilds the frame one block per column, and a frame of 100+ blocks
    # (the vocabulary columns) makes pandas warn "highly fragmented" on every later insert
    for name, dtype in changes.items():
        frame[name] = frame[name].astype(dtype)  # type: ignore[call-overload]  # a dtype name from the map above
    return frame
