"""Point-in-time features on hand-made tiny tables: every expected number is worked out by hand."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pandas.testing as pdt
import pytest

from features.errors import UserInputError
from features.point_in_time import build_features, normalize_cutoffs
from features.settings import AhaRule, FeatureSettings
from features.time_units import TimeUnit
from support.contract_rows import CUSTOMERS, CUTOFF, EVENTS, T, contract_con, event, row


def plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Categoricals as strings: category sets depend on which rows are in a frame."""
    return frame.astype({c: str for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)})


@pytest.fixture
def base() -> tuple[pd.DataFrame, Any]:
    return build_features(contract_con(customers=CUSTOMERS, events=EVENTS), [CUTOFF])


def test_population_is_customers_signed_up_strictly_before_the_cutoff(base: tuple[pd.DataFrame, Any]) -> None:
    frame, _ = base
    assert list(frame["customer_id"]) == ["a", "b", "c"]
    assert (frame["as_of"] == CUTOFF).all()


def test_columns_follow_the_spec_with_contract_dtypes(base: tuple[pd.DataFrame, Any]) -> None:
    frame, spec = base
    assert list(frame.columns) == ["customer_id", "as_of", *spec.names]
    assert str(frame["as_of"].dtype) == "datetime64[us]"
    assert frame["customer_id"].dtype == "str"
    assert isinstance(frame["segment"].dtype, pd.CategoricalDtype)
    assert frame["events_30d"].dtype == "int64"
    assert frame["aha_reached"].dtype == "int64"
    assert frame["days_since_last_event"].dtype == "float64"
    spec.validate_frame(frame)


def test_tenure_and_categoricals(base: tuple[pd.DataFrame, Any]) -> None:
    frame, _ = base
    assert row(frame, "a")["tenure_days"] == 69.0
    assert row(frame, "c")["tenure_days"] == 9.0
    assert row(frame, "a")["segment"] == "b2b"
    assert row(frame, "c")["acquisition_channel"] == "ads"


def test_window_counts_and_active_days(base: tuple[pd.DataFrame, Any]) -> None:
    frame, _ = base
    a = row(frame, "a")
    # 7d = [03-03, 03-10): the login on 03-05; 90d = [2023-12-11, 03-10): 4 events on 3 days
    assert (a["events_7d"], a["events_30d"], a["events_90d"]) == (1, 1, 4)
    assert (a["active_days_7d"], a["active_days_30d"], a["active_days_90d"]) == (1, 1, 3)
    b = row(frame, "b")
    assert (b["events_7d"], b["events_30d"], b["events_90d"]) == (0, 1, 3)
    c = row(frame, "c")
    assert (c["events_90d"], c["active_days_90d"]) == (0, 0)


def test_core_actions_and_trend(base: tuple[pd.DataFrame, Any]) -> None:
    frame, _ = base
    b = row(frame, "b")
    # last 30 days = [02-09, 03-10): 02-20; prior 30 = [01-10, 02-09): 01-20 and 01-25
    assert (b["core_actions_30d"], b["core_actions_prev_30d"]) == (1, 2)
    assert b["core_trend_ratio"] == 0.5
    a = row(frame, "a")
    assert (a["core_actions_30d"], a["core_actions_prev_30d"]) == (0, 0)
    assert math.isnan(a["core_trend_ratio"])  # null when the prior 30 days had none


def test_recency_features(base: tuple[pd.DataFrame, Any]) -> None:
    frame, _ = base
    a = row(frame, "a")
    assert a["days_since_last_event"] == 5.0  # login on 03-05
    assert a["days_since_last_core_action"] == 66.5  # 01-03 12:00
    c = row(frame, "c")
    assert math.isnan(c["days_since_last_event"])
    assert math.isnan(c["days_since_last_core_action"])


