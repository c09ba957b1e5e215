"""The churn training job: stacked snapshots -> time split -> model selection by rolling origin -> calibration ->
honest holdout evaluation against baselines (and the injected oracle on generated data) -> bundle -> MLflow run +
registry.

Each step lives in its own module: ``churn_definition`` (features: which label the data gets), ``churn_split``
(training frame and leakage-checked time split), ``churn_selection`` (LightGBM and logistic candidates scored over
rolling origins, under the budget of ``churn_tuning``), ``churn_leakage`` (the alarm when a label is nearly known
at the cutoff), ``churn_holdout`` (model vs baselines and oracle), ``churn_report`` (the
evaluation page) and ``churn_promotion`` (champion vs challenger). This module orchestrates them and logs the run.
Determinism: same data + same seed = same model (see ``churn_split`` and ``churn_tuning``); bootstrap resamples come
from the seed.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from features.source_url import public_url
from training.churn_holdout import ChurnOracle, HoldoutComparison, compare_on_holdout, summary_source
from training.churn_selection import select_model
from training.churn_split import LABEL, TimeSplit, feature_matrix, split_by_time, training_frame
from training.churn_tuning import STOPPED_WALL_CLOCK
from training.settings import TrainingSettings

if TYPE_CHECKING:
    import pandas as pd

    from features.churn_definition import ChurnDefinitionChoice
    from features.duckdb_settings import DuckDBSettings
    from features.feature_spec import FeatureSpec
    from features.settings import FeatureSettings
    from models.churn_bundle import ChurnBundle
    from models.churn_classifier import ChurnClassifier
    from models.churn_linear import ChurnLinearClassifier

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChurnTrainResult:
    """What one training run produced."""

    run_id: str
    version: str
    metrics: dict[str, float]
    bundle_dir: Path
    report_path: Path
    churn_definition: str = ""
    churn_definition_reason: str = ""
    selected_candidate: str = "lightgbm"
    warnings: tuple[str, ...] = ()
    """Loud findings of the run (e.g. a label nearly known at the cutoff), also logged as WARNING."""


@contextmanager
def step(name: str, timings: dict[str, float] | None = None) -> Iterator[None]:
    """Log the start and duration of a job step (the CLI renders the log with rich)."""
    logger.info("%s ...", name)
    start = time.perf_counter()
    yield
    seconds = time.perf_counter() - start
    if timings is not None:
        timings[name] = seconds
    logger.info("%s done in %.1f s", name, seconds)


def _reference_values(train: pd.DataFrame, spec: FeatureSpec) -> dict[str, float]:
    out: dict[str, float] = {}
    for name in spec.names:
        if name in spec.categorical:
            continue
        values = train[name].to_numpy(dtype=np.float64, na_value=np.nan)
        finite = values[np.isfinite(values)]
        # a column missing everywhere (e.g. ratings nobody gave) has no reference; nanmedian would warn on stderr
        if finite.size:
            out[name] = float(np.median(finite))
    return out


@dataclass(frozen=True)
class _OpenedData:
    con: Any
    data_range: tuple[pd.Timestamp, pd.Timestamp]
    cutoffs: list[pd.Timestamp]
    definition: ChurnDefinitionChoice


def _open_data(
    source_url: str,
    feature_settings: FeatureSettings,
    cutoffs: Sequence[pd.Timestamp | str] | None,
    n_cutoffs: int,
    duckdb_settings: DuckDBSettings | None,
) -> _OpenedData:
    """The connection, the data's range, the cutoffs and the churn definition this data gets."""
    import pandas as pd

    from features.churn_definition import resolve_churn_definition
    from features.labels import data_time_range, default_cutoffs
    from features.sources import open_source

    con = open_source(source_url, duckdb_settings=duckdb_settings).connect()
    data_start, data_end = data_time_range(con)
    if cutoffs is None:
        chosen = list(default_cutoffs(con, feature_settings, n=n_cutoffs))
    else:
        chosen = sorted({pd.Timestamp(c) for c in cutoffs})
    logger.info("data %s .. %s; cutoffs %s", data_start, data_end, ", ".join(str(c.date()) for c in chosen))
    definition = resolve_churn_definition(con, feature_settings)
    logger.info("churn definition %s: %s", definition.definition, definition.reason)
    return _OpenedData(con, (data_start, data_end), chosen, definition)


