"""ChurnClassifier: scikit-learn estimator contract, clear errors, determinism, native categoricals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone, is_classifier
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.utils.validation import check_is_fitted

from features.errors import UserInputError
from features.feature_spec import FeatureSpec, feature_catalog
from features.settings import FeatureSettings
from models.churn_classifier import ChurnClassifier, NotFittedError, feature_matrix

NAMES = ("days_since_last_event", "core_trend_ratio", "events_30d", "segment")


def small_spec() -> FeatureSpec:
    catalog = {f.name: f for f in feature_catalog(FeatureSettings())}
    return FeatureSpec(features=[catalog[n] for n in NAMES], settings={"n_core_modules": 6})


def synthetic(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Churn driven by silence, declining trend and segment; the true log-odds are known."""
    rng = np.random.default_rng(seed)
    silence = rng.exponential(10, n)
    trend = rng.lognormal(0, 0.5, n)
    events = rng.poisson(20, n)
    segment = rng.choice(["b2c", "b2b"], n, p=[0.8, 0.2])
    logit = -2.5 + 0.12 * silence - 1.2 * np.log(trend) - 0.8 * (segment == "b2b")
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    silence[rng.random(n) < 0.05] = np.nan  # never active
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "days_since_last_event": silence,
            "core_trend_ratio": trend,
            "events_30d": events,
            "segment": pd.Categorical(segment, categories=["b2b", "b2c"]),
        }
    )
    return frame, y


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame, np.ndarray]:
    X, y = synthetic(4000, 1)
    X_val, y_val = synthetic(1500, 2)
    return X, y, X_val, y_val


@pytest.fixture(scope="module")
def fitted(data: tuple[pd.DataFrame, np.ndarray, pd.DataFrame, np.ndarray]) -> ChurnClassifier:
    X, y, X_val, y_val = data
    return ChurnClassifier(small_spec(), num_threads=1, max_rounds=200, min_data_in_leaf=20).fit(
        X, y, eval_set=(X_val, y_val)
    )


def test_fit_returns_self_with_fitted_attributes(
    data: tuple[pd.DataFrame, np.ndarray, pd.DataFrame, np.ndarray],
) -> None:
    X, y, X_val, y_val = data
    clf = ChurnClassifier(small_spec(), num_threads=1, max_rounds=50)
    assert not hasattr(clf, "booster_")
    assert clf.fit(X, y, eval_set=(X_val, y_val)) is clf
    assert clf.feature_names_ == list(NAMES)
    assert clf.categories_ == {"segment": ["b2b", "b2c"]}
    assert 1 <= clf.best_iteration_ <= 50