def test_module_breadth(base: tuple[pd.DataFrame, Any]) -> None:
    frame, spec = base
    a = row(frame, "a")
    assert a["modules_used_90d"] == 3  # m1, m2, m3 (m4 only at/after the cutoff)
    assert a["core_modules_used_90d"] == 2  # m1, m2
    assert a["uses_3plus_modules"] == 0
    assert spec.settings["n_core_modules"] == 2  # m1, m2 carry core actions before the cutoff


def test_uses_3plus_modules_flag() -> None:
    events = [event("c", f"2024-03-0{i + 2}", module=m) for i, m in enumerate(("m1", "m2", "m3"))]
    frame, _ = build_features(contract_con(customers=CUSTOMERS, events=events), [CUTOFF])
    assert row(frame, "c")["core_modules_used_90d"] == 3
    assert row(frame, "c")["uses_3plus_modules"] == 1


def test_aha_within_days_of_signup(base: tuple[pd.DataFrame, Any]) -> None:
    frame, _ = base
    a = row(frame, "a")
    assert a["aha_reached"] == 1  # 3rd core action on 01-03 12:00, 2.5 days after signup
    assert a["days_to_aha"] == 2.5
    b = row(frame, "b")  # core actions, but none within 7 days of signup
    assert b["aha_reached"] == 0
    assert math.isnan(b["days_to_aha"])


def test_aha_rule_is_a_setting() -> None:
    con = contract_con(customers=CUSTOMERS, events=EVENTS)
    strict = FeatureSettings(aha=AhaRule(count=4, within_days=7))
    frame, _ = build_features(con, [CUTOFF], strict)
    assert row(frame, "a")["aha_reached"] == 0
    streak = FeatureSettings(aha=AhaRule(count=1, within_days=2, mode="days_in_a_row"))
    frame, _ = build_features(con, [CUTOFF], streak)
    # core on 01-02 and 01-03: the streak completes at the first core action of 01-03 (10:00)
    assert row(frame, "a")["days_to_aha"] == pytest.approx(2 + 10 / 24)
    assert row(frame, "b")["aha_reached"] == 0  # 01-20, 01-25, 02-20: never two days in a row
    busy = FeatureSettings(aha=AhaRule(count=2, within_days=1, mode="days_in_a_row"))
    frame, _ = build_features(con, [CUTOFF], busy)
    assert row(frame, "a")["days_to_aha"] == 2.5  # 01-03 is the first day with 2 core actions (2nd at 12:00)


def test_aha_not_reached_before_an_earlier_cutoff() -> None:
    con = contract_con(customers=CUSTOMERS, events=EVENTS)
    frame, _ = build_features(con, ["2024-01-03 11:00"])
    assert row(frame, "a", T("2024-01-03 11:00"))["aha_reached"] == 0  # only 2 core actions so far


def test_weeks_below_aha_bar(base: tuple[pd.DataFrame, Any]) -> None:
    frame, _ = base
    # a: tenure 69 days spans 10 blocks; block 10 (days 63-70 before the cutoff) holds the 3 early core actions
    assert row(frame, "a")["weeks_below_aha_bar"] == 9
    # b: 10 blocks, never 3 core actions in one block
    assert row(frame, "b")["weeks_below_aha_bar"] == 10
    # c: 9 days of tenure = 2 blocks, no core action
    assert row(frame, "c")["weeks_below_aha_bar"] == 2
    frame, _ = build_features(
        contract_con(customers=CUSTOMERS, events=EVENTS), [CUTOFF], FeatureSettings(weekly_aha_bar=1)
    )
    assert row(frame, "b")["weeks_below_aha_bar"] == 2  # last core action 02-20 is in block 3


def test_usual_gap_and_idle_ratio(base: tuple[pd.DataFrame, Any]) -> None:
    frame, _ = base
    a = row(frame, "a")
    assert a["usual_gap_days"] == 31.5  # active days 01-02, 01-03, 03-05: gaps 1 and 62
    assert a["idle_ratio"] == pytest.approx(5.0 / 31.5)
    b = row(frame, "b")
    assert b["usual_gap_days"] == 15.5  # gaps 5 and 26
    assert b["idle_ratio"] == pytest.approx(19.0 / 15.5)
    assert math.isnan(row(frame, "c")["usual_gap_days"])


