"""The LTV distribution report section: the predictive interval's rows where the score run has them, and a run of
an older release (no predictive columns) still reported."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from features.settings import FeatureSettings
from models.policy_settings import PolicySettings
from training.report.inputs import ReportInputs
from training.report.sections import ltv_distribution


def _inputs(scores: pd.DataFrame) -> ReportInputs:
    return ReportInputs(
        con=duckdb.connect(),
        scores=scores,
        score_run={"ltv_horizon_months": 12},
        data_quality=None,
        tracking_uri="sqlite:///unused.db",
        policy=PolicySettings(),
        feature_settings=FeatureSettings(),
    )


def _scores() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "predicted_ltv": [100.0, 10.0, 0.5, np.nan],
            "ltv_lower": [90.0, 8.0, 0.4, np.nan],
            "ltv_upper": [110.0, 12.0, 0.6, np.nan],
            "horizon_days": [30] * 4,
            "ltv_method": ["bgnbd_gamma_gamma"] * 3 + ["contractual"],
            "ltv_p10": [20.0, 0.0, 0.0, np.nan],
            "ltv_p50": [80.0, 5.0, 0.0, np.nan],
            "ltv_p90": [220.0, 30.0, 0.0, np.nan],
            "ltv_interval_80_low": [20.0, 0.0, 0.0, np.nan],
            "ltv_interval_80_high": [220.0, 25.0, 0.0, np.nan],
            "next_purchase_days": [12.0, 40.0, 300.0, np.nan],
            "p_purchase_30d": [0.9, 0.4, 0.05, np.nan],
        }
    )


def _stats(out: dict[str, object]) -> dict[str, str]:
    return {row[0].text: row[1].text for row in out["stats"].rows}  # type: ignore[attr-defined]


def test_predictive_rows_summarise_what_customers_may_spend() -> None:
    out = ltv_distribution.build(_inputs(_scores()))
    stats = _stats(out)
    assert out["predictive"] is True
    assert stats["median P90 of the customer"] == "30.00"
    assert stats["median P50 of the customer"] == "5.00"
    assert stats["customers whose 80% interval is [0, 0]"] == "1"
    assert stats["median 80% interval width"] == "25.00"
    assert stats["median days to the next purchase"] == "40.00"


def test_a_run_without_predictive_columns_keeps_the_parameter_band_only() -> None:
    old = _scores().drop(columns=[c for c in _scores() if c.startswith(("ltv_p", "ltv_interval", "next_", "p_pur"))])
    out = ltv_distribution.build(_inputs(old))
    stats = _stats(out)
    assert out["predictive"] is False
    assert "median P90 of the customer" not in stats
    assert stats["customers with a prediction"] == "3"
