"""The one trained world of a test session: a generated base, both models trained and promoted, the base scored.

Generating a base, training both models, promoting, batch-scoring and writing the report takes ~20 s, so the
report, service, batch-scoring, drift and browser tests share one world (``tests/conftest.py``'s ``trained_world``
fixture builds it once per session). Tests must not change its aliases or files (copy the data file to edit it).
It has its own MLflow store, so tests that train and promote in the session store cannot move the champion its
batch scores were made with; tests that need the champions pass ``churn_bundle`` / ``ltv_bundle`` explicitly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from service.model_set import ModelSet

N_CUSTOMERS = 3000
SEED = 3
AS_OF = pd.Timestamp("2026-06-01")
"""A scoring cutoff inside the world's data (it ends just before 2026-06-30)."""


@dataclass(frozen=True)
class TrainedWorld:
    data: Path
    scores: Path
    data_quality: Path
    report: Path
    seconds: float
    """How long the report took to build."""
    tracking_uri: str
    churn_bundle: Path
    """The churn champion, downloaded as a bundle directory."""
    ltv_bundle: Path
    """The LTV champion, downloaded as a bundle directory."""

    @property
    def env(self) -> dict[str, str]:
        """Environment variables that point a CLI run or a server at this world's registry."""
        return {"CHURNLTV_TRACKING_URI": self.tracking_uri, "MLFLOW_TRACKING_URI": self.tracking_uri}

    def models(self) -> ModelSet:
        """The world's champions, loaded as a server or a batch run loads them."""
        from service.model_set import load_model_set

        return load_model_set(
            churn_ref=str(self.churn_bundle), ltv_ref=str(self.ltv_bundle), tracking_uri=self.tracking_uri
        )


_WORLD: TrainedWorld | None = None


def build_trained_world(base_tmp: Path) -> TrainedWorld:
    """Generate, validate, train + promote both models, score, monitor, write the report: once per session.

    The LTV job is imported like every other module: if it is missing the world cannot be built and every test
    that uses it fails (none of them skips).
    """
    global _WORLD  # noqa: PLW0603 - a session-wide cache
    if _WORLD is not None:
        return _WORLD
    from churnltv.generator import TruthOracle, generate
    from churnltv.report_command import make_report
    from features.dataset_writer import write_dataset
    from features.settings import FeatureSettings
    from features.sources import open_source
    from models.bundle_source import resolve_bundle
    from models.ltv_settings import LtvSettings
    from service.batch_scoring import run_batch
    from service.model_set import load_model_set
    from training import registry
    from training.churn_job import train_churn
    from training.drift_monitor import run_drift_monitor
    from training.ltv_job import train_ltv
    from training.settings import TrainingSettings
    from training.tracking import use_tracking

    root = base_tmp / "trained_world"
    root.mkdir(parents=True, exist_ok=True)
    base = generate(N_CUSTOMERS, seed=SEED)
    data = write_dataset(base.tables, root / "demo.duckdb")
    quality = open_source(data, extracted_at=base.end).validate().save(root / "data_quality.json")
    settings = TrainingSettings(tracking_uri=f"sqlite:///{root}/mlflow.db", artifact_root=str(root / "artifacts"))
    use_tracking(settings)
    train_churn(str(data), settings, FeatureSettings(), n_cutoffs=4, time_budget=5, oracle=TruthOracle(base.truth))
    train_ltv(
        str(data), as_of=None, holdout_days=None, settings=LtvSettings(penalizer_coef=0.001), training_settings=settings
    )

    def accept(challenger: Any, champion: Any) -> registry.PromotionDecision:
        return registry.PromotionDecision(promote=True, reason="test setup")

    registry.promote(registry.CHURN_MODEL, decide=accept, force=True)
    registry.promote(registry.LTV_MODEL, decide=accept, force=True)
    uri = settings.tracking_uri
    churn = resolve_bundle("champion", default_name=registry.CHURN_MODEL, tracking_uri=uri, dst_dir=root / "churn")
    ltv = resolve_bundle("champion", default_name=registry.LTV_MODEL, tracking_uri=uri, dst_dir=root / "ltv")
    models = load_model_set(churn_ref="champion", ltv_ref="champion", tracking_uri=uri)
    scores = root / "scores"
    run_batch(str(data), pd.Timestamp(base.end), str(scores), models=models)
    # a monitor run logged to the world's MLflow store, so the report's drift section has something to show
    run_drift_monitor(str(data), pd.Timestamp(base.end), settings=settings, out_dir=root / "monitor")
    start = time.perf_counter()
    report = make_report(str(data), str(scores), root / "report.html", quality, tracking_uri=uri)
    _WORLD = TrainedWorld(Path(data), scores, quality, report, time.perf_counter() - start, uri, churn, ltv)
    use_tracking(TrainingSettings())  # back to the session store for every other test
    return _WORLD
