"""`churnltv score`: batch-score the whole customer base into a score store (local engine or Spark)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add `churnltv score` to the root app."""

    @app.command("score")
    def score(  # noqa: PLR0917 (typer maps each option to a parameter)
        data: str = typer.Option(
            "data/demo.duckdb",
            "--data",
            help="Customer data: a .duckdb file, a CSV/Parquet directory or postgresql://.",
        ),
        as_of: str = typer.Option(
            None, "--as-of", help="Cutoff date (exclusive); default: the day after the data's latest event."
        ),
        output: str = typer.Option(
            None,
            "--output",
            help="Score store: a Parquet directory, file.duckdb[?table=scores] or postgresql://...?table=scores "
            "(default: CHURNLTV_SCORE_STORE, else data/scores).",
        ),
        engine: str = typer.Option("local", "--engine", help="local (one process, DuckDB + numpy) or spark."),
        chunk_size: int = typer.Option(
            None, "--chunk-size", help="Customers per part (default CHURNLTV_SCORE_CHUNK_SIZE = 100000)."
        ),
        resume: str = typer.Option(
            None, "--resume", help="Finish a killed or failed run: skips the parts already written."
        ),
        churn_model: str = typer.Option(
            None, "--churn-model", help="Alias, models:/ URI or bundle directory (default CHURNLTV_CHURN_MODEL)."
        ),
        ltv_model: str = typer.Option(
            None, "--ltv-model", help="Alias, models:/ URI or bundle directory; 'none' scores without LTV."
        ),
        spark_master: str = typer.Option(
            None, "--spark-master", help="Spark master URL for --engine spark (default local[*] or spark-submit's)."
        ),
    ) -> None:
        """Score every customer signed up before --as-of and publish the run atomically (exit 2: too many bad rows)."""
        import logging

        import pandas as pd

        from features.errors import UserInputError
        from service.batch_scoring import BatchScoringSettings, run_batch
        from service.model_set import load_model_set
        from service.settings import load_service_settings

        if not logging.getLogger().handlers:
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        if engine not in ("local", "spark"):
            raise UserInputError(f"--engine must be local or spark (got {engine!r})")
        service_settings = load_service_settings()
        batch_settings = BatchScoringSettings()
        if as_of is not None:
            try:
                cutoff: pd.Timestamp | None = pd.Timestamp(as_of)
            except (ValueError, TypeError):
                raise UserInputError(f"--as-of {as_of!r} is not a date (use YYYY-MM-DD)") from None
        else:
            cutoff = None
        ltv_ref = ltv_model or service_settings.ltv_model
        models = load_model_set(
            churn_ref=churn_model or service_settings.churn_model,
            ltv_ref=None if ltv_ref.lower() == "none" else ltv_ref,
            tracking_uri=service_settings.tracking_uri,
        )
        target = output or service_settings.score_store or "data/scores"
        try:
            result = run_batch(
                data,
                cutoff,
                target,
                models=models,
                engine=engine,  # type: ignore[arg-type]
                chunk_size=chunk_size or batch_settings.chunk_size,
                resume=resume,
                settings=batch_settings,
                spark_master=spark_master,
                top_reasons=service_settings.top_reasons,
            )
        finally:
            if engine == "spark":
                from pyspark.sql import SparkSession

                active = SparkSession.getActiveSession()
                if active is not None:
                    active.stop()
        typer.echo(
            f"run {result.run_id} {result.status}: {result.rows_written} customers scored as of "
            f"{result.as_of.date()}, {result.bad_rows} bad rows, {result.parts_total} parts "
            f"({result.parts_skipped} resumed), {result.seconds:.1f} s, {result.rows_per_second:,.0f} rows/s -> "
            f"{result.target}"
        )
