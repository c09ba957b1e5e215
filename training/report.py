"""The product report: one self-contained HTML page a product manager reads (``churnltv report``).

Sections, each an HTML ``<section>`` with a stable id (tests and links find them by it):

=====================  ==========================================================================================
``data-quality``       rows per table, absent optional tables, contract problems (the ``churnltv validate`` JSON)
``churn-model``        the churn champion's holdout metrics vs baselines (and the oracle when logged) with ROC,
                       lift, calibration and feature-importance plots (logged with its MLflow run)
``btyd``               BG/NBD predicted vs actual repeat purchases per frequency bucket (the LTV champion's
                       holdout) and the P(alive) heatmap by frequency and recency from its parameters
``ltv-distribution``   predicted LTV of the scored base with its intervals
``risk-tiers``         customers per risk tier, the action of each tier, which triggers fired
``health-retention``   the article's claim "health >= 85 renews at 92%" checked on this data at 30 and 90 days
                       (policy settings healthy_score, healthy_renewal_rate, retention_horizons_days)
``lifecycle``          stage funnels in both vocabularies (B2C growth view and B2B relationship view)
``nps``                NPS trend by month (overall and per segment), by segment and by acquisition channel
``acquisition``        CAC, mean predicted LTV and LTV/CAC per channel with the > 3 rule and the 60/30/10 split
``value-at-risk``      the top customers by P(churn) x predicted LTV: the CRM's retention list
``b2b-accounts``       users rolled up to their B2B account: tier counts, health distribution and the top accounts
                       by value at risk (models.account_rollup.account_policy on features rebuilt at the run's as_of)
``referral``           promoters with high predicted LTV to ask for referrals, and the referral events accepted or
                       rejected (duplicate IP/device, self-referral, already referred) when the data has them
``drift``              the latest ``churnltv monitor`` result: PSI per feature and of the score, BTYD check,
                       calibration vs the holdout ECE (the run's drift.json from MLflow, or ``--drift FILE``)
=====================  ==========================================================================================

A missing input (no transactions table, no NPS table, no score run, no registered model) never fails the report:
the section says what is missing and how to produce it. An unexpected error in one section is shown in that
section (class ``section-error``) and logged, so one broken input does not hide the other sections.

Layering: this module is in ``training`` (it reads the MLflow registry and runs), so it must not import
``service``. The scored frame and the score run record are passed in by the composition root
(``churnltv/report_command.py``), which reads them from the score store.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.errors import UserInputError
from training import report_plots

if TYPE_CHECKING:
    import duckdb

    from models.policy_settings import PolicySettings
    from training.registry import ModelVersionInfo

logger = logging.getLogger(__name__)

MIN_GROUP_FOR_VERDICT = 30  # labelled customers a group needs before the report calls a difference
TOP_VALUE_AT_RISK = 20
TIER_ORDER = ("none", "low", "medium", "high")
CHURN_PLOTS = (
    ("roc.png", "ROC curve of the model and the baselines"),
    ("lift.png", "Cumulative lift and capture"),
    ("calibration.png", "Calibration curve"),
    ("feature_importance.png", "Feature importance (total gain)"),
)
CHURN_METRICS = (
    ("roc_auc", "ROC-AUC", "chance of ranking a churner above a non-churner (0.5 = random)"),
    ("pr_auc", "PR-AUC", "average precision over the ranking"),
    ("lift_at_10pct", "lift, top 10%", "churn rate in the top 10% / overall churn rate"),
    ("capture_at_10pct", "capture, top 10%", "share of all churners found in the top 10%"),
    ("capture_at_20pct", "capture, top 20%", "share of all churners found in the top 20%"),
    ("brier", "Brier score", "mean squared error of the probabilities (lower is better)"),
    ("ece", "ECE", "expected calibration error (lower is better)"),
)

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2430;background:#f6f7f9}
header{background:#1d3557;color:#fff;padding:1.4rem 2rem}header h1{margin:0 0 .3rem 0}header p{margin:.15rem 0}
nav{padding:.6rem 2rem;background:#e9edf3;font-size:.9rem}nav a{margin-right:1rem;color:#1d3557}
main{max-width:76rem;margin:0 auto;padding:1rem 2rem 3rem}
section{background:#fff;border:1px solid #dde2ea;border-radius:6px;padding:1rem 1.4rem;margin:1.2rem 0}
h2{margin-top:.2rem;color:#1d3557}h3{margin-bottom:.3rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}
td,th{border:1px solid #d5dae2;padding:.25rem .55rem;text-align:right;vertical-align:top}
th{background:#eef1f5}td:first-child,th:first-child{text-align:left}td.text,th.text{text-align:left}
img{max-width:100%;margin:.4rem 0;border:1px solid #eee}
.plots{display:flex;flex-wrap:wrap;gap:.6rem}.plots img{max-width:49%}
.missing{background:#fff7e0;border-left:4px solid #e0a800;padding:.5rem .8rem}
.section-error{background:#fdecea;border-left:4px solid #c0392b;padding:.5rem .8rem}
.good{color:#1e7b34;font-weight:600}.bad{color:#b02a1d;font-weight:600}.note{color:#5b6575;font-size:.88rem}
.kpi{display:inline-block;margin:.3rem 1.4rem .3rem 0}.kpi b{display:block;font-size:1.35rem}
"""


# ---------------------------------------------------------------------------------------------- small HTML helpers
def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def fmt(value: Any, digits: int = 3) -> str:  # noqa: PLR0911 - one return per kind of value
    """Numbers for people: thousands separators, ``n/a`` for missing, fixed decimals for floats."""
    if value is None or value is pd.NA:
        return "n/a"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        v = float(value)
        if np.isnan(v):
            return "n/a"
        if np.isinf(v):
            return "infinite" if v > 0 else "-infinite"
        return f"{v:,.{digits}f}"
    return esc(value)


def pct(value: Any, digits: int = 1) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if not np.isfinite(v) else f"{100 * v:.{digits}f}%"


def missing(text: str) -> str:
    """The note a section shows instead of its content when an input is missing."""
    return f'<p class="missing"><b>Not available:</b> {text}</p>'


def image(uri: str, alt: str) -> str:
    return f'<img alt="{esc(alt)}" src="{uri}">'


