"""The BTYD summary: purchase days, exclusive cutoff, time units, and pandas == DuckDB."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from features.btyd_summary import btyd_summary, btyd_summary_sql, last_observable_day
from features.errors import UserInputError
from features.time_units import TimeUnit


def _tx() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "b", "c", "c"],
            "occurred_at": pd.to_datetime(
                [
                    "2024-01-01 09:00",
                    "2024-01-01 17:00",  # same day: merged with the first
                    "2024-01-08 10:00",
                    "2024-01-15 23:59",
                    "2024-01-10 12:00",
                    "2024-01-05 08:00",
                    "2024-02-01 00:00",  # exactly at the cutoff: excluded
                ]
            ),
            "amount": [10.0, 5.0, 20.0, 40.0, 7.0, 3.0, 100.0],
        }
    )


AS_OF = pd.Timestamp("2024-02-01")


def test_purchase_days_are_merged_and_first_day_is_not_a_repeat() -> None:
    s = btyd_summary(_tx(), AS_OF, TimeUnit.DAY)
    assert list(s.index) == ["a", "b", "c"]
    assert s.loc["a", "frequency"] == 2
    assert s.loc["a", "recency"] == 14.0
    assert s.loc["a", "T"] == 30.0  # observed through 2024-01-31
    assert s.loc["a", "monetary_value"] == pytest.approx(30.0)  # (20 + 40) / 2; first day (15) excluded
    assert s.loc["b", "frequency"] == 0
    assert np.isnan(s.loc["b", "monetary_value"])


def test_cutoff_is_exclusive() -> None:
    s = btyd_summary(_tx(), AS_OF, TimeUnit.DAY)
    assert s.loc["c", "frequency"] == 0  # the purchase at the cutoff is not seen
    later = btyd_summary(_tx(), AS_OF + pd.Timedelta(hours=1), TimeUnit.DAY)
    assert later.loc["c", "frequency"] == 1
    assert later.loc["c", "recency"] == later.loc["c", "T"] == 27.0


def test_units_divide_days() -> None:
    days = btyd_summary(_tx(), AS_OF, TimeUnit.DAY)
    weeks = btyd_summary(_tx(), AS_OF, TimeUnit.WEEK)
    np.testing.assert_allclose(weeks["T"] * 7, days["T"])
    np.testing.assert_allclose(weeks["recency"] * 7, days["recency"])
    assert (weeks["frequency"] == days["frequency"]).all()


def test_last_observable_day() -> None:
    assert last_observable_day(pd.Timestamp("1997-10-01")) == pd.Timestamp("1997-09-30")
    assert last_observable_day(pd.Timestamp("1997-10-01 12:00")) == pd.Timestamp("1997-10-01")


def test_sql_equals_pandas() -> None:
    rng = np.random.default_rng(3)
    n = 5000
    tx = pd.DataFrame(
        {
            "customer_id": rng.integers(0, 700, n).astype(str),
            "occurred_at": pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 400 * 24, n), unit="h"),
            "amount": rng.gamma(2.0, 10.0, n).round(2),
        }
    )
    con = duckdb.connect()
    con.register("transactions", tx)
    for unit in TimeUnit:
        expected = btyd_summary(tx, pd.Timestamp("2024-01-15 06:00"), unit)
        got = btyd_summary_sql(con, pd.Timestamp("2024-01-15 06:00"), unit)
        assert list(got.index) == list(expected.index)
        np.testing.assert_array_equal(got["frequency"], expected["frequency"])
        np.testing.assert_allclose(got[["recency", "T"]], expected[["recency", "T"]])
        np.testing.assert_allclose(got["monetary_value"], expected["monetary_value"], equal_nan=True)


def test_empty_and_bad_input() -> None:
    assert len(btyd_summary(_tx(), pd.Timestamp("2000-01-01"), TimeUnit.DAY)) == 0
    bad = _tx()
    bad.loc[2, "amount"] = -1.0
    with pytest.raises(UserInputError, match="row 3, column 'amount'"):
        btyd_summary(bad, AS_OF, TimeUnit.DAY)
    bad.loc[2, "amount"] = np.inf  # not a spend: Gamma-Gamma would silently count it as "zero spend"
    with pytest.raises(UserInputError, match=r"row 3, column 'amount'.*value: inf"):
        btyd_summary(bad, AS_OF, TimeUnit.DAY)
    with pytest.raises(UserInputError, match="'when' not found"):
        btyd_summary(_tx(), AS_OF, TimeUnit.DAY, time_col="when")
