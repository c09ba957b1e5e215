"""Drift monitoring: is the scoring snapshot still the population the champion models were trained on?

Four checks, each with a band (stable / watch / alert; limits in ``training.monitor_settings``, env prefix
``CHURNLTV_MONITOR_``):

* **Feature drift** — Population Stability Index per model feature between the reference snapshot (features
  recomputed, point in time, at the champion's latest training cutoff, recorded in its metadata) and the scoring
  snapshot: ``PSI = sum_i (a_i - e_i) * ln(a_i / e_i)`` over bins (reference deciles for numeric features, one
  bin per category, and a bin for missing values), with empty bins floored at 1e-4 (Siddiqi, *Credit Risk
  Scorecards*, 2006). Bands: < 0.1 stable, 0.1-0.2 watch, > 0.2 alert.
* **Score drift** — the same PSI on the champion's churn probability for both snapshots.
* **BTYD check** — purchases the LTV model expected since its fit (sum over customers of BG/NBD's conditional
  expectation E[Y(t) | x, t_x, T], Fader, Hardie & Lee 2005, eq. 10, with t = time since the fit) against the
  purchase days actually observed. Band on the relative error: < 10% stable, 10-20% watch, > 20% alert.
* **Calibration drift** (once labels mature, i.e. at ``as_of - horizon``) — expected calibration error
  ``ECE = sum_b |B_b|/n * |mean(y_b) - mean(p_b)|`` (10 equal-width bins) of the champion on the matured cutoff,
  compared with the ECE the same model had on its own holdout at training time (``metrics.test_ece`` in the
  bundle; recomputed at the reference cutoff for a bundle that lacks it). Band on the rise ``ECE - ECE_holdout``:
  < 0.02 stable, 0.02-0.05 watch, > 0.05 alert; a model that got better calibrated is stable.

A statistic that is not a finite number (NaN, infinite, missing) is an **alert**: a check that cannot say
"stable" must wake someone up rather than pass silently.

The result is written as ``drift.json`` + ``drift.html`` and logged to MLflow (experiment ``churnltv-monitor``,
both files as artifacts); ``churnltv report`` shows the latest such run (``latest_drift_report``). The CLI exits
1 on any alert so a scheduler can react.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from features.errors import UserInputError

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from models.churn_bundle import ChurnBundle
    from training.settings import TrainingSettings

from training.monitor_settings import MonitorSettings
from training.report.page import render_page

log = logging.getLogger(__name__)

Band = Literal["stable", "watch", "alert"]
MONITOR_EXPERIMENT = "churnltv-monitor"
DRIFT_FILE = "drift.json"
PSI_FLOOR = 1e-4
_ORDER: dict[str, int] = {"stable": 0, "watch": 1, "alert": 2}


def band_for(value: float | None, watch: float, alert: float) -> Band:
    """Band of a drift statistic: below ``watch`` stable, up to ``alert`` watch, above alert.

    NaN, infinity and None are "alert": a statistic that could not be measured is not evidence of stability.
    """
    if value is None or not math.isfinite(value):
        return "alert"
    if value > alert:
        return "alert"
    return "watch" if value >= watch else "stable"


def psi_band(psi: float, limits: MonitorSettings | None = None) -> Band:
    limits = limits or MonitorSettings()
    return band_for(psi, limits.psi_watch, limits.psi_alert)


def _shares(codes: np.ndarray[Any, Any], n_bins: int) -> np.ndarray[Any, np.dtype[np.float64]]:
    counts = np.bincount(codes, minlength=n_bins).astype(np.float64)
    total = counts.sum()
    shares = counts / total if total > 0 else counts
    return np.maximum(shares, PSI_FLOOR)


def population_stability_index(reference: Any, current: Any, *, bins: int = 10, categorical: bool = False) -> float:
    """PSI of ``current`` against ``reference`` (bins from the reference; missing values get their own bin)."""
    import pandas as pd

    ref = pd.Series(reference)
    cur = pd.Series(current)
    if categorical:
        levels = sorted({str(v) for v in ref.dropna()} | {str(v) for v in cur.dropna()})
        index = {v: i for i, v in enumerate(levels)}
        missing = len(levels)

        def code(s: pd.Series) -> np.ndarray[Any, Any]:
            return np.array([missing if pd.isna(v) else index[str(v)] for v in s], dtype=np.int64)

        n_bins = len(levels) + 1
    else:
        r = pd.to_numeric(ref, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        finite = r[np.isfinite(r)]
        edges = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1])) if finite.size else np.array([])
        missing = len(edges) + 1

        def code(s: pd.Series) -> np.ndarray[Any, Any]:
            v = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            out = np.searchsorted(edges, v, side="right").astype(np.int64)
            out[np.isnan(v)] = missing
            return out

        n_bins = len(edges) + 2
    e = _shares(code(ref), n_bins)
    a = _shares(code(cur), n_bins)
    return float(np.sum((a - e) * np.log(a / e)))


def expected_calibration_error(y: Any, p: Any, bins: int = 10) -> float:
    """ECE with equal-width probability bins: sum_b |B|/n * |mean(y_b) - mean(p_b)|.

    The definition training uses for the holdout's ``test_ece`` (``training.churn_evaluation``), so the two compare.
    """
    from training.churn_evaluation import expected_calibration_error as ece

    return ece(y, p, n_bins=bins)


def calibration_drift(ece: float, reference_ece: float | None, limits: MonitorSettings) -> dict[str, Any]:
    """Band the rise of ECE over the reference (holdout) ECE; an unknown reference or ECE is an alert."""
    known = reference_ece is not None and math.isfinite(reference_ece) and math.isfinite(ece)
    rise = ece - float(reference_ece) if known else math.nan  # type: ignore[arg-type]
    out: dict[str, Any] = {
        "ece": ece,
        "reference_ece": reference_ece,
        "ece_increase": rise,
        "band": band_for(rise, limits.calibration_watch, limits.calibration_alert),
    }
    if not known:
        out["reason"] = "no finite ECE to compare with the holdout ECE"
    return out


@dataclass
class DriftReport:
    """Everything the monitor measured; ``status`` is the worst band of all checks."""

    as_of: str
    reference_as_of: str
    source: str
    churn_model: dict[str, Any]
    n_reference: int
    n_current: int
    features: list[dict[str, Any]]
    score: dict[str, Any]
    btyd: dict[str, Any] | None
    calibration: dict[str, Any] | None
    limits: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    status: Band = "stable"
    mlflow_run_id: str | None = None
    files: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _worst(bands: list[Band]) -> Band:
    return max(bands, key=lambda b: _ORDER[b]) if bands else "stable"


def _feature_settings(bundle: ChurnBundle) -> Any:
    from features.settings import FeatureSettings

    return FeatureSettings.from_recorded(bundle.spec.settings)


def _btyd_check(
    con: duckdb.DuckDBPyConnection, ltv_path: Path, as_of: pd.Timestamp, limits: MonitorSettings | None = None
) -> dict[str, Any]:
    """Purchases predicted by the LTV model since its fit vs purchase days observed (repeat purchases)."""
    import pandas as pd

    from features.btyd_summary import btyd_summary_sql
    from models.customer_value import LtvPredictor

    limits = limits or MonitorSettings()
    ltv = LtvPredictor.from_bundle(ltv_path)
    fitted = pd.Timestamp(ltv.metadata["as_of"])
    if as_of <= fitted:
        return {"skipped": f"the LTV model was fitted on data up to {fitted}; nothing to compare before that"}
    summary = btyd_summary_sql(con, fitted, ltv.time_unit)
    t = ltv.time_unit.from_days((as_of - fitted).total_seconds() / 86400.0)
    predicted = ltv.bgnbd.conditional_expected_purchases(
        t, summary["frequency"].to_numpy(), summary["recency"].to_numpy(), summary["T"].to_numpy()
    )
    con.register("__monitor_ids", pd.DataFrame({"customer_id": summary.index.astype(str)}))
    row = con.execute(
        "SELECT count(*) FROM (SELECT DISTINCT customer_id, CAST(occurred_at AS DATE) FROM transactions "
        "WHERE occurred_at >= $1 AND occurred_at < $2 AND customer_id IN (SELECT customer_id FROM __monitor_ids))",
        [fitted.to_pydatetime(), as_of.to_pydatetime()],
    ).fetchall()
    con.unregister("__monitor_ids")
    actual = float(row[0][0]) if row else 0.0
    total_predicted = float(np.nansum(predicted))
    rel_error = abs(actual - total_predicted) / total_predicted if total_predicted > 0 else math.inf
    return {
        "fitted_as_of": str(fitted),
        "period_days": (as_of - fitted).days,
        "customers": len(summary),
        "predicted_purchases": total_predicted,
        "actual_purchases": actual,
        "actual_over_predicted": actual / total_predicted if total_predicted > 0 else None,
        "relative_error": rel_error,
        "band": band_for(rel_error, limits.btyd_watch, limits.btyd_alert),
    }


def _labelled_scores(
    con: duckdb.DuckDBPyConnection, bundle: ChurnBundle, feature_settings: Any, cutoff: pd.Timestamp
) -> tuple[np.ndarray[Any, np.dtype[np.float64]], np.ndarray[Any, np.dtype[np.float64]]] | str:
    """Churn labels and the model's probabilities at ``cutoff``, or why there are none (labels not mature)."""
    from features.labels import build_labels
    from features.point_in_time import build_features

    try:
        labels = build_labels(con, [cutoff], feature_settings)
    except UserInputError as err:
        return f"labels at {cutoff.date()} are not mature yet: {err}"
    features, _ = build_features(con, [cutoff], feature_settings)
    frame = labels.merge(features, on=["customer_id", "as_of"], how="inner")
    if frame.empty:
        return f"no labelled customers at {cutoff.date()}"
    return frame["churned"].to_numpy(dtype=np.float64), np.asarray(bundle.predict_proba(frame), dtype=np.float64)


