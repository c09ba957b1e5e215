"""Every scored customer carries the retention decision: with an uplift model, uplift x value (the sleeping dogs
left alone) and the holdout flag; without one, the tier's action on the risk x value basis (service.prediction)."""

from __future__ import annotations

from pathlib import Path
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


@pytest.fixture(scope="module")
def bundle_dirs(bundle: UpliftBundle, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A small churn bundle and the uplift bundle as directories, as the registry would hand them out."""
    from models.churn_bundle import ChurnBundle
    from models.churn_classifier import ChurnClassifier
    from models.probability_calibration import ProbabilityCalibration

    rng = np.random.default_rng(1)
    n = 2000
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "as_of": pd.Timestamp("2026-01-01"),
            "days_since_last_event": rng.exponential(10, n),
            NAME: rng.integers(0, 10, n).astype(np.float64),
        }
    )
    y = (rng.random(n) < 1 / (1 + np.exp(2.5 - 0.12 * frame["days_since_last_event"]))).astype(int)
    catalog = {f.name: f for f in feature_catalog(FeatureSettings())}
    spec = FeatureSpec(features=[catalog["days_since_last_event"], catalog[NAME]], settings={"n_core_modules": 6})
    clf = ChurnClassifier(spec, num_threads=1, max_rounds=30, min_data_in_leaf=20).fit(frame, y, eval_set=(frame, y))
    cal = ProbabilityCalibration().fit(clf.predict_proba(frame)[:, 1], y)
    churn = ChurnBundle.from_classifier(clf, cal, {"horizon_days": 30})
    root = tmp_path_factory.mktemp("bundles")
    return {
        "churn": churn.save(root / "churn"),
        "uplift": bundle.save(root / "uplift"),
        "frame": frame.head(200),
        "root": root,
    }


def test_a_scored_frame_carries_the_uplift_decision(bundle_dirs: dict[str, object]) -> None:
    from service.model_set import load_model_set, model_payload, models_from_payload
    from service.prediction import score_frame

    uri = f"sqlite:///{bundle_dirs['root']}/mlflow.db"
    models = load_model_set(
        churn_ref=str(bundle_dirs["churn"]), ltv_ref=None, tracking_uri=uri, uplift_ref=str(bundle_dirs["uplift"])
    )
    assert models.uplift is not None
    assert models.uplift_info is not None
    assert models.uplift_info.describe()["name"] == "churnltv-uplift"  # what GET /v1/models lists under "uplift"
    frame = bundle_dirs["frame"]
    scored = score_frame(models, frame)  # type: ignore[arg-type]
    assert set(scored["decision_basis"]) == {"uplift"}
    helped = frame[NAME].to_numpy() >= 5  # type: ignore[union-attr]
    retention = np.array([row[0]["retention"] for row in scored["uplift_by_action"]])
    assert (retention[helped] > 0.2).all()
    assert (retention[~helped] < -0.1).all()
    assert (scored["best_action"] == "no_action").all()  # no LTV model: a retained customer is worth 0, cost 1
    assert scored["uplift_model_version"].iloc[0] == str(bundle_dirs["uplift"])
    # a worker process rebuilds the same set, uplift model included
    again = models_from_payload(model_payload(models, str(bundle_dirs["churn"]), None), str)
    pd.testing.assert_frame_equal(score_frame(again, frame), scored)  # type: ignore[arg-type]
    # the default (the uplift champion) is not looked up for a churn bundle that did not come from a registry
    plain = load_model_set(churn_ref=str(bundle_dirs["churn"]), ltv_ref=None, tracking_uri=uri)
    assert plain.uplift is None
    assert set(score_frame(plain, frame)["decision_basis"]) == {"risk_x_value"}  # type: ignore[arg-type]


def test_a_damaged_uplift_bundle_is_named(bundle_dirs: dict[str, object], tmp_path: Path) -> None:
    import shutil

    from features.errors import UserInputError
    from service.model_set import load_model_set

    broken = tmp_path / "uplift"
    shutil.copytree(bundle_dirs["uplift"], broken)  # type: ignore[arg-type]
    (broken / "effects.json").write_text("{not json")
    with pytest.raises(UserInputError, match=r"effects\.json is not valid JSON"):
        load_model_set(
            churn_ref=str(bundle_dirs["churn"]),
            ltv_ref=None,
            tracking_uri=f"sqlite:///{tmp_path}/mlflow.db",
            uplift_ref=str(broken),
        )
