"""`churnltv monitor`: drift of the scoring snapshot against the training snapshot (exit 1 on alert).

Exit codes are the scheduler's contract: 0 stable or watch, 1 alert (only), 2 bad input (a message naming the
file, date or setting), 3 an internal error. An unexpected exception must not look like an alert (the root CLI
maps it to 1 for every other command), nor like a clean run.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

EXIT_ALERT = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL_ERROR = 3

HELP = (
    "PSI per feature and for the churn score, BTYD purchases check, calibration on matured labels against the "
    "model's holdout ECE. Band limits: CHURNLTV_MONITOR_* settings (PSI 0.1/0.2).\n\n"
    "Writes drift.json + drift.html and logs them to MLflow (experiment churnltv-monitor), where "
    "`churnltv report` finds the latest run.\n\n"
    "Exit codes: 0 stable or watch; 1 alert (any check, including a statistic that is not a finite number); "
    "2 bad input (message names it); 3 internal error (set CHURNLTV_DEBUG=1 for the traceback)."
)


def register(app: typer.Typer) -> None:
    """Add `churnltv monitor` to the root app."""

    @app.command("monitor", help=HELP)
    def monitor(  # noqa: PLR0917 (typer maps each option to a parameter)
        ctx: typer.Context,
        data: str = typer.Option(
            "data/demo.duckdb",
            "--data",
            help="Customer data: a .duckdb file, a CSV/Parquet directory or postgresql://.",
        ),
        as_of: str = typer.Option(..., "--as-of", help="The scoring snapshot's cutoff date (exclusive)."),
        reference_as_of: str = typer.Option(
            None, "--reference-as-of", help="Reference cutoff; default: the champion's latest training cutoff."
        ),
        churn_model: str = typer.Option("champion", "--churn-model", help="Alias, models:/ URI or bundle directory."),
        ltv_model: str = typer.Option(
            "champion", "--ltv-model", help="LTV model for the BTYD check (alias, URI, directory or 'none')."
        ),
        out: str = typer.Option(
            None, "--out", help="Directory for drift.json and drift.html (default reports/monitor/<as-of>)."
        ),
        no_mlflow: bool = typer.Option(
            False, "--no-mlflow", help="Do not log the result to MLflow (then `churnltv report --drift FILE`)."
        ),
    ) -> None:
        import logging

        import pandas as pd

        from features.errors import UserInputError
        from training.cli_settings import settings_of
        from training.drift_monitor import run_drift_monitor

        if not logging.getLogger().handlers:
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        try:
            cutoff = pd.Timestamp(as_of)
            reference = None if reference_as_of is None else pd.Timestamp(reference_as_of)
        except (ValueError, TypeError):
            raise UserInputError("--as-of / --reference-as-of must be dates (YYYY-MM-DD)") from None
        run = settings_of(ctx)
        limits = run.monitor
        try:
            report = run_drift_monitor(
                data,
                cutoff,
                settings=run.training,
                reference_as_of=reference,
                churn_ref=churn_model,
                ltv_ref=None if ltv_model.lower() == "none" else ltv_model,
                out_dir=None if out is None else Path(out),
                log_to_mlflow=not no_mlflow,
                limits=limits,
            )
        except (UserInputError, OSError):
            raise  # the root CLI prints the message and exits 2
        except Exception as err:
            if os.environ.get("CHURNLTV_DEBUG"):
                raise
            typer.echo(
                f"error: internal error in the drift monitor: {type(err).__name__}: {err} "
                "(set CHURNLTV_DEBUG=1 for the traceback)",
                err=True,
            )
            raise typer.Exit(EXIT_INTERNAL_ERROR) from None
        typer.echo(f"drift as of {cutoff.date()} vs {pd.Timestamp(report.reference_as_of).date()}: {report.status}")
        typer.echo(f"  score PSI {report.score['psi']:.3f} ({report.score['band']})")
        for f in report.features[:10]:
            typer.echo(f"  {f['feature']:<32} PSI {f['psi']:.3f} ({f['band']})")
        for name, check in (("BTYD", report.btyd), ("calibration", report.calibration)):
            if check:
                summary = check.get("band") or check.get("skipped")
                typer.echo(f"  {name}: {summary}")
        typer.echo(f"  report: {report.files.get('html')}")
        if report.status == "alert":
            raise typer.Exit(EXIT_ALERT)
