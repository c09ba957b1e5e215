"""`churnltv demo`: the whole main job on embedded defaults, as a newcomer's first run.

generate a demo base -> validate it -> train + register the churn model -> train + register the LTV
model -> promote both -> batch-score the base -> check drift -> write the HTML report -> print a short summary.
Every step is the same code the individual commands run; this module only composes them (it lives
in the composition root because it is the one place allowed to see training and service together).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from churnltv.settings import Settings

log = logging.getLogger("churnltv.demo")
T = TypeVar("T")


@contextmanager
def _step(name: str, timings: dict[str, float]) -> Iterator[None]:
    typer.secho(f"==> {name}", fg=typer.colors.CYAN, bold=True)
    start = time.perf_counter()
    yield
    timings[name] = time.perf_counter() - start
    typer.echo(f"    done in {timings[name]:.1f} s")


def _fmt(value: Any, digits: int = 3) -> str:
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return "n/a"


def run_demo(  # noqa: PLR0915 - a straight-line script reads best as one function
    *,
    settings: Settings,
    customers: int,
    seed: int,
    workdir: Path,
    report_path: Path,
    echo: Callable[[str], None] = typer.echo,
) -> dict[str, Any]:
    """Run every step with the run's ``settings``; returns the numbers printed in the summary (tests read them)."""
    import pandas as pd

    from churnltv.generator import TruthOracle, generate, truth_path_for
    from churnltv.report_command import make_report
    from features.dataset_writer import write_dataset
    from features.sources import open_source
    from service.batch_scoring import run_batch
    from service.model_set import load_model_set
    from service.score_store import open_score_store
    from training import registry
    from training.churn_job import train_churn
    from training.churn_promotion import holdout_decider
    from training.drift_monitor import run_drift_monitor
    from training.ltv_job import train_ltv
    from training.ltv_promotion import ltv_decider

    timings: dict[str, float] = {}
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "demo.duckdb"
    scores = workdir / "scores"
    training_settings = settings.training
    feature_settings = settings.features

    with _step(f"generate a demo base of {customers:,} customers (seed {seed})", timings):
        base = generate(customers, seed=seed)
        write_dataset(base.tables, data)
        truth_file = truth_path_for(data)
        base.truth.to_parquet(truth_file)
        oracle = TruthOracle(base.truth, source=str(truth_file))
        echo(f"    {data}: " + ", ".join(f"{k} {len(v):,}" for k, v in base.tables.items()))
    with _step("validate against the data contract", timings):
        quality = open_source(data, extracted_at=base.end, duckdb_settings=settings.duckdb).validate()
        quality.save(workdir / "data_quality.json")
        quality.raise_if_invalid()
        echo(f"    {sum(t.rows for t in quality.tables):,} rows, no problems")
    with _step("train, evaluate and register the churn model (LightGBM, time-split holdout)", timings):
        churn = train_churn(
            str(data),
            training_settings,
            feature_settings,
            oracle=oracle,
            duckdb_settings=settings.duckdb,
            health_scale_quantile=settings.policy.health_scale_quantile,
        )
        echo(f"    churnltv-churn version {churn.version} (alias challenger), run {churn.run_id}")
    with _step("fit, evaluate and register the LTV models (BG/NBD + Gamma-Gamma)", timings):
        ltv = train_ltv(
            str(data), as_of=None, holdout_days=None, settings=settings.ltv, training_settings=training_settings
        )
        echo(f"    churnltv-ltv version {ltv.version} (alias challenger), run {ltv.run_id}")
    with _step("promote the challengers to champion", timings):
        margin = training_settings.promote_margin
        churn_decision = registry.promote(
            registry.CHURN_MODEL,
            decide=holdout_decider(margin, seed=training_settings.random_seed, duckdb_settings=settings.duckdb),
        )
        ltv_decision = registry.promote(registry.LTV_MODEL, decide=ltv_decider(margin))
        echo(f"    churn: {churn_decision.reason}")
        echo(f"    ltv: {ltv_decision.reason}")
    with _step("batch-score the whole base with the champions", timings):
        models = load_model_set(churn_ref="champion", ltv_ref="champion", tracking_uri=training_settings.tracking_uri)
        as_of = pd.Timestamp(base.end)
        run = run_batch(str(data), as_of, str(scores), models=models)
        echo(f"    run {run.run_id}: {run.rows_written:,} customers scored into {scores}")
    with _step("check drift: the scored base against the champion's training snapshot", timings):
        drift = run_drift_monitor(
            str(data), as_of, settings=training_settings, out_dir=workdir / "monitor", limits=settings.monitor
        )
        echo(f"    drift status {drift.status} (PSI of the churn score {_fmt(drift.score.get('psi'))})")
    with _step("write the HTML report", timings):
        report = make_report(
            str(data),
            str(scores),
            report_path,
            workdir / "data_quality.json",
            tracking_uri=training_settings.tracking_uri,
            settings=settings,
        )
    store = open_score_store(str(scores))
    scored = store.read_scores()
    top = store.retention_list(limit=5)
    store.close()
    metrics = churn.metrics
    tiers: dict[str, int] = {str(k): int(v) for k, v in scored["risk_tier"].value_counts().items()}
    top_rows = [
        {"customer_id": str(c), "value_at_risk": float(v)}
        for c, v in zip(top["customer_id"], top["value_at_risk"], strict=True)
    ]
    summary: dict[str, Any] = {
        "timings": timings,
        "churn_metrics": metrics,
        "ltv_metrics": ltv.metrics,
        "tiers": tiers,
        "report": str(report),
        "top_value_at_risk": top_rows,
        "drift_status": drift.status,
    }
    echo("")
    typer.secho("Summary", bold=True)
    echo(
        f"  churn holdout ROC-AUC {_fmt(metrics.get('test_roc_auc'))} "
        f"(oracle {_fmt(metrics.get('oracle_test_roc_auc'))}; baselines: "
        + ", ".join(
            f"{k.removeprefix('baseline_').removesuffix('_test_roc_auc')} {_fmt(v)}"
            for k, v in sorted(metrics.items())
            if k.startswith("baseline_") and k.endswith("_test_roc_auc")
        )
        + f"); ECE {_fmt(metrics.get('test_ece'))}"
    )
    echo(
        f"  BTYD holdout: MAE of repeat purchases per customer {_fmt(ltv.metrics.get('ltv_holdout_mae'))} "
        f"vs naive {_fmt(ltv.metrics.get('ltv_baseline_mae'))}"
    )
    buckets = _holdout_buckets(ltv.run_id)
    summary["btyd_buckets"] = buckets
    if buckets:
        # the CDNOW-style check (Fader, Hardie & Lee 2005, Figure 4): mean holdout purchases per calibration frequency
        echo("    calibration purchases   customers   actual   BG/NBD   naive")
        for b in buckets:
            echo(
                f"    {b['bucket']:>21}   {b['n_customers']:>9,}   {_fmt(b['actual'], 2):>6}   "
                f"{_fmt(b['predicted'], 2):>6}   {_fmt(b['baseline'], 2):>5}"
            )
    echo(f"  drift: {drift.status} ({workdir / 'monitor'})")
    echo("  risk tiers: " + ", ".join(f"{k} {v:,}" for k, v in sorted(tiers.items())))
    echo("  top value at risk: " + ", ".join(f"{r['customer_id']} ({_fmt(r['value_at_risk'], 0)})" for r in top_rows))
    echo(f"  report: {report}")
    echo(f"  MLflow UI: {_mlflow_command()} ui --backend-store-uri {training_settings.tracking_uri}")
    echo(f"  total {sum(timings.values()):.0f} s")
    return summary