def train_churn(
    source_url: str,
    settings: TrainingSettings,
    feature_settings: FeatureSettings,
    *,
    cutoffs: Sequence[pd.Timestamp | str] | None = None,
    n_cutoffs: int = 6,
    time_budget: float | None = None,
    wall_clock_cap: float | None = None,
    on_step: Callable[[str], None] | None = None,
    oracle: ChurnOracle | None = None,
    duckdb_settings: DuckDBSettings | None = None,
    health_scale_quantile: float | None = None,
) -> ChurnTrainResult:
    """Train, evaluate, log and register a churn model from ``source_url`` (see module docstring).

    ``oracle`` (generated data only) is the truth the holdout evaluation compares the model with; without it the
    evaluation has no oracle rows and says so. ``duckdb_settings`` are the limits of the data connection (the
    command passes the run's; default: read from the environment when the source is opened).
    ``health_scale_quantile`` (default: the policy setting's default, 0.9) fits the health score's activity scale
    on the latest cutoff's population (``models.health_scale``), stored in the bundle's metadata.
    """
    import pandas as pd

    from models.churn_bundle import ChurnBundle, library_versions
    from models.health_scale import HEALTH_SCALE_KEY, fit_health_scale
    from models.policy_settings import PolicySettings
    from models.probability_calibration import ProbabilityCalibration
    from training import registry
    from training.churn_evaluation import roc_auc

    timings: dict[str, float] = {}
    job_start = time.perf_counter()
    horizon = feature_settings.horizon_days

    def announce(name: str) -> Any:
        if on_step is not None:
            on_step(name)
        return step(name, timings)

    with announce("open data"):
        opened = _open_data(source_url, feature_settings, cutoffs, n_cutoffs, duckdb_settings)
        con, chosen, definition = opened.con, opened.cutoffs, opened.definition
        data_start, data_end = opened.data_range
        # every later step (labels, bundle metadata, promotion's re-evaluation) sees the concrete definition
        feature_settings = feature_settings.model_copy(update={"churn_definition": definition.definition})
    with announce("features and labels"):
        frame, spec = training_frame(con, chosen, feature_settings)
        split = split_by_time(frame, horizon)
        logger.info(
            "rows: train %d (%d cutoffs), validation %d, test %d; features %d (left out: %s)",
            len(split.train),
            len(split.train_cutoffs),
            len(split.validation),
            len(split.test),
            len(spec.names),
            ", ".join(spec.absent) or "none",
        )
    budget = settings.tuning_budget_seconds if time_budget is None else time_budget
    cap = settings.tuning_wall_clock_cap_seconds if wall_clock_cap is None else wall_clock_cap
    with announce("select the model by rolling-origin evaluation"):
        threads = settings.lightgbm_threads or (1 if len(split.train) < 100_000 else 2)
        tuning = select_model(
            split,
            spec,
            horizon_days=horizon,
            seed=settings.random_seed,
            budget_seconds=budget,
            n_folds=settings.rolling_folds,
            min_cutoff_churners=settings.min_cutoff_churners,
            num_threads=threads,
            wall_clock_cap_seconds=cap,
        )
        clf, trials = tuning.best, tuning.trials
    with announce("calibrate on validation window"):
        raw_val = clf.predict_proba(feature_matrix(split.validation, spec))[:, 1]
        calibrator = ProbabilityCalibration("isotonic").fit(raw_val, split.validation[LABEL].to_numpy())
    with announce("evaluate on test window"):
        y_test = split.test[LABEL].to_numpy(np.float64)
        raw_test = clf.predict_proba(feature_matrix(split.test, spec))[:, 1]
        p_test = calibrator.predict(raw_test)
        comparison = compare_on_holdout(
            y_test,
            p_test,
            split,
            spec,
            horizon_days=horizon,
            seed=settings.random_seed,
            summary_at=summary_source(con, spec),
            oracle=oracle,
        )
        metrics = dict(comparison.metrics)
        metrics["val_roc_auc"] = roc_auc(split.validation[LABEL].to_numpy(np.float64), raw_val)
        metrics["rolling_origin_roc_auc"] = next(
            (t["rolling_roc_auc"] for t in trials if t["candidate"] == tuning.selected.name), float("nan")
        )
        metrics["test_roc_auc_uncalibrated"] = roc_auc(y_test, raw_test)
        run_warnings = _leakage_warnings(
            split, spec, y_test, comparison, threshold=settings.leakage_auc_alarm, metrics=metrics
        )
        run_warnings += _small_window_warnings(split, settings.min_cutoff_churners)

    metadata: dict[str, Any] = {
        "kind": "churn",
        "created_at": pd.Timestamp.now("UTC").tz_localize(None).isoformat(timespec="seconds"),
        "source_url": public_url(source_url),
        "data_range": {"start": str(data_start), "end": str(data_end)},
        "horizon_days": horizon,
        "churn_definition": feature_settings.churn_definition,
        "churn_definition_reason": definition.reason,
        "warnings": run_warnings,
        # with the vocabulary the features were learned with (its spec's), so a rebuild gets the same columns
        "feature_settings": {
            **feature_settings.summary(),
            "learned_vocabulary": spec.settings.get("learned_vocabulary"),
        },
        "cutoffs": {
            "train": [str(c) for c in split.train_cutoffs],
            "validation": str(split.validation_cutoff),
            "test": str(split.test_cutoff),
        },
        "rows": {"train": len(split.train), "validation": len(split.validation), "test": len(split.test)},
        "churn_rate": {
            "train": float(split.train[LABEL].mean()),
            "validation": float(split.validation[LABEL].mean()),
            "test": float(split.test[LABEL].mean()),
        },
        "calibration": calibrator.method,
        "seed": settings.random_seed,
        "trials": trials,
        "selection": {
            "selected_candidate": tuning.selected.name,
            "model_kind": tuning.selected.kind,
            "rolling_origins": [str(f.origin) for f in tuning.folds],
            "folds_merged": tuning.merged,
            "notes": tuning.skipped,
            "summary": tuning.describe_folds(),
        },
        "tuning": {
            "budget_nominal_seconds": budget,
            "nominal_seconds_used": tuning.nominal_seconds,
            "wall_clock_cap_seconds": cap,
            "wall_seconds": tuning.wall_seconds,
            "stopped_by": tuning.stopped_by,
        },
        "metrics": {k: v for k, v in metrics.items() if np.isfinite(v)},
        "reference_values": _reference_values(split.train, spec),
        # where the health score's activity scale comes from (models/health_scale.py): the latest population
        HEALTH_SCALE_KEY: fit_health_scale(
            split.test["active_days_30d"] if "active_days_30d" in split.test.columns else [],
            PolicySettings().health_scale_quantile if health_scale_quantile is None else health_scale_quantile,
        ),
        "library_versions": library_versions(),
    }
    bundle = ChurnBundle.from_classifier(clf, calibrator, metadata)

    with announce("log to MLflow and register"):
        run_id, version, bundle_dir, report_path = _log_and_register(
            settings,
            bundle=bundle,
            clf=clf,
            split=split,
            spec=spec,
            comparison=comparison,
            y_test=y_test,
            p_test=p_test,
            metrics=metrics,
            trials=trials,
            job_start=job_start,
        )
    metrics["train_seconds"] = time.perf_counter() - job_start
    logger.info("registered %s version %s as challenger (run %s)", registry.CHURN_MODEL, version, run_id)
    return ChurnTrainResult(
        run_id,
        version,
        metrics,
        bundle_dir,
        report_path,
        churn_definition=definition.definition,
        churn_definition_reason=definition.reason,
        selected_candidate=tuning.selected.name,
        warnings=tuple(run_warnings),
    )


