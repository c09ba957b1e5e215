"""Commands contributed by the `training` package to the `churnltv` CLI."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app (one module per job)."""
    from training import cli_churn, cli_ltv, cli_monitor, cli_uplift

    cli_churn.register(app)
    cli_ltv.register(app)
    cli_monitor.register(app)
    cli_uplift.register(app)