def _calibration_check(
    con: duckdb.DuckDBPyConnection,
    bundle: ChurnBundle,
    feature_settings: Any,
    as_of: pd.Timestamp,
    *,
    reference: pd.Timestamp,
    limits: MonitorSettings,
) -> dict[str, Any]:
    """ECE on the latest cutoff whose labels have matured (as_of - horizon) against the holdout ECE."""
    import pandas as pd

    horizon = int(feature_settings.horizon_days)
    cutoff = as_of - pd.Timedelta(days=horizon)
    current = _labelled_scores(con, bundle, feature_settings, cutoff)
    if isinstance(current, str):
        return {"skipped": current}
    y, p = current
    recorded = bundle.metadata.get("metrics", {}).get("test_ece")
    if recorded is not None and math.isfinite(float(recorded)):
        reference_ece: float | None = float(recorded)
        reference_from = "the model's holdout ECE at training (metadata metrics.test_ece)"
    else:
        at_reference = _labelled_scores(con, bundle, feature_settings, reference)
        reference_ece = None if isinstance(at_reference, str) else expected_calibration_error(*at_reference)
        reference_from = (
            f"recomputed at the reference cutoff {reference.date()}"
            if reference_ece is not None
            else f"unavailable: {at_reference}"
        )
    test_cutoff = bundle.metadata.get("cutoffs", {}).get("test")
    out: dict[str, Any] = {
        "cutoff": str(cutoff),
        "customers": int(y.size),
        "mean_predicted": float(np.mean(p)),
        "observed_rate": float(np.mean(y)),
        **calibration_drift(expected_calibration_error(y, p), reference_ece, limits),
        "reference_ece_from": reference_from,
    }
    if test_cutoff is not None and cutoff <= pd.Timestamp(test_cutoff):
        out["note"] = (
            f"the latest matured cutoff ({cutoff.date()}) is not after the model's test window ({test_cutoff}): "
            "the model is compared with data it was evaluated (or trained) on"
        )
    return out


