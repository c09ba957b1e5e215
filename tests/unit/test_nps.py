"""NPS segments and breakdown (docs/DOMAIN.md section 5)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.errors import UserInputError
from models.nps import net_promoter_score, nps_breakdown, nps_segment


def test_segments_at_the_boundaries() -> None:
    assert nps_segment([0, 6, 7, 8, 9, 10, np.nan]).tolist() == [
        "detractor",
        "detractor",
        "passive",
        "passive",
        "promoter",
        "promoter",
        None,
    ]


def test_nps_is_percent_promoters_minus_percent_detractors() -> None:
    # 5 promoters, 3 passives, 2 detractors -> 50% - 20% = 30
    scores = [10, 9, 9, 10, 9, 7, 8, 7, 3, 6]
    assert net_promoter_score(scores) == pytest.approx(30.0)
    assert np.isnan(net_promoter_score([np.nan]))


def test_out_of_range_score_is_rejected() -> None:
    with pytest.raises(UserInputError, match="row 2 is 11"):
        nps_segment([5, 11])
    with pytest.raises(UserInputError, match="whole numbers"):
        nps_segment([7.5])


def test_breakdown_by_segment_channel_month() -> None:
    customers = pd.DataFrame(
        {"customer_id": ["a", "b", "c"], "segment": ["b2c", "b2c", "b2b"], "acquisition_channel": ["ads", "seo", "ads"]}
    )
    responses = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "c"],
            "answered_at": pd.to_datetime(["2024-01-05", "2024-02-01", "2024-01-20", "2024-02-10"]),
            "score": pd.array([10, 3, 8, 9], dtype="Int64"),
        }
    )
    table = nps_breakdown(responses, customers).set_index(["dimension", "group"])
    assert table.loc[("overall", "all"), "responses"] == 4
    assert table.loc[("overall", "all"), "nps"] == pytest.approx(25.0)
    assert table.loc[("segment", "b2c"), "nps"] == pytest.approx(0.0)
    assert table.loc[("segment", "b2b"), "nps"] == pytest.approx(100.0)
    assert table.loc[("channel", "ads"), "nps"] == pytest.approx(100 * (2 - 1) / 3)
    assert table.loc[("month", "2024-01"), "nps"] == pytest.approx(50.0)
    assert table.loc[("month", "2024-02"), "nps"] == pytest.approx(0.0)


def test_breakdown_rejects_unknown_customer() -> None:
    customers = pd.DataFrame({"customer_id": ["a"], "segment": ["b2c"], "acquisition_channel": ["ads"]})
    responses = pd.DataFrame({"customer_id": ["a", "zz"], "answered_at": ["2024-01-01"] * 2, "score": [9, 9]})
    with pytest.raises(UserInputError, match="row 2: customer_id 'zz' is not in customers"):
        nps_breakdown(responses, customers)
