"""What the `training` package's commands need of a run's settings, built once per command by the CLI's root."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, cast

from features.cli_settings import FeaturesCliSettings, root_settings

if TYPE_CHECKING:
    import typer

    from models.ltv_settings import LtvSettings
    from models.policy_settings import PolicySettings
    from training.monitor_settings import MonitorSettings
    from training.settings import TrainingSettings


class TrainingCliSettings(FeaturesCliSettings, Protocol):
    """The features and DuckDB sections plus training's own (``churnltv.settings.Settings`` provides them)."""

    @property
    def training(self) -> TrainingSettings: ...

    @property
    def ltv(self) -> LtvSettings: ...

    @property
    def monitor(self) -> MonitorSettings: ...

    @property
    def policy(self) -> PolicySettings: ...


def settings_of(ctx: typer.Context) -> TrainingCliSettings:
    """The settings the root command built for this run."""
    return cast("TrainingCliSettings", root_settings(ctx))