def _small_window_warnings(split: TimeSplit, min_churners: int) -> list[str]:
    """The validation and test windows cannot be skipped; when one has too few churners the run says so."""
    out = []
    for role, rows in (("validation", split.validation), ("test", split.test)):
        churners = int(rows[LABEL].sum())
        if churners < min_churners:
            cutoff = rows["as_of"].iloc[0] if len(rows) else "?"
            out.append(
                f"the {role} window (cutoff {cutoff}) has only {churners} churners in {len(rows)} rows "
                f"(< min_cutoff_churners {min_churners}): its ROC-AUC and interval rest on very few churners; use "
                "more data, a longer horizon (--horizon-days) or earlier cutoffs"
            )
            logger.warning("%s", out[-1])
    return out


def _leakage_warnings(
    split: TimeSplit,
    spec: FeatureSpec,
    y_test: NDArray[np.float64],
    comparison: HoldoutComparison,
    *,
    threshold: float,
    metrics: dict[str, float],
) -> list[str]:
    """The leakage alarm (training/churn_leakage.py), logged as WARNING; the best single feature's AUC as metric."""
    from training.churn_leakage import feature_aucs, leakage_findings, leakage_warning

    singles = feature_aucs(split.test, y_test, spec)
    if singles:
        metrics["max_single_feature_test_roc_auc"] = max(singles.values())
    baselines = {
        name: float(info["test_roc_auc"]) for name, info in comparison.baselines.items() if "test_roc_auc" in info
    }
    warning = leakage_warning(leakage_findings(singles, baselines, threshold), threshold)
    if warning is None:
        return []
    logger.warning("%s", warning)
    return [warning]


