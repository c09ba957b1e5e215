"""Commands contributed by the `features` package to the `churnltv` CLI."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app (one module per job)."""
    from features import cli_data, cli_features

    cli_data.register(app)
    cli_features.register(app)
