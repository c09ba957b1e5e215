"""The lapse rule ("already gone by their own rhythm"): its thresholds, its fallback, and SQL == numpy."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.lapse import LapseRule, is_lapsed, lapse_threshold_days, lapsed_sql
from features.settings import FeatureSettings


def test_the_threshold_follows_the_customers_own_rhythm() -> None:
    rule = LapseRule(multiplier=6, min_idle_days=30, max_idle_days=365, fallback_idle_days=90)
    gaps = [1.0, 10.0, 40.0, 100.0, np.nan]
    assert lapse_threshold_days(gaps, rule).tolist() == [30.0, 60.0, 240.0, 365.0, 90.0]


def test_a_daily_user_silent_for_five_weeks_is_gone_a_six_weekly_one_is_not() -> None:
    idle = [35.0, 35.0]
    assert is_lapsed(idle, [1.0, 42.0]).tolist() == [True, False]


def test_too_little_history_falls_back_to_the_fixed_lookback_and_never_active_is_not_lapsed() -> None:
    rule = LapseRule()
    assert is_lapsed([89.0, 91.0, np.nan], [np.nan, np.nan, np.nan], rule).tolist() == [False, True, False]
    assert is_lapsed([np.nan], [3.0], rule).tolist() == [False]


def test_idle_exactly_at_the_threshold_is_not_lapsed() -> None:
    assert is_lapsed([60.0, 60.5], [10.0, 10.0]).tolist() == [False, True]


def test_the_rule_is_a_typed_nested_feature_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHURNLTV_FEATURES_LAPSE__MULTIPLIER", "3")
    assert FeatureSettings().lapse.multiplier == 3.0
    with pytest.raises(ValueError, match="min_idle_days"):
        LapseRule(min_idle_days=400, max_idle_days=365)
    assert "usual gap" in LapseRule().describe()


finite_or_missing = st.one_of(st.none(), st.floats(0, 500, allow_nan=False))


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(st.tuples(finite_or_missing, finite_or_missing), min_size=1, max_size=30),
    multiplier=st.floats(0.5, 10),
    min_idle=st.floats(0, 60),
)
def test_sql_and_numpy_give_the_same_answer(
    rows: list[tuple[float | None, float | None]], multiplier: float, min_idle: float
) -> None:
    rule = LapseRule(multiplier=multiplier, min_idle_days=min_idle)
    frame = pd.DataFrame(rows, columns=["idle", "gap"], dtype="float64")
    con = duckdb.connect()
    con.register("t", frame)
    sql = con.execute(f"SELECT {lapsed_sql('idle', 'gap', rule)} AS lapsed FROM t").df()["lapsed"].to_numpy(bool)
    assert sql.tolist() == is_lapsed(frame["idle"], frame["gap"], rule).tolist()
