"""`churnltv validate` and `churnltv contract`: check a source against the data contract, print the contract."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DATA_HELP = "Data source: a directory of CSV/Parquet files, a .duckdb file, or a postgresql:// URL."


def register(app: typer.Typer) -> None:
    """Add `validate` and `contract` to the root app."""

    @app.command("validate")
    def validate(
        ctx: typer.Context,
        data: Annotated[str, typer.Option("--data", help=DATA_HELP)] = "data/demo.duckdb",
        report: Annotated[Path, typer.Option("--report", help="Where to save the data-quality summary (JSON).")] = Path(
            "reports/data_quality.json"
        ),
        extracted_at: Annotated[
            str | None,
            typer.Option("--extracted-at", help="When the data was exported; later rows are errors (default: now)."),
        ] = None,
    ) -> None:
        """Check a data source against the data contract and print a data-quality summary.

        Every problem is listed with its file/table, row, column and value. Exit code 2 when
        the data breaks the contract, 0 when it is clean.
        """
        from features.cli_settings import settings_of
        from features.errors import UserInputError
        from features.source_url import scrub_password
        from features.sources import open_source

        if extracted_at is not None:
            import pandas as pd

            try:
                pd.Timestamp(extracted_at)
            except ValueError:
                raise UserInputError(
                    f"--extracted-at {extracted_at!r} is not a date/time (use e.g. 2025-01-01 or 2025-01-01T12:00:00)"
                ) from None
        source = open_source(data, extracted_at=extracted_at, duckdb_settings=settings_of(ctx).duckdb)
        try:
            result = source.validate()
        finally:
            source.close()
        typer.echo(result.render_text())
        result.save(report)
        typer.echo(f"summary saved to {report}")
        if not result.ok:
            raise UserInputError(
                f"{result.rows_rejected:,} problem(s) in {scrub_password(data)}; fix them and run validate again"
            )

    @app.command("contract")
    def contract(
        out: Annotated[Path | None, typer.Option("--out", help="Write the Markdown to this file.")] = None,
    ) -> None:
        """Print the data contract (tables, columns, types, rules) as Markdown."""
        from features.contract import render_markdown

        text = render_markdown()
        if out is None:
            typer.echo(text)
        else:
            out.write_text(text + "\n")
            typer.echo(f"wrote {out}")
