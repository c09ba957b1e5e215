"""Every scored customer carries the retention decision: with an uplift model, uplift x value (the sleeping dogs
left alone) and the holdout flag; without one, the tier's action on the risk x value basis (service.prediction)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from features.feature_spec import FeatureSpec, feature_catalog
from features.settings import FeatureSettings
from models.policy_settings import PolicySettings
from models.uplift_bundle import ActionModels, UpliftBundle
from models.uplift_learners import fit_effect_model
from service.prediction import SCORE_COLUMNS, _decision_columns

NAME = "events_30d"


@pytest.fixture(scope="module")
def bundle() -> UpliftBundle:
    """One action that helps customers with events_30d >= 5 (+0.4) and harms the others (-0.3: sleeping dogs)."""
    rng = np.random.default_rng(0)
    n = 4000
    x = rng.integers(0, 10, n).astype(np.float64)
    treated = rng.random(n) < 0.5
    tau = np.where(x >= 5, 0.4, -0.3)
    retained = (rng.random(n) < 0.5 + treated * tau).astype(np.float64)
    effect = fit_effect_model("t_learner", x[:, None], treated, retained, kind="binary", feature_names=[NAME])
    catalog = {f.name: f for f in feature_catalog(FeatureSettings())}
    return UpliftBundle(
        names=[NAME],
        categories={},
        actions={"care_email": ActionModels("care_email", effect, None, cost=1.0)},
        spec=FeatureSpec(features=[catalog[NAME]]),
        metadata={},
    )


def _columns(uplift: UpliftBundle | None, events: list[float], ltv: list[float]) -> dict[str, object]:
    models = SimpleNamespace(policy=PolicySettings(holdout_share=0.0), uplift=uplift)
    n = len(events)
    frame = pd.DataFrame({"customer_id": [f"c{i}" for i in range(n)], NAME: events})
    ids = {"customer_id": frame["customer_id"].tolist(), "as_of": [pd.Timestamp("2026-01-01")] * n}
    tiers = {"action_key": np.array(["time_limited_offer"] * n, dtype=object)}
    return _decision_columns(models, frame, ids, np.array(ltv), tiers)  # type: ignore[arg-type]


def test_uplift_basis_contacts_the_persuadable_and_spares_the_sleeping_dog(bundle: UpliftBundle) -> None:
    out = _columns(bundle, [8.0, 1.0, 8.0], [100.0, 100.0, 1.0])
    assert list(out["decision_basis"]) == ["uplift"] * 3
    # persuadable and worth it; sleeping dog (negative uplift); persuadable but worth less than the contact
    assert list(out["best_action"]) == ["care_email", "no_action", "no_action"]
    expected = np.asarray(out["expected_uplift"])
    assert expected[0] == pytest.approx(0.4, abs=0.1)
    assert expected[1] == 0.0
    assert np.asarray(out["incremental_value"])[0] == pytest.approx(100 * expected[0] - 1.0)
    assert list(np.asarray(out["action_cost"])) == [1.0, 0.0, 0.0]
    listed = out["uplift_by_action"]
    assert [row[0]["action"] for row in listed] == ["care_email"] * 3  # type: ignore[index]
    assert listed[1][0]["retention"] == pytest.approx(-0.3, abs=0.1)  # type: ignore[index]
    assert list(np.asarray(out["holdout_control"])) == [0.0, 0.0, 0.0]


def test_without_uplift_model_the_tier_action_on_the_risk_x_value_basis() -> None:
    out = _columns(None, [8.0, 1.0], [100.0, 100.0])
    assert list(out["decision_basis"]) == ["risk_x_value"] * 2
    assert list(out["best_action"]) == ["time_limited_offer"] * 2
    assert np.isnan(np.asarray(out["incremental_value"])).all()
    assert out["uplift_by_action"] == [[], []]


def test_the_decision_is_part_of_every_score() -> None:
    needed = {"decision_basis", "best_action", "expected_uplift", "incremental_value", "holdout_control"}
    assert needed <= set(SCORE_COLUMNS)
    assert {"uplift_by_action", "uplift_model_version"} <= set(SCORE_COLUMNS)