def test_reactivation_after_a_dormant_gap(base: tuple[pd.DataFrame, Any]) -> None:
    frame, _ = base
    assert row(frame, "a")["days_since_reactivation"] == 5.0  # 62 idle days, back on 03-05
    assert math.isnan(row(frame, "b")["days_since_reactivation"])
    frame, _ = build_features(
        contract_con(customers=CUSTOMERS, events=EVENTS), [CUTOFF], FeatureSettings(dormant_days=63)
    )
    assert math.isnan(row(frame, "a")["days_since_reactivation"])


TRANSACTIONS = [
    {"customer_id": "a", "occurred_at": T("2024-01-02 01:00"), "amount": 10.0, "order_id": "o1"},
    {"customer_id": "a", "occurred_at": T("2024-01-02 05:00"), "amount": 5.0, "order_id": "o2"},
    {"customer_id": "a", "occurred_at": T("2024-01-16 00:00"), "amount": 7.0, "order_id": "o3"},
    {"customer_id": "a", "occurred_at": T("2024-02-01 00:00"), "amount": 99.0, "order_id": "o4"},  # at cutoff
]


def test_transactions_and_btyd_summary() -> None:
    con = contract_con(customers=CUSTOMERS, events=EVENTS, transactions=TRANSACTIONS)
    cutoff = T("2024-02-01")
    frame, spec = build_features(con, [cutoff])
    a = row(frame, "a", cutoff)
    assert (a["txn_count_total"], a["txn_amount_total"], a["txn_count_90d"], a["txn_amount_90d"]) == (3, 22.0, 3, 22.0)
    assert a["days_since_last_txn"] == 16.0
    # purchase days 01-02 (15.0, merged) and 01-16 (7.0); last observable day 01-31
    assert a["btyd_frequency"] == 1.0
    assert a["btyd_recency"] == pytest.approx(14 / 7)
    assert a["btyd_T"] == pytest.approx(29 / 7)
    assert a["btyd_monetary"] == 7.0
    assert spec.time_unit == TimeUnit.WEEK
    b = row(frame, "b", cutoff)
    assert (b["txn_count_total"], b["txn_amount_total"]) == (0, 0.0)
    assert math.isnan(b["btyd_frequency"])
    assert math.isnan(b["btyd_T"])
    assert math.isnan(b["days_since_last_txn"])
    days, spec_days = build_features(con, [cutoff], FeatureSettings(btyd_time_unit=TimeUnit.DAY))
    assert (row(days, "a", cutoff)["btyd_recency"], row(days, "a", cutoff)["btyd_T"]) == (14.0, 29.0)
    assert spec_days.time_unit == TimeUnit.DAY


def test_purchases_count_as_activity_for_reactivation() -> None:
    con = contract_con(customers=CUSTOMERS, events=EVENTS, transactions=TRANSACTIONS)
    frame, _ = build_features(con, [CUTOFF])
    # the purchase on 02-01 splits a's 62-day gap into 29 + 33 days: no dormant spell
    assert math.isnan(row(frame, "a")["days_since_reactivation"])


