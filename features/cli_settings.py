"""What the `features` package's commands need of a run's settings, built once per command by the CLI's root."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, cast

if TYPE_CHECKING:
    import typer

    from features.duckdb_settings import DuckDBSettings
    from features.settings import FeatureSettings


class FeaturesCliSettings(Protocol):
    """The settings this package's commands use, built once per command by the CLI's root (``churnltv.settings``)."""

    @property
    def features(self) -> FeatureSettings: ...

    @property
    def duckdb(self) -> DuckDBSettings: ...


def root_settings(ctx: typer.Context) -> object:
    """The object the root command put in the root context for this run (``ctx.obj``)."""
    obj = ctx.find_root().obj
    if obj is None:  # a command registered on an app without churnltv's root callback
        raise RuntimeError("no run settings: register this command through churnltv.cli")
    return obj


def settings_of(ctx: typer.Context) -> FeaturesCliSettings:
    """The settings the root command built for this run."""
    return cast("FeaturesCliSettings", root_settings(ctx))
