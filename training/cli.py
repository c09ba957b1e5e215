"""Commands contributed by the `training` package to the `churnltv` CLI."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from training.cli_churn import OracleReader


def register(app: typer.Typer, *, read_oracle: OracleReader) -> None:
    """Add this package's commands to the root app (one module per job).

    ``read_oracle`` turns the file of ``churnltv train --truth FILE`` into the oracle the holdout evaluation takes:
    the composition root passes the generator's reader, since training may not import the generator.
    """
    from training import cli_churn, cli_ltv, cli_monitor, cli_uplift

    cli_churn.register(app, read_oracle=read_oracle)
    cli_ltv.register(app)
    cli_monitor.register(app)
    cli_uplift.register(app)
