"""The churn training job: stacked snapshots -> time split -> small tuned search -> calibration -> honest
holdout evaluation against baselines (and the oracle on generated data) -> bundle -> MLflow run + registry.

Time split and leakage
----------------------
Snapshots are taken at cutoffs c_1 < ... < c_n. The latest cutoff is the *test* window, the one before it the
*validation* window (early stopping, model selection, calibration), the rest are *training*. A row's label
looks at (c, c + H]; so a training row's label window must end at or before the validation cutoff, and the
validation labels must end at or before the test cutoff. ``split_by_time`` checks both and refuses cutoffs
closer than the horizon across those boundaries: otherwise the model would learn from outcomes that happen
inside the window it is evaluated on (customer-time leakage). The same customer appears at several cutoffs;
that is fine because each row only uses data before its own cutoff and its label ends before the next role's
cutoff.

Determinism: the frame is sorted by (as_of, customer_id), float features are snapped to the float32 grid (DuckDB's
parallel float sums differ in the last bits between runs), LightGBM runs with ``deterministic=True`` and a thread count
that depends only on the data size, the search is a fixed list tried in order under a budget counted in nominal
seconds of work (not wall time), and bootstrap resamples come from the seed. A wall-clock safety cap
(``tuning_wall_clock_cap_seconds``) can only stop the search early, between candidates; the run records whether it did
(``tuning_stopped_by``), since only then does the chosen model depend on the machine.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
from numpy.typing import NDArray

from features.errors import UserInputError
from training.settings import TrainingSettings

if TYPE_CHECKING:
    import pandas as pd

    from features.feature_spec import FeatureSpec
    from features.settings import FeatureSettings
    from models.churn_bundle import ChurnBundle
    from models.churn_classifier import ChurnClassifier
    from training.churn_evaluation import Evaluation
    from training.registry import ModelVersionInfo, PromotionDecision

logger = logging.getLogger(__name__)

LABEL = "churned"
N_BOOT = 200
# training-matrix cells x boosting rounds per nominal second (about what 2 idle cores do with LightGBM)
NOMINAL_CELL_ROUNDS_PER_SECOND = 1.0e8

# A small search space, tried in this order until the time budget runs out (the first is a robust default).
SEARCH_SPACE: tuple[dict[str, Any], ...] = (
    {"learning_rate": 0.05, "num_leaves": 31, "min_data_in_leaf": 100, "feature_fraction": 0.8, "lambda_l2": 1.0},
    {"learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 200, "feature_fraction": 0.8, "lambda_l2": 1.0},
    {"learning_rate": 0.05, "num_leaves": 63, "min_data_in_leaf": 100, "feature_fraction": 0.7, "lambda_l2": 5.0},
    {"learning_rate": 0.1, "num_leaves": 31, "min_data_in_leaf": 50, "feature_fraction": 0.9, "lambda_l2": 0.0},
)


@dataclass(frozen=True)
class ChurnTrainResult:
    """What one training run produced."""

    run_id: str
    version: str
    metrics: dict[str, float]
    bundle_dir: Path
    report_path: Path


@dataclass(frozen=True)
class TimeSplit:
    """Rows of the stacked frame by role, and the cutoffs behind them."""

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    train_cutoffs: list[pd.Timestamp]
    validation_cutoff: pd.Timestamp
    test_cutoff: pd.Timestamp


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


def public_url(url: str) -> str:
    """The source URL without a password, as stored in metadata (a duckdb/file path becomes absolute)."""
    parts = urlsplit(url)
    if parts.scheme in ("", "file") or len(parts.scheme) == 1:  # plain path (or a Windows drive letter)
        return str(Path(url).expanduser().resolve())
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", "@")
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return url


def parse_cutoffs(text: str | Sequence[str] | None) -> list[pd.Timestamp] | None:
    """``"2026-01-01,2026-02-01"`` or a sequence of dates -> sorted, de-duplicated timestamps."""
    import pandas as pd

    if text is None:
        return None
    items = [t.strip() for t in text.split(",")] if isinstance(text, str) else [str(t).strip() for t in text]
    items = [t for t in items if t]
    out = []
    for item in items:
        try:
            out.append(pd.Timestamp(item))
        except ValueError:
            raise UserInputError(f"cutoff {item!r} is not a date (use YYYY-MM-DD, comma-separated)") from None
    return sorted(set(out))


def training_frame(
    con: Any, cutoffs: Sequence[pd.Timestamp], feature_settings: FeatureSettings
) -> tuple[pd.DataFrame, FeatureSpec]:
    """Point-in-time features joined with labels on (customer_id, as_of), sorted for determinism.

    Labels define the population (customers active before the cutoff); feature rows outside it are not
    training rows by definition. A labelled row without features is a bug upstream and raises.
    """
    import pandas as pd

    from features.labels import build_labels
    from features.point_in_time import build_features

    features, spec = build_features(con, list(cutoffs), feature_settings)
    labels = build_labels(con, list(cutoffs), feature_settings)
    features["as_of"] = pd.to_datetime(features["as_of"])
    labels = labels.assign(as_of=pd.to_datetime(labels["as_of"]))
    frame = labels[["customer_id", "as_of", LABEL]].merge(
        features, on=["customer_id", "as_of"], how="left", validate="one_to_one", indicator=True
    )
    orphans = frame[frame["_merge"] != "both"]
    if len(orphans):
        first = orphans.iloc[0]
        raise UserInputError(
            f"{len(orphans)} labelled row(s) have no features, e.g. customer {first['customer_id']!r} at "
            f"{first['as_of']}: labels and features disagree on the population"
        )
    frame = frame.drop(columns="_merge").sort_values(["as_of", "customer_id"], kind="stable").reset_index(drop=True)
    # DuckDB's parallel float sums (amounts, MRR) differ in the last bits from run to run. Snapping to the
    # float32 grid (7 significant digits, far finer than LightGBM's bins) absorbs that noise so the model text is
    # identical between runs on the same data. Decimal rounding would not: values such as 33.1646875 sit exactly
    # on a 1e-6 rounding tie and flip with the noise; float32 midpoints are dyadic and practically never hit.
    floats = [c for c in spec.names if c not in spec.categorical and pd.api.types.is_float_dtype(frame[c].dtype)]
    frame[floats] = frame[floats].astype(np.float32).astype(np.float64)
    for name in spec.categorical:
        frame[name] = frame[name].astype(features[name].dtype)
    return frame, spec


def split_by_time(frame: pd.DataFrame, horizon_days: int) -> TimeSplit:
    """Latest cutoff = test, the one before = validation, the rest = training; leakage-checked (see module doc)."""
    import pandas as pd

    cutoffs = sorted(pd.to_datetime(frame["as_of"].unique()))
    if len(cutoffs) < 3:
        raise UserInputError(
            f"need at least 3 cutoffs with labelled customers (train, validation, test); got {len(cutoffs)}: "
            + ", ".join(str(c.date()) for c in cutoffs)
        )
    test_cutoff, val_cutoff = cutoffs[-1], cutoffs[-2]
    train_cutoffs = cutoffs[:-2]
    horizon = pd.Timedelta(days=horizon_days)
    if train_cutoffs[-1] + horizon > val_cutoff:
        raise UserInputError(
            f"training cutoff {train_cutoffs[-1].date()} + horizon {horizon_days} d ends after the validation "
            f"cutoff {val_cutoff.date()}: its labels would see the validation window; space cutoffs >= the horizon"
        )
    if val_cutoff + horizon > test_cutoff:
        raise UserInputError(
            f"validation cutoff {val_cutoff.date()} + horizon {horizon_days} d ends after the test cutoff "
            f"{test_cutoff.date()}: calibration would see the test window; space cutoffs >= the horizon"
        )
    as_of = frame["as_of"]
    split = TimeSplit(
        train=frame[as_of.isin(train_cutoffs)].reset_index(drop=True),
        validation=frame[as_of == val_cutoff].reset_index(drop=True),
        test=frame[as_of == test_cutoff].reset_index(drop=True),
        train_cutoffs=list(train_cutoffs),
        validation_cutoff=val_cutoff,
        test_cutoff=test_cutoff,
    )
    # the invariant the checks above guarantee, stated on the rows themselves
    assert (split.train["as_of"] + horizon).max() <= val_cutoff <= test_cutoff - horizon
    for name, part in (("training", split.train), ("validation", split.validation), ("test", split.test)):
        if part[LABEL].nunique() < 2:
            raise UserInputError(f"the {name} rows have only one class (churn rate {part[LABEL].mean():.3f})")
    return split


def _features(frame: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    return frame[spec.names]


STOPPED_COMPLETE = "search_space_exhausted"
STOPPED_BUDGET = "nominal_budget"
STOPPED_WALL_CLOCK = "wall_clock_cap"


@dataclass(frozen=True)
class TuningOutcome:
    """The chosen classifier, every candidate tried, and why the search stopped."""

    best: ChurnClassifier
    trials: list[dict[str, Any]]
    stopped_by: str
    nominal_seconds: float
    wall_seconds: float


def tune(
    split: TimeSplit,
    spec: FeatureSpec,
    *,
    seed: int,
    budget_seconds: float,
    num_threads: int = 2,
    wall_clock_cap_seconds: float | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> TuningOutcome:
    """Try ``SEARCH_SPACE`` in order within the budget; keep the best validation ROC-AUC (early-stopped).

    The budget is spent in *nominal* seconds: the work of a fit (rows x features x trees built, including the
    early-stopping patience) divided by ``NOMINAL_CELL_ROUNDS_PER_SECOND``. Wall-clock seconds would make the
    number of candidates, and so the chosen model, depend on how busy the machine is; nominal seconds keep
    "same data + same seed = same model" while still bounding the search by data size.

    ``wall_clock_cap_seconds`` is a safety net on top: when the search has run that long, no further candidate
    starts (the first always runs). It is logged and returned as ``stopped_by = "wall_clock_cap"``; runs that stop
    this way are not reproducible on another machine, and the job records it as an MLflow param and tag.
    """
    from models.churn_classifier import ChurnClassifier
    from training.churn_evaluation import roc_auc

    X_train, y_train = _features(split.train, spec), split.train[LABEL].to_numpy()
    X_val, y_val = _features(split.validation, spec), split.validation[LABEL].to_numpy()
    spent = 0.0
    start = clock()
    best: ChurnClassifier | None = None
    best_auc = -np.inf
    trials: list[dict[str, Any]] = []
    stopped_by = STOPPED_COMPLETE
    for i, params in enumerate(SEARCH_SPACE):
        if i > 0 and spent >= budget_seconds:
            logger.info("tuning budget of %.0f nominal s used up after %d candidate(s)", budget_seconds, i)
            stopped_by = STOPPED_BUDGET
            break
        elapsed = clock() - start
        if i > 0 and wall_clock_cap_seconds is not None and elapsed >= wall_clock_cap_seconds:
            logger.warning(
                "tuning stopped by the wall-clock safety cap (%.0f s elapsed >= cap %.0f s) after %d candidate(s), "
                "before the nominal budget was used (%.0f of %.0f nominal s): the choice depends on this machine",
                *(elapsed, wall_clock_cap_seconds, i, spent, budget_seconds),
            )
            stopped_by = STOPPED_WALL_CLOCK
            break
        t0 = clock()
        clf = ChurnClassifier(spec, random_state=seed, num_threads=num_threads, **params)
        clf.fit(X_train, y_train, eval_set=(X_val, y_val))
        auc = roc_auc(y_val, clf.predict_proba(X_val)[:, 1])
        rounds = clf.booster_.current_iteration()
        spent += len(X_train) * len(spec.names) * rounds / NOMINAL_CELL_ROUNDS_PER_SECOND
        seconds = round(clock() - t0, 2)
        trials.append({**params, "best_iteration": clf.best_iteration_, "val_roc_auc": auc, "seconds": seconds})
        logger.info(
            "candidate %d/%d %s: validation AUC %.4f, %d trees, %.1f s (budget used %.0f of %.0f nominal s)",
            *(i + 1, len(SEARCH_SPACE), params, auc, clf.best_iteration_, seconds, spent, budget_seconds),
        )
        if auc > best_auc:
            best, best_auc = clf, auc
    assert best is not None
    return TuningOutcome(best, trials, stopped_by, spent, clock() - start)


@dataclass(frozen=True)
class HoldoutComparison:
    """Model vs baselines (and oracle) on the test rows.

    ``baselines``/``oracle`` are the JSON-able summaries logged as ``evaluation.json``; ``baseline_scores`` are the
    baselines' calibrated probabilities on the test rows; ``baseline_evaluations``/``oracle_evaluation`` carry the
    full metric set with bootstrap intervals (the oracle's on the rows where it is defined).
    """

    model: Evaluation
    baselines: dict[str, dict[str, Any]]
    oracle: dict[str, Any] | None
    metrics: dict[str, float]
    baseline_scores: dict[str, NDArray[np.float64]]
    baseline_evaluations: dict[str, Evaluation] = field(default_factory=dict)
    oracle_evaluation: Evaluation | None = None


def _summary(evaluation: Evaluation) -> dict[str, Any]:
    return {"metrics": dict(evaluation.metrics), "intervals": {k: list(v) for k, v in evaluation.intervals.items()}}


def compare_on_holdout(
    y_test: NDArray[np.float64],
    p_test: NDArray[np.float64],
    split: TimeSplit,
    spec: FeatureSpec,
    *,
    source_url: str,
    horizon_days: int,
    seed: int,
    summary_at: Callable[[pd.Timestamp], pd.DataFrame] | None = None,
) -> HoldoutComparison:
    """Evaluate the calibrated model, every baseline and the oracle with the same metric set on the same rows.

    Each baseline's score is calibrated like the model (isotonic on the validation window), then gets every
    metric of ``METRICS`` with a bootstrap interval (``baseline_<name>_test_<metric>``, ``..._ci_low/high``) and
    the paired ROC-AUC difference model - baseline. The oracle (generated data only) is scored raw: it is the
    generator's true probability, not something fitted to labels (``oracle_test_<metric>``).
    """
    import pandas as pd

    from models.probability_calibration import ProbabilityCalibration
    from training.churn_baselines import baseline_scores
    from training.churn_evaluation import evaluate, paired_bootstrap_difference, roc_auc

    model_eval = evaluate(y_test, p_test, n_boot=N_BOOT, seed=seed)
    metrics = model_eval.flat("test_")
    metrics["test_rows"] = float(model_eval.n_rows)
    metrics["test_churn_rate"] = model_eval.churn_rate
    y_val = split.validation[LABEL].to_numpy(np.float64)
    baselines: dict[str, dict[str, Any]] = {}
    scores: dict[str, NDArray[np.float64]] = {}
    evaluations: dict[str, Evaluation] = {}
    for base in baseline_scores(
        _features(split.train, spec),
        split.train[LABEL].to_numpy(np.float64),
        split.test,
        spec,
        validation=split.validation,
        summary_at=summary_at,
    ):
        info: dict[str, Any] = {"note": base.note}
        if base.scores is not None:
            calibrated = base.scores
            if base.validation is not None:
                calibrated = ProbabilityCalibration("isotonic").fit(base.validation, y_val).predict(base.scores)
                info["calibration"] = "isotonic on the validation window"
            scores[base.name] = calibrated
            evaluation = evaluate(y_test, calibrated, n_boot=N_BOOT, seed=seed)
            evaluations[base.name] = evaluation
            diff = paired_bootstrap_difference(roc_auc, y_test, p_test, calibrated, n_boot=N_BOOT, seed=seed)
            info.update(_summary(evaluation))
            info.update(
                test_roc_auc=evaluation.metrics["roc_auc"],
                auc_diff=diff.difference,
                auc_diff_ci=(diff.lower, diff.upper),
            )
            metrics.update(evaluation.flat(f"baseline_{base.name}_test_"))
            metrics[f"baseline_{base.name}_auc_diff"] = diff.difference
            metrics[f"baseline_{base.name}_auc_diff_ci_low"] = diff.lower
            metrics[f"baseline_{base.name}_auc_diff_ci_high"] = diff.upper
        baselines[base.name] = info
        logger.info("baseline %s: %s", base.name, {k: v for k, v in info.items() if k != "intervals"})

    oracle: dict[str, Any] | None = None
    oracle_eval: Evaluation | None = None
    truth_file = _truth_path(source_url)
    if truth_file is not None and truth_file.is_file():
        from churnltv.generator import oracle_churn_probability

        truth = pd.read_parquet(truth_file)
        ids = split.test["customer_id"].astype(str).tolist()
        p_oracle = oracle_churn_probability(truth, split.test_cutoff, horizon_days, customer_ids=ids).to_numpy()
        ok = np.isfinite(p_oracle)
        oracle_eval = evaluate(y_test[ok], p_oracle[ok], n_boot=N_BOOT, seed=seed)
        oracle_auc = oracle_eval.metrics["roc_auc"]
        model_auc_same_rows = roc_auc(y_test[ok], p_test[ok])
        oracle = {
            "truth_file": str(truth_file),
            "rows": int(ok.sum()),
            "rows_without_oracle": int((~ok).sum()),
            "oracle_test_roc_auc": oracle_auc,
            "model_test_roc_auc_same_rows": model_auc_same_rows,
            "ratio": model_auc_same_rows / oracle_auc if oracle_auc else float("nan"),
            **_summary(oracle_eval),
        }
        metrics.update(oracle_eval.flat("oracle_test_"))
        metrics["oracle_ratio_test_roc_auc"] = oracle["ratio"]
        logger.info("oracle: %s", {k: v for k, v in oracle.items() if k not in ("metrics", "intervals")})
    return HoldoutComparison(model_eval, baselines, oracle, metrics, scores, evaluations, oracle_eval)


def _summary_source(con: Any, spec: FeatureSpec) -> Callable[[pd.Timestamp], pd.DataFrame] | None:
    """The BTYD summary of all buyers before a cutoff, from the job's connection (None without transactions)."""
    if "btyd_frequency" not in spec.names:
        return None
    from features.btyd_summary import btyd_summary_sql

    def summary_at(cutoff: pd.Timestamp) -> pd.DataFrame:
        return btyd_summary_sql(con, cutoff, spec.time_unit)

    return summary_at


def _truth_path(source_url: str) -> Path | None:
    parts = urlsplit(source_url)
    if parts.scheme not in ("", "file") and len(parts.scheme) != 1:
        return None
    from churnltv.generator import truth_path_for

    return truth_path_for(Path(source_url))


def _reference_values(train: pd.DataFrame, spec: FeatureSpec) -> dict[str, float]:
    out: dict[str, float] = {}
    for name in spec.names:
        if name in spec.categorical:
            continue
        value = float(np.nanmedian(train[name].to_numpy(dtype=np.float64, na_value=np.nan))) if len(train) else np.nan
        if np.isfinite(value):
            out[name] = value
    return out


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
) -> ChurnTrainResult:
    """Train, evaluate, log and register a churn model from ``source_url`` (see module docstring)."""
    import pandas as pd

    from features.labels import data_time_range, default_cutoffs
    from features.sources import open_source
    from models.churn_bundle import ChurnBundle, library_versions
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
        con = open_source(source_url).connect()
        data_start, data_end = data_time_range(con)
        if cutoffs is None:
            chosen = list(default_cutoffs(con, feature_settings, n=n_cutoffs))
        else:
            chosen = sorted({pd.Timestamp(c) for c in cutoffs})
        logger.info("data %s .. %s; cutoffs %s", data_start, data_end, ", ".join(str(c.date()) for c in chosen))
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
    with announce("tune and fit LightGBM"):
        threads = settings.lightgbm_threads or (1 if len(split.train) < 100_000 else 2)
        tuning = tune(
            split,
            spec,
            seed=settings.random_seed,
            budget_seconds=budget,
            num_threads=threads,
            wall_clock_cap_seconds=cap,
        )
        clf, trials = tuning.best, tuning.trials
    with announce("calibrate on validation window"):
        calibrator = ProbabilityCalibration("isotonic").fit(
            clf.predict_proba(_features(split.validation, spec))[:, 1], split.validation[LABEL].to_numpy()
        )
    with announce("evaluate on test window"):
        y_test = split.test[LABEL].to_numpy(np.float64)
        raw_test = clf.predict_proba(_features(split.test, spec))[:, 1]
        p_test = calibrator.predict(raw_test)
        comparison = compare_on_holdout(
            y_test,
            p_test,
            split,
            spec,
            source_url=source_url,
            horizon_days=horizon,
            seed=settings.random_seed,
            summary_at=_summary_source(con, spec),
        )
        metrics = dict(comparison.metrics)
        metrics["val_roc_auc"] = max(t["val_roc_auc"] for t in trials)
        metrics["test_roc_auc_uncalibrated"] = roc_auc(y_test, raw_test)

    metadata: dict[str, Any] = {
        "kind": "churn",
        "created_at": pd.Timestamp.now("UTC").tz_localize(None).isoformat(timespec="seconds"),
        "source_url": public_url(source_url),
        "data_range": {"start": str(data_start), "end": str(data_end)},
        "horizon_days": horizon,
        "churn_definition": feature_settings.churn_definition,
        "feature_settings": feature_settings.summary(),
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
        "tuning": {
            "budget_nominal_seconds": budget,
            "nominal_seconds_used": tuning.nominal_seconds,
            "wall_clock_cap_seconds": cap,
            "wall_seconds": tuning.wall_seconds,
            "stopped_by": tuning.stopped_by,
        },
        "metrics": {k: v for k, v in metrics.items() if np.isfinite(v)},
        "reference_values": _reference_values(split.train, spec),
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
    return ChurnTrainResult(run_id, version, metrics, bundle_dir, report_path)


def _log_and_register(
    settings: TrainingSettings,
    *,
    bundle: ChurnBundle,
    clf: ChurnClassifier,
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


# -- promotion ---------------------------------------------------------------------------------------------
def holdout_of(bundle: ChurnBundle) -> tuple[pd.DataFrame, pd.Timestamp]:
    """Rebuild the bundle's test window (features + labels) from the recorded source, cutoff and settings."""
    import pandas as pd

    from features.settings import FeatureSettings
    from features.sources import open_source

    meta = bundle.metadata
    try:
        source, test_cutoff = meta["source_url"], pd.Timestamp(meta["cutoffs"]["test"])
        fs = FeatureSettings(**meta["feature_settings"])
    except KeyError as err:
        raise UserInputError(f"bundle metadata has no {err.args[0]!r}; cannot rebuild its test window") from None
    con = open_source(source).connect()
    frame, _ = training_frame(con, [test_cutoff], fs)
    return frame, test_cutoff


def _champion_view(old: ChurnBundle, new: ChurnBundle, frame: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """The challenger's holdout rows with features as the champion computes them.

    When the two were trained with different feature settings (another Aha rule, other core event types), the
    champion gets its own features for the same customers at the same cutoff; the labels stay the challenger's,
    since both are judged on the same outcome.
    """
    from features.point_in_time import build_features
    from features.settings import FeatureSettings
    from features.sources import open_source

    old_fs = old.metadata.get("feature_settings")
    if old_fs is None or old_fs == new.metadata.get("feature_settings"):
        return frame
    features, _ = build_features(
        open_source(new.metadata["source_url"]).connect(),
        [cutoff],
        FeatureSettings(**old_fs),
        customer_ids=frame["customer_id"].astype(str).tolist(),
    )
    keyed = features.set_index("customer_id").reindex(frame["customer_id"].astype(str))
    return keyed.reset_index()


def load_version_bundle(info: ModelVersionInfo) -> ChurnBundle:
    import mlflow

    from models.bundle_source import resolve_bundle
    from models.churn_bundle import ChurnBundle

    path = resolve_bundle(info.model_uri, default_name=info.name, tracking_uri=mlflow.get_tracking_uri())
    return ChurnBundle.load(path)


def holdout_decider(
    margin: float, *, seed: int = 7
) -> Callable[[ModelVersionInfo, ModelVersionInfo | None], PromotionDecision]:
    """A ``decide`` for ``registry.promote``: re-score champion and challenger on the challenger's test window."""
    from training.churn_evaluation import paired_bootstrap_difference, roc_auc
    from training.registry import PromotionDecision

    def decide(challenger: ModelVersionInfo, champion: ModelVersionInfo | None) -> PromotionDecision:
        new = load_version_bundle(challenger)
        frame, cutoff = holdout_of(new)
        y = frame[LABEL].to_numpy(np.float64)
        p_new = new.predict_proba(frame)
        auc_new = roc_auc(y, p_new)
        where = f"test window {cutoff.date()} ({len(frame)} customers)"
        if champion is None:
            return PromotionDecision(
                True, f"no champion yet; challenger AUC {auc_new:.4f} on {where}", challenger_score=auc_new
            )
        old = load_version_bundle(champion)
        view = _champion_view(old, new, frame, cutoff)
        missing = [n for n in old.names if n not in view.columns]
        if missing:
            # no comparison on the same rows is possible: refuse, and say why (``--force`` overrides and records it)
            shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
            return PromotionDecision(
                False,
                f"cannot compare on the same holdout: champion v{champion.version} needs {len(missing)} feature(s) "
                f"absent from the challenger's data at {where}: {shown} (their input tables are missing); the "
                f"challenger (AUC {auc_new:.4f}) was not shown to beat it. Use --force to promote it anyway.",
                challenger_score=auc_new,
            )
        p_old = old.predict_proba(view)
        auc_old = roc_auc(y, p_old)
        diff = paired_bootstrap_difference(roc_auc, y, p_new, p_old, n_boot=N_BOOT, seed=seed)
        gain = auc_new - auc_old
        verdict = gain >= margin
        reason = (
            f"challenger v{challenger.version} AUC {auc_new:.4f} vs champion v{champion.version} {auc_old:.4f} on "
            f"{where}: gain {gain:+.4f} (95% CI {diff.lower:+.4f}..{diff.upper:+.4f}) "
            f"{'>=' if verdict else '<'} margin {margin:.4f}"
        )
        return PromotionDecision(verdict, reason, challenger_score=auc_new, champion_score=auc_old)

    return decide
