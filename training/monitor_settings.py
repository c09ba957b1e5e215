"""Band limits of the drift monitor, as typed settings (env prefix ``CHURNLTV_MONITOR_``).

Each check of ``training.drift_monitor`` maps its statistic to a band: below ``*_watch`` stable, from
``*_watch`` up to ``*_alert`` watch, above ``*_alert`` alert. Defaults: PSI 0.1 / 0.2 (issue 8; the usual
credit-scoring convention, Siddiqi 2006), BTYD relative error of the purchase count 10% / 20%, and a rise of the
expected calibration error over the model's own holdout ECE of 0.02 / 0.05 (2 and 5 points of probability).
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from features.errors import UserInputError


class MonitorSettings(BaseSettings):
    """Watch and alert limits of every drift check."""

    model_config = SettingsConfigDict(env_prefix="CHURNLTV_MONITOR_", extra="forbid", frozen=True)

    psi_watch: float = Field(0.1, gt=0.0, description="PSI (feature or score) from which a check is 'watch'.")
    psi_alert: float = Field(0.2, gt=0.0, description="PSI above which a check is 'alert'.")
    btyd_watch: float = Field(
        0.1, gt=0.0, description="Relative error of purchases predicted vs observed since the LTV fit: 'watch'."
    )
    btyd_alert: float = Field(
        0.2, gt=0.0, description="Relative error of the BTYD purchase count above which: 'alert'."
    )
    calibration_watch: float = Field(
        0.02,
        gt=0.0,
        description="Rise of ECE on the latest matured labels over the model's holdout ECE from which: 'watch'.",
    )
    calibration_alert: float = Field(0.05, gt=0.0, description="Rise of ECE over the holdout ECE above which: 'alert'.")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        bad = [
            f"{name}_watch ({watch:g}) must not exceed {name}_alert ({alert:g})"
            for name, watch, alert in (
                ("psi", self.psi_watch, self.psi_alert),
                ("btyd", self.btyd_watch, self.btyd_alert),
                ("calibration", self.calibration_watch, self.calibration_alert),
            )
            if watch > alert
        ]
        if bad:
            raise ValueError("; ".join(bad))
        return self


def load_monitor_settings(**overrides: object) -> MonitorSettings:
    """Settings from the environment plus ``overrides``; invalid values become a UserInputError naming the variable."""
    try:
        return MonitorSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as err:
        lines = []
        for issue in err.errors():
            field = ".".join(str(p) for p in issue["loc"])
            where = f"{field} (CHURNLTV_MONITOR_{field.upper()})" if field else "monitor settings"
            lines.append(f"{where}: {issue['msg']}")
        raise UserInputError("invalid monitor settings:\n  - " + "\n  - ".join(lines)) from err
