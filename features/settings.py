"""Feature and label settings (env prefix ``CHURNLTV_FEATURES_``).

The source articles give example figures (3 core actions within 7 days of signup as the Aha
moment, a 30-day horizon, 60 idle days as "dormant", 3+ core modules used); docs/DOMAIN.md section 2
says the Aha rule is a setting: (event set, count N, within K days of signup | K days in a row).
Every such figure is a default here, never a constant in the SQL, because every product has its
own rhythm.

Nested values come from the environment as JSON or with ``__`` as the nesting delimiter, e.g.
``CHURNLTV_FEATURES_AHA__COUNT=5`` or ``CHURNLTV_FEATURES_CORE_EVENT_TYPES='["core_action","export"]'``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from features.errors import UserInputError
from features.event_vocabulary import EventVocabulary
from features.lapse import LapseRule
from features.time_units import TimeUnit


class AhaRule(BaseModel):
    """The activation ("Aha moment") rule of docs/DOMAIN.md section 2.

    * ``within_days_of_signup``: at least ``count`` events whose type is in ``event_types``
      within the first ``within_days`` days after signup (the tool example: 3 core actions in 7 days).
    * ``days_in_a_row``: such events on ``within_days`` consecutive calendar days, at any time
      (the SaaS example: core feature used 7 days in a row); ``count`` is the minimum number of
      events per day for a day to count (1 = any use that day).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_types: tuple[str, ...] = Field(("core_action",), min_length=1, description="Event types that count.")
    count: int = Field(3, ge=1, description="Events needed (per day in the days_in_a_row mode).")
    within_days: int = Field(7, ge=1, description="Window after signup, or the length of the streak in days.")
    mode: Literal["within_days_of_signup", "days_in_a_row"] = "within_days_of_signup"

    def describe(self) -> str:
        """The rule in one plain sentence (used in feature descriptions)."""
        types = ", ".join(self.event_types)
        if self.mode == "days_in_a_row":
            return f"{self.count}+ of ({types}) a day on {self.within_days} days in a row"
        return f"{self.count}+ of ({types}) within {self.within_days} days of signup"


class FeatureSettings(BaseSettings):
    """Windows, thresholds and definitions used by point-in-time features and labels."""

    model_config = SettingsConfigDict(
        env_prefix="CHURNLTV_FEATURES_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    core_event_types: tuple[str, ...] = Field(
        ("core_action",), min_length=1, description="Event types that are core actions (the key behaviour)."
    )
    aha: AhaRule = Field(default_factory=AhaRule, description="The activation rule.")
    weekly_aha_bar: int = Field(
        3, ge=1, description="Core actions per 7-day block that count as reaching the Aha bar that week."
    )
    horizon_days: int = Field(30, ge=1, description="Label horizon H in days after the cutoff.")
    churn_definition: Literal["auto", "non_contractual", "contractual"] = Field(
        "auto",
        description="non_contractual: no qualifying activity in the horizon; contractual: subscription ended in it; "
        "auto: contractual when a subscriptions table exists and at least contractual_min_share of the customers "
        "subscribe, else non_contractual (features/churn_definition.py).",
    )
    contractual_min_share: float = Field(
        0.5,
        gt=0.0,
        le=1.0,
        description="churn_definition auto: share of customers with a subscription from which the base is contractual.",
    )
    non_contractual_population: Literal["lookback", "rhythm"] = Field(
        "lookback",
        description="Who is at risk at a cutoff (non_contractual): lookback = activity in the activity_lookback_days "
        "before it; rhythm = active before it and not already gone by their own rhythm (the lapse rule).",
    )
    activity_lookback_days: int = Field(
        90,
        ge=1,
        description="non_contractual_population lookback: customers with activity in this many days before the cutoff.",
    )
    lapse: LapseRule = Field(
        default_factory=LapseRule,
        description="When a customer is already gone by their own rhythm (features/lapse.py): lifecycle stage lost, "
        "and left out of the non-contractual training population with non_contractual_population rhythm.",
    )
    dormant_days: int = Field(60, ge=1, description="A gap at least this long followed by activity = reactivation.")
    btyd_time_unit: TimeUnit = Field(TimeUnit.WEEK, description="Unit of btyd_recency and btyd_T (D, W or M).")
    n_core_modules: int | None = Field(
        None, ge=1, description="Number of core modules the product has; None = derived from the data."
    )
    core_modules_threshold: int = Field(
        3,
        ge=1,
        description=(
            "Core modules used in the last 90 days from which the flag uses_3plus_modules is 1 (docs/DOMAIN.md "
            "section 4: 3+ core modules predict long-term value). The column keeps its name whatever the value."
        ),
    )

    vocabulary: Literal["on", "off"] = Field(
        "on",
        description="Behaviour features per event type and module learned from the data at training "
        "(features/behaviour_vocabulary.py); off leaves them out of new models.",
    )
    vocabulary_max_types: int = Field(
        8, ge=1, le=50, description="At most this many event types (and as many modules) get their own columns."
    )
    vocabulary_min_share: float = Field(
        0.005, ge=0.0, le=1.0, description="A type or module needs this share of all events for its own columns."
    )
    vocabulary_min_events: int = Field(
        100, ge=1, description="A type or module needs this many events for its own columns."
    )
    learned_vocabulary: EventVocabulary | None = Field(
        None,
        description="The vocabulary learned at training (recorded in the feature spec; not meant to be set by hand).",
    )

    @classmethod
    def from_recorded(cls, recorded: Mapping[str, Any] | None) -> FeatureSettings:
        """The settings a feature spec or model recorded (``summary()``), to build exactly its columns again.

        Keys this release does not know and unset (null) values are skipped, so specs of older releases load.
        """
        known = {k: v for k, v in (recorded or {}).items() if k in cls.model_fields and v is not None}
        return cls(**known)

    @model_validator(mode="before")
    @classmethod
    def _parse_unit(cls, data: Any) -> Any:
        # accept "week"/"weeks"/"w" as TimeUnit.parse does, not only the enum's letter
        if isinstance(data, dict) and isinstance(data.get("btyd_time_unit"), str):
            with contextlib.suppress(ValueError):  # else pydantic reports the bad value with the field name
                data = {**data, "btyd_time_unit": TimeUnit.parse(data["btyd_time_unit"])}
        return data

    def summary(self) -> dict[str, Any]:
        """Plain JSON-able dict (saved in the feature spec and model metadata)."""
        return self.model_dump(mode="json")


def load_feature_settings(**overrides: object) -> FeatureSettings:
    """Build settings from the environment plus ``overrides``; invalid values become a UserInputError.

    The message names each bad setting with its environment variable, which is what a user fixing
    a deployment needs (pydantic's own error names only the field).
    """
    try:
        return FeatureSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as err:
        lines = []
        for issue in err.errors():
            loc = [str(p) for p in issue["loc"]]
            field = ".".join(loc) or "settings"
            env = "CHURNLTV_FEATURES_" + "__".join(p.upper() for p in loc[:2]) if loc else "CHURNLTV_FEATURES_*"
            lines.append(f"{field} ({env}): {issue['msg']}")
        raise UserInputError("invalid feature settings:\n  - " + "\n  - ".join(lines)) from err
