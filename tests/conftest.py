"""Shared test fixtures.

Tests never write into the repository's own mlruns/: every test session gets a
temporary MLflow tracking store, set through the same environment variables a user
would set.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# LightGBM's OpenMP threads busy-wait by default, which starves the other core on 2-core CI machines.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture(autouse=True, scope="session")
def _isolated_mlflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("mlruns")
    old = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "CHURNLTV_TRACKING_URI", "CHURNLTV_ARTIFACT_ROOT")}
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root}/mlflow.db"
    os.environ["CHURNLTV_TRACKING_URI"] = f"sqlite:///{root}/mlflow.db"
    os.environ["CHURNLTV_ARTIFACT_ROOT"] = str(root / "artifacts")
    yield root
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(autouse=True)
def _restore_package_loggers() -> Iterator[None]:
    """CLI commands run in-process (CliRunner) route package logs through rich and stop their propagation, which
    would hide them from later tests' ``caplog``; put each package logger back as it was after every test."""
    import logging

    names = ("training", "features", "models", "service", "churnltv")
    saved = {n: (logging.getLogger(n).propagate, list(logging.getLogger(n).handlers), logging.getLogger(n).level)
             for n in names}  # fmt: skip
    yield
    for name, (propagate, handlers, level) in saved.items():
        logger = logging.getLogger(name)
        logger.propagate = propagate
        logger.handlers[:] = handlers
        logger.setLevel(level)


# --- one trained world per session -------------------------------------------------------------------------
# Generating a base, training both models, promoting and batch-scoring takes ~20 s, so the report, service and
# browser tests share one. Tests must not change its aliases or files. It has its own MLflow store, so tests that
# train and promote in the session store cannot move the champion its batch scores were made with.

N_CUSTOMERS = 3000
SEED = 3


@dataclass(frozen=True)
class TrainedWorld:
    data: Path
    scores: Path
    data_quality: Path
    report: Path
    seconds: float
    tracking_uri: str

    @property
    def env(self) -> dict[str, str]:
        """Environment variables that point a CLI run or a server at this world's registry."""
        return {"CHURNLTV_TRACKING_URI": self.tracking_uri, "MLFLOW_TRACKING_URI": self.tracking_uri}


_WORLD: TrainedWorld | None = None


def build_trained_world(base_tmp: Path) -> TrainedWorld:
    """Generate, validate, train + promote both models, score, write the report: once per session."""
    global _WORLD  # noqa: PLW0603 - a session-wide cache
    if _WORLD is not None:
        return _WORLD
    import time

    import pandas as pd

    from churnltv.generator import TruthOracle, generate
    from churnltv.report_command import make_report
    from features.dataset_writer import write_dataset
    from features.settings import FeatureSettings
    from features.sources import open_source
    from models.ltv_settings import LtvSettings
    from service.batch_scoring import run_batch
    from service.model_set import load_model_set
    from training import registry
    from training.churn_job import train_churn
    from training.drift_monitor import run_drift_monitor
    from training.ltv_job import train_ltv
    from training.settings import TrainingSettings
    from training.tracking import use_tracking

    root = base_tmp / "report_world"
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
    models = load_model_set(churn_ref="champion", ltv_ref="champion", tracking_uri=settings.tracking_uri)
    scores = root / "scores"
    run_batch(str(data), pd.Timestamp(base.end), str(scores), models=models)
    # a monitor run logged to the world's MLflow store, so the report's drift section has something to show
    run_drift_monitor(str(data), pd.Timestamp(base.end), settings=settings, out_dir=root / "monitor")
    start = time.perf_counter()
    report = make_report(str(data), str(scores), root / "report.html", quality, tracking_uri=settings.tracking_uri)
    _WORLD = TrainedWorld(Path(data), scores, quality, report, time.perf_counter() - start, settings.tracking_uri)
    use_tracking(TrainingSettings())  # back to the session store for every other test
    return _WORLD


@pytest.fixture(scope="session")
def trained_world(tmp_path_factory: pytest.TempPathFactory) -> TrainedWorld:
    return build_trained_world(tmp_path_factory.getbasetemp())
