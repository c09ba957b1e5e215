"""User errors end as a one-paragraph message and exit code 2, never a traceback."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from churnltv.cli import _UserErrorGroup
from features.errors import DataContractError, DataIssue


def _app_raising(exc: Exception) -> typer.Typer:
    app = typer.Typer(cls=_UserErrorGroup)

    @app.command()
    def boom() -> None:
        raise exc

    @app.command()
    def other() -> None:
        """A second command so Typer keeps sub-command mode."""

    return app


def test_data_contract_error_exits_2_with_location() -> None:
    issue = DataIssue("transactions", "amount", "negative amount", row=7, value="-3.5", source="tx.csv")
    result = CliRunner().invoke(_app_raising(DataContractError([issue])), ["boom"])
    assert result.exit_code == 2
    assert "tx.csv, row 7, column 'amount': negative amount (value: '-3.5')" in result.output
    assert "Traceback" not in result.output


def test_missing_file_exits_2_naming_the_file() -> None:
    err = FileNotFoundError(2, "No such file or directory", "/nope/data.csv")
    result = CliRunner().invoke(_app_raising(err), ["boom"])
    assert result.exit_code == 2
    assert "'/nope/data.csv'" in result.output


def test_bug_exits_1_without_traceback() -> None:
    result = CliRunner().invoke(_app_raising(RuntimeError("kaput")), ["boom"])
    assert result.exit_code == 1
    assert "unexpected RuntimeError: kaput" in result.output
    assert "Traceback" not in result.output