def _holdout_buckets(run_id: str) -> list[dict[str, Any]]:
    """The LTV run's predicted-vs-actual table (logged as holdout_buckets.json), one dict per frequency bucket."""
    import mlflow

    try:
        table = mlflow.artifacts.load_dict(f"runs:/{run_id}/holdout_buckets.json")
    except Exception as err:  # the summary is still useful without it; say why it is missing
        log.warning("no BTYD holdout table for run %s: %s", run_id, err)
        return []
    columns = list(table)
    rows = zip(*(table[c] for c in columns), strict=True)
    return [dict(zip(columns, row, strict=True)) for row in rows]


def _mlflow_command() -> str:
    """``mlflow`` when it is on PATH (venv activated), else its path in this interpreter's environment."""
    import shutil
    import sys

    if shutil.which("mlflow"):
        return "mlflow"
    beside = Path(sys.executable).parent / "mlflow"
    if beside.exists():
        try:
            return str(beside.relative_to(Path.cwd()))
        except ValueError:
            return str(beside)
    return "mlflow"


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        ctx: typer.Context,
        customers: Annotated[int, typer.Option(help="Customers in the generated demo base.")] = 20_000,
        seed: Annotated[int, typer.Option(help="Random seed of the generator.")] = 7,
        workdir: Annotated[Path, typer.Option(help="Where the demo data and scores go.")] = Path("data"),
        report: Annotated[Path, typer.Option(help="Where the HTML report goes.")] = Path("reports/report.html"),
    ) -> None:
        """Run the whole main job on a generated base: generate, validate, train, promote, score, check drift, report.

        Writes the base and scores under --workdir, the report to --report and every run to the MLflow store at
        CHURNLTV_TRACKING_URI (default sqlite:///mlruns/mlflow.db), then prints a summary.
        """
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        from churnltv.settings import Settings

        settings = ctx.find_root().obj or Settings.from_environment()
        run_demo(settings=settings, customers=customers, seed=seed, workdir=workdir, report_path=report)
