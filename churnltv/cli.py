"""The `churnltv` console command.

Each package contributes its own commands through a ``register(app)`` function so
that the package that owns a job also owns its command line. Command modules keep
heavy imports (pandas, LightGBM, MLflow, Spark) inside the command bodies, so
``churnltv --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from typer._click.core import Context as _ClickContext  # typer vendors click; its Context is the base type
from typer.core import TyperGroup
from typer.exceptions import TyperException

from churnltv import __version__
from features.errors import UserInputError
from features.source_url import scrub_password

if TYPE_CHECKING:
    from churnltv.generator.truth import TruthOracle


class _UserErrorGroup(TyperGroup):
    """Turns user-fixable errors into a one-paragraph message and exit code 2.

    Bad input must never show a traceback. Unexpected errors (bugs) print a short
    line too; set CHURNLTV_DEBUG=1 to see the traceback.
    """

    def invoke(self, ctx: _ClickContext) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, TyperException):
            raise
        except UserInputError as err:
            typer.echo(f"error: {scrub_password(str(err))}", err=True)  # a message may quote a URL
            raise typer.Exit(2) from None
        except OSError as err:
            # missing file, permission denied, disk full: the user's environment, not a bug
            name = f" {err.filename!r}" if err.filename else ""
            typer.echo(f"error: cannot use{name}: {err.strerror or err}", err=True)
            raise typer.Exit(2) from None
        except Exception as err:
            if os.environ.get("CHURNLTV_DEBUG"):
                raise
            typer.echo(
                f"error: unexpected {type(err).__name__}: {scrub_password(str(err))} "
                "(set CHURNLTV_DEBUG=1 for the traceback)",
                err=True,
            )
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=_UserErrorGroup,
    name="churnltv",
    help=(
        "Churn and lifetime-value prediction: generate or load customer data, build point-in-time "
        "features, train and register models, serve predictions, batch-score the base.\n\n"
        "Settings come from environment variables prefixed CHURNLTV_ (see README)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"churnltv {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Churn and lifetime-value prediction."""
    from churnltv.settings import Settings

    # the one composite settings object of this command run; every package's commands read their sections from it
    ctx.obj = Settings.from_environment()


def _read_truth(path: Path) -> TruthOracle:
    """`churnltv train --truth FILE`: the generator's truth file as the oracle of the holdout evaluation."""
    from churnltv.generator.truth import TruthOracle

    return TruthOracle.read(path)


def _register_all() -> None:
    from churnltv import demo, generate_command, report_command
    from features import cli as features_cli
    from service import cli as service_cli
    from training import cli as training_cli

    features_cli.register(app)
    generate_command.register(app)
    training_cli.register(app, read_oracle=_read_truth)
    service_cli.register(app)
    report_command.register(app)
    demo.register(app)


_register_all()


def main() -> None:
    # LightGBM's OpenMP threads busy-wait by default; on a shared 2-core box that made a 50-tree fit
    # take 32 s instead of 2 s. Passive waiting gives identical models. Must be set before OpenMP loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    app(prog_name="churnltv")
    sys.exit(0)