def test_learns_the_signal(fitted: ChurnClassifier) -> None:
    from sklearn.metrics import roc_auc_score

    X_test, y_test = synthetic(3000, 3)
    proba = fitted.predict_proba(X_test)
    assert proba.shape == (3000, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert roc_auc_score(y_test, proba[:, 1]) > 0.75


def test_probability_rises_with_silence_all_else_equal(fitted: ChurnClassifier) -> None:
    row = pd.DataFrame(
        {
            "days_since_last_event": [1.0, 10.0, 30.0],
            "core_trend_ratio": [1.0, 1.0, 1.0],
            "events_30d": [20, 20, 20],
            "segment": pd.Categorical(["b2c"] * 3, categories=["b2b", "b2c"]),
        }
    )
    p = fitted.predict_proba(row)[:, 1]
    assert p[0] < p[1] < p[2]


def test_unfitted_error_is_clear() -> None:
    X, _ = synthetic(10, 0)
    assert NotFittedError is SklearnNotFittedError
    clf = ChurnClassifier(small_spec(), num_threads=1)
    for use in (clf.predict_proba, clf.predict, clf.contributions):
        with pytest.raises(SklearnNotFittedError, match="not fitted yet"):
            use(X)
    with pytest.raises(SklearnNotFittedError):
        check_is_fitted(clf)
    # a programming error, not bad input: it must not be caught as a UserInputError (CLI exit 2, HTTP 422)
    try:
        clf.feature_importance()
    except UserInputError:  # pragma: no cover - the assertion below reports it
        pytest.fail("NotFittedError was raised as a UserInputError")
    except SklearnNotFittedError:
        pass


def test_clone_and_get_params_round_trip(fitted: ChurnClassifier) -> None:
    clf = ChurnClassifier(small_spec(), num_leaves=15, learning_rate=0.1, random_state=3, num_threads=1)
    params = clf.get_params()
    assert params["spec"] is clf.spec
    assert params["num_leaves"] == 15
    assert params["learning_rate"] == 0.1
    assert set(clf.hyperparameters()) == set(params) - {"spec"}
    copy = clone(clf)
    assert copy is not clf
    assert type(copy) is ChurnClassifier
    copied = copy.get_params()
    assert copied.pop("spec") == params.pop("spec")
    assert copied == params
    again = ChurnClassifier(**copy.get_params())
    assert again.get_params() == copy.get_params()
    assert copy.set_params(num_leaves=63, min_data_in_leaf=20) is copy
    assert (copy.num_leaves, copy.min_data_in_leaf) == (63, 20)
    with pytest.raises(ValueError, match="Invalid parameter"):
        copy.set_params(shoe_size=42)
    assert is_classifier(clf)
    # cloning a fitted model gives an unfitted one with the same parameters
    fresh = clone(fitted)
    assert not hasattr(fresh, "booster_")
    assert fresh.get_params()["max_rounds"] == fitted.max_rounds
    check_is_fitted(fitted)
    np.testing.assert_array_equal(fitted.classes_, [0, 1])
    assert fitted.n_features_in_ == len(NAMES)
    assert list(fitted.feature_names_in_) == list(NAMES)
    assert all(name.endswith("_") for name in vars(fitted) if name not in fitted.get_params())


def test_clone_refits_to_the_same_model(
    fitted: ChurnClassifier, data: tuple[pd.DataFrame, np.ndarray, pd.DataFrame, np.ndarray]
) -> None:
    X, y, X_val, y_val = data
    refit = clone(fitted).fit(X, y, eval_set=(X_val, y_val))
    assert refit.model_text() == fitted.model_text()
    X_test, y_test = synthetic(500, 5)
    labels = fitted.predict(X_test)
    assert set(np.unique(labels)) <= {0, 1}
    assert fitted.score(X_test, y_test) == pytest.approx(float((labels == y_test).mean()))


def test_missing_extra_and_wrongly_typed_columns_are_named(fitted: ChurnClassifier) -> None:
    X, _ = synthetic(20, 0)
    with pytest.raises(UserInputError, match=r"missing column\(s\): core_trend_ratio"):
        fitted.predict_proba(X.drop(columns="core_trend_ratio"))
    with pytest.raises(UserInputError, match=r"unexpected column\(s\): shoe_size"):
        fitted.predict_proba(X.assign(shoe_size=42))
    with pytest.raises(UserInputError, match=r"events_30d \(numeric, got"):
        fitted.predict_proba(X.assign(events_30d="many"))


def test_labels_must_be_binary_and_both_classes() -> None:
    X, y = synthetic(200, 0)
    with pytest.raises(UserInputError, match="0 or 1"):
        ChurnClassifier(small_spec(), num_threads=1).fit(X, y * 2)
    with pytest.raises(UserInputError, match="only one class"):
        ChurnClassifier(small_spec(), num_threads=1).fit(X, np.zeros(len(X)))


def test_same_seed_same_model(data: tuple[pd.DataFrame, np.ndarray, pd.DataFrame, np.ndarray]) -> None:
    X, y, X_val, y_val = data
    a = ChurnClassifier(small_spec(), num_threads=1, max_rounds=60, random_state=3).fit(X, y, eval_set=(X_val, y_val))
    b = ChurnClassifier(small_spec(), num_threads=1, max_rounds=60, random_state=3).fit(X, y, eval_set=(X_val, y_val))
    assert a.model_text() == b.model_text()


def test_categories_are_fixed_at_fit_and_unknown_values_are_missing(fitted: ChurnClassifier) -> None:
    m = feature_matrix(
        {
            "days_since_last_event": [1.0, 2.0],
            "core_trend_ratio": [1.0, 1.0],
            "events_30d": [3, 3],
            "segment": ["b2c", "enterprise"],
        },
        fitted.feature_names_,
        fitted.categories_,
    )
    assert m[0, 3] == 1.0  # b2c is code 1 of ["b2b", "b2c"]
    assert np.isnan(m[1, 3])  # never seen at fit -> missing, not a crash
    X, _ = synthetic(5, 9)
    X["segment"] = X["segment"].astype(str)  # plain strings score the same as the categorical column
    np.testing.assert_allclose(
        fitted.predict_proba(X), fitted.predict_proba(X.assign(segment=X["segment"].astype("category")))
    )


def test_contributions_sum_to_raw_score(fitted: ChurnClassifier) -> None:
    X, _ = synthetic(50, 4)
    contrib = fitted.contributions(X)
    assert contrib.shape == (50, len(NAMES) + 1)
    p = fitted.predict_proba(X)[:, 1]
    np.testing.assert_allclose(1 / (1 + np.exp(-contrib.sum(axis=1))), p, rtol=1e-6)


def test_cli_reports_not_fitted_as_a_bug_not_as_bad_input() -> None:
    """NotFittedError is a ValueError (as UserInputError is): the CLI must still treat it as a bug (exit 1)."""
    import typer
    from typer.testing import CliRunner

    from churnltv.cli import _UserErrorGroup

    app = typer.Typer(cls=_UserErrorGroup)
    X, _ = synthetic(10, 0)

    @app.command()
    def score() -> None:
        ChurnClassifier(small_spec(), num_threads=1).predict_proba(X)

    @app.command()
    def other() -> None:
        """A second command so Typer keeps sub-command mode."""

    result = CliRunner().invoke(app, ["score"])
    assert result.exit_code == 1
    assert "unexpected NotFittedError: this ChurnClassifier is not fitted yet" in result.output
    assert "Traceback" not in result.output
