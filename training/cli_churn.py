"""`churnltv train`, `churnltv promote` and `churnltv models`: the churn model's command line.

Heavy libraries are imported inside the command bodies so `churnltv --help` stays instant.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from training.churn_holdout import ChurnOracle
    from training.churn_job import ChurnTrainResult

OracleReader = Callable[[Path], "ChurnOracle"]
"""Reads the file given to ``--truth`` into the oracle of the holdout evaluation (injected by the CLI's root)."""

# metrics shown by `churnltv models`, in order (holdout metrics under the stable names of issue 4)
_SHOWN_METRICS = ("test_roc_auc", "test_pr_auc", "test_ece", "test_lift_at_10pct", "oracle_test_roc_auc")


def _shown_in_summary(name: str) -> bool:
    """The model's metrics, and for baselines and the oracle only ROC-AUC and the AUC gap (the rest is in MLflow)."""
    if name.startswith(("baseline_", "oracle_")):
        return name.endswith(("_test_roc_auc", "_auc_diff"))
    return True


def train_summary(result: ChurnTrainResult) -> dict[str, Any]:
    """What `churnltv train --json` prints: the holdout AUC with its interval and how the run decided."""
    m = result.metrics
    return {
        "auc": m.get("test_roc_auc"),
        "interval": [m.get("test_roc_auc_ci_low"), m.get("test_roc_auc_ci_high")],
        "selected_candidate": result.selected_candidate,
        "churn_definition": result.churn_definition,
        "churn_definition_reason": result.churn_definition_reason,
        "warnings": list(result.warnings),
        "run_id": result.run_id,
        "version": result.version,
        "bundle": str(result.bundle_dir),
        "report": str(result.report_path),
    }


def _progress_logging() -> None:
    """Step-by-step progress on stderr through rich (one line per step with its duration)."""
    from rich.console import Console
    from rich.logging import RichHandler

    handler = RichHandler(console=Console(stderr=True), show_path=False, log_time_format="%H:%M:%S")
    for name in ("training", "features", "models"):
        log = logging.getLogger(name)
        log.setLevel(logging.INFO)
        if not any(isinstance(h, RichHandler) for h in log.handlers):
            log.addHandler(handler)
        log.propagate = False


def train(
    ctx: typer.Context,
    *,
    read_oracle: OracleReader,
    data: str = typer.Option(
        ..., "--data", help="Data source: a *.duckdb file, a folder of CSV/Parquet tables, or a postgresql:// URL."
    ),
    horizon_days: int | None = typer.Option(
        None,
        "--horizon-days",
        min=1,
        help="Churn horizon in days after each cutoff (default: feature settings, 30).",
    ),
    cutoffs: str | None = typer.Option(
        None,
        "--cutoffs",
        help="Comma-separated cutoff dates (YYYY-MM-DD). The latest is the test window, the one "
        "before it the validation window. Default: derived from the data's date range.",
    ),
    n_cutoffs: int = typer.Option(6, "--n-cutoffs", min=3, help="Cutoffs to derive when --cutoffs is not given."),
    time_budget: float | None = typer.Option(
        None,
        "--time-budget",
        min=1,
        help="Hyper-parameter search budget in NOMINAL seconds of work: rows x features x trees / 1e8, about what "
        "2 idle cores do in a second. Not wall time, so a busy machine tries the same candidates and the same data "
        "and seed give the same model. Default 60 (CHURNLTV_TUNING_BUDGET_SECONDS).",
    ),
    wall_clock_cap: float | None = typer.Option(
        None,
        "--wall-clock-cap",
        min=1,
        help="Safety cap in real (wall-clock) seconds on the search: once reached, no further candidate starts "
        "(the first always runs). It can only stop the search early; when it does, the run says so (log warning, "
        "MLflow param tuning_stopped_by=wall_clock_cap and tag churnltv.tuning_wall_clock_cap_hit=true) because "
        "the chosen model then depends on the machine. Default 900 (CHURNLTV_TUNING_WALL_CLOCK_CAP_SECONDS).",
    ),
    truth: Annotated[
        Path | None,
        typer.Option(
            "--truth",
            help="Generated data only: the ground-truth file `churnltv generate` wrote next to the data "
            "(<name>.truth.parquet). The holdout evaluation then also scores the oracle (the generator's true "
            "churn probability, the best achievable score). Without it there is no oracle; training never looks "
            "for the file.",
        ),
    ] = None,
    as_json: bool = typer.Option(
        False,
        "--json",
        help="Print one JSON object on stdout instead of the table: auc, interval, selected_candidate, "
        "churn_definition, churn_definition_reason, warnings, run_id, version, bundle, report (progress stays on "
        "stderr).",
    ),
) -> None:
    """Train the churn model, evaluate it on the latest time window, log to MLflow, register it as challenger.

    The search is bounded by --time-budget in nominal seconds (deterministic) and, as a safety net only, by
    --wall-clock-cap in real seconds (recorded when it fires).
    """
    from models.churn_classifier import prefer_passive_openmp

    prefer_passive_openmp()  # before anything loads OpenMP (see its docstring)
    from rich.console import Console
    from rich.table import Table

    from training.churn_job import train_churn
    from training.churn_split import parse_cutoffs
    from training.cli_settings import settings_of

    _progress_logging()
    run = settings_of(ctx)
    overrides: dict[str, Any] = {} if horizon_days is None else {"horizon_days": horizon_days}
    feature_settings = run.features.model_copy(update=overrides)
    oracle = None if truth is None else read_oracle(truth)
    result = train_churn(
        data,
        run.training,
        feature_settings,
        duckdb_settings=run.duckdb,
        cutoffs=parse_cutoffs(cutoffs),
        n_cutoffs=n_cutoffs,
        time_budget=time_budget,
        wall_clock_cap=wall_clock_cap,
        oracle=oracle,
        health_scale_quantile=run.policy.health_scale_quantile,
    )
    if as_json:
        typer.echo(json.dumps(train_summary(result), indent=1))
        return
    console = Console()
    console.print(f"churn definition: {result.churn_definition} ({result.churn_definition_reason})")
    for warning in result.warnings:
        console.print(f"[bold red]WARNING:[/] {warning}", highlight=False)
    table = Table(title=f"churnltv-churn version {result.version} (alias challenger), run {result.run_id}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("95% interval", justify="right")
    for name in sorted(result.metrics):
        if name.endswith(("_ci_low", "_ci_high")) or not _shown_in_summary(name):
            continue
        low, high = result.metrics.get(f"{name}_ci_low"), result.metrics.get(f"{name}_ci_high")
        interval = f"{low:.4f} .. {high:.4f}" if low is not None and high is not None else ""
        table.add_row(name, f"{result.metrics[name]:.4f}", interval)
    console.print(table)
    console.print("every metric of the baselines and the oracle, with intervals: the MLflow run and the report")
    console.print(f"bundle: {result.bundle_dir}\nreport: {result.report_path}")
    console.print("next: churnltv promote  (moves champion if this version beats it on the same holdout)")


def promote(
    ctx: typer.Context,
    force: bool = typer.Option(False, "--force", help="Promote the challenger even if it does not beat the champion."),
    margin: float | None = typer.Option(
        None,
        "--margin",
        min=0.0,
        help="ROC-AUC gain required over the champion (default 0.005).",
    ),
) -> None:
    """Move alias champion to the churn challenger if it beats the champion on the challenger's holdout window."""
    from training.churn_promotion import holdout_decider
    from training.cli_settings import settings_of
    from training.registry import CHURN_MODEL
    from training.registry import promote as promote_version
    from training.tracking import use_tracking

    _progress_logging()
    run = settings_of(ctx)
    settings = run.training
    use_tracking(settings)
    chosen = settings.promote_margin if margin is None else margin
    decide = holdout_decider(chosen, seed=settings.random_seed, duckdb_settings=run.duckdb)
    decision = promote_version(CHURN_MODEL, decide=decide, force=force)
    verdict = "promoted to champion" if decision.promote else "NOT promoted"
    typer.echo(f"{CHURN_MODEL} version {decision.challenger_version}: {verdict}")
    typer.echo(f"why: {decision.reason}")


def models(ctx: typer.Context) -> None:
    """List versions of churnltv-churn and churnltv-ltv with aliases and holdout metrics."""
    from rich.console import Console
    from rich.table import Table

    from training.cli_settings import settings_of
    from training.registry import CHURN_MODEL, LTV_MODEL, list_versions
    from training.tracking import use_tracking

    use_tracking(settings_of(ctx).training)
    console = Console()
    for name in (CHURN_MODEL, LTV_MODEL):
        versions = list_versions(name)
        table = Table(title=name)
        for col in ("version", "aliases", "created", "run", *_SHOWN_METRICS, "promotion"):
            table.add_column(col)
        for v in versions:
            metrics = [f"{v.metrics[m]:.4f}" if m in v.metrics else "" for m in _SHOWN_METRICS]
            promotion = v.tags.get("promotion_decision", "")
            table.add_row(
                v.version,
                ",".join(v.aliases),
                v.created.strftime("%Y-%m-%d %H:%M"),
                (v.run_id or "")[:8],
                *metrics,
                promotion,
            )
        if not versions:
            console.print(f"{name}: no versions registered yet")
        else:
            console.print(table)


def _bind_oracle_reader(read_oracle: OracleReader) -> Callable[..., None]:
    """``train`` with ``read_oracle`` bound, and a signature of only its command-line options (what typer reads)."""

    def train_command(**options: Any) -> None:
        train(read_oracle=read_oracle, **options)

    signature = inspect.signature(train, eval_str=True)
    options = [p for p in signature.parameters.values() if p.name != "read_oracle"]
    train_command.__signature__ = signature.replace(parameters=options)  # type: ignore[attr-defined]
    train_command.__annotations__ = {p.name: p.annotation for p in options}
    train_command.__doc__ = train.__doc__
    return train_command


def register(app: typer.Typer, *, read_oracle: OracleReader) -> None:
    """Add `train`, `promote` and `models` to the root app; ``read_oracle`` serves `train --truth`."""
    app.command("train")(_bind_oracle_reader(read_oracle))
    app.command("promote")(promote)
    app.command("models")(models)