def _reference_cutoff(bundle: ChurnBundle, churn_ref: str, given: pd.Timestamp | str | None) -> pd.Timestamp:
    """The explicit reference cutoff, else the champion's latest training cutoff (its test window)."""
    import pandas as pd

    if given is not None:
        return pd.Timestamp(given)
    recorded = bundle.metadata.get("cutoffs", {}).get("test")
    if recorded is None:
        raise UserInputError(f"churn model {churn_ref} records no training cutoff; pass --reference-as-of")
    return pd.Timestamp(recorded)


def _feature_drift(
    bundle: ChurnBundle, ref: pd.DataFrame, cur: pd.DataFrame, notes: list[str], limits: MonitorSettings
) -> list[dict[str, Any]]:
    """PSI and band of every model feature, worst first."""
    categorical = set(bundle.spec.categorical)
    out: list[dict[str, Any]] = []
    for name in bundle.spec.names:
        if name not in ref.columns or name not in cur.columns:
            notes.append(f"feature {name} is missing from the data; not compared")
            continue
        value = population_stability_index(ref[name], cur[name], categorical=name in categorical)
        out.append({"feature": name, "psi": value, "band": psi_band(value, limits)})
    # worst first; a non-finite PSI (an alert) sorts to the top
    out.sort(key=lambda f: -float(f["psi"]) if math.isfinite(float(f["psi"])) else -math.inf)
    return out


