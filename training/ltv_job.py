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
from features.time_units import TimeUnit
from models.btyd_family import applicable_candidates, detect_opportunity_grid, fit_count_model
from models.count_model import CountModel
from models.gamma_gamma import GammaGammaModel
from models.ltv_settings import LtvSettings
from models.mbg_cnbd import log_intertransaction_sum
from models.parameter_draws import ParameterDraws
from training.ltv_evaluation import HoldoutEvaluation, evaluate_holdout, write_ltv_report

log = logging.getLogger(__name__)


@dataclass
class LtvFit:
    """A fitted count model (the selected one, or the NBD limit it degraded to), its spend side (Gamma-Gamma, or a
    constant value per purchase), the parameter draws, the data diagnostics and the warnings of every degradation."""

    count_model: CountModel
    gg: GammaGammaModel | None
    unit_value: float | None
    draws: ParameterDraws
    summary: pd.DataFrame
    as_of: pd.Timestamp
    diagnostics: dict[str, Any]
    requested: str = "bgnbd"
    warnings: list[str] = field(default_factory=list)
    litt: np.ndarray | None = None

    @property
    def bgnbd(self) -> CountModel:
        """The fitted count model (named for the original BG/NBD-only job)."""
        return self.count_model

    def log_covariance(self) -> np.ndarray | None:
        """Covariance of the count model's then Gamma-Gamma's log-parameters (None without one)."""
        blocks = [getattr(self.count_model, "log_params_covariance_", None)]
        if self.gg is not None:
            blocks.append(getattr(self.gg, "log_params_covariance_", None))
        if any(b is None for b in blocks):
            return None
        result: np.ndarray = block_diag(*blocks)
        return result

    def params(self) -> dict[str, Any]:
        """The JSON shape printed by ``churnltv ltv fit``: bgnbd {the count model's parameters, log_likelihood}
        (the key predates the model family), gamma_gamma (null without a spend model), count_model."""
        return {
            "bgnbd": {**self.count_model.paper_params, "log_likelihood": self.count_model.log_likelihood_},
            "gamma_gamma": self.gg.params_ if self.gg is not None else None,
            "count_model": self.count_model.NAME,
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
    selected_model: str = "bgnbd"
    candidates: dict[str, Any] = field(default_factory=dict)


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


def purchase_litt(transactions: pd.DataFrame, as_of: pd.Timestamp, index: pd.Index, unit: TimeUnit) -> np.ndarray:
    """Sum of ln inter-purchase times (purchase days, in ``unit``) per customer of ``index`` before ``as_of``:
    MBG/CNBD-k's regularity statistic (BTYDplus' ``litt``)."""
    times = pd.to_datetime(transactions["occurred_at"])
    keep = (times < as_of).to_numpy()
    frame = pd.DataFrame(
        {
            "customer_id": transactions["customer_id"].to_numpy()[keep].astype(str),
            "day": times.to_numpy()[keep].astype("datetime64[D]").astype("int64"),
        }
    ).drop_duplicates()
    codes = pd.Categorical(frame["customer_id"], categories=index.astype(str)).codes
    order = np.lexsort((frame["day"].to_numpy(), codes))
    days, sorted_codes = frame["day"].to_numpy()[order], codes[order]
    valid = sorted_codes >= 0
    litt = log_intertransaction_sum(days[valid], sorted_codes[valid], unit.days)
    out = np.zeros(len(index))
    out[: len(litt)] = litt
    return out


def opportunity_days(transactions: pd.DataFrame, as_of: pd.Timestamp, settings: LtvSettings) -> float | None:
    """The BG/BB opportunity length: the setting, else a detected regular grid of purchase days, else None."""
    if settings.opportunity_days > 0:
        return float(settings.opportunity_days)
    times = pd.to_datetime(transactions["occurred_at"])
    return detect_opportunity_grid(times[times < as_of].to_numpy().astype("datetime64[D]"))


def _check_sufficiency(summary: pd.DataFrame, as_of: pd.Timestamp, settings: LtvSettings) -> tuple[float, int]:
    unit, n = settings.time_unit, len(summary)
    if n < settings.min_customers:
        raise UserInputError(
            f"too few customers to fit an LTV model: {n} customer(s) bought before {as_of.date()}, at least "
            f"{settings.min_customers} are needed (CHURNLTV_LTV_MIN_CUSTOMERS)"
        )
    history_days = float(summary["T"].max() * unit.days) if n else 0.0
    if history_days < settings.min_history_days:
        raise UserInputError(
            f"too little history to fit an LTV model: the first purchase is {history_days:.0f} day(s) before "
            f"{as_of.date()}, at least {settings.min_history_days} are needed (CHURNLTV_LTV_MIN_HISTORY_DAYS)"
        )
    n_repeat = int(np.sum(summary["frequency"].to_numpy() > 0))
    if n_repeat < settings.min_repeat_customers:
        raise UserInputError(
            f"too few repeat buyers: {n_repeat} of {n} customers bought on more than one day before "
            f"{as_of.date()}, at least {settings.min_repeat_customers} are needed "
            "(CHURNLTV_LTV_MIN_REPEAT_CUSTOMERS)"
        )
    return history_days, n_repeat


def fit_spend(summary: pd.DataFrame, settings: LtvSettings) -> tuple[GammaGammaModel | None, float | None, list[str]]:
    """Gamma-Gamma, or, where spend is constant or absent (or Gamma-Gamma cannot be fitted), a constant value per
    purchase with a warning naming the reason."""
    x = summary["frequency"].to_numpy(dtype="float64")
    m = summary["monetary_value"].to_numpy(dtype="float64")
    spends = m[(x > 0) & np.isfinite(m) & (m > 0)]
    reason: str | None = None
    if len(spends) == 0:
        reason = "no spend is recorded (every repeat purchase has amount 0)"
        fallback = 1.0
    elif float(np.max(spends) - np.min(spends)) <= 1e-9 * float(np.max(spends)):
        reason = f"spend is constant ({float(spends[0]):.6g} per purchase day for every repeat buyer)"
        fallback = float(spends[0])
    else:
        try:
            gg = GammaGammaModel(settings.penalizer_coef).fit(x, m)
        except UserInputError as err:
            reason = f"Gamma-Gamma could not be fitted ({err})"
            fallback = float(np.mean(spends))
        else:
            if gg.n_fitted_ >= settings.min_repeat_customers:
                return gg, None, []
            reason = (
                f"only {gg.n_fitted_} repeat buyers have positive spend, at least {settings.min_repeat_customers} "
                "are needed for Gamma-Gamma (CHURNLTV_LTV_MIN_REPEAT_CUSTOMERS)"
            )
            fallback = float(np.mean(spends))
    unit_value = float(settings.unit_value) if settings.unit_value > 0 else fallback
    what = "purchase counts" if unit_value == 1.0 and len(spends) == 0 else f"{unit_value:.6g} per purchase"
    warning = f"no spend model: {reason}; values are the count model's expected purchases x {what}"
    return None, unit_value, [warning]


def fit_ltv(
    transactions: pd.DataFrame, as_of: pd.Timestamp, settings: LtvSettings, *, model: str | None = None
) -> LtvFit:
    """Check data sufficiency, fit count model ``model`` (default: the setting; 'auto' means BG/NBD here, the
    selection happens on a holdout in ``select_model``) and the spend side on purchases before ``as_of``, and
    draw parameters."""
    unit = settings.time_unit
    name = model or settings.model
    name = "bgnbd" if name == "auto" else name
    summary = btyd_summary(transactions, as_of, unit)
    history_days, n_repeat = _check_sufficiency(summary, as_of, settings)
    n = len(summary)
    x = summary["frequency"].to_numpy()
    start = time.perf_counter()
    litt = purchase_litt(transactions, as_of, summary.index, unit) if name == "mbg_cnbd_k" else None
    opportunity = opportunity_days(transactions, as_of, settings) if name == "bgbb" else None
    if name == "bgbb" and opportunity is None:
        raise UserInputError(
            "BG/BB needs discrete transaction opportunities: the purchase days lie on no regular grid; set "
            "CHURNLTV_LTV_OPPORTUNITY_DAYS or choose a continuous-time model"
        )
    fitted = fit_count_model(
        name,
        x,
        summary["recency"],
        summary["T"],
        time_unit=unit,
        penalizer_coef=settings.penalizer_coef,
        litt=litt,
        opportunity_days=opportunity,
    )
    count_model = fitted.model
    gg, unit_value, spend_warnings = fit_spend(summary, settings)
    names = list(count_model.PARAM_NAMES)
    estimate = [*count_model.values()]
    blocks = [count_model.log_params_covariance_]
    if gg is not None:
        names += ["p", "q", "v"]
        estimate += list(gg.params_.values())
        blocks.append(gg.log_params_covariance_)
    draws = ParameterDraws.from_log_normal(
        names, np.array(estimate), block_diag(*blocks), settings.n_parameter_draws, settings.random_seed
    )
    corr = gg.frequency_spend_correlation_ if gg is not None else float("nan")
    warnings = [*fitted.warnings, *spend_warnings]
    diagnostics: dict[str, Any] = {
        "as_of": str(as_of),
        "time_unit": unit.value,
        "count_model": count_model.NAME,
        "n_customers": n,
        "n_repeat_customers": n_repeat,
        "gg_excluded_one_time_buyers": gg.n_excluded_one_time_ if gg is not None else None,
        "gg_excluded_zero_spend": gg.n_excluded_zero_spend_ if gg is not None else None,
        "gg_fitted_customers": gg.n_fitted_ if gg is not None else None,
        "frequency_spend_correlation": None if not np.isfinite(corr) else round(corr, 4),
        "history_days": history_days,
        "count_model_log_likelihood": count_model.log_likelihood_,
        "bgnbd_log_likelihood": count_model.log_likelihood_,
        "gg_log_likelihood": gg.log_likelihood_ if gg is not None else None,
        "unit_value": unit_value,
        "fit_seconds": round(time.perf_counter() - start, 3),
        "parameter_draws": f"{settings.n_parameter_draws} draws, {draws.method}",
    }
    if opportunity is not None:
        diagnostics["opportunity_days"] = opportunity
    if np.isfinite(corr) and abs(corr) > 0.3:
        diagnostics["warning"] = (
            f"frequency and spend are correlated (r = {corr:.2f}); Gamma-Gamma assumes independence, so "
            "expected spend may be biased"
        )
    if warnings:
        diagnostics["warnings"] = warnings
    for warning in warnings:
        log.warning("%s", warning)
    log.info("fitted %s %s on %d customers", count_model.LABEL, count_model.paper_params, n)
    return LtvFit(count_model, gg, unit_value, draws, summary, as_of, diagnostics, name, warnings, litt)


_LOWER_IS_BETTER = {
    "holdout_mae": "ltv_holdout_mae",
    "holdout_spend_mae": "ltv_spend_holdout_mae",
}


@dataclass
class Selection:
    """Every candidate's calibration fit and holdout evaluation, and the one kept."""

    selected: str
    fits: dict[str, LtvFit]
    evaluations: dict[str, HoldoutEvaluation]
    criterion: str
    failures: dict[str, str] = field(default_factory=dict)

    def candidates(self) -> dict[str, dict[str, Any]]:
        """The ``--json`` / MLflow shape: per model params, log_likelihood, holdout metrics, warnings."""
        out: dict[str, dict[str, Any]] = {}
        for name, fit in self.fits.items():
            out[name] = {
                "fitted_model": fit.count_model.NAME,
                "params": fit.count_model.paper_params,
                "log_likelihood": fit.count_model.log_likelihood_,
                "holdout": self.evaluations[name].metrics,
                "warnings": fit.warnings,
                "selected": name == self.selected,
            }
        for name, why in self.failures.items():
            out[name] = {"params": None, "log_likelihood": None, "holdout": {}, "warnings": [why], "selected": False}
        return out


def _score(criterion: str, fit: LtvFit, evaluation: HoldoutEvaluation) -> float:
    """Lower is better."""
    metrics = evaluation.metrics
    if criterion in _LOWER_IS_BETTER:
        return float(metrics.get(_LOWER_IS_BETTER[criterion], np.inf))
    if criterion == "holdout_total_error":
        return abs(float(metrics["ltv_holdout_total_rel_error"]))
    if criterion == "log_likelihood":
        return -float(fit.count_model.log_likelihood_) if fit.count_model.NAME != "bgbb" else np.inf
    raise UserInputError(f"unknown selection criterion {criterion!r}")


def select_model(
    transactions: pd.DataFrame,
    calibration_end: pd.Timestamp,
    holdout_end: pd.Timestamp,
    settings: LtvSettings,
    *,
    model: str | None = None,
) -> Selection:
    """Fit every applicable candidate on purchases before ``calibration_end``, score each on the holdout
    [calibration_end, holdout_end), and keep ``model`` if forced, else the best by ``selection_criterion``.

    A candidate that cannot be fitted at all is reported with the reason; only if none fits is it an error.
    """
    forced = model or settings.model
    grid = opportunity_days(transactions, calibration_end, settings)
    names = list(applicable_candidates(grid))
    if forced != "auto" and forced not in names:
        names.append(forced)
    fits: dict[str, LtvFit] = {}
    evaluations: dict[str, HoldoutEvaluation] = {}
    failures: dict[str, str] = {}
    for name in names:
        try:
            fit = fit_ltv(transactions, calibration_end, settings, model=name)
        except UserInputError as err:
            if name == forced:
                raise
            failures[name] = f"{name}: not fitted: {err}"
            log.warning("%s", failures[name])
            continue
        fits[name] = fit
        evaluations[name] = evaluate_holdout(
            fit.count_model,
            transactions,
            calibration_end,
            holdout_end,
            spend_model=fit.gg,
            unit_value=fit.unit_value,
            log_covariance=fit.log_covariance(),
        )
    if not fits:
        raise UserInputError("no LTV model could be fitted: " + "; ".join(failures.values()))
    criterion = settings.selection_criterion
    if forced != "auto":
        selected = forced
    else:
        selected = min(fits, key=lambda n: (_score(criterion, fits[n], evaluations[n]), n != "bgnbd"))
    log.info("selected %s by %s among %s", selected, criterion if forced == "auto" else "--model", list(fits))
    return Selection(selected, fits, evaluations, criterion if forced == "auto" else "forced", failures)


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
    from features.source_url import public_url
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
    selection = select_model(transactions, calibration_end, cutoff, settings)
    calibration = selection.fits[selection.selected]
    evaluation = selection.evaluations[selection.selected]
    final = fit_ltv(transactions, cutoff, settings, model=selection.selected)
    metadata = {
        "created_at": pd.Timestamp.now("UTC").tz_localize(None).isoformat(timespec="seconds"),
        "source_url": public_url(source_url),
        "as_of": str(cutoff),
        "calibration_end": str(calibration_end),
        "holdout_days": holdout,
        "settings": settings.model_dump(mode="json"),
        "diagnostics": final.diagnostics,
        "holdout_metrics": evaluation.metrics,
        "holdout_metrics_from": "the calibration fit (before calibration_end); the bundle is refitted up to as_of",
        "calibration_params": calibration.params(),
        "selected_model": selection.selected,
        "selection_criterion": selection.criterion,
        "candidates": selection.candidates(),
        "spend_model": {"model": "gamma_gamma"}
        if final.gg is not None
        else {"model": "none", "unit_value": final.unit_value},
        "warnings": final.warnings,
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
    bundle_dir = save_ltv_bundle(workdir / "bundle", final.count_model, final.gg, final.draws, metadata)
    params = final.params()
    candidates = metadata["candidates"]
    report = write_ltv_report(workdir / "report", evaluation, params, final.diagnostics, candidates)
    metrics = {k: float(v) for k, v in evaluation.metrics.items() if np.isfinite(v)}
    with mlflow.start_run(experiment_id=exp_id) as run:
        mlflow.set_tags({"churnltv.kind": "ltv", "churnltv.source": str(metadata["source_url"])[:500]})
        flat = {f"{final.count_model.NAME}_{k}": v for k, v in final.count_model.paper_params.items()}
        if final.gg is not None:
            flat.update({f"gg_{k}": v for k, v in final.gg.params_.items()})
        mlflow.set_tag("churnltv.ltv_model", metadata["selected_model"])
        mlflow.log_params(
            {
                **{k: v for k, v in metadata["settings"].items()},
                "as_of": metadata["as_of"],
                "calibration_end": metadata["calibration_end"],
                "holdout_days": metadata["holdout_days"],
                "selected_model": metadata["selected_model"],
                "selection_criterion": metadata["selection_criterion"],
            }
        )
        for name, cand in candidates.items():  # every candidate's numbers, side by side
            if cand["params"]:
                mlflow.log_params({f"candidate.{name}.{k}": v for k, v in cand["params"].items()})
                mlflow.log_metric(f"candidate.{name}.log_likelihood", float(cand["log_likelihood"]))
            mlflow.log_metrics(
                {f"candidate.{name}.{k}": float(v) for k, v in cand["holdout"].items() if np.isfinite(float(v))}
            )
        mlflow.log_dict(candidates, "candidates.json")
        mlflow.log_metrics(metrics)
        mlflow.log_metrics({k: float(v) for k, v in flat.items()})
        corr = final.diagnostics.get("frequency_spend_correlation")
        if corr is not None:
            mlflow.log_metric("ltv_frequency_spend_correlation", float(corr))
        if final.gg is not None:
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
        str(run.info.run_id),
        version,
        bundle_dir,
        report,
        metrics,
        params,
        final.diagnostics,
        [*evaluation.notes, *final.warnings],
        metadata["selected_model"],
        candidates,
    )
