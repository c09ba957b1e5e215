"""The LTV training job: BTYD summary -> BG/NBD + Gamma-Gamma -> holdout evaluation -> refit -> bundle -> MLflow.

Steps of ``train_ltv``:

1. read the ``transactions`` table of the source (through ``features.sources``, so it is validated);
2. calibration/holdout split: fit on purchases before ``as_of - holdout_days``, evaluate on the holdout
   [as_of - holdout_days, as_of) (``training.ltv_evaluation``);
3. refit on all purchases before ``as_of`` for the bundle. The holdout only measures how well the *method*
   forecasts; the deployed parameters should use the most recent behaviour, as the churn job does. The
   holdout metrics logged with the bundle are therefore those of the calibration fit (stated in metadata);
4. save the plain JSON bundle, log params/metrics/report and the bundle as a models-from-code pyfunc, register
   it as ``churnltv-ltv`` with alias ``challenger``.

Data sufficiency (settings ``min_customers``, ``min_history_days``, ``min_repeat_customers``) is checked before
each fit and fails with the numbers found, never with silent garbage.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.linalg import block_diag

from features.btyd_summary import btyd_summary
from features.errors import UserInputError
from models.bgnbd import BetaGeoModel
from models.customer_value import BTYD_PARAMS
from models.gamma_gamma import GammaGammaModel
from models.ltv_settings import LtvSettings
from models.parameter_draws import ParameterDraws
from training.ltv_evaluation import HoldoutEvaluation, evaluate_holdout, write_ltv_report

log = logging.getLogger(__name__)


@dataclass
class LtvFit:
    """A fitted BG/NBD + Gamma-Gamma pair, its parameter draws and the data diagnostics."""

    bgnbd: BetaGeoModel
    gg: GammaGammaModel
    draws: ParameterDraws
    summary: pd.DataFrame
    as_of: pd.Timestamp
    diagnostics: dict[str, Any]

    def params(self) -> dict[str, Any]:
        """The JSON shape printed by ``churnltv ltv fit``: bgnbd {r, alpha, a, b, log_likelihood}, gamma_gamma."""
        return {
            "bgnbd": {**self.bgnbd.params_, "log_likelihood": self.bgnbd.log_likelihood_},
            "gamma_gamma": self.gg.params_,
        }


@dataclass
class LtvTrainResult:
    """What ``churnltv ltv train`` reports."""

    run_id: str
    version: str
    bundle_dir: Path
    report_path: Path
    metrics: dict[str, float]
    params: dict[str, Any]
    diagnostics: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def read_transactions(con: Any) -> pd.DataFrame:
    """customer_id, occurred_at, amount of the contract ``transactions`` table (UserInputError when absent)."""
    tables = {row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    if "transactions" not in tables:
        raise UserInputError(
            "the data has no transactions table; the LTV models (BG/NBD + Gamma-Gamma) need purchases "
            "(customer_id, occurred_at, amount)"
        )
    frame: pd.DataFrame = con.execute(
        "SELECT CAST(customer_id AS VARCHAR) AS customer_id, occurred_at, amount FROM transactions"
    ).df()
    return frame


def fit_ltv(transactions: pd.DataFrame, as_of: pd.Timestamp, settings: LtvSettings) -> LtvFit:
    """Check data sufficiency, fit BG/NBD and Gamma-Gamma on purchases before ``as_of``, draw parameters."""
    unit = settings.time_unit
    summary = btyd_summary(transactions, as_of, unit)
    n = len(summary)
    if n < settings.min_customers:
        raise UserInputError(
            f"too few customers to fit BG/NBD: {n} customer(s) bought before {as_of.date()}, at least "
            f"{settings.min_customers} are needed (CHURNLTV_LTV_MIN_CUSTOMERS)"
        )
    history_days = float(summary["T"].max() * unit.days) if n else 0.0
    if history_days < settings.min_history_days:
        raise UserInputError(
            f"too little history to fit BG/NBD: the first purchase is {history_days:.0f} day(s) before "
            f"{as_of.date()}, at least {settings.min_history_days} are needed (CHURNLTV_LTV_MIN_HISTORY_DAYS)"
        )
    x = summary["frequency"].to_numpy()
    n_repeat = int(np.sum(x > 0))
    if n_repeat < settings.min_repeat_customers:
        raise UserInputError(
            f"too few repeat buyers: {n_repeat} of {n} customers bought on more than one day before "
            f"{as_of.date()}, at least {settings.min_repeat_customers} are needed "
            "(CHURNLTV_LTV_MIN_REPEAT_CUSTOMERS)"
        )
    start = time.perf_counter()
    bgnbd = BetaGeoModel(settings.penalizer_coef, unit).fit(x, summary["recency"], summary["T"])
    gg = GammaGammaModel(settings.penalizer_coef).fit(x, summary["monetary_value"])
    if gg.n_fitted_ < settings.min_repeat_customers:
        raise UserInputError(
            f"too few repeat buyers with positive spend for Gamma-Gamma: {gg.n_fitted_}, at least "
            f"{settings.min_repeat_customers} are needed ({gg.n_excluded_zero_spend_} had zero spend)"
        )
    estimate = np.array([*bgnbd.params_.values(), *gg.params_.values()])
    covariance = block_diag(bgnbd.log_params_covariance_, gg.log_params_covariance_)
    draws = ParameterDraws.from_log_normal(
        BTYD_PARAMS, estimate, covariance, settings.n_parameter_draws, settings.random_seed
    )
    corr = gg.frequency_spend_correlation_
    diagnostics: dict[str, Any] = {
        "as_of": str(as_of),
        "time_unit": unit.value,
        "n_customers": n,
        "n_repeat_customers": n_repeat,
        "gg_excluded_one_time_buyers": gg.n_excluded_one_time_,
        "gg_excluded_zero_spend": gg.n_excluded_zero_spend_,
        "gg_fitted_customers": gg.n_fitted_,
        "frequency_spend_correlation": None if not np.isfinite(corr) else round(corr, 4),
        "history_days": history_days,
        "bgnbd_log_likelihood": bgnbd.log_likelihood_,
        "gg_log_likelihood": gg.log_likelihood_,
        "fit_seconds": round(time.perf_counter() - start, 3),
        "parameter_draws": f"{settings.n_parameter_draws} draws, {draws.method}",
    }
    if np.isfinite(corr) and abs(corr) > 0.3:
        diagnostics["warning"] = (
            f"frequency and spend are correlated (r = {corr:.2f}); Gamma-Gamma assumes independence, so "
            "expected spend may be biased"
        )
    log.info("fitted BG/NBD %s and Gamma-Gamma %s on %d customers", bgnbd.params_, gg.params_, n)
    return LtvFit(bgnbd, gg, draws, summary, as_of, diagnostics)


def default_as_of(transactions: pd.DataFrame) -> pd.Timestamp:
    """The day after the last purchase: every purchase is observed."""
    if len(transactions) == 0:
        raise UserInputError("the transactions table is empty; the LTV models need purchases")
    return pd.Timestamp(pd.to_datetime(transactions["occurred_at"]).max()).floor("D") + pd.Timedelta(1, "D")


def split_holdout(as_of: pd.Timestamp, holdout_days: int) -> pd.Timestamp:
    if holdout_days < 1:
        raise UserInputError(f"holdout_days must be >= 1, got {holdout_days}")
    return as_of - pd.Timedelta(holdout_days, "D")


def train_ltv(
    source_url: str,
    *,
    as_of: pd.Timestamp | None,
    holdout_days: int | None,
    settings: LtvSettings,
    training_settings: Any = None,
) -> LtvTrainResult:
    """Evaluate on a holdout, refit on everything before ``as_of``, log to MLflow and register the challenger."""
    from features.sources import open_source

    job_start = time.perf_counter()
    source = open_source(source_url)
    try:
        con = source.connect()
        transactions = read_transactions(con)
        con.close()
    finally:
        source.close()
    cutoff = pd.Timestamp(as_of) if as_of is not None else default_as_of(transactions)
    holdout = 90 if holdout_days is None else holdout_days
    calibration_end = split_holdout(cutoff, holdout)
    log.info("calibration before %s, holdout [%s, %s)", calibration_end.date(), calibration_end.date(), cutoff.date())
    calibration = fit_ltv(transactions, calibration_end, settings)
    evaluation = evaluate_holdout(calibration.bgnbd, transactions, calibration_end, cutoff, spend_model=calibration.gg)
    final = fit_ltv(transactions, cutoff, settings)
    metadata = {
        "created_at": pd.Timestamp.now("UTC").tz_localize(None).isoformat(timespec="seconds"),
        "source_url": source_url,
        "as_of": str(cutoff),
        "calibration_end": str(calibration_end),
        "holdout_days": holdout,
        "settings": settings.model_dump(mode="json"),
        "diagnostics": final.diagnostics,
        "holdout_metrics": evaluation.metrics,
        "holdout_metrics_from": "the calibration fit (before calibration_end); the bundle is refitted up to as_of",
        "calibration_params": calibration.params(),
    }
    return _log_and_register(final, evaluation, metadata, training_settings, job_start)


def _log_and_register(
    final: LtvFit,
    evaluation: HoldoutEvaluation,
    metadata: dict[str, Any],
    training_settings: Any,
    job_start: float,
) -> LtvTrainResult:
    import mlflow

    from models.ltv_bundle import save_ltv_bundle
    from training import registry
    from training.settings import TrainingSettings
    from training.tracking import experiment_id, log_bundle_model, use_tracking

    settings = training_settings if training_settings is not None else TrainingSettings()
    use_tracking(settings)
    exp_id = experiment_id(settings.ltv_experiment, settings)
    workdir = Path(tempfile.mkdtemp(prefix="churnltv-ltv-"))
    bundle_dir = save_ltv_bundle(workdir / "bundle", final.bgnbd, final.gg, final.draws, metadata)
    params = final.params()
    report = write_ltv_report(workdir / "report", evaluation, params, final.diagnostics)
    metrics = {k: float(v) for k, v in evaluation.metrics.items() if np.isfinite(v)}
    with mlflow.start_run(experiment_id=exp_id) as run:
        mlflow.set_tags({"churnltv.kind": "ltv", "churnltv.source": str(metadata["source_url"])[:500]})
        flat = {f"bgnbd_{k}": v for k, v in final.bgnbd.params_.items()}
        flat.update({f"gg_{k}": v for k, v in final.gg.params_.items()})
        mlflow.log_params(
            {
                **{k: v for k, v in metadata["settings"].items()},
                "as_of": metadata["as_of"],
                "calibration_end": metadata["calibration_end"],
                "holdout_days": metadata["holdout_days"],
            }
        )
        mlflow.log_metrics(metrics)
        mlflow.log_metrics({k: float(v) for k, v in flat.items()})
        corr = final.diagnostics.get("frequency_spend_correlation")
        if corr is not None:
            mlflow.log_metric("ltv_frequency_spend_correlation", float(corr))
        mlflow.log_metric("ltv_gg_excluded_one_time_buyers", float(final.gg.n_excluded_one_time_))
        mlflow.log_metric("ltv_gg_excluded_zero_spend", float(final.gg.n_excluded_zero_spend_))
        buckets = {str(k): v for k, v in evaluation.buckets.reset_index().to_dict(orient="list").items()}
        mlflow.log_dict(buckets, "holdout_buckets.json")
        mlflow.log_artifacts(str(report.parent), "report")
        # code_paths + pinned requirements of the wrapper's imports: loads where churnltv is not installed
        info = log_bundle_model(Path(__file__).resolve().parents[1] / "models" / "ltv_pyfunc.py", bundle_dir)
        mlflow.log_metric("train_seconds", time.perf_counter() - job_start)
        tags = {"run_id": run.info.run_id, "as_of": metadata["as_of"], "source": str(metadata["source_url"])[:250]}
        version = registry.register(info.model_uri, registry.LTV_MODEL, tags=tags)
    return LtvTrainResult(
        str(run.info.run_id), version, bundle_dir, report, metrics, params, final.diagnostics, evaluation.notes
    )