def run_drift_monitor(
    source_url: str,
    as_of: pd.Timestamp | str,
    *,
    settings: TrainingSettings,
    reference_as_of: pd.Timestamp | str | None = None,
    churn_ref: str = "champion",
    ltv_ref: str | None = "champion",
    out_dir: Path | None = None,
    log_to_mlflow: bool = True,
    limits: MonitorSettings | None = None,
) -> DriftReport:
    """Compare the scoring snapshot at ``as_of`` with the champion's training snapshot; see the module docstring."""
    import pandas as pd

    from features.point_in_time import build_features
    from features.source_url import scrub_password
    from features.sources import open_source
    from models.bundle_source import downloaded_bundle
    from models.churn_bundle import ChurnBundle
    from training.registry import CHURN_MODEL, LTV_MODEL

    limits = limits or MonitorSettings()
    cutoff = pd.Timestamp(as_of)
    with downloaded_bundle(churn_ref, default_name=CHURN_MODEL, tracking_uri=settings.tracking_uri) as churn_path:
        bundle = ChurnBundle.load(churn_path)
    reference = _reference_cutoff(bundle, churn_ref, reference_as_of)
    if reference >= cutoff:
        raise UserInputError(f"--reference-as-of {reference.date()} must be before --as-of {cutoff.date()}")
    feature_settings = _feature_settings(bundle)
    notes: list[str] = []
    source = open_source(source_url)
    try:
        con = source.connect()
        ref_feats, _ = build_features(con, [reference], feature_settings)
        cur_feats, _ = build_features(con, [cutoff], feature_settings)
        features = _feature_drift(bundle, ref_feats, cur_feats, notes, limits)
        p_ref = bundle.predict_proba(ref_feats)
        p_cur = bundle.predict_proba(cur_feats)
        score_psi = population_stability_index(p_ref, p_cur)
        score = {
            "psi": score_psi,
            "band": psi_band(score_psi, limits),
            "mean_reference": float(np.mean(p_ref)),
            "mean_current": float(np.mean(p_cur)),
        }
        btyd = None
        if ltv_ref and ltv_ref.lower() != "none":
            if "transactions" in source.raw_tables:
                with downloaded_bundle(ltv_ref, default_name=LTV_MODEL, tracking_uri=settings.tracking_uri) as ltv_path:
                    btyd = _btyd_check(con, ltv_path, cutoff, limits)
            else:
                notes.append("no transactions table: BTYD check skipped")
        calibration = _calibration_check(con, bundle, feature_settings, cutoff, reference=reference, limits=limits)
        con.close()
    finally:
        source.close()
    bands: list[Band] = [f["band"] for f in features] + [score["band"]]
    for check in (btyd, calibration):
        if check and "band" in check:
            bands.append(check["band"])
    report = DriftReport(
        as_of=str(cutoff),
        reference_as_of=str(reference),
        source=scrub_password(source_url),
        churn_model={"ref": churn_ref, "path": str(churn_path), "trained_at": bundle.metadata.get("created_at")},
        n_reference=len(ref_feats),
        n_current=len(cur_feats),
        features=features,
        score=score,
        btyd=btyd,
        calibration=calibration,
        limits=limits.model_dump(),
        notes=notes,
        status=_worst(bands),
    )
    target = out_dir or Path("reports") / "monitor" / cutoff.strftime("%Y-%m-%d")
    report.files = write_report(report, target)
    if log_to_mlflow:
        report.mlflow_run_id = _log_mlflow(report, settings)
    log.info("drift monitor as of %s: %s", cutoff.date(), report.status)
    return report


