"""Every setting of one `churnltv` command, read from the environment once, at the edge, and handed down.

The root CLI builds one ``Settings`` per command invocation and gives it to the commands of every package
(``features.cli``, ``training.cli``, this package's commands); the commands pass its sections to the jobs, which
build none themselves. A section is read from its environment variables the first time a command asks for it (a
command pays only for what it uses), then kept for the rest of the run. Invalid values are ``UserInputError``s that
name the variable; a command applies its flags to a section with ``model_copy(update=...)`` (flags are validated by
the command line itself).
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings

    from features.duckdb_settings import DuckDBSettings
    from features.settings import FeatureSettings
    from models.ltv_settings import LtvSettings
    from models.policy_settings import PolicySettings
    from training.monitor_settings import MonitorSettings
    from training.settings import TrainingSettings


class Settings:
    """The composite settings of one run: features, DuckDB, training/tracking, LTV, monitor and policy sections."""

    @classmethod
    def from_environment(cls) -> Settings:
        """A fresh composite (nothing is read until a section is used)."""
        return cls()

    @cached_property
    def features(self) -> FeatureSettings:
        """``CHURNLTV_FEATURES_*``: the Aha rule, core event types, horizon, churn definition."""
        from features.settings import load_feature_settings

        return load_feature_settings()

    @cached_property
    def duckdb(self) -> DuckDBSettings:
        """``CHURNLTV_DUCKDB_*``: memory limit, threads and spill directory of every data-source connection."""
        from features.duckdb_settings import DuckDBSettings

        return _validated(DuckDBSettings, "CHURNLTV_DUCKDB_")

    @cached_property
    def training(self) -> TrainingSettings:
        """``CHURNLTV_*``: the MLflow store, experiments, promotion margin and tuning budget."""
        from training.settings import TrainingSettings

        return _validated(TrainingSettings, "CHURNLTV_")

    @cached_property
    def ltv(self) -> LtvSettings:
        """``CHURNLTV_LTV_*``: the lifetime-value models."""
        from models.ltv_settings import load_ltv_settings

        return load_ltv_settings()

    @cached_property
    def monitor(self) -> MonitorSettings:
        """``CHURNLTV_MONITOR_*``: the drift monitor's band limits."""
        from training.monitor_settings import load_monitor_settings

        return load_monitor_settings()

    @cached_property
    def policy(self) -> PolicySettings:
        """``CHURNLTV_POLICY_*``: every threshold of the customer policy."""
        from models.policy_settings import load_policy_settings

        return load_policy_settings()


S = TypeVar("S", bound="BaseSettings")


def _validated(cls: type[S], prefix: str) -> S:
    """``cls()`` from the environment; a bad value is a ``UserInputError`` naming its variable."""
    from pydantic import ValidationError

    from features.errors import UserInputError

    try:
        return cls()
    except ValidationError as err:
        lines = [f"{prefix}{'_'.join(str(p) for p in issue['loc']).upper()}: {issue['msg']}" for issue in err.errors()]
        raise UserInputError("invalid settings:\n  - " + "\n  - ".join(lines)) from err
