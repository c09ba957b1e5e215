"""`churnltv monitor`: drift of the scoring snapshot against the training snapshot (exit 1 on alert)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add `churnltv monitor` to the root app."""

    @app.command("monitor")
    def monitor(  # noqa: PLR0917 (typer maps each option to a parameter)
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
        no_mlflow: bool = typer.Option(False, "--no-mlflow", help="Do not log the result to MLflow."),
    ) -> None:
        """PSI per feature and for the churn score, BTYD purchases check, calibration on matured labels."""
        import logging

        import pandas as pd

        from features.errors import UserInputError
        from training.drift_monitor import run_drift_monitor
        from training.settings import TrainingSettings

        if not logging.getLogger().handlers:
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        try:
            cutoff = pd.Timestamp(as_of)
            reference = None if reference_as_of is None else pd.Timestamp(reference_as_of)
        except (ValueError, TypeError):
            raise UserInputError("--as-of / --reference-as-of must be dates (YYYY-MM-DD)") from None
        report = run_drift_monitor(
            data,
            cutoff,
            settings=TrainingSettings(),
            reference_as_of=reference,
            churn_ref=churn_model,
            ltv_ref=None if ltv_model.lower() == "none" else ltv_model,
            out_dir=None if out is None else Path(out),
            log_to_mlflow=not no_mlflow,
        )
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
            raise typer.Exit(1)