def test_subscription_features() -> None:
    subs = [
        {"customer_id": "a", "plan": "basic", "mrr": 10.0, "started_at": T("2024-01-05"), "ended_at": T("2024-02-05")},
        {"customer_id": "a", "plan": "pro", "mrr": 30.0, "started_at": T("2024-02-05"), "ended_at": None},
        {"customer_id": "b", "plan": "basic", "mrr": 10.0, "started_at": T("2024-01-10"), "ended_at": T("2024-03-15")},
        {"customer_id": "c", "plan": "max", "mrr": 90.0, "started_at": T("2024-03-12"), "ended_at": None},  # future
    ]
    frame, _ = build_features(contract_con(customers=CUSTOMERS, events=EVENTS, subscriptions=subs), [CUTOFF])
    a, b, c = row(frame, "a"), row(frame, "b"), row(frame, "c")
    assert (a["sub_active"], a["sub_plan"], a["sub_mrr"], a["sub_tenure_days"], a["sub_ended_count"]) == (
        1,
        "pro",
        30.0,
        65.0,
        1,
    )
    # b's subscription ends after the cutoff: at the cutoff it was active
    assert (b["sub_active"], b["sub_plan"], b["sub_mrr"], b["sub_tenure_days"], b["sub_ended_count"]) == (
        1,
        "basic",
        10.0,
        60.0,
        0,
    )
    assert (c["sub_active"], c["sub_mrr"], c["sub_ended_count"]) == (0, 0.0, 0)
    assert pd.isna(c["sub_plan"])
    assert math.isnan(c["sub_tenure_days"])
    assert isinstance(frame["sub_plan"].dtype, pd.CategoricalDtype)


def test_nps_features() -> None:
    nps = [
        {"customer_id": "a", "answered_at": T("2024-01-10"), "score": 9},
        {"customer_id": "a", "answered_at": T("2024-02-10"), "score": 3},
        {"customer_id": "a", "answered_at": T("2024-03-12"), "score": 10},  # after the cutoff
    ]
    frame, _ = build_features(contract_con(customers=CUSTOMERS, events=EVENTS, nps_responses=nps), [CUTOFF])
    a = row(frame, "a")
    assert (a["nps_last"], a["nps_mean"], a["nps_count"], a["days_since_last_nps"]) == (3.0, 6.0, 2, 29.0)
    b = row(frame, "b")
    assert b["nps_count"] == 0
    assert math.isnan(b["nps_last"])
    assert math.isnan(b["days_since_last_nps"])


def test_ticket_features() -> None:
    tickets = [
        {"customer_id": "a", "opened_at": T("2024-01-05"), "resolved_at": T("2024-01-05 12:00"), "satisfaction": 2},
        # resolved after the cutoff: open at the cutoff, and its rating is not known yet
        {"customer_id": "a", "opened_at": T("2024-03-01"), "resolved_at": T("2024-03-11"), "satisfaction": 5},
        {"customer_id": "b", "opened_at": T("2024-03-09"), "resolved_at": None, "satisfaction": None},
    ]
    frame, _ = build_features(contract_con(customers=CUSTOMERS, events=EVENTS, support_tickets=tickets), [CUTOFF])
    a = row(frame, "a")
    assert (a["tickets_90d"], a["tickets_open"], a["tickets_resolved_90d"]) == (2, 1, 1)
    assert a["ticket_satisfaction_mean"] == 2.0
    assert a["days_since_last_ticket_resolved"] == 64.5
    assert a["ticket_resolution_hours_mean"] == 12.0
    b = row(frame, "b")
    assert (b["tickets_90d"], b["tickets_open"], b["tickets_resolved_90d"]) == (1, 1, 0)
    assert math.isnan(b["ticket_satisfaction_mean"])
    assert math.isnan(b["ticket_resolution_hours_mean"])
    c = row(frame, "c")
    assert (c["tickets_90d"], c["tickets_open"]) == (0, 0)


def test_account_rollups(base: tuple[pd.DataFrame, Any]) -> None:
    frame, _ = base
    for cid in ("a", "b"):
        r = row(frame, cid)
        assert (r["account_users"], r["account_active_users_30d"], r["account_core_actions_30d"]) == (2.0, 2.0, 1.0)
        assert r["account_core_trend_ratio"] == 0.5  # a 0 + b 1 over a 0 + b 2
    c = row(frame, "c")
    assert math.isnan(c["account_users"])
    assert math.isnan(c["account_core_trend_ratio"])


def test_absent_tables_leave_features_out_and_say_why(base: tuple[pd.DataFrame, Any]) -> None:
    frame, spec = base
    for name in ("txn_count_total", "btyd_T", "sub_plan", "nps_last", "tickets_open"):
        assert name not in frame.columns
        assert name not in spec.names
    assert spec.absent["btyd_T"] == "no transactions table"
    assert spec.absent["sub_plan"] == "no subscriptions table"
    assert spec.absent["nps_mean"] == "no nps_responses table"
    assert spec.absent["tickets_open"] == "no support_tickets table"
    assert "events_30d" in spec.names
    assert "account_users" in spec.names