def _log_and_register(
    settings: TrainingSettings,
    *,
    bundle: ChurnBundle,
    clf: ChurnClassifier | ChurnLinearClassifier,
    split: TimeSplit,
    spec: FeatureSpec,
    comparison: HoldoutComparison,
    y_test: NDArray[np.float64],
    p_test: NDArray[np.float64],
    metrics: dict[str, float],
    trials: list[dict[str, Any]],
    job_start: float,
) -> tuple[str, str, Path, Path]:
    """One MLflow run: params, metrics, importance, report, the bundle as a pyfunc model; register it."""
    import mlflow

    from training import registry
    from training.churn_report import write_report
    from training.tracking import experiment_id, log_bundle_model, use_tracking

    metadata = bundle.metadata
    use_tracking(settings)
    exp_id = experiment_id(settings.churn_experiment, settings)
    workdir = Path(tempfile.mkdtemp(prefix="churnltv-churn-"))
    with mlflow.start_run(experiment_id=exp_id) as run:
        bundle_dir = bundle.save(workdir / "bundle")
        importance = clf.feature_importance("gain")
        report_path = write_report(
            workdir / "report",
            comparison=comparison,
            y_test=y_test,
            p_test=p_test,
            importance=importance,
            metadata=metadata,
        )
        tuning = metadata["tuning"]
        mlflow.set_tags(
            {
                "churnltv.kind": "churn",
                "churnltv.source": metadata["source_url"][:500],
                "churnltv.tuning_wall_clock_cap_hit": str(tuning["stopped_by"] == STOPPED_WALL_CLOCK).lower(),
                "churnltv.churn_definition": metadata["churn_definition"],
                "churnltv.churn_definition_reason": metadata["churn_definition_reason"][:500],
                "churnltv.leakage_alarm": str(any("label nearly known" in w for w in metadata["warnings"])).lower(),
                "churnltv.selection": metadata["selection"]["summary"][:5000],
                "churnltv.warnings": " | ".join(metadata["warnings"])[:5000] or "none",
            }
        )
        mlflow.log_params(
            {
                **clf.hyperparameters(),
                "best_iteration": clf.best_iteration_,
                "horizon_days": metadata["horizon_days"],
                "churn_definition": metadata["churn_definition"],
                "train_cutoffs": ",".join(str(c.date()) for c in split.train_cutoffs),
                "validation_cutoff": str(split.validation_cutoff.date()),
                "test_cutoff": str(split.test_cutoff.date()),
                "n_features": len(spec.names),
                "features_left_out": ",".join(spec.absent)[:500] or "none",
                "calibration": bundle.calibrator.method,
                "n_candidates_tried": len(trials),
                "selected_candidate": metadata["selection"]["selected_candidate"],
                "model_kind": metadata["selection"]["model_kind"],
                "rolling_origins": ",".join(o[:10] for o in metadata["selection"]["rolling_origins"]) or "none",
                "rolling_folds_merged": str(metadata["selection"]["folds_merged"]).lower(),
                "tuning_budget_nominal_seconds": tuning["budget_nominal_seconds"],
                "tuning_wall_clock_cap_seconds": tuning["wall_clock_cap_seconds"],
                "tuning_stopped_by": tuning["stopped_by"],
                "source": metadata["source_url"][:500],
            }
        )
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if np.isfinite(v)})
        mlflow.log_dict(importance, "feature_importance.json")
        evaluation = {"trials": trials, "baselines": comparison.baselines, "oracle": comparison.oracle}
        mlflow.log_dict(_jsonable(evaluation), "evaluation.json")
        mlflow.log_artifacts(str(report_path.parent), "report")
        info = log_bundle_model(Path(__file__).resolve().parents[1] / "models" / "churn_pyfunc.py", bundle_dir)
        mlflow.log_metric("train_seconds", time.perf_counter() - job_start)
        tags = {
            "run_id": run.info.run_id,
            "test_cutoff": str(split.test_cutoff.date()),
            "source": metadata["source_url"][:250],
        }
        version = registry.register(info.model_uri, registry.CHURN_MODEL, tags=tags)
    return str(run.info.run_id), version, bundle_dir, report_path


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda o: float(o) if isinstance(o, np.floating) else str(o)))
