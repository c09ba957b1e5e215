"""Registry: register sets challenger, promote moves champion only when the decision says so and records why,
bundle_source resolves aliases and versions to the logged plain bundle."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import mlflow
import pytest

from features.errors import UserInputError
from models.bundle_source import resolve_bundle
from training import registry
from training.registry import ModelVersionInfo, PromotionDecision
from training.settings import TrainingSettings
from training.tracking import experiment_id, use_tracking

PYFUNC = Path(__file__).resolve().parents[2] / "models" / "churn_pyfunc.py"
NAME = "churnltv-test-model"


# every test here creates an MLflow sqlite store (schema migrations take seconds): slow
pytestmark = pytest.mark.slow


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TrainingSettings]:
    settings = TrainingSettings(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db", artifact_root=str(tmp_path / "art"))
    previous = mlflow.get_tracking_uri()
    use_tracking(settings)
    yield settings
    mlflow.set_tracking_uri(previous)
    mlflow.set_registry_uri(previous)


def _log_version(settings: TrainingSettings, bundle: Path, auc: float) -> str:
    with mlflow.start_run(experiment_id=experiment_id(settings.churn_experiment, settings)):
        mlflow.log_metric("test_roc_auc", auc)
        info = mlflow.pyfunc.log_model(
            name="model", python_model=str(PYFUNC), artifacts={"bundle": str(bundle)}, pip_requirements=["mlflow"]
        )
    return registry.register(info.model_uri, NAME, tags={"note": f"auc {auc}"})


def _by_metric(margin: float) -> Callable[[ModelVersionInfo, ModelVersionInfo | None], PromotionDecision]:
    def decide(new: ModelVersionInfo, old: ModelVersionInfo | None) -> PromotionDecision:
        a = new.metrics["test_roc_auc"]
        if old is None:
            return PromotionDecision(True, "no champion yet", challenger_score=a)
        b = old.metrics["test_roc_auc"]
        return PromotionDecision(a - b >= margin, f"{a:.3f} vs {b:.3f}", challenger_score=a, champion_score=b)

    return decide


def test_tracking_creates_experiments_under_artifact_root(store: TrainingSettings, tmp_path: Path) -> None:
    exp = mlflow.get_experiment(experiment_id(store.churn_experiment, store))
    assert exp.name == "churnltv-churn"
    assert exp.artifact_location.startswith((tmp_path / "art").as_uri())
    assert mlflow.get_tracking_uri() == f"sqlite:///{tmp_path}/mlflow.db"


def test_register_promote_and_resolve(store: TrainingSettings, tmp_path: Path) -> None:
    bundle = tmp_path / "b1"
    bundle.mkdir()
    (bundle / "metadata.json").write_text('{"v": 1}')
    assert _log_version(store, bundle, 0.80) == "1"
    with pytest.raises(
        UserInputError, match="no version of churnltv-test-model has alias 'champion'; run churnltv promote"
    ):
        resolve_bundle("champion", default_name=NAME, tracking_uri=store.tracking_uri)

    first = registry.promote(NAME, decide=_by_metric(0.01))
    assert first.promote
    assert first.challenger_version == "1"
    assert first.champion_version is None

    (bundle / "metadata.json").write_text('{"v": 2}')
    _log_version(store, bundle, 0.805)  # not enough gain
    second = registry.promote(NAME, decide=_by_metric(0.01))
    assert not second.promote
    versions = {v.version: v for v in registry.list_versions(NAME)}
    assert versions["1"].aliases == ("champion",)
    assert versions["2"].aliases == ("challenger",)
    assert versions["2"].tags["promotion_decision"] == "rejected"
    assert "0.805 vs 0.800" in versions["2"].tags["promotion_reason"]
    assert "not promoted against version 1" in versions["2"].description
    assert versions["2"].metrics["test_roc_auc"] == 0.805

    forced = registry.promote(NAME, decide=_by_metric(0.01), force=True)
    assert forced.promote
    assert forced.reason.startswith("forced with --force")
    champion = resolve_bundle("champion", default_name=NAME, tracking_uri=store.tracking_uri)
    assert (champion / "metadata.json").read_text() == '{"v": 2}'
    old = resolve_bundle(f"models:/{NAME}/1", default_name=NAME, tracking_uri=store.tracking_uri)
    assert (old / "metadata.json").read_text() == '{"v": 1}'
    assert resolve_bundle(old, default_name=NAME) == old  # a local directory is used as is
    again = registry.promote(NAME, decide=_by_metric(0.0))
    assert not again.promote
    assert "already champion" in again.reason


def test_promote_without_challenger_and_bad_refs(store: TrainingSettings) -> None:
    with pytest.raises(UserInputError, match="train a model first"):
        registry.promote(NAME, decide=_by_metric(0.0))
    assert registry.list_versions(NAME) == []
    with pytest.raises(UserInputError, match="cannot understand model reference"):
        resolve_bundle("models:/x/y/z", default_name=NAME, tracking_uri=store.tracking_uri)
    with pytest.raises(UserInputError, match="does not exist"):
        resolve_bundle(Path("/nonexistent/bundle"), default_name=NAME)


def test_resolving_a_registered_bundle_draws_no_progress_bar(
    store: TrainingSettings, tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A served reload resolves the champion every time: MLflow's tqdm download bar would flood the service's
    stderr (and block a server whose stderr is a pipe nobody drains), so resolving must write nothing."""
    monkeypatch.delenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", raising=False)
    bundle = tmp_path / "b"
    bundle.mkdir()
    (bundle / "metadata.json").write_text('{"v": 1}')
    for i in range(40):  # enough files that MLflow's bar would draw
        (bundle / f"part-{i}.json").write_text("{}")
    _log_version(store, bundle, 0.8)
    capfd.readouterr()
    resolve_bundle(f"models:/{NAME}/1", default_name=NAME, tracking_uri=store.tracking_uri)
    err = capfd.readouterr().err
    assert "Downloading artifacts" not in err, err
