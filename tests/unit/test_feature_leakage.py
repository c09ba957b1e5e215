"""Property: no change to data dated at or after the cutoff ever changes a feature.

Each example draws a random base, keeps every row dated before the cutoff, and replaces all
the rest (rows added, deleted and modified at once) by an independent draw: customers who sign
up later, events, purchases, NPS answers, subscriptions and tickets dated at or after the
cutoff, and the end/resolution time and rating of subscriptions and tickets that were still
running at the cutoff. The two feature frames must be identical, value for value. The behaviour features of an event
vocabulary (``ev_*``/``mod_*``) are in every frame: either a drawn vocabulary or the one learned from each of the two
bases, which must be the same (learning reads only events before the latest cutoff).
"""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd
import pandas.testing as pdt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.contract import TABLES
from features.event_vocabulary import EventVocabulary, groups
from features.point_in_time import build_features
from features.settings import AhaRule, FeatureSettings
from features.vocabulary_learning import with_learned_vocabulary

BASE = pd.Timestamp("2024-06-01")
PAST_HOURS = 24 * 120
FUTURE_HOURS = 24 * 40
N_PAST = 4


def at(hours: int) -> pd.Timestamp:
    return BASE + pd.Timedelta(hours=hours)


def contract_con(tables: dict[str, list[dict[str, Any]]]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for name, rows in tables.items():
        cols = list(TABLES[name].columns)
        con.execute(f"CREATE TABLE {name} ({', '.join(f'{c.name} {c.type.duckdb_type}' for c in cols)})")
        if rows:
            con.register("_rows", pd.DataFrame(rows, columns=[c.name for c in cols]))
            casts = ", ".join(f"CAST({c.name} AS {c.type.duckdb_type})" for c in cols)
            con.execute(f"INSERT INTO {name} SELECT {casts} FROM _rows")
            con.unregister("_rows")
    return con


def past_customers(draw: st.DrawFn, cut_h: int) -> list[dict[str, Any]]:
    out = []
    for i in range(N_PAST):
        segment = draw(st.sampled_from(["b2c", "b2b"]))
        out.append(
            {
                "customer_id": f"p{i}",
                "signup_at": at(draw(st.integers(-PAST_HOURS, cut_h - 1))),
                "acquisition_channel": draw(st.sampled_from(["ads", "seo"])),
                "segment": segment,
                "account_id": draw(st.sampled_from(["X", "Y"])) if segment == "b2b" else None,
            }
        )
    return out


def timed_rows(draw: st.DrawFn, ids: list[str], lo: int, hi: int, kind: str) -> list[dict[str, Any]]:
    """Rows of table ``kind`` dated in [lo, hi] hours from BASE."""
    rows = []
    for _ in range(draw(st.integers(0, 12 if kind == "events" else 4))):
        cid = draw(st.sampled_from(ids))
        ts = at(draw(st.integers(lo, hi)))
        if kind == "events":
            rows.append(
                {
                    "customer_id": cid,
                    "occurred_at": ts,
                    "event_type": draw(st.sampled_from(["core_action", "core_action", "login", "export"])),
                    "module": draw(st.sampled_from(["m1", "m2", "m3", "m4"])),
                    "value": draw(st.sampled_from([None, 1.0, 2.5])),
                }
            )
        elif kind == "transactions":
            amount = draw(st.sampled_from([0.0, 1.5, 10.0]))
            rows.append({"customer_id": cid, "occurred_at": ts, "amount": amount, "order_id": None})
        elif kind == "nps_responses":
            rows.append({"customer_id": cid, "answered_at": ts, "score": draw(st.integers(0, 10))})
        elif kind == "subscriptions":
            plan = draw(st.sampled_from(["basic", "pro"]))
            rows.append({"customer_id": cid, "plan": plan, "mrr": 10.0, "started_at": ts, "ended_at": None})
        else:
            rows.append({"customer_id": cid, "opened_at": ts, "resolved_at": None, "satisfaction": None})
    return rows


@st.composite
def future_end(draw: st.DrawFn, cut_h: int) -> pd.Timestamp | None:
    """An end/resolution time at or after the cutoff, or none yet."""
    hours = draw(st.none() | st.integers(cut_h, cut_h + FUTURE_HOURS))
    return None if hours is None else at(hours)


def finish_past(draw: st.DrawFn, tables: dict[str, list[dict[str, Any]]], cut_h: int) -> None:
    """Give past subscriptions/tickets an end: before the cutoff (past data) or after it (redrawn later)."""
    for row in tables["subscriptions"]:
        start_h = int((row["started_at"] - BASE) / pd.Timedelta(hours=1))
        end_h = draw(st.none() | st.integers(start_h + 1, cut_h + FUTURE_HOURS))
        row["ended_at"] = None if end_h is None else at(end_h)
    for row in tables["support_tickets"]:
        open_h = int((row["opened_at"] - BASE) / pd.Timedelta(hours=1))
        end_h = draw(st.none() | st.integers(open_h, cut_h + FUTURE_HOURS))
        row["resolved_at"] = None if end_h is None else at(end_h)
        row["satisfaction"] = draw(st.none() | st.integers(1, 5)) if end_h is not None else None


def future_part(draw: st.DrawFn, cut_h: int) -> dict[str, list[dict[str, Any]]]:
    """Everything dated at or after the cutoff: new customers and rows for old and new ones."""
    n_new = draw(st.integers(0, 2))
    new_customers = [
        {
            "customer_id": f"f{i}",
            "signup_at": at(draw(st.integers(cut_h, cut_h + FUTURE_HOURS))),
            "acquisition_channel": "ads",
            "segment": "b2b",
            "account_id": "X",  # joins an existing account after the cutoff
        }
        for i in range(n_new)
    ]
    ids = [f"p{i}" for i in range(N_PAST)] + [c["customer_id"] for c in new_customers]
    out: dict[str, list[dict[str, Any]]] = {"customers": new_customers}
    for kind in ("events", "transactions", "nps_responses", "subscriptions", "support_tickets"):
        out[kind] = timed_rows(draw, ids, cut_h, cut_h + FUTURE_HOURS, kind)
    for row in out["subscriptions"]:
        row["ended_at"] = draw(future_end(int((row["started_at"] - BASE) / pd.Timedelta(hours=1))))
    for row in out["support_tickets"]:
        row["resolved_at"] = draw(future_end(int((row["opened_at"] - BASE) / pd.Timedelta(hours=1))))
        row["satisfaction"] = draw(st.none() | st.integers(1, 5))
    return out


def rewrite_straddling(draw: st.DrawFn, rows: list[dict[str, Any]], cutoff: pd.Timestamp, end_col: str) -> None:
    """Rows started before the cutoff and not ended before it: their end is future data, redraw it."""
    cut_h = int((cutoff - BASE) / pd.Timedelta(hours=1))
    for row in rows:
        if row[end_col] is None or row[end_col] >= cutoff:
            row[end_col] = draw(future_end(cut_h))
            if end_col == "resolved_at":
                row["satisfaction"] = draw(st.none() | st.integers(1, 5))


def merged(past: dict[str, list[dict[str, Any]]], future: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return {name: [dict(r) for r in past[name]] + [dict(r) for r in future.get(name, [])] for name in past}


def check_future_data_never_changes_a_feature(data: st.DataObject) -> None:
    draw = data.draw
    cut_h = draw(st.integers(0, 23), label="cutoff hour")
    cutoff = at(cut_h)
    customers = past_customers(draw, cut_h)
    past_ids = [c["customer_id"] for c in customers]
    past: dict[str, list[dict[str, Any]]] = {"customers": customers}
    for kind in ("events", "transactions", "nps_responses", "subscriptions", "support_tickets"):
        past[kind] = timed_rows(draw, past_ids, -PAST_HOURS, cut_h - 1, kind)
    finish_past(draw, past, cut_h)
    first = merged(past, future_part(draw, cut_h))
    second = merged(past, future_part(draw, cut_h))
    rewrite_straddling(draw, second["subscriptions"], cutoff, "ended_at")
    rewrite_straddling(draw, second["support_tickets"], cutoff, "resolved_at")
    feature_settings = FeatureSettings(
        aha=draw(
            st.builds(
                AhaRule,
                count=st.integers(1, 3),
                within_days=st.integers(1, 3),
                mode=st.sampled_from(["within_days_of_signup", "days_in_a_row"]),
            )
        ),
        weekly_aha_bar=draw(st.integers(1, 3)),
        dormant_days=draw(st.integers(2, 20)),
    )
    cutoffs = [cutoff - pd.Timedelta(days=10), cutoff]
    con_a, con_b = contract_con(first), contract_con(second)
    if draw(st.booleans(), label="learn the vocabulary"):
        loose = feature_settings.model_copy(
            update={"vocabulary_min_events": 1, "vocabulary_min_share": 0.0, "vocabulary_max_types": 2}
        )
        settings_a, settings_b = (
            with_learned_vocabulary(con_a, cutoffs, loose),
            with_learned_vocabulary(con_b, cutoffs, loose),
        )
        assert settings_a.learned_vocabulary == settings_b.learned_vocabulary
    else:
        drawn = EventVocabulary(
            window_days=draw(st.integers(1, 40)),
            event_types=tuple(draw(st.lists(st.sampled_from(["core_action", "login"]), unique=True))),
            modules=tuple(draw(st.lists(st.sampled_from(["m1", "m2", "m3"]), unique=True))),
            value_types=tuple(draw(st.lists(st.sampled_from(["core_action", "login"]), unique=True))),
        )
        settings_a = settings_b = feature_settings.model_copy(update={"learned_vocabulary": drawn})
    frame_a, spec_a = build_features(con_a, cutoffs, settings_a)
    frame_b, spec_b = build_features(con_b, cutoffs, settings_b)
    pdt.assert_frame_equal(frame_a, frame_b, check_exact=True)
    assert spec_a.names == spec_b.names
    learned = settings_a.learned_vocabulary
    assert learned is not None
    # every group of the vocabulary has its columns (a base without any event before the cutoff learns none)
    assert any(name.startswith(("ev_", "mod_")) for name in spec_a.names) == bool(groups(learned))
    assert len(frame_a) > 0  # all past customers signed up before the cutoff


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_future_data_never_changes_a_feature(data: st.DataObject) -> None:
    check_future_data_never_changes_a_feature(data)


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_future_data_never_changes_a_feature_many_examples(data: st.DataObject) -> None:
    check_future_data_never_changes_a_feature(data)


def test_the_property_can_fail() -> None:
    """Guard against a vacuous property: a row just before the cutoff does change features."""
    cutoff = at(10)
    customers = [
        {"customer_id": "p0", "signup_at": at(-100), "acquisition_channel": "a", "segment": "b2c", "account_id": None}
    ]
    event = {"customer_id": "p0", "event_type": "core_action", "module": "m1", "value": None}
    before = build_features(contract_con({"customers": customers, "events": []}), [cutoff])[0]
    after = build_features(
        contract_con({"customers": customers, "events": [{**event, "occurred_at": at(9)}]}), [cutoff]
    )[0]
    assert int(before.loc[0, "events_7d"]) == 0
    assert int(after.loc[0, "events_7d"]) == 1
    at_cutoff = build_features(
        contract_con({"customers": customers, "events": [{**event, "occurred_at": cutoff}]}), [cutoff]
    )[0]
    pdt.assert_frame_equal(before, at_cutoff, check_exact=True)
