"""CAC, LTV/CAC > 3 and the 6-3-1 budget split (docs/DOMAIN.md section 7)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.acquisition_economics import budget_split, channel_economics


def _inputs() -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    spend = pd.DataFrame(
        {
            "channel": ["ads", "ads", "seo", "tv"],
            "month": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-01-01", "2024-01-01"]),
            "spend": [300.0, 300.0, 100.0, 500.0],
        }
    )
    customers = pd.DataFrame(
        {
            "customer_id": ["a1", "a2", "a3", "s1", "s2", "o1", "old"],
            "signup_at": pd.to_datetime(
                ["2024-01-03", "2024-01-20", "2024-02-11", "2024-01-05", "2024-02-28", "2024-01-09", "2023-06-01"]
            ),
            "acquisition_channel": ["ads", "ads", "ads", "seo", "seo", "organic", "ads"],
        }
    )
    ltv = pd.Series([900.0, 500.0, 400.0, 100.0, 50.0, 300.0, 9999.0], index=customers["customer_id"])
    return spend, customers, ltv


def test_channel_economics_known_answers() -> None:
    spend, customers, ltv = _inputs()
    table = channel_economics(spend, customers, ltv).set_index("channel")
    ads = table.loc["ads"]
    assert ads["new_customers"] == 3  # the 2023 signup is outside the spend months
    assert ads["cac"] == pytest.approx(200.0)
    assert ads["mean_predicted_ltv"] == pytest.approx(600.0)
    assert ads["ltv_cac"] == pytest.approx(3.0)
    assert not ads["meets_ltv_cac_rule"]  # the rule is strictly > 3
    assert ads["pool"] == "test"
    seo = table.loc["seo"]
    assert seo["cac"] == pytest.approx(50.0)
    assert seo["ltv_cac"] == pytest.approx(1.5)
    assert table.loc["tv", "new_customers"] == 0
    assert np.isinf(table["cac"]["tv"])
    assert table.loc["tv", "pool"] == "test"
    assert table.loc["organic", "pool"] == "no_data"
    assert np.isnan(table["cac"]["organic"])


def test_budget_split_60_30_10() -> None:
    economics = pd.DataFrame(
        {
            "channel": ["a", "b", "c", "d"],
            "spend": [300.0, 100.0, 50.0, 0.0],
            "pool": ["proven", "proven", "test", "no_data"],
        }
    )
    split = budget_split(economics, 1000.0)
    by = dict(zip(split["channel"].fillna("reserve"), split["budget"], strict=True))
    assert by["a"] == pytest.approx(450.0)
    assert by["b"] == pytest.approx(150.0)
    assert by["c"] == pytest.approx(300.0)
    assert by["reserve"] == pytest.approx(100.0)
    assert "d" not in by
    assert split["budget"].sum() == pytest.approx(1000.0)


def test_empty_pool_share_goes_to_reserve() -> None:
    economics = pd.DataFrame({"channel": ["c"], "spend": [0.0], "pool": ["test"]})
    split = budget_split(economics, 100.0)
    assert split["budget"].tolist() == pytest.approx([30.0, 70.0])
