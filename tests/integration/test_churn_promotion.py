"""Promotion when the champion and the challenger cannot be compared on the same rows.

A champion trained on a base with transactions needs ``txn_*``/``btyd_*`` features; a challenger trained on a
base without them cannot re-score it on its own test window. ``churnltv promote`` must refuse with the reason
(which features, and that --force overrides), record the refusal, and with ``--force`` promote and record that the
comparison was unavailable.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from churnltv.generator import generate
from features.dataset_writer import write_dataset
from features.settings import FeatureSettings
from training import registry
from training.churn_job import train_churn
from training.churn_promotion import holdout_decider
from training.settings import TrainingSettings
from training.tracking import use_tracking

pytestmark = pytest.mark.slow  # its own MLflow store, two trainings, CLI promotions (~15 s)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TrainingSettings]:
    settings = TrainingSettings(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db", artifact_root=str(tmp_path / "art"))
    monkeypatch.setenv("CHURNLTV_TRACKING_URI", settings.tracking_uri)
    monkeypatch.setenv("CHURNLTV_ARTIFACT_ROOT", settings.artifact_root)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", settings.tracking_uri)
    monkeypatch.setenv("COLUMNS", "250")
    yield settings
    monkeypatch.undo()
    use_tracking(TrainingSettings())  # back to the session store


def test_champion_needing_absent_features_blocks_promotion_unless_forced(
    tmp_path: Path, store: TrainingSettings
) -> None:
    from churnltv.cli import app

    base = generate(1500, seed=41)
    full = write_dataset(base.tables, tmp_path / "full.duckdb")
    lean = write_dataset({k: base.tables[k] for k in ("customers", "events")}, tmp_path / "lean.duckdb")
    champion = train_churn(str(full), store, FeatureSettings(), n_cutoffs=4, time_budget=5)
    first = registry.promote(registry.CHURN_MODEL, decide=holdout_decider(0.005))
    assert first.promote
    challenger = train_churn(str(lean), store, FeatureSettings(), n_cutoffs=4, time_budget=5)

    runner = CliRunner()
    refused = runner.invoke(app, ["promote"])
    assert refused.exit_code == 0, refused.output
    text = " ".join(refused.output.split())
    assert f"version {challenger.version}: NOT promoted" in text
    assert f"cannot compare on the same holdout: champion v{champion.version} needs" in text
    assert "txn_count_90d" in text
    assert "Use --force to promote it anyway" in text
    use_tracking(store)
    assert registry.get_version(registry.CHURN_MODEL, "champion").version == champion.version  # type: ignore[union-attr]
    info = registry.get_version(registry.CHURN_MODEL, challenger.version)
    assert info is not None
    assert info.tags["promotion_decision"] == "rejected"
    assert info.tags["promotion_reason"].startswith("cannot compare on the same holdout")
    assert "not promoted against version" in info.description

    forced = runner.invoke(app, ["promote", "--force"])
    assert forced.exit_code == 0, forced.output
    assert "promoted to champion" in forced.output
    use_tracking(store)
    assert registry.get_version(registry.CHURN_MODEL, "champion").version == challenger.version  # type: ignore[union-attr]
    info = registry.get_version(registry.CHURN_MODEL, challenger.version)
    assert info is not None
    assert info.tags["promotion_decision"] == "promoted"
    assert info.tags["promotion_reason"].startswith("forced with --force; the comparison said: cannot compare")