def html_table(
    frame: pd.DataFrame,
    *,
    digits: Mapping[str, int] | None = None,
    percent: Sequence[str] = (),
    text: Sequence[str] = (),
) -> str:
    """A plain HTML table: every cell escaped, numbers formatted with :func:`fmt` (percent columns as %)."""
    digits = digits or {}
    head = "".join(f'<th class="text">{esc(c)}</th>' if c in text else f"<th>{esc(c)}</th>" for c in frame.columns)
    rows = []
    for record in frame.itertuples(index=False, name=None):
        cells = []
        for column, value in zip(frame.columns, record, strict=True):
            if column in percent:
                cells.append(f"<td>{pct(value)}</td>")
            elif column in text or isinstance(value, str):
                cells.append(f'<td class="text">{esc("" if value is None else value)}</td>')
            else:
                cells.append(f"<td>{fmt(value, digits.get(column, 3))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    """``frame[column]`` as floats (NaN where missing or not a number); all NaN when the column is absent."""
    if column not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype=np.float64)
    return pd.Series(pd.to_numeric(frame[column], errors="coerce"), index=frame.index, dtype=np.float64)


@dataclass(frozen=True)
class Section:
    """One report section: ``id`` is the HTML id (stable, used by tests and links)."""

    id: str
    title: str
    body: str


@dataclass
class ReportInputs:
    """Everything the sections read; each section checks for what it needs."""

    con: duckdb.DuckDBPyConnection
    scores: pd.DataFrame | None
    score_run: dict[str, Any] | None
    data_quality: dict[str, Any] | None
    tracking_uri: str
    policy: PolicySettings
    tables: set[str] = field(default_factory=set)
    drift: Mapping[str, Any] | None = None
    drift_from: str = ""

    def table(self, name: str, columns: str) -> pd.DataFrame:
        frame: pd.DataFrame = self.con.execute(f"SELECT {columns} FROM {name}").df()
        return frame

    @property
    def has_scores(self) -> bool:
        return self.scores is not None and len(self.scores) > 0


NO_SCORES = (
    "no score run was given or the score store has no complete run yet (run <code>churnltv score</code> and pass "
    "its target with <code>--scores</code>)"
)


# ------------------------------------------------------------------------------------------------- MLflow access
def resolve_tracking_uri(tracking_uri: str | None) -> str:
    """The registry to read: the argument, else ``CHURNLTV_TRACKING_URI``, else the training default."""
    from models.bundle_source import absolute_tracking_uri
    from training.settings import TrainingSettings

    uri = tracking_uri or os.environ.get("CHURNLTV_TRACKING_URI") or TrainingSettings().tracking_uri
    return absolute_tracking_uri(uri)


@contextmanager
def _tracking(uri: str) -> Iterator[None]:
    """Point MLflow at ``uri`` for the block and restore the previous URIs (the report is read-only)."""
    import mlflow

    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])


def registry_is_empty(uri: str) -> bool:
    """True when ``uri`` is a sqlite store whose file does not exist: nothing was ever registered there.

    Checked before asking MLflow, which would create the database (and run its migrations, ~10 s) just to
    answer "no such model"; the report only reads.
    """
    prefix = "sqlite:///"
    return uri.startswith(prefix) and not Path(uri[len(prefix) :]).is_file()


def _model_version(name: str) -> tuple[ModelVersionInfo | None, str]:
    """The champion of ``name`` (or, with a note, the challenger when nothing was promoted yet)."""
    from training import registry

    info = registry.get_version(name, registry.CHAMPION)
    if info is not None:
        return info, f"{esc(name)} version {esc(info.version)} (champion)"
    info = registry.get_version(name, registry.CHALLENGER)
    if info is not None:
        return info, (
            f"{esc(name)} version {esc(info.version)} (challenger: no version has been promoted to champion yet, "
            "run <code>churnltv promote</code>)"
        )
    return None, ""


def _run_artifacts(run_id: str, path: str, dst: Path) -> Path | None:
    """Download one artifact (file or folder) of a run; None when the run or the artifact is gone."""
    import mlflow

    try:
        local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path, dst_path=str(dst))
    except Exception as err:  # MlflowException, OSError: the artifact store moved or the run was deleted
        logger.info("artifact %s of run %s not available: %s", path, run_id, err)
        return None
    return Path(local)


# ------------------------------------------------------------------------------------------------------ sections
def data_quality_section(inputs: ReportInputs) -> str:
    dq = inputs.data_quality
    if dq is None:
        return missing(
            "no data-quality summary was given. Write one with <code>churnltv validate SOURCE --report "
            "reports/data_quality.json</code> and pass it with <code>--data-quality</code>."
        )
    parts = [f"<p>Source <code>{esc(dq.get('source'))}</code>, extracted at {esc(dq.get('extracted_at'))}.</p>"]
    ok = bool(dq.get("ok"))
    rejected = int(dq.get("rows_rejected") or 0)
    parts.append(
        '<p class="good">The data meets the contract: no problems found.</p>'
        if ok
        else f'<p class="bad">{rejected:,} row(s) break the contract; the models were not trained on them.</p>'
    )
    tables = pd.DataFrame(dq.get("tables") or [])
    if len(tables):
        keep = [c for c in ("table", "rows", "customers", "first", "last", "source") if c in tables.columns]
        for column in ("rows", "customers"):
            if column in tables.columns:
                tables[column] = tables[column].astype("Int64")  # counts; null where not per-customer
        parts.append(html_table(tables[keep], text=("first", "last", "source", "table")))
    absent = dq.get("absent_tables") or []
    if absent:
        parts.append(
            "<p>Optional tables absent: "
            + ", ".join(f"<code>{esc(t)}</code>" for t in absent)
            + ". Sections that need them say so below.</p>"
        )
    problems = dq.get("problems") or []
    if problems:
        rows = pd.DataFrame(
            [
                {
                    "table": p.get("table"),
                    "column": p.get("column") or "",
                    "problem": p.get("problem"),
                    "rows": int(p.get("count") or 0),
                    "example": (p.get("examples") or [""])[0],
                }
                for p in problems
            ]
        )
        parts.append("<h3>Problems</h3>" + html_table(rows, text=("table", "column", "problem", "example")))
    return "".join(parts)


def _churn_metric_rows(metrics: Mapping[str, float]) -> pd.DataFrame:
    rows = []
    for key, label, meaning in CHURN_METRICS:
        value = metrics.get(f"test_{key}")
        if value is None:
            continue
        low, high = metrics.get(f"test_{key}_ci_low"), metrics.get(f"test_{key}_ci_high")
        interval = f"{fmt(low)} .. {fmt(high)}" if low is not None and high is not None else "n/a"
        rows.append({"metric": label, "value": value, "95% interval": interval, "what it means": meaning})
    return pd.DataFrame(rows)


def _baseline_rows(metrics: Mapping[str, float]) -> pd.DataFrame:
    rows = []
    for key in sorted(metrics):
        if not (key.startswith("baseline_") and key.endswith("_test_roc_auc")):
            continue
        name = key.removeprefix("baseline_").removesuffix("_test_roc_auc")
        low = metrics.get(f"baseline_{name}_auc_diff_ci_low")
        high = metrics.get(f"baseline_{name}_auc_diff_ci_high")
        better = low is not None and low > 0
        rows.append(
            {
                "scorer": name,
                "ROC-AUC": metrics[key],
                "model minus scorer": metrics.get(f"baseline_{name}_auc_diff"),
                "paired 95% interval": f"{fmt(low)} .. {fmt(high)}",
                "model clearly better": "yes" if better else "no",
            }
        )
    return pd.DataFrame(rows)


def _recomputed_churn_plots(info: ModelVersionInfo, workdir: Path) -> list[tuple[str, str]]:
    """Re-score the champion on its own test window and draw the plots with ``training.churn_report``.

    Used when the run's logged report is gone (e.g. an artifact store that moved). The bundle records its
    source, cutoff and feature settings, so the test window can be rebuilt exactly.
    """
    from training.churn_evaluation import evaluate
    from training.churn_holdout import HoldoutComparison
    from training.churn_promotion import holdout_of, load_version_bundle
    from training.churn_report import _plots
    from training.churn_split import LABEL

    bundle = load_version_bundle(info)
    frame, _ = holdout_of(bundle)
    y = frame[LABEL].to_numpy(np.float64)
    p = bundle.predict_proba(frame)
    evaluation = evaluate(y, p, n_boot=0)
    comparison = HoldoutComparison(evaluation, {}, None, {}, {})
    gains = bundle.booster.feature_importance(importance_type="gain")
    importance = {name: float(v) for name, v in zip(bundle.names, gains, strict=True)}
    paths = _plots(workdir, comparison, y, p, importance)
    labels = dict(CHURN_PLOTS)
    return [(report_plots.png_file_to_data_uri(path), labels.get(path.name, path.stem)) for path in paths]


def churn_model_section(inputs: ReportInputs) -> str:
    from training.registry import CHURN_MODEL

    no_model = missing(
        f"no churn model is registered in {esc(inputs.tracking_uri)} (run <code>churnltv train</code> "
        "then <code>churnltv promote</code>)."
    )
    if registry_is_empty(inputs.tracking_uri):
        return no_model
    with _tracking(inputs.tracking_uri):
        info, which = _model_version(CHURN_MODEL)
        if info is None:
            return no_model
        metrics = info.metrics
        parts = [f"<p>Model: {which}. Test window cutoff {esc(info.tags.get('test_cutoff', 'n/a'))}"]
        rows, rate = metrics.get("test_rows"), metrics.get("test_churn_rate")
        if rows is not None:
            parts.append(f", {int(rows):,} customers, churn rate {pct(rate)}")
        parts.append(
            ". The test window is the latest period the model never saw; baselines are scored on the same rows.</p>"
        )
        table = _churn_metric_rows(metrics)
        parts.append(
            html_table(table, text=("95% interval", "what it means"))
            if len(table)
            else missing("the model's run has no logged holdout metrics.")
        )
        baselines = _baseline_rows(metrics)
        if "oracle_test_roc_auc" in metrics:
            oracle = pd.DataFrame(
                [
                    {
                        "scorer": "oracle (generator's true hazard)",
                        "ROC-AUC": metrics["oracle_test_roc_auc"],
                        "model minus scorer": metrics.get("test_roc_auc", np.nan) - metrics["oracle_test_roc_auc"],
                        "paired 95% interval": "n/a",
                        "model clearly better": "no",
                    }
                ]
            )
            baselines = pd.concat([baselines, oracle], ignore_index=True)
        parts.append("<h3>Against baselines</h3>")
        parts.append(
            html_table(baselines, text=("paired 95% interval", "model clearly better"))
            if len(baselines)
            else missing("no baseline metrics were logged with the run.")
        )
        if "oracle_test_roc_auc" in metrics:
            parts.append(
                f"<p class=note>The oracle knows each generated customer's true churn hazard: the best any model "
                f"can do. The model reaches {pct(metrics.get('oracle_ratio_test_roc_auc'))} of its ROC-AUC.</p>"
            )
        with tempfile.TemporaryDirectory(prefix="churnltv-report-") as tmp:
            plots: list[tuple[str, str]] = []
            folder = _run_artifacts(info.run_id, "report", Path(tmp)) if info.run_id else None
            if folder is not None:
                plots = [
                    (report_plots.png_file_to_data_uri(folder / name), label)
                    for name, label in CHURN_PLOTS
                    if (folder / name).is_file()
                ]
            if not plots:
                logger.info("churn plots not in the run's artifacts; recomputing them from the bundle")
                plots = _recomputed_churn_plots(info, Path(tmp))
        parts.append('<div class="plots">' + "".join(image(uri, alt) for uri, alt in plots) + "</div>")
    return "".join(parts)


def _purchase_frequencies(con: duckdb.DuckDBPyConnection) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Repeat purchase days per buyer (BG/NBD's x), to size the heatmap's frequency axis to the data."""
    frame = con.execute(
        "SELECT count(DISTINCT CAST(occurred_at AS DATE)) - 1 AS x FROM transactions GROUP BY customer_id"
    ).df()
    return frame["x"].to_numpy(np.float64)


def btyd_section(inputs: ReportInputs) -> str:
    from models.bundle_source import resolve_bundle
    from models.ltv_bundle import load_ltv_bundle
    from training.registry import LTV_MODEL

    if "transactions" not in inputs.tables:
        return missing(
            "the data has no <code>transactions</code> table, so there is no purchase history for BG/NBD "
            "(the LTV model)."
        )
    no_model = missing(
        f"no LTV model is registered in {esc(inputs.tracking_uri)} (run <code>churnltv ltv train</code> "
        "and promote it to champion)."
    )
    if registry_is_empty(inputs.tracking_uri):
        return no_model
    with _tracking(inputs.tracking_uri), tempfile.TemporaryDirectory(prefix="churnltv-report-") as tmp:
        info, which = _model_version(LTV_MODEL)
        if info is None:
            return no_model
        parts = [f"<p>Model: {which}.</p>", "<h3>Predicted vs actual repeat purchases (holdout)</h3>"]
        buckets_file = _run_artifacts(info.run_id, "holdout_buckets.json", Path(tmp)) if info.run_id else None
        if buckets_file is not None and buckets_file.is_file():
            buckets = pd.DataFrame(json.loads(buckets_file.read_text()))
            parts.append(
                "<p>The model was fitted on purchases before the holdout, then asked how many purchase days each "
                "customer would have in the holdout. Customers are grouped by their repeat purchases before it "
                "(Fader, Hardie &amp; Lee 2005, fig. 4). The naive baseline extrapolates each customer's own "
                "historical rate.</p>"
            )
            parts.append(
                image(
                    report_plots.grouped_bars(
                        [str(b) for b in buckets["bucket"]],
                        {
                            "actual": buckets["actual"],
                            "BG/NBD": buckets["predicted"],
                            "historical rate": buckets["baseline"],
                        },
                        title="Holdout purchases per calibration-frequency bucket",
                        xlabel="repeat purchases before the holdout",
                        ylabel="mean purchases in the holdout",
                    ),
                    "BTYD predicted vs actual purchases per frequency bucket",
                )
            )
            parts.append(html_table(buckets.rename(columns={"bucket": "repeat purchases"}), text=("repeat purchases",)))
            m = info.metrics
            if "ltv_holdout_mae" in m:
                parts.append(
                    f"<p>Per-customer mean absolute error: BG/NBD {fmt(m.get('ltv_holdout_mae'))} vs naive "
                    f"{fmt(m.get('ltv_baseline_mae'))} purchases; total purchases predicted off by "
                    f"{pct(m.get('ltv_holdout_total_rel_error'))}.</p>"
                )
        else:
            parts.append(missing("the model's run has no <code>holdout_buckets.json</code> artifact."))

        bundle_dir = resolve_bundle(
            f"models:/{LTV_MODEL}/{info.version}",
            default_name=LTV_MODEL,
            tracking_uri=inputs.tracking_uri,
            dst_dir=Path(tmp) / "bundle",
        )
        bgnbd, _, _, metadata = load_ltv_bundle(bundle_dir)
    unit = bgnbd.time_unit
    history_days = float((metadata.get("diagnostics") or {}).get("history_days") or 365.0)
    T = unit.from_days(min(history_days, 365.0))
    x = _purchase_frequencies(inputs.con)
    max_x = int(np.clip(np.nanquantile(x, 0.99) if x.size else 10, 5, 40))
    freqs = np.arange(1, max_x + 1, dtype=np.float64)
    recencies = np.linspace(0.0, T, 60)
    grid_x, grid_r = np.meshgrid(freqs, recencies, indexing="ij")
    alive = bgnbd.p_alive(grid_x.ravel(), grid_r.ravel(), np.full(grid_x.size, T)).reshape(grid_x.shape)
    parts.append("<h3>P(alive) by frequency and recency</h3>")
    parts.append(
        f"<p>Probability that a customer is still active, for a customer first seen {T:.0f} {unit.name.lower()}s "
        "ago, by repeat purchases (frequency) and the age at the last purchase (recency). Green: recent buyers; "
        "red: frequent buyers who stopped, judged against their own rhythm (DOMAIN.md section 9).</p>"
    )
    parts.append(
        image(
            report_plots.heatmap(
                alive,
                x_values=[float(recencies[0]), float(recencies[-1])],
                y_values=[float(freqs[0]), float(freqs[-1])],
                title=f"P(alive), T = {T:.0f} {unit.name.lower()}s",
                xlabel=f"recency: age at the last purchase ({unit.name.lower()}s)",
                ylabel="frequency: repeat purchases",
                colorbar_label="P(alive)",
            ),
            "P(alive) heatmap by frequency and recency",
        )
    )
    return "".join(parts)


def ltv_distribution_section(inputs: ReportInputs) -> str:
    if not inputs.has_scores:
        return missing(NO_SCORES)
    scores = inputs.scores
    assert scores is not None
    ltv = numeric(scores, "predicted_ltv")
    known = ltv.notna()
    if not known.any():
        why = (
            scores["ltv_method"].dropna().iloc[0]
            if "ltv_method" in scores and scores["ltv_method"].notna().any()
            else ""
        )
        return missing(f"the score run has no predicted LTV ({esc(why) or 'no LTV model was loaded'}).")
    lower = numeric(scores, "ltv_lower")
    upper = numeric(scores, "ltv_upper")
    horizon = numeric(scores, "horizon_days").dropna()
    values = ltv[known]
    width = (upper - lower)[known]
    stats = pd.DataFrame(
        [
            {"statistic": "customers with a prediction", "value": int(known.sum())},
            {"statistic": "customers without one", "value": int((~known).sum())},
            {"statistic": "total predicted LTV", "value": float(values.sum())},
            {"statistic": "mean", "value": float(values.mean())},
            {"statistic": "median", "value": float(values.median())},
            {"statistic": "90th percentile", "value": float(values.quantile(0.9))},
            {"statistic": "99th percentile", "value": float(values.quantile(0.99))},
            {"statistic": "median interval width", "value": float(width.median())},
        ],
        dtype=object,  # keeps the counts integers next to the amounts
    )
    top_share = float(values.nlargest(max(1, len(values) // 10)).sum() / values.sum()) if values.sum() > 0 else np.nan
    methods = scores["ltv_method"].value_counts().to_dict() if "ltv_method" in scores else {}
    months = (inputs.score_run or {}).get("ltv_horizon_months")
    over = f"over the next {int(months)} months" if months else "over the LTV model's horizon"
    days = fmt(horizon.iloc[0], 0) if len(horizon) else "n/a"
    parts = [
        f"<p>Predicted value per customer {over}, discounted (base currency; <code>CHURNLTV_LTV_HORIZON_MONTHS</code>"
        f"), with the model's interval (parameter uncertainty; subscribers' contractual CLV has none). P(alive) and "
        f"expected purchases are over the next {days} days. The top 10% of customers hold {pct(top_share)} of the "
        "predicted value.</p>",
        image(
            report_plots.distribution_with_intervals(ltv, lower, upper, unit="base currency"),
            "LTV distribution with intervals",
        ),
        html_table(stats, digits={"value": 2}),
    ]
    if methods:
        parts.append(
            "<p class=note>Methods: " + ", ".join(f"{esc(k)} ({int(v):,})" for k, v in methods.items()) + "</p>"
        )
    return "".join(parts)


def risk_tiers_section(inputs: ReportInputs) -> str:
    if not inputs.has_scores:
        return missing(NO_SCORES)
    scores = inputs.scores
    assert scores is not None
    counts = scores["risk_tier"].value_counts()
    order = [t for t in TIER_ORDER if t in counts.index] + [t for t in counts.index if t not in TIER_ORDER]
    first = scores.drop_duplicates("risk_tier").set_index("risk_tier")

    def label(tier: str, column: str) -> str:
        return str(first.loc[tier, column]) if column in first.columns else ""

    table = pd.DataFrame(
        {
            "tier": order,
            "customers": [int(counts[t]) for t in order],
            "share": [counts[t] / counts.sum() for t in order],
            "action": [label(t, "action_key") for t in order],
            "what to do": [label(t, "action_text") for t in order],
        }
    )
    fired: dict[str, int] = {}
    for triggers in scores.get("triggers", pd.Series(dtype=object)):
        for trigger in triggers if isinstance(triggers, list) else []:
            name = str(trigger.get("trigger")) if isinstance(trigger, dict) else str(trigger)
            fired[name] = fired.get(name, 0) + 1
    parts = [
        "<p>Each customer's tier is the highest of the rule triggers (behaviour) and the calibrated churn "
        "probability band; each tier has one recommended action.</p>",
        image(
            report_plots.horizontal_bars(
                order, table["customers"], title="Customers per risk tier", xlabel="customers"
            ),
            "customers per risk tier",
        ),
        html_table(table, percent=("share",), text=("tier", "action", "what to do")),
    ]
    if fired:
        ranked = sorted(fired.items(), key=lambda kv: (-kv[1], kv[0]))
        trig = pd.DataFrame({"trigger": [k for k, _ in ranked], "customers": [v for _, v in ranked]})
        parts.append("<h3>Triggers that fired</h3>" + html_table(trig, text=("trigger",)))
    return "".join(parts)


def health_retention_frame(
    con: duckdb.DuckDBPyConnection, policy: PolicySettings, horizons: Sequence[int] | None = None
) -> tuple[pd.DataFrame, pd.Timestamp, int]:
    """Health at a past cutoff whose longest-horizon outcome is known, and retention per group and horizon.

    ``horizons`` default: the setting ``retention_horizons_days`` (30 and 90 days, DOMAIN.md section 4).

    The cutoff is the data's last day minus the longest horizon. The population is the labelled one
    (``features.labels``: customers active in the lookback window before the cutoff); "retained within h days"
    means not churned by the label definition for horizon h. Returns (retention table, cutoff, population).
    """
    from features.labels import build_labels, data_time_range
    from features.point_in_time import build_features
    from features.settings import load_feature_settings
    from models.health_score import compute_health_score, retention_by_health

    horizons = tuple(horizons or policy.retention_horizons_days)
    base = load_feature_settings()
    _, end = data_time_range(con)
    longest = max(horizons)
    cutoff = (end.floor("D") - pd.Timedelta(days=longest)).as_unit("us")
    labels = {h: build_labels(con, [cutoff], base.model_copy(update={"horizon_days": h})) for h in horizons}
    ids = labels[longest]["customer_id"].astype(str)
    if ids.empty:
        raise UserInputError(f"no customer was active in the {base.activity_lookback_days} days before {cutoff.date()}")
    features, _ = build_features(con, [cutoff], base, customer_ids=ids.tolist())
    features = features.set_index(features["customer_id"].astype(str)).reindex(ids)
    health = compute_health_score(features.reset_index(drop=True), policy)
    churned = {
        h: labels[h].set_index(labels[h]["customer_id"].astype(str))["churned"].reindex(ids).to_numpy(np.float64)
        for h in horizons
    }
    table = retention_by_health(health.score, churned, healthy_score=policy.healthy_score)
    return table, cutoff, len(ids)


def health_retention_section(inputs: ReportInputs) -> str:
    if "events" not in inputs.tables:
        return missing("the data has no <code>events</code> table: health and retention need product usage.")
    policy = inputs.policy
    horizons = policy.retention_horizons_days
    try:
        table, cutoff, population = health_retention_frame(inputs.con, policy)
    except UserInputError as err:
        return missing(f"the data is too short to observe {max(horizons)}-day retention: {esc(err)}")
    healthy = f"score >= {policy.healthy_score:g}"
    claim = pct(policy.healthy_renewal_rate, 0)
    spans = " and ".join(str(h) for h in horizons)
    parts = [
        f"<p>The article's claim: customers with a health score of {policy.healthy_score:g} or more renew at "
        f"{claim}. Checked here on {population:,} customers active before {cutoff.date()} (a past cutoff whose "
        f"{max(horizons)}-day outcome is known): their health at that date vs whether they were retained "
        f"over the next {spans} days, by the churn label's definition (non-contractual: any activity in the "
        f"window; contractual: a subscription still active at its end).</p>"
    ]
    verdicts = []
    for horizon in horizons:
        rows = table[table["horizon_days"] == horizon]
        is_healthy = (rows["group"] == healthy).to_numpy()
        rates = rows["retention_rate"].to_numpy(np.float64)
        labelled = rows["labelled"].to_numpy(np.int64)
        good = float(rates[is_healthy][0]) if is_healthy.any() else np.nan
        rest_rate = float(rates[~is_healthy][0]) if (~is_healthy).any() else np.nan
        n_good = int(labelled[is_healthy][0]) if is_healthy.any() else 0
        n_rest = int(labelled[~is_healthy][0]) if (~is_healthy).any() else 0
        counts = f"{n_good:,} healthy vs {n_rest:,} others"
        if min(n_good, n_rest) < MIN_GROUP_FOR_VERDICT:
            verdicts.append(
                f"<li>{horizon} days: {pct(good)} of healthy customers retained vs {pct(rest_rate)} of the rest "
                f"({counts}: <span class='bad'>too few customers in a group to judge the claim</span>, at least "
                f"{MIN_GROUP_FOR_VERDICT} each are needed)</li>"
            )
            continue
        holds = bool(good > rest_rate)
        verdict = "healthy customers retain better" if holds else "no advantage"
        article = "reached" if good >= policy.healthy_renewal_rate else "not reached"
        verdicts.append(
            f"<li>{horizon} days: {pct(good)} of healthy customers retained vs {pct(rest_rate)} of the rest "
            f"({counts}; <span class='{'good' if holds else 'bad'}'>{verdict}</span>; the article's {claim}: "
            f"{article})</li>"
        )
    parts.append("<ul>" + "".join(verdicts) + "</ul>")
    groups = list(dict.fromkeys(table["group"]))
    parts.append(
        image(
            report_plots.grouped_bars(
                [f"{h} days" for h in horizons],
                {g: table[table["group"] == g]["retention_rate"].to_numpy() for g in groups},
                title="Retention by health score group",
                xlabel="horizon after the cutoff",
                ylabel="retained",
                percent=True,
            ),
            f"retention by health score at {spans} days",
        )
    )
    parts.append(html_table(table, percent=("retention_rate",), text=("group",)))
    if inputs.has_scores and inputs.scores is not None and "health_score" in inputs.scores:
        now = numeric(inputs.scores, "health_score")
        parts.append(
            f"<p>Today: {pct((now >= inputs.policy.healthy_score).mean())} of the scored base has a health score of "
            f"{inputs.policy.healthy_score:g} or more (median {fmt(now.median(), 1)}).</p>"
        )
    return "".join(parts)


def lifecycle_section(inputs: ReportInputs) -> str:
    from models.lifecycle_stage import B2B_LABELS, B2C_LABELS

    if not inputs.has_scores:
        return missing(NO_SCORES)
    scores = inputs.scores
    assert scores is not None
    b2c = scores["stage_b2c"].value_counts().reindex(B2C_LABELS, fill_value=0)
    b2b = scores["stage_b2b"].value_counts().reindex(B2B_LABELS, fill_value=0)
    table = pd.DataFrame(
        {
            "B2C stage (growth view)": list(B2C_LABELS),
            "B2C customers": b2c.to_numpy(),
            "B2B stage (relationship view)": list(B2B_LABELS),
            "B2B customers": b2b.to_numpy(),
        }
    )
    return "".join(
        [
            "<p>Every customer in both vocabularies of the source articles; <i>reactivated</i> = churned and came "
            "back recently. The growth funnel has no churn stage (a dormant customer shows the furthest step still "
            "met); the relationship view shows dormant customers as <i>churn</i>.</p>",
            image(
                report_plots.funnel_pair(
                    ("B2C growth funnel", list(B2C_LABELS), b2c.to_numpy()),
                    ("B2B relationship stages", list(B2B_LABELS), b2b.to_numpy()),
                    xlabel="customers",
                ),
                "lifecycle stage funnel",
            ),
            html_table(table, text=("B2C stage (growth view)", "B2B stage (relationship view)")),
        ]
    )


def nps_section(inputs: ReportInputs) -> str:
    from models.nps import nps_breakdown

    if "nps_responses" not in inputs.tables:
        return missing("the data has no <code>nps_responses</code> table (NPS survey answers).")
    responses = inputs.table("nps_responses", "CAST(customer_id AS VARCHAR) AS customer_id, answered_at, score")
    if responses.empty:
        return missing("the <code>nps_responses</code> table is empty.")
    customers = inputs.table("customers", "CAST(customer_id AS VARCHAR) AS customer_id, segment, acquisition_channel")
    breakdown = nps_breakdown(responses, customers, inputs.policy)
    overall = breakdown[breakdown["dimension"] == "overall"].iloc[0]
    months = breakdown[breakdown["dimension"] == "month"].sort_values("group")
    series = {"all customers": months["nps"].to_numpy()}
    segment_of = customers.set_index("customer_id")["segment"]
    answer_segment = segment_of.reindex(responses["customer_id"]).to_numpy()
    for segment in sorted(pd.unique(answer_segment[pd.notna(answer_segment)])):
        part = nps_breakdown(responses[answer_segment == segment], customers, inputs.policy)
        by_month = part[part["dimension"] == "month"].set_index("group")["nps"]
        series[str(segment)] = by_month.reindex(months["group"]).to_numpy()
    cols = ["group", "responses", "pct_promoters", "pct_detractors", "nps"]
    pretty = {"pct_promoters": "% promoters", "pct_detractors": "% detractors", "nps": "NPS"}
    parts = [
        f"<p>NPS = % promoters ({inputs.policy.nps_promoter_min}-10) - % detractors "
        f"(0-{inputs.policy.nps_detractor_max}) over every answer. Overall: <b>{fmt(overall['nps'], 1)}</b> "
        f"on {int(overall['responses']):,} answers.</p>",
        image(
            report_plots.lines(
                months["group"].tolist(),
                series,
                title="NPS by month",
                xlabel="month answered",
                ylabel="NPS",
                secondary=("answers", months["responses"].to_numpy()),
            ),
            "NPS trend by month",
        ),
    ]
    for dimension, label in (("segment", "By segment"), ("channel", "By acquisition channel")):
        part = breakdown[breakdown["dimension"] == dimension][cols].rename(columns={**pretty, "group": dimension})
        parts.append(f"<h3>{label}</h3>" + html_table(part, digits={v: 1 for v in pretty.values()}, text=(dimension,)))
    return "".join(parts)


def acquisition_section(inputs: ReportInputs) -> str:
    from models.acquisition_economics import budget_split, channel_economics

    if "acquisition_spend" not in inputs.tables:
        return missing("the data has no <code>acquisition_spend</code> table (marketing spend per channel and month).")
    spend = inputs.table("acquisition_spend", "channel, month, spend")
    if spend.empty:
        return missing("the <code>acquisition_spend</code> table is empty.")
    customers = inputs.table("customers", "CAST(customer_id AS VARCHAR) AS customer_id, signup_at, acquisition_channel")
    ltv: pd.Series | None = None
    note = ""
    if inputs.has_scores and inputs.scores is not None and "predicted_ltv" in inputs.scores:
        scored = inputs.scores.assign(customer_id=inputs.scores["customer_id"].astype(str))
        ltv = numeric(scored, "predicted_ltv").set_axis(scored["customer_id"])
        if ltv.notna().sum() == 0:
            ltv, note = None, "the score run has no predicted LTV, so LTV/CAC is unknown for every channel."
    else:
        note = NO_SCORES + "; without predicted LTV every channel is <i>no_data</i>."
    economics = channel_economics(spend, customers, ltv, inputs.policy)
    months = pd.to_datetime(spend["month"])
    latest = months.max()
    total = float(spend.loc[months == latest, "spend"].sum())
    split = budget_split(economics, total, inputs.policy)
    split["channel"] = split["channel"].fillna("(reserve)")
    p = inputs.policy
    parts = [
        f"<p>CAC = spend / new customers of the months with spend; keep channels whose LTV/CAC &gt; "
        f"{p.ltv_cac_min:g} (<i>proven</i>). Budget rule: {p.budget_proven_share:.0%} to proven channels, "
        f"{p.budget_test_share:.0%} to tests, {p.budget_reserve_share:.0%} in reserve.</p>"
    ]
    if note:
        parts.append(missing(note))
    finite = economics[np.isfinite(economics["ltv_cac"].to_numpy(np.float64))]
    if len(finite):
        parts.append(
            image(
                report_plots.ltv_cac_bars(finite["channel"].tolist(), finite["ltv_cac"], threshold=p.ltv_cac_min),
                "LTV/CAC per channel",
            )
        )
    shown = economics.rename(columns={"meets_ltv_cac_rule": f"LTV/CAC > {p.ltv_cac_min:g}"})
    parts.append(html_table(shown, digits={"spend": 0, "cac": 2, "mean_predicted_ltv": 2, "ltv_cac": 2}))
    parts.append(
        f"<h3>Suggested split of a {fmt(total, 0)} budget (the spend of {latest:%B %Y})</h3>"
        + html_table(split, percent=("share",), digits={"budget": 0}, text=("channel", "pool"))
    )
    return "".join(parts)


def value_at_risk_section(inputs: ReportInputs) -> str:
    from models.value_at_risk import retention_list

    if not inputs.has_scores:
        return missing(NO_SCORES)
    scores = inputs.scores
    assert scores is not None
    ltv = numeric(scores, "predicted_ltv")
    if ltv.notna().sum() == 0:
        return missing("the score run has no predicted LTV, so value at risk (P(churn) x LTV) is unknown.")
    ranked = retention_list(scores, top=TOP_VALUE_AT_RISK)
    extra = [c for c in ("segment",) if c in scores.columns]
    if extra:
        ranked = ranked.merge(scores[["customer_id", *extra]], on="customer_id", how="left")
    var = numeric(scores, "value_at_risk")
    total = float(var.sum())
    share = float(ranked["value_at_risk"].sum() / total) if total > 0 else np.nan
    return "".join(
        [
            f"<p>Value at risk = P(churn) x predicted LTV: the value expected to be lost if nothing is done. "
            f"Total {fmt(total, 0)} over the base; the top {len(ranked)} customers below hold {pct(share)} of it. "
            "The CRM works the list from the top (the full list: the API's <code>/v1/retention-list</code>).</p>",
            html_table(
                ranked,
                digits={"churn_probability": 3, "predicted_ltv": 2, "value_at_risk": 2},
                text=("customer_id", "risk_tier", "action_key", "segment"),
            ),
        ]
    )


# ------------------------------------------------------------------------------------- B2B accounts and referral
TOP_ACCOUNTS = 20
TOP_REFERRAL_CANDIDATES = 20
REJECTED_EXAMPLES = 10
HEALTH_BINS = tuple(range(0, 101, 10))


def _scores_as_of(inputs: ReportInputs) -> pd.Timestamp:
    """The score run's cutoff (the run record, else the rows' as_of)."""
    run_as_of = (inputs.score_run or {}).get("as_of")
    if run_as_of:
        stamp = pd.Timestamp(run_as_of)
        return stamp.tz_convert(None) if stamp.tzinfo else stamp  # naive UTC, like every cutoff
    assert inputs.scores is not None
    return pd.Timestamp(pd.to_datetime(inputs.scores["as_of"]).max())


def _scoring_feature_settings(inputs: ReportInputs) -> tuple[Any, str]:
    """The feature settings the score run's churn model was trained with, else the current ones (with a note).

    Account-level rules must see the features the user-level scores saw (same Aha rule, core event types).
    """
    from features.feature_spec import FeatureSpec
    from features.settings import FeatureSettings, load_feature_settings
    from models.bundle_source import resolve_bundle
    from training.registry import CHURN_MODEL

    churn = ((inputs.score_run or {}).get("models") or {}).get("churn") or {}
    version = churn.get("version") if isinstance(churn, dict) else None
    if version and not registry_is_empty(inputs.tracking_uri):
        try:
            with tempfile.TemporaryDirectory(prefix="churnltv-report-") as tmp:
                bundle = resolve_bundle(
                    f"models:/{CHURN_MODEL}/{version}",
                    default_name=CHURN_MODEL,
                    tracking_uri=inputs.tracking_uri,
                    dst_dir=Path(tmp) / "churn",
                )
                spec = FeatureSpec.from_json((bundle / "feature_spec.json").read_text(encoding="utf-8"))
        except (UserInputError, OSError) as err:
            logger.info("feature settings of churn model %s not available: %s", version, err)
        else:
            known = {k: v for k, v in spec.settings.items() if k in FeatureSettings.model_fields and v is not None}
            return FeatureSettings(**known), f"the feature settings of churn model version {esc(version)}"
    return load_feature_settings(), "the current feature settings (<code>CHURNLTV_FEATURES_*</code>)"


def account_frame(inputs: ReportInputs) -> tuple[pd.DataFrame, str] | str:
    """Account-level policy for every B2B account of the score run, or why there is none.

    Features are rebuilt at the run's as_of for the users who have an account (point in time, the model's
    feature settings) and joined with their scores (churn_probability, p_alive, predicted_ltv); then
    ``models.account_rollup.account_policy`` rolls them up and applies the policy per account.
    """
    from features.point_in_time import build_features
    from models.account_rollup import account_policy

    if not inputs.has_scores or inputs.scores is None:
        return NO_SCORES
    columns = set(inputs.con.execute("SELECT * FROM customers LIMIT 0").df().columns)
    if "account_id" not in columns:
        return "the <code>customers</code> table has no <code>account_id</code> column: no B2B accounts to roll up."
    users = inputs.table(
        "customers",
        "CAST(customer_id AS VARCHAR) AS customer_id, CAST(account_id AS VARCHAR) AS account_id",
    ).dropna(subset=["account_id"])
    scores = inputs.scores.assign(customer_id=inputs.scores["customer_id"].astype(str))
    users = users[users["customer_id"].isin(scores["customer_id"])]
    if users.empty:
        return "no scored customer belongs to a B2B account (<code>customers.account_id</code> is empty)."
    settings, settings_from = _scoring_feature_settings(inputs)
    as_of = _scores_as_of(inputs)
    features, _ = build_features(inputs.con, [as_of], settings, customer_ids=users["customer_id"].tolist())
    features = features.assign(customer_id=features["customer_id"].astype(str))
    features = features[features["customer_id"].isin(users["customer_id"])]
    outputs = [c for c in ("churn_probability", "p_alive", "predicted_ltv") if c in scores.columns]
    frame = features.merge(scores[["customer_id", *outputs]], on="customer_id", how="left")
    accounts = account_policy(frame, users.set_index("customer_id")["account_id"], inputs.policy)
    note = (
        f"{len(frame):,} users of {len(accounts):,} accounts, features rebuilt at {as_of.date()} with {settings_from}"
    )
    return accounts, note


def _trigger_names(triggers: Any) -> str:
    if not isinstance(triggers, list):
        return ""
    return ", ".join(dict.fromkeys(str(t.get("trigger")) for t in triggers if isinstance(t, dict)))


def b2b_accounts_section(inputs: ReportInputs) -> str:
    built = account_frame(inputs)
    if isinstance(built, str):
        return missing(built)
    accounts, note = built
    policy = inputs.policy
    counts = accounts["risk_tier"].value_counts()
    users = accounts.groupby("risk_tier")["users"].sum()
    order = [t for t in TIER_ORDER if t in counts.index]
    action = accounts.drop_duplicates("risk_tier").set_index("risk_tier")["action_key"]
    tiers = pd.DataFrame(
        {
            "tier": order,
            "accounts": [int(counts[t]) for t in order],
            "share": [counts[t] / counts.sum() for t in order],
            "users": [int(users[t]) for t in order],
            "action": [str(action[t]) for t in order],
        }
    )
    health = numeric(accounts, "health_score")
    binned = np.histogram(health.dropna().to_numpy(), bins=np.asarray(HEALTH_BINS, dtype=np.float64))[0]
    labels = [f"{a}-{b}" for a, b in pairwise(HEALTH_BINS)]
    healthy = float((health >= policy.healthy_score).mean())
    parts = [
        "<p>B2B customers act as accounts (DOMAIN.md section 9): the users' signals are rolled up to their account "
        "(counts summed, breadth and reach the best user, idleness only when every user is idle, churn probability "
        "the mean, predicted LTV the sum; docs/POLICY.md) and the account's tier, triggers, action and health are "
        f"computed from the rolled-up row. {note}.</p>",
        f'<div class="kpi"><b>{len(accounts):,}</b>accounts</div>'
        f'<div class="kpi"><b>{int(accounts["users"].sum()):,}</b>users</div>'
        f'<div class="kpi"><b>{pct(healthy)}</b>healthy (score &gt;= {policy.healthy_score:g})</div>'
        f'<div class="kpi"><b>{fmt(health.median(), 1)}</b>median health</div>',
        "<h3>Accounts per risk tier</h3>",
        html_table(tiers, percent=("share",), text=("tier", "action")),
        "<h3>Health distribution</h3>",
        image(
            report_plots.grouped_bars(
                labels,
                {"accounts": binned},
                title="Account health score",
                xlabel="health score (0-100)",
                ylabel="accounts",
            ),
            "account health score distribution",
        ),
    ]
    ltv = numeric(accounts, "predicted_ltv")
    if ltv.notna().sum() == 0:
        parts.append(missing("the score run has no predicted LTV, so account value at risk is unknown."))
        return "".join(parts)
    ranked = accounts.assign(_var=numeric(accounts, "value_at_risk")).sort_values(
        "_var", ascending=False, na_position="last", kind="stable"
    )
    top = ranked.head(TOP_ACCOUNTS)
    table = pd.DataFrame(
        {
            "account": top["account_id"].astype(str).to_numpy(),
            "users": top["users"].astype(int).to_numpy(),
            "risk tier": top["risk_tier"].to_numpy(),
            "triggers": [_trigger_names(t) for t in top["triggers"]],
            "action": top["action_key"].to_numpy(),
            "churn_probability": numeric(top, "churn_probability").to_numpy(),
            "predicted_ltv": numeric(top, "predicted_ltv").to_numpy(),
            "value_at_risk": top["_var"].to_numpy(),
            "health": numeric(top, "health_score").to_numpy(),
        }
    )
    total = float(numeric(accounts, "value_at_risk").sum())
    parts.append(
        f"<h3>Top {len(table)} accounts by value at risk</h3><p>Account value at risk = mean P(churn) of its users x "
        f"the account's predicted LTV; total {fmt(total, 0)} over all accounts. The customer-success team works "
        "this list from the top.</p>"
    )
    parts.append(
        html_table(
            table,
            digits={"churn_probability": 3, "predicted_ltv": 2, "value_at_risk": 2, "health": 1},
            text=("account", "risk tier", "triggers", "action"),
        )
    )
    return "".join(parts)


def _last_nps(inputs: ReportInputs, as_of: pd.Timestamp) -> pd.DataFrame:
    """Each customer's last NPS answer before ``as_of`` (the policy's nps_last)."""
    frame: pd.DataFrame = inputs.con.execute(
        "SELECT CAST(customer_id AS VARCHAR) AS customer_id, arg_max(score, answered_at) AS nps_last "
        "FROM nps_responses WHERE answered_at < $1 GROUP BY ALL",
        [as_of.to_pydatetime()],
    ).df()
    return frame


def _referral_candidates_part(inputs: ReportInputs) -> str:
    from models.referral_screening import referral_candidates

    policy = inputs.policy
    if not inputs.has_scores or inputs.scores is None:
        return missing(NO_SCORES + "; referral candidates need predicted LTV.")
    if "nps_responses" not in inputs.tables:
        return missing("the data has no <code>nps_responses</code> table, so promoters are unknown.")
    scores = inputs.scores.assign(customer_id=inputs.scores["customer_id"].astype(str))
    if numeric(scores, "predicted_ltv").notna().sum() == 0:
        return missing("the score run has no predicted LTV, so there are no referral candidates.")
    nps = _last_nps(inputs, _scores_as_of(inputs))
    frame = scores[["customer_id", "predicted_ltv"]].merge(nps, on="customer_id", how="left")
    candidates = referral_candidates(frame, policy)
    promoters = int((numeric(frame, "nps_last") >= policy.nps_promoter_min).sum())
    threshold = float(candidates["ltv_threshold"].iloc[0]) if len(candidates) else np.nan
    head = (
        f"<p>Promoters (last NPS answer {policy.nps_promoter_min}-10) whose predicted LTV is in the top "
        f"{pct(1 - policy.referral_ltv_quantile, 0)} of the scored base (LTV &gt;= {fmt(threshold, 2)}): "
        f"<b>{len(candidates):,}</b> candidates of {promoters:,} promoters. Ask them first: they recommend the "
        "product and bring the most valuable friends.</p>"
    )
    if candidates.empty:
        return head
    top = candidates.head(TOP_REFERRAL_CANDIDATES)[["customer_id", "nps_last", "predicted_ltv"]]
    extra = [c for c in ("segment", "risk_tier") if c in scores.columns]
    if extra:
        top = top.merge(scores[["customer_id", *extra]], on="customer_id", how="left")
    return head + html_table(
        top.assign(nps_last=top["nps_last"].astype("Int64")),
        digits={"predicted_ltv": 2},
        text=("customer_id", "segment", "risk_tier"),
    )


def _referral_events_part(inputs: ReportInputs) -> str:
    from models.referral_screening import screen_referrals

    policy = inputs.policy
    if "referrals" not in inputs.tables:
        return missing("the data has no <code>referrals</code> table (referral events), so none were screened.")
    available = set(inputs.con.execute("SELECT * FROM referrals LIMIT 0").df().columns)
    wanted = ["referrer_id", "referred_id", "occurred_at", "ip", "device_id", "reward_type"]
    casts = {"referrer_id", "referred_id"}
    select = ", ".join(f"CAST({c} AS VARCHAR) AS {c}" if c in casts else c for c in wanted if c in available)
    events = inputs.table("referrals", select)
    if events.empty:
        return missing("the <code>referrals</code> table is empty.")
    screening = screen_referrals(events, policy)
    accepted, rejected = screening.accepted, screening.rejected
    rules = [
        "self-referral",
        "customer already referred",
        f"duplicate IP ({'on' if policy.referral_dedup_ip else 'off'}, <code>referral_dedup_ip</code>)",
        f"duplicate device ({'on' if policy.referral_dedup_device else 'off'}, <code>referral_dedup_device</code>)",
    ]
    parts = [
        f"<p>{len(events):,} referral events screened in time order: <b>{len(accepted):,} accepted</b>, "
        f"<b>{len(rejected):,} rejected</b> ({pct(len(rejected) / len(events))}). Rules, first match wins: "
        + "; ".join(rules)
        + ". An earlier rejected event counts too, so a farm reusing one IP is caught on every reuse.</p>"
    ]
    if len(rejected):
        reasons = rejected["reason"].value_counts()
        by_reason = pd.DataFrame({"reason": reasons.index.astype(str), "events": reasons.to_numpy()})
        by_reason["share of rejected"] = by_reason["events"] / len(rejected)
        parts.append(
            "<h3>Rejected, by reason</h3>" + html_table(by_reason, percent=("share of rejected",), text=("reason",))
        )
        keep = [c for c in ("input_row", "referrer_id", "referred_id", "occurred_at", "reason", "detail")]
        examples = rejected[keep].head(REJECTED_EXAMPLES).assign(occurred_at=lambda f: f["occurred_at"].astype(str))
        parts.append(
            f"<h3>First {len(examples)} rejected events</h3>"
            + html_table(examples, text=("referrer_id", "referred_id", "occurred_at", "reason", "detail"))
        )
    if len(accepted) and "reward_type" in accepted.columns:
        rewards = accepted["reward_type"].fillna("(none)").value_counts()
        parts.append(
            "<h3>Accepted, by reward type</h3>"
            + html_table(
                pd.DataFrame({"reward type": rewards.index.astype(str), "events": rewards.to_numpy()}),
                text=("reward type",),
            )
        )
    return "".join(parts)


def referral_section(inputs: ReportInputs) -> str:
    return (
        "<h3>Whom to ask</h3>"
        + _referral_candidates_part(inputs)
        + "<h3>Referral events: anti-fraud screening</h3>"
        + _referral_events_part(inputs)
    )


# --------------------------------------------------------------------------------------------------------- drift
BAND_CLASS = {"stable": "good", "watch": "note", "alert": "bad"}
TOP_DRIFT_FEATURES = 10


def _band(band: Any) -> str:
    text = str(band) if band else "n/a"
    return f'<span class="{BAND_CLASS.get(text, "note")}">{esc(text)}</span>'


def _drift_input(inputs: ReportInputs) -> tuple[Mapping[str, Any] | None, str]:
    """The drift result given to the report, else the latest monitor run in MLflow (read-only)."""
    from training.drift_monitor import latest_drift_report

    if inputs.drift is not None:
        return inputs.drift, inputs.drift_from or "the given drift.json"
    if registry_is_empty(inputs.tracking_uri):
        return None, ""
    found = latest_drift_report(inputs.tracking_uri)
    if found is None:
        return None, ""
    return found, f"MLflow run <code>{esc(found.get('mlflow_run_id'))}</code> (experiment churnltv-monitor)"


def _check_rows(drift: Mapping[str, Any]) -> pd.DataFrame:
    score = drift.get("score") or {}
    features = list(drift.get("features") or [])
    worst = features[0] if features else {}
    rows: list[dict[str, Any]] = [
        {"check": "churn score PSI", "value": score.get("psi"), "detail": "", "band": score.get("band")},
        {
            "check": "largest feature PSI",
            "value": worst.get("psi"),
            "detail": str(worst.get("feature", "no feature compared")),
            "band": worst.get("band") if features else None,
        },
    ]
    btyd = drift.get("btyd")
    if not btyd:
        rows.append({"check": "BTYD purchases", "value": None, "detail": "not run", "band": None})
    elif "skipped" in btyd:
        rows.append({"check": "BTYD purchases", "value": None, "detail": str(btyd["skipped"]), "band": None})
    else:
        rows.append(
            {
                "check": "BTYD purchases: relative error",
                "value": btyd.get("relative_error"),
                "detail": f"predicted {fmt(btyd.get('predicted_purchases'), 0)} vs actual "
                f"{fmt(btyd.get('actual_purchases'), 0)} purchase days since the fit",
                "band": btyd.get("band"),
            }
        )
    calibration = drift.get("calibration")
    if not calibration:
        rows.append({"check": "calibration", "value": None, "detail": "not run", "band": None})
    elif "skipped" in calibration:
        rows.append({"check": "calibration", "value": None, "detail": str(calibration["skipped"]), "band": None})
    else:
        rows.append(
            {
                "check": "calibration: ECE rise over the holdout",
                "value": calibration.get("ece_increase"),
                "detail": f"ECE {fmt(calibration.get('ece'))} at {calibration.get('cutoff', '')[:10]} "
                f"({fmt(calibration.get('customers'))} customers) vs holdout {fmt(calibration.get('reference_ece'))}",
                "band": calibration.get("band"),
            }
        )
    return pd.DataFrame(rows)


def drift_section(inputs: ReportInputs) -> str:
    drift, where = _drift_input(inputs)
    if drift is None:
        return missing(
            f"no drift monitor run was found in {esc(inputs.tracking_uri)}. Run <code>churnltv monitor --data SOURCE "
            "--as-of DATE</code> (it logs to MLflow, where this report finds the latest run), or pass a "
            "<code>drift.json</code> with <code>--drift</code>."
        )
    limits = dict(drift.get("limits") or {})
    status = str(drift.get("status", "n/a"))
    parts = [
        f"<p>Overall: <b>{_band(status)}</b>. Scoring snapshot {esc(str(drift.get('as_of', ''))[:10])} "
        f"({fmt(drift.get('n_current'))} customers) vs the champion's training snapshot "
        f"{esc(str(drift.get('reference_as_of', ''))[:10])} ({fmt(drift.get('n_reference'))} customers); "
        f"source <code>{esc(drift.get('source'))}</code>; from {where}.</p>",
        "<p>Bands: PSI &lt; "
        f"{fmt(limits.get('psi_watch'), 2)} stable, up to {fmt(limits.get('psi_alert'), 2)} watch, above alert; "
        f"BTYD relative error {pct(limits.get('btyd_watch'), 0)} / {pct(limits.get('btyd_alert'), 0)}; ECE rise "
        f"{fmt(limits.get('calibration_watch'), 2)} / {fmt(limits.get('calibration_alert'), 2)} "
        "(<code>CHURNLTV_MONITOR_*</code>). A value that is not a number is an alert. "
        "<code>churnltv monitor</code> exits 1 on alert.</p>",
        html_table(
            _check_rows(drift).assign(band=lambda f: f["band"].fillna("n/a")),
            digits={"value": 4},
            text=("check", "detail", "band"),
        ),
    ]
    features = pd.DataFrame(list(drift.get("features") or []))
    if len(features):
        top = features.head(TOP_DRIFT_FEATURES)
        psi = pd.to_numeric(top["psi"], errors="coerce")
        colours = {"stable": "#2e7d32", "watch": "#e0a800", "alert": "#c0392b"}
        lines = {}
        if limits.get("psi_watch") is not None:
            lines["watch"] = float(limits["psi_watch"])
        if limits.get("psi_alert") is not None:
            lines["alert"] = float(limits["psi_alert"])
        parts.append(f"<h3>Features with the largest PSI (of {len(features)})</h3>")
        parts.append(
            image(
                report_plots.horizontal_bars(
                    top["feature"].astype(str).tolist(),
                    psi.to_numpy(np.float64),
                    title="Population stability index per feature",
                    xlabel="PSI (current vs training snapshot)",
                    color=[colours.get(str(b), "#777") for b in top["band"]],
                    value_format=".3f",
                    lines_at=lines,
                ),
                "PSI per feature",
            )
        )
        parts.append(html_table(top[["feature", "psi", "band"]], digits={"psi": 4}, text=("feature", "band")))
    notes = list(drift.get("notes") or [])
    calibration = drift.get("calibration") or {}
    if calibration.get("note"):
        notes.append(str(calibration["note"]))
    if notes:
        parts.append("<p class=note>" + "<br>".join(esc(n) for n in notes) + "</p>")
    return "".join(parts)


SECTIONS: tuple[tuple[str, str, Callable[[ReportInputs], str]], ...] = (
    ("data-quality", "Data quality", data_quality_section),
    ("churn-model", "Churn model: holdout metrics vs baselines", churn_model_section),
    ("btyd", "Purchases: BG/NBD predicted vs actual, P(alive)", btyd_section),
    ("ltv-distribution", "Lifetime value distribution", ltv_distribution_section),
    ("risk-tiers", "Risk tiers and actions", risk_tiers_section),
    ("health-retention", "Health score vs retention", health_retention_section),
    ("lifecycle", "Lifecycle stages", lifecycle_section),
    ("nps", "Net Promoter Score", nps_section),
    ("acquisition", "Acquisition economics: LTV/CAC per channel", acquisition_section),
    ("value-at-risk", "Top customers by value at risk", value_at_risk_section),
    ("b2b-accounts", "B2B accounts: tier, health and value at risk per account", b2b_accounts_section),
    ("referral", "Referral: candidates and screened referral events", referral_section),
    ("drift", "Drift: is today's base still the one the models learned from?", drift_section),
)
SECTION_IDS: tuple[str, ...] = tuple(s[0] for s in SECTIONS)


def _build_section(section_id: str, title: str, build: Callable[[ReportInputs], str], inputs: ReportInputs) -> Section:
    try:
        body = build(inputs)
    except UserInputError as err:
        body = missing(esc(err))
    except Exception as err:  # one broken section must not hide the others; the log has the traceback
        logger.exception("report section %s failed", section_id)
        body = f'<p class="section-error">This section could not be built: {esc(type(err).__name__)}: {esc(err)}</p>'
    return Section(section_id, title, body)


def _header(title: str, score_run: dict[str, Any] | None) -> str:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"<h1>{esc(title)}</h1>", f"<p>Generated {now}.</p>"]
    if score_run:
        versions = score_run.get("model_versions") or {}
        models = ", ".join(f"{esc(k)} {esc(v)}" for k, v in versions.items()) if isinstance(versions, dict) else ""
        lines.append(
            f"<p>Scores: run <code>{esc(score_run.get('run_id'))}</code> as of {esc(score_run.get('as_of'))}, "
            f"{fmt(score_run.get('n_customers'))} customers, finished {esc(score_run.get('finished_at'))}"
            + (f"; models {models}" if models else "")
            + ".</p>"
        )
    else:
        lines.append("<p>No score run: sections built from scores say so.</p>")
    return "".join(lines)


def build_report(
    *,
    con: duckdb.DuckDBPyConnection,
    scores: pd.DataFrame | None,
    score_run: dict[str, Any] | None,
    data_quality: dict[str, Any] | None,
    tracking_uri: str | None = None,
    title: str = "churnltv report",
    policy: PolicySettings | None = None,
    drift: Mapping[str, Any] | None = None,
    drift_from: str = "",
) -> str:
    """The whole report as one HTML string (plots inline; no external resources).

    ``con`` is a connection from ``features.sources.open_source(url).connect()``; ``scores`` the rows of one score
    run (``service.prediction.SCORE_COLUMNS``) and ``score_run`` its metadata record; ``data_quality`` the JSON
    of ``churnltv validate --report``; ``tracking_uri`` the MLflow registry with the champions (default
    ``CHURNLTV_TRACKING_URI``); ``drift`` a ``churnltv monitor`` result (its drift.json, described by
    ``drift_from``), else the drift section reads the latest monitor run from that MLflow store.
    """
    from features.contract import TABLES
    from models.policy_settings import default_policy_settings

    visible = {str(row[0]) for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}

    inputs = ReportInputs(
        con=con,
        scores=scores,
        score_run=score_run,
        data_quality=data_quality,
        tracking_uri=resolve_tracking_uri(tracking_uri),
        policy=policy or default_policy_settings(),
        tables=visible & set(TABLES),
        drift=drift,
        drift_from=drift_from,
    )
    sections = []
    for section_id, section_title, build in SECTIONS:
        logger.info("report section %s ...", section_id)
        sections.append(_build_section(section_id, section_title, build, inputs))
    nav = "".join(f'<a href="#{s.id}">{esc(s.title.split(":")[0])}</a>' for s in sections)
    body = "".join(f'<section id="{s.id}"><h2>{esc(s.title)}</h2>{s.body}</section>' for s in sections)
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{esc(title)}</title>'
        f"<style>{_CSS}</style></head><body><header>{_header(title, score_run)}</header><nav>{nav}</nav>"
        f"<main>{body}<p class=note>How to read each section: docs/REPORT.md.</p></main></body></html>"
    )


def write_report(html_text: str, out: Path) -> Path:
    """Write the report atomically (temporary file in the same folder, then rename) and return its path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(html_text, encoding="utf-8")
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out
