"""`churnltv generate`: write a realistic synthetic base (and its hidden ground truth) in contract form.

It lives in the composition root with the generator (``churnltv.generator``): generated data is demo and test
tooling, and the truth file it writes is handed to training explicitly (``churnltv train --truth FILE``).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Annotated

import typer

logger = logging.getLogger(__name__)

PROGRESS_FROM_CUSTOMERS = 50_000
"""Show a progress bar from this many customers on (smaller bases take a second or two)."""


def register(app: typer.Typer) -> None:
    """Add `generate` to the root app."""

    @app.command("generate")
    def generate(  # noqa: PLR0917 - typer options
        customers: Annotated[
            int, typer.Option("--customers", help="Number of customers to simulate (1M gives about 50M events).")
        ] = 10_000,
        seed: Annotated[int, typer.Option("--seed", help="Random seed; the same seed writes the same data.")] = 7,
        out: Annotated[
            Path,
            typer.Option(
                "--out",
                help="Where to write: a *.duckdb file, or a directory for parquet/csv files. The ground truth goes "
                "next to it as <name>.truth.parquet; training reads it only when given `churnltv train --truth FILE` "
                "(to compare the model with the best achievable score).",
            ),
        ] = Path("data/demo.duckdb"),
        fmt: Annotated[
            str | None,
            typer.Option(
                "--format", help="parquet, csv or duckdb (default: duckdb for *.duckdb paths, parquet otherwise)."
            ),
        ] = None,
        end: Annotated[
            str,
            typer.Option("--end", help="Extraction time: every generated row is dated strictly before it."),
        ] = "2026-06-30",
        campaigns: Annotated[
            bool,
            typer.Option(
                "--campaigns/--no-campaigns",
                help="Also simulate past retention campaigns with random control groups (table campaign_contacts) "
                "and heterogeneous effects (persuadables, sure things, lost causes, sleeping dogs); the true effect "
                "of every action goes into the truth file (`churnltv.generator.campaigns.true_uplift` reads it).",
            ),
        ] = False,
        vocabulary: Annotated[
            str,
            typer.Option(
                "--vocabulary",
                help="default: the demo's three event types; hetero: a subscription social app with eight event "
                "types (post, comment, like, view_ad, message, share, unfriend, login) whose rates drive churn with "
                "different signs, plus a ratio effect (ads seen per post), so totals cannot carry the signal; the "
                "true rates go into the truth file as rate_<type>.",
            ),
        ] = "default",
    ) -> None:
        """Generate a synthetic customer base with a hidden churn hazard and write it in contract form.

        Customers sign up over two years across channels with different CAC and quality, in B2C and
        B2B (accounts of several users) segments; their usage, purchases, subscriptions, NPS answers and
        support tickets follow a latent engagement state that drives churn. The true churn times and
        hazards are written to a separate truth file; pass it to `churnltv train --truth FILE` to compare the
        model with the best possible score.
        """
        import pandas as pd
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        from churnltv.generator import generate as generate_base
        from churnltv.generator import truth_path_for
        from churnltv.generator.campaigns import RetentionCampaigns
        from churnltv.generator.vocabulary import vocabulary_mechanisms
        from features.dataset_writer import FORMATS, DatasetFormat, write_dataset, write_frame_parquet
        from features.errors import UserInputError

        if customers < 1:
            raise UserInputError(f"--customers must be at least 1 (got {customers})")
        if fmt is not None and fmt not in FORMATS:
            raise UserInputError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
        try:
            end_ts = pd.Timestamp(end)
        except (ValueError, TypeError):
            raise UserInputError(f"--end {end!r} is not a date (expected e.g. 2026-06-30)") from None
        if pd.isna(end_ts):
            raise UserInputError(f"--end {end!r} is not a date (expected e.g. 2026-06-30)")
        chosen: DatasetFormat | None = fmt  # type: ignore[assignment]
        vocabulary_mechanisms(vocabulary)  # a bad --vocabulary fails before any work

        console = Console(stderr=True)
        started = time.perf_counter()
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=customers < PROGRESS_FROM_CUSTOMERS,
        ) as progress:
            task = progress.add_task("generating", total=1.0)

            def on_progress(step: str, fraction: float) -> None:
                progress.update(task, description=f"generating {step}", completed=fraction)
                logger.debug("generate: %s %.0f%%", step, 100 * fraction)

            mechanisms = [*vocabulary_mechanisms(vocabulary), *([RetentionCampaigns()] if campaigns else [])]
            base = generate_base(customers, seed=seed, end=end_ts, on_progress=on_progress, mechanisms=mechanisms)
            progress.update(task, description=f"writing {out}", completed=1.0)
            written = write_dataset(base.tables, out, chosen)
            truth_file = write_frame_parquet(base.truth, truth_path_for(written))
        seconds = time.perf_counter() - started

        typer.echo(f"generated {customers:,} customers (seed {seed}, data ends before {base.end}) in {seconds:.1f} s")
        width = max(len(name) for name in base.tables)
        for name, frame in base.tables.items():
            typer.echo(f"  {name:<{width}}  {len(frame):>12,} rows")
        truth = base.truth
        month_start = base.end - pd.Timedelta(days=30)
        churn = truth["churn_at"]
        alive = (truth["signup_at"] < month_start) & (churn.isna() | (churn >= month_start))
        churned_last_month = alive & churn.notna() & (churn >= month_start)
        rate = float(churned_last_month.sum()) / max(int(alive.sum()), 1)
        typer.echo(
            f"churn: {churn.notna().mean():.1%} of customers churned at least once; "
            f"{rate:.1%} of those active 30 days before the end churned in those 30 days; "
            f"{truth['reactivated_at'].notna().mean():.1%} came back (reactivated)"
        )
        typer.echo(f"dataset: {written}")
        typer.echo(f"ground truth: {truth_file}")
        typer.echo(f"  training never reads it by itself; to compare a model with it: --truth {truth_file}")