def _finite_or_none(value: Any) -> Any:
    """``value`` with every NaN/infinite float replaced by None, recursively (strict JSON has neither)."""
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_none(v) for v in value]
    if isinstance(value, float | np.floating) and not math.isfinite(float(value)):
        return None
    if isinstance(value, np.floating):
        return float(value)
    return value


def write_report(report: DriftReport, out_dir: Path) -> dict[str, str]:
    """Write ``drift.json`` and ``drift.html`` into ``out_dir``; returns their paths.

    NaN/infinite statistics are written as JSON ``null`` (strict JSON; the band says "alert").
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / DRIFT_FILE
    html_path = out_dir / "drift.html"
    json_path.write_text(json.dumps(_finite_or_none(report.to_dict()), indent=2, default=str, allow_nan=False))
    limits = report.limits or MonitorSettings().model_dump()
    page = render_page(
        "drift.html.j2",
        title="churnltv drift",
        report=report,
        watch=f"{float(limits['psi_watch']):g}",
        alert=f"{float(limits['psi_alert']):g}",
        blocks=[
            ("Score distribution", report.score),
            ("BTYD: purchases predicted vs actual", report.btyd),
            ("Calibration on matured labels", report.calibration),
        ],
        features=[(f["feature"], f"{f['psi']:.4f}", f["band"]) for f in report.features],
    )
    html_path.write_text(page, encoding="utf-8")
    return {"json": str(json_path), "html": str(html_path)}


def _log_mlflow(report: DriftReport, settings: TrainingSettings) -> str:
    import mlflow

    from training.tracking import experiment_id, use_tracking

    use_tracking(settings)
    exp = experiment_id(MONITOR_EXPERIMENT, settings)
    with mlflow.start_run(experiment_id=exp, run_name=f"drift-{report.as_of[:10]}") as run:
        mlflow.set_tags({"churnltv.kind": "monitor", "status": report.status, "as_of": report.as_of})
        mlflow.log_params({"as_of": report.as_of, "reference_as_of": report.reference_as_of})
        metrics = {"psi_score": report.score["psi"], "alert": float(report.status == "alert")}
        if report.features:
            metrics["psi_max_feature"] = max(f["psi"] for f in report.features)
        for f in report.features:
            metrics[f"psi_{f['feature']}"] = f["psi"]
        if report.btyd and "relative_error" in report.btyd and math.isfinite(report.btyd["relative_error"]):
            metrics["btyd_relative_error"] = report.btyd["relative_error"]
        if report.calibration and "ece" in report.calibration:
            metrics["calibration_ece"] = report.calibration["ece"]
            metrics["calibration_ece_increase"] = report.calibration["ece_increase"]
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(float(v))})
        for path in report.files.values():
            mlflow.log_artifact(path)
        return str(run.info.run_id)


def latest_drift_report(tracking_uri: str) -> dict[str, Any] | None:
    """The ``drift.json`` of the most recent finished monitor run in MLflow (``churnltv-monitor``), or None.

    This is how ``churnltv report`` gets the drift section: every ``churnltv monitor`` run logs its result there
    (unless ``--no-mlflow``; then pass the file with ``churnltv report --drift``). Read-only: the experiment is
    not created when absent.
    """
    import tempfile

    import mlflow
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    experiment = client.get_experiment_by_name(MONITOR_EXPERIMENT)
    if experiment is None:
        return None
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string="attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs:
        return None
    run = runs[0]
    with tempfile.TemporaryDirectory(prefix="churnltv-drift-") as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(
                run_id=run.info.run_id, artifact_path=DRIFT_FILE, dst_path=tmp, tracking_uri=tracking_uri
            )
        except Exception as err:  # MlflowException, OSError: artifact store moved, run without the file
            log.warning("monitor run %s has no readable %s: %s", run.info.run_id, DRIFT_FILE, err)
            return None
        data: dict[str, Any] = json.loads(Path(local).read_text(encoding="utf-8"))
    data["mlflow_run_id"] = run.info.run_id
    return data
