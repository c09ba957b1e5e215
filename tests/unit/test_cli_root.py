"""The root command: --help explains and --version agrees with the package metadata."""

from typer.testing import CliRunner

from churnltv import __version__
from churnltv.cli import app


def test_version_matches_package_metadata() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"churnltv {__version__}"
    assert __version__ != "0.0.0+unknown"


def test_help_lists_settings_prefix() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "CHURNLTV_" in result.output