def test_customers_without_account_id_column_leave_rollups_out() -> None:
    rows = [{k: v for k, v in c.items() if k != "account_id"} for c in CUSTOMERS]
    frame, spec = build_features(contract_con(customers=rows, events=EVENTS), [CUTOFF])
    assert "account_users" not in frame.columns
    assert spec.absent["account_users"] == "the customers table has no account_id column"


def test_empty_optional_table_is_data_not_absence() -> None:
    frame, spec = build_features(contract_con(customers=CUSTOMERS, events=EVENTS, transactions=[]), [CUTOFF])
    assert "txn_count_total" not in spec.absent
    assert list(frame["txn_count_total"]) == [0, 0, 0]


def test_stacked_cutoffs_equal_separate_builds() -> None:
    con = contract_con(customers=CUSTOMERS, events=EVENTS, transactions=TRANSACTIONS)
    cutoffs = [T("2024-02-01"), CUTOFF, T("2024-02-15 06:30")]
    stacked, _ = build_features(con, cutoffs)
    separate = pd.concat([build_features(con, [c])[0] for c in sorted(cutoffs)], ignore_index=True)
    pdt.assert_frame_equal(plain(stacked), plain(separate))
    assert list(stacked["as_of"].drop_duplicates()) == sorted(cutoffs)


def test_one_customer_matches_the_full_build() -> None:
    con = contract_con(customers=CUSTOMERS, events=EVENTS, transactions=TRANSACTIONS)
    full, _ = build_features(con, [CUTOFF])
    one, _ = build_features(con, [CUTOFF], customer_ids=["b"])
    assert list(one["customer_id"]) == ["b"]
    expected = full[full["customer_id"] == "b"].reset_index(drop=True)
    pdt.assert_frame_equal(plain(one), plain(expected))
    assert one.iloc[0]["account_users"] == 2.0  # the account's other user was read for the roll-up


def test_unknown_customer_id_is_named() -> None:
    con = contract_con(customers=CUSTOMERS, events=EVENTS)
    with pytest.raises(UserInputError, match="'zz'"):
        build_features(con, [CUTOFF], customer_ids=["a", "zz"])


def test_build_leaves_no_temporary_tables_behind() -> None:
    con = contract_con(customers=CUSTOMERS, events=EVENTS)
    before = con.execute("SELECT count(*) FROM information_schema.tables").fetchone()
    build_features(con, [CUTOFF])
    assert con.execute("SELECT count(*) FROM information_schema.tables").fetchone() == before


def test_cutoffs_are_parsed_and_bad_ones_named() -> None:
    got = normalize_cutoffs(["2024-03-10", T("2024-03-10T02:00:00+02:00"), "2024-01-01"])
    assert got == [T("2024-01-01"), T("2024-03-10")]  # +02:00 converted to UTC, duplicates merged
    with pytest.raises(UserInputError, match="'yesterday'"):
        normalize_cutoffs(["yesterday"])
    with pytest.raises(UserInputError, match="no cutoff"):
        normalize_cutoffs([])


def test_missing_customers_table_is_a_user_error() -> None:
    con = contract_con(events=EVENTS)
    with pytest.raises(UserInputError, match="customers"):
        build_features(con, [CUTOFF])


def test_core_event_types_are_a_setting() -> None:
    settings = FeatureSettings(core_event_types=("login",))
    frame, spec = build_features(contract_con(customers=CUSTOMERS, events=EVENTS), [CUTOFF], settings)
    assert row(frame, "a")["core_actions_30d"] == 1  # the login on 03-05
    assert row(frame, "a")["days_since_last_core_action"] == 5.0
    assert spec.settings["core_event_types"] == ["login"]
