"""`churnltv uplift train|promote|score`: the uplift models' command line (docs/RETENTION_DECISIONS.md).

``train`` learns, per action, the effect of contacting a customer from past campaigns with a random control group
(table ``campaign_contacts``), evaluates it on the latest campaigns, logs to MLflow and registers
``churnltv-uplift`` as challenger. ``promote`` moves champion when the challenger's Qini coefficient on its own
held-out contacts is at least the champion's plus the margin. ``score`` writes, for every customer at a date,
the uplift of every modelled action and the best action, with the uplift champion alone.

MLflow metric names: ``test_qini`` (contact-weighted mean over actions: the promotion metric),
``test_qini_<action>`` and ``test_uplift_at_<k>pct_<action>`` with ``_ci_low``/``_ci_high``, the same with the
prefixes ``baseline_random_``, ``baseline_churn_probability_``, ``baseline_value_at_risk_`` and ``oracle_`` (on
generated data), ``..._<action>_spend`` for the spend outcome, and ``test_qini_ratio_to_oracle_<action>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

uplift_app = typer.Typer(
    name="uplift",
    help="Uplift models: whom contacting helps, with which action (learned from past campaigns' control groups).",
    no_args_is_help=True,
)

_SHOWN = ("test_qini", "oracle_test_qini", "baseline_random_test_qini", "baseline_churn_probability_test_qini")


@uplift_app.command("train")
def train(
    ctx: typer.Context,
    data: str = typer.Option(
        ...,
        "--data",
        help="Data source with a campaign_contacts table: a *.duckdb file, a folder or a postgresql:// URL.",
    ),
    horizon_days: int | None = typer.Option(
        None,
        "--horizon-days",
        min=1,
        help="Outcome horizon after each contact in days: retained = the churn label over it (default: feature "
        "settings, 30).",
    ),
) -> None:
    """Train one uplift model per action with enough contacts, evaluate on the latest campaigns, register it."""
    from models.churn_classifier import prefer_passive_openmp

    prefer_passive_openmp()
    from rich.console import Console
    from rich.table import Table

    from training.cli_churn import _progress_logging
    from training.cli_settings import settings_of
    from training.uplift_job import train_uplift

    _progress_logging()
    run = settings_of(ctx)
    overrides: dict[str, Any] = {} if horizon_days is None else {"horizon_days": horizon_days}
    result = train_uplift(data, run.training, run.features.model_copy(update=overrides))
    console = Console()
    table = Table(title=f"churnltv-uplift version {result.version} (alias challenger), run {result.run_id}")
    for col in ("metric", "value", "95% interval"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for name in sorted(result.metrics):
        if name.endswith(("_ci_low", "_ci_high")) or "_spend" in name or not name.startswith(_SHOWN):
            continue
        low, high = result.metrics.get(f"{name}_ci_low"), result.metrics.get(f"{name}_ci_high")
        interval = f"{low:.4f} .. {high:.4f}" if low is not None and high is not None else ""
        table.add_row(name, f"{result.metrics[name]:.4f}", interval)
    console.print(table)
    console.print("Qini coefficient: extra retained customers per held-out contact vs random targeting")
    console.print(f"bundle: {result.bundle_dir}")
    console.print("next: churnltv uplift promote")


@uplift_app.command("promote")
def promote(
    ctx: typer.Context,
    force: bool = typer.Option(False, "--force", help="Promote the challenger even if it does not beat the champion."),
    margin: float | None = typer.Option(
        None,
        "--margin",
        min=0.0,
        help="Qini gain required over the champion (default 0, CHURNLTV_UPLIFT_PROMOTE_MARGIN).",
    ),
) -> None:
    """Move alias champion to the uplift challenger if its holdout Qini is at least the champion's (+ margin)."""
    from training.cli_churn import _progress_logging
    from training.cli_settings import settings_of
    from training.registry import UPLIFT_MODEL
    from training.registry import promote as promote_version
    from training.tracking import use_tracking
    from training.uplift_job import holdout_decider

    _progress_logging()
    settings = settings_of(ctx).training
    use_tracking(settings)
    chosen = settings.uplift_promote_margin if margin is None else margin
    decision = promote_version(UPLIFT_MODEL, decide=holdout_decider(chosen, seed=settings.random_seed), force=force)
    verdict = "promoted to champion" if decision.promote else "NOT promoted"
    typer.echo(f"{UPLIFT_MODEL} version {decision.challenger_version}: {verdict}")
    typer.echo(f"why: {decision.reason}")


@uplift_app.command("score")
def score(
    ctx: typer.Context,
    data: Annotated[str, typer.Option("--data", help="Data source: a *.duckdb file, a folder, a postgresql:// URL.")],
    as_of: Annotated[str, typer.Option("--as-of", help="Score as of this date (YYYY-MM-DD), from data before it.")],
    output: Annotated[Path, typer.Option("--output", help="Parquet file to write (replaced atomically).")],
    model: Annotated[
        str, typer.Option("--model", help="Uplift model: an alias, models:/<name>@<alias> or a bundle path.")
    ] = "champion",
) -> None:
    """Write customer_id, uplift_<action>, spend_uplift_<action>, best_action, expected_uplift and
    incremental_value for every customer signed up before --as-of, with the uplift model alone.

    No churn or LTV model is needed: the value of keeping a customer is their last 90 days of spend scaled to a
    year (the API and batch scoring use the LTV model instead)."""
    import os

    import mlflow

    from features.campaign_outcomes import features_at
    from features.errors import UserInputError
    from features.settings import FeatureSettings
    from features.sources import open_source
    from models.bundle_source import downloaded_bundle
    from models.retention_decision import spend_run_rate
    from models.uplift_bundle import UpliftBundle
    from training.cli_ltv import _day
    from training.cli_settings import settings_of
    from training.registry import UPLIFT_MODEL
    from training.tracking import use_tracking

    if output.suffix != ".parquet":
        raise UserInputError(f"--output {output}: give a file name ending in .parquet")
    when = _day(as_of, "--as-of")
    run = settings_of(ctx)
    use_tracking(run.training)
    with downloaded_bundle(model, default_name=UPLIFT_MODEL, tracking_uri=mlflow.get_tracking_uri()) as path:
        bundle = UpliftBundle.load(path)
    policy = run.policy
    fs = FeatureSettings(**bundle.metadata.get("feature_settings", {}))
    con = open_source(data).connect()
    frame, _, _ = features_at(con, None, when, fs)
    scored = bundle.decide(frame, spend_run_rate(frame), no_action=policy.action_none_key)
    out = scored.drop(columns="action_cost")
    out.insert(0, "customer_id", frame["customer_id"].to_numpy())
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")
    try:
        out.reset_index(drop=True).to_parquet(tmp, index=False)
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)
    counts = out["best_action"].value_counts().to_dict()
    typer.echo(
        f"wrote {len(out):,} customers to {output} (as of {when.date()}): best action "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()))
    )


def register(app: typer.Typer) -> None:
    """Add the `uplift` command group to the root app."""
    app.add_typer(uplift_app)
