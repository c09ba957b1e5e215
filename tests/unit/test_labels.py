"""Churn labels (both definitions), the data's time range and default cutoffs, on hand-made data."""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd
import pytest

from features.contract import TABLES
from features.errors import UserInputError
from features.labels import build_labels, data_time_range, default_cutoffs
from features.settings import FeatureSettings

T = pd.Timestamp
CUTOFF = T("2024-03-01")


def contract_con(**tables: list[dict[str, Any]]) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with each given table created with its contract types."""
    con = duckdb.connect()
    for name, rows in tables.items():
        cols = [c for c in TABLES[name].columns if not rows or c.name in rows[0]]
        con.execute(f"CREATE TABLE {name} ({', '.join(f'{c.name} {c.type.duckdb_type}' for c in cols)})")
        if rows:
            con.register("_rows", pd.DataFrame(rows, columns=[c.name for c in cols]))
            casts = ", ".join(f"CAST({c.name} AS {c.type.duckdb_type})" for c in cols)
            con.execute(f"INSERT INTO {name} SELECT {casts} FROM _rows")
            con.unregister("_rows")
    return con


def cust(cid: str, signup: str) -> dict[str, Any]:
    return {"customer_id": cid, "signup_at": T(signup), "acquisition_channel": "ads", "segment": "b2c"}


def ev(cid: str, at: str) -> dict[str, Any]:
    return {"customer_id": cid, "occurred_at": T(at), "event_type": "login", "module": "home"}


def sub(cid: str, start: str, end: str | None) -> dict[str, Any]:
    return {"customer_id": cid, "plan": "p", "mrr": 10.0, "started_at": T(start), "ended_at": T(end) if end else None}


CUSTOMERS = [
    cust("a", "2024-01-01"),
    cust("b", "2024-01-01"),
    cust("c", "2023-09-01"),
    cust("d", "2024-03-05"),
    cust("e", "2024-01-01"),
    cust("f", "2024-01-01"),
]
EVENTS = [
    ev("a", "2024-02-15"),
    ev("a", "2024-03-10"),  # active in the horizon [03-01, 03-31)
    ev("a", "2024-04-15"),  # the data's last activity
    ev("b", "2024-02-20"),
    ev("b", "2024-03-31"),  # exactly at as_of + H: outside the horizon
    ev("c", "2023-10-01"),  # long gone: outside the 90-day lookback [2023-12-02, 03-01)
    ev("d", "2024-03-06"),  # signed up after the cutoff
    ev("f", "2023-12-31"),
]
TRANSACTIONS = [
    {"customer_id": "e", "occurred_at": T("2024-02-25"), "amount": 5.0, "order_id": "o1"},
    {"customer_id": "e", "occurred_at": T("2024-03-15"), "amount": 5.0, "order_id": "o2"},
]


def labels_of(frame: pd.DataFrame) -> dict[str, int]:
    return {str(r.customer_id): int(r.churned) for r in frame.itertuples()}


def test_non_contractual_labels() -> None:
    con = contract_con(customers=CUSTOMERS, events=EVENTS, transactions=TRANSACTIONS)
    frame = build_labels(con, [CUTOFF])
    # a: came back in the horizon; b: only an event at as_of + H; e: purchases count as activity;
    # f: last event 2023-12-31 is inside the lookback, nothing after; c, d: not in the population
    assert labels_of(frame) == {"a": 0, "b": 1, "e": 0, "f": 1}
    assert list(frame.columns) == ["customer_id", "as_of", "churned"]
    assert frame["churned"].dtype == "int8"
    assert str(frame["as_of"].dtype) == "datetime64[us]"


def test_lookback_and_horizon_are_settings() -> None:
    con = contract_con(customers=CUSTOMERS, events=EVENTS, transactions=TRANSACTIONS)
    short = build_labels(con, [CUTOFF], FeatureSettings(activity_lookback_days=30))
    assert labels_of(short) == {"a": 0, "b": 1, "e": 0}  # f's last event is 61 days back
    long_horizon = build_labels(con, [CUTOFF], FeatureSettings(horizon_days=31))
    assert labels_of(long_horizon)["b"] == 0  # 03-31 is now inside the horizon


def test_labels_without_transactions_table() -> None:
    con = contract_con(customers=CUSTOMERS, events=EVENTS)
    assert labels_of(build_labels(con, [CUTOFF])) == {"a": 0, "b": 1, "f": 1}


def test_cutoff_whose_horizon_passes_the_data_end_is_named() -> None:
    con = contract_con(customers=CUSTOMERS, events=EVENTS)
    with pytest.raises(UserInputError, match="2024-03-20") as err:
        build_labels(con, [CUTOFF, "2024-03-20"])
    assert "2024-04-15" in str(err.value)  # names the data's last activity


def test_contractual_labels() -> None:
    subs = [
        sub("a", "2024-01-01", "2024-03-15"),
        sub("a", "2024-03-15", None),  # renewed: active at the end of the horizon
        sub("b", "2024-01-01", "2024-03-20"),  # ended in the horizon
        sub("c", "2024-03-05", None),  # starts after the cutoff: not in the population
        sub("e", "2024-01-01", "2024-02-15"),  # ended before the cutoff: not in the population
        sub("f", "2024-01-01", "2024-03-31"),  # ends exactly at as_of + H: still active through the horizon
    ]
    con = contract_con(customers=CUSTOMERS, events=EVENTS, subscriptions=subs)
    frame = build_labels(con, [CUTOFF], FeatureSettings(churn_definition="contractual"))
    assert labels_of(frame) == {"a": 0, "b": 1, "f": 0}


def test_contractual_without_subscriptions_is_a_user_error() -> None:
    con = contract_con(customers=CUSTOMERS, events=EVENTS)
    with pytest.raises(UserInputError, match="subscriptions"):
        build_labels(con, [CUTOFF], FeatureSettings(churn_definition="contractual"))


def test_several_cutoffs_stack() -> None:
    con = contract_con(customers=CUSTOMERS, events=EVENTS, transactions=TRANSACTIONS)
    frame = build_labels(con, ["2024-02-01", CUTOFF])
    assert list(frame["as_of"].drop_duplicates()) == [T("2024-02-01"), CUTOFF]
    early = frame[frame["as_of"] == T("2024-02-01")]
    # at 02-01 the lookback is [2023-11-03, 02-01): only f (2023-12-31); a and b start later, c is older
    assert labels_of(early) == {"f": 1}


def test_data_time_range_spans_events_and_transactions() -> None:
    con = contract_con(customers=CUSTOMERS, events=EVENTS, transactions=TRANSACTIONS)
    assert data_time_range(con) == (T("2023-10-01"), T("2024-04-15"))
    empty = contract_con(customers=CUSTOMERS, events=[])
    with pytest.raises(UserInputError, match="empty"):
        data_time_range(empty)


def test_default_cutoffs() -> None:
    events = [ev("a", "2024-01-01"), ev("a", "2024-12-31 12:00")]
    con = contract_con(customers=CUSTOMERS, events=events)
    assert default_cutoffs(con, n=3) == [T("2024-10-02"), T("2024-11-01"), T("2024-12-01")]
    assert default_cutoffs(con, n=3, spacing_days=7) == [T("2024-11-17"), T("2024-11-24"), T("2024-12-01")]
    many = default_cutoffs(con, n=20)
    assert len(many) == 11  # earliest allowed: one horizon after the first activity (2024-01-31)
    assert many[0] == T("2024-02-05")
    # the latest cutoff's labels are complete
    build_labels(con, many[-1:])


def test_default_cutoffs_on_too_short_data() -> None:
    con = contract_con(customers=CUSTOMERS, events=[ev("a", "2024-01-01"), ev("a", "2024-01-20")])
    with pytest.raises(UserInputError, match="at least 60 days"):
        default_cutoffs(con)


def test_auto_definition_is_contractual_when_most_customers_subscribe() -> None:
    from features.churn_definition import resolve_churn_definition

    # a, b, e, f of six customers subscribe (67% >= 50%): the base is contractual
    subs = [sub("a", "2024-01-01", None), sub("b", "2024-01-01", "2024-03-20"), sub("f", "2024-01-01", None)]
    subs.append(sub("e", "2024-01-01", None))
    con = contract_con(customers=CUSTOMERS, events=EVENTS, subscriptions=subs)
    choice = resolve_churn_definition(con, FeatureSettings())
    assert FeatureSettings().churn_definition == "auto"
    assert choice.definition == "contractual"
    assert "67% of customers have a subscription" in choice.reason
    # the labels of the default settings are the contractual ones: b's subscription ended in the horizon
    assert labels_of(build_labels(con, [CUTOFF])) == labels_of(
        build_labels(con, [CUTOFF], FeatureSettings(churn_definition="contractual"))
    )
    # a higher bar makes the same base non-contractual
    strict = resolve_churn_definition(con, FeatureSettings(contractual_min_share=0.8))
    assert strict.definition == "non_contractual"
    assert "< contractual_min_share 80%" in strict.reason


def test_auto_definition_is_non_contractual_with_few_or_no_subscribers() -> None:
    from features.churn_definition import resolve_churn_definition

    few = contract_con(customers=CUSTOMERS, events=EVENTS, subscriptions=[sub("a", "2024-01-01", None)])
    assert resolve_churn_definition(few, FeatureSettings()).definition == "non_contractual"
    assert labels_of(build_labels(few, [CUTOFF])) == {"a": 0, "b": 1, "f": 1}
    none = contract_con(customers=CUSTOMERS, events=EVENTS)
    choice = resolve_churn_definition(none, FeatureSettings())
    assert choice.definition == "non_contractual"
    assert "no subscriptions table" in choice.reason
    explicit = resolve_churn_definition(few, FeatureSettings(churn_definition="contractual"))
    assert explicit.definition == "contractual"
    assert "is set to contractual" in explicit.reason


def test_rhythm_population_leaves_out_customers_gone_by_their_own_rhythm() -> None:
    customers = [cust(c, "2023-01-01") for c in ("daily", "monthly", "once", "recent")]
    daily = [ev("daily", str(T("2023-12-01") + pd.Timedelta(days=i))) for i in range(40)]  # to 01-09, then silent
    monthly = [ev("monthly", d) for d in ("2023-09-15", "2023-10-15", "2023-11-14", "2023-12-14", "2024-01-13")]
    events = [*daily, *monthly, ev("once", "2023-11-20"), ev("recent", "2024-02-10"), ev("recent", "2024-02-20")]
    events += [ev("monthly", "2024-03-12"), ev("once", "2024-04-15")]  # monthly is back in the horizon
    con = contract_con(customers=customers, events=events)
    rhythm = FeatureSettings(non_contractual_population="rhythm")
    # daily: 52 days idle > max(6 x 1 day, 30); monthly: 48 days idle < 6 x 30 days; once: no rhythm, 102 idle
    # days > the 90-day fallback; recent: idle 10 days, usual gap 10
    assert labels_of(build_labels(con, [CUTOFF], rhythm)) == {"monthly": 0, "recent": 1}
    # the old rule (activity in the 90 days before) keeps the daily user, whose silence already says gone
    assert labels_of(build_labels(con, [CUTOFF])) == {"daily": 1, "monthly": 0, "recent": 1}
    assert FeatureSettings().non_contractual_population == "lookback"
