"""The feature specification: what every point-in-time feature is, and how to say it in words.

A ``FeatureSpec`` is produced with every feature frame and saved with every model
(``feature_spec.json``), so that a model refuses a frame built differently (``diff`` says exactly
what differs) and reason codes can be phrased for people (``describe``: "core actions down 45% vs
prior 30 days", "no activity for 21 days", "uses 1 of 6 core modules").

Phrase templates
----------------
``FeatureDef.phrase`` is a ``str.format`` template with the placeholders ``{value}`` (the value,
rounded for reading), ``{pct}`` and ``{direction}`` (for ratios: ``|1 - value|`` in percent and
"down"/"up"; a feature with unit "log ratio" is exponentiated first, one with unit "share" gives ``{pct}``
as 100 x value), ``{n_core_modules}`` and any key of ``FeatureSpec.settings``. Two alternatives are
separated by ``" || "``: for flags the first is said when the flag is 1 and the second when it is
0; for other features the second is said when the value is missing (e.g. "never active").
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from features.errors import UserInputError
from features.time_units import TimeUnit

if TYPE_CHECKING:
    import pandas as pd

    from features.settings import FeatureSettings

Dtype = Literal["float", "int", "category"]
Kind = Literal["numeric", "categorical", "flag"]

SPEC_FORMAT_VERSION = 1
ID_COLUMNS = ("customer_id", "as_of")
ALTERNATIVE = " || "
# settings that change what a feature means; the others (horizon, churn definition, lookback) only shape labels
FEATURE_SETTING_KEYS = (
    "core_event_types",
    "aha",
    "weekly_aha_bar",
    "dormant_days",
    "btyd_time_unit",
    "core_modules_threshold",
    "learned_vocabulary",
)


@dataclass(frozen=True)
class FeatureDef:
    """One feature column: its type, meaning, reason-code phrase, unit and input table."""

    name: str
    dtype: Dtype
    kind: Kind
    description: str
    phrase: str
    unit: str | None
    source: str


def feature_catalog(settings: FeatureSettings) -> list[FeatureDef]:
    """Every feature of the vocabulary (docs/ARCHITECTURE.md), in output order.

    ``source`` is the table a feature needs; account roll-ups need ``customers.account_id``.
    Descriptions spell out the settings in force (core event types, Aha rule, time unit).
    """
    core = ", ".join(settings.core_event_types)
    unit = settings.btyd_time_unit
    unit_name = {TimeUnit.DAY: "days", TimeUnit.WEEK: "weeks", TimeUnit.MONTH: "months"}[unit]
    aha = settings.aha.describe()
    bar = settings.weekly_aha_bar
    dormant = settings.dormant_days
    out: list[FeatureDef] = [
        FeatureDef(
            "tenure_days",
            "float",
            "numeric",
            "Days from signup to the cutoff.",
            "customer for {value} days",
            "days",
            "customers",
        ),
        FeatureDef(
            "segment",
            "category",
            "categorical",
            "Business model of the customer (b2c/b2b).",
            "segment {value}",
            None,
            "customers",
        ),
        FeatureDef(
            "acquisition_channel",
            "category",
            "categorical",
            "Channel that acquired the customer.",
            "acquired via {value}",
            None,
            "customers",
        ),
    ]
    for days in (7, 30, 90):
        out.append(
            FeatureDef(
                f"events_{days}d",
                "int",
                "numeric",
                f"Events in the {days} days before the cutoff.",
                f"{{value}} events in the last {days} days",
                "events",
                "events",
            )
        )
    for days in (7, 30, 90):
        out.append(
            FeatureDef(
                f"active_days_{days}d",
                "int",
                "numeric",
                f"Distinct calendar days with any event in the {days} days before the cutoff.",
                f"active on {{value}} of the last {days} days",
                "days",
                "events",
            )
        )
    out += [
        FeatureDef(
            "core_actions_30d",
            "int",
            "numeric",
            f"Core actions ({core}) in the 30 days before the cutoff.",
            "{value} core actions in the last 30 days",
            "actions",
            "events",
        ),
        FeatureDef(
            "core_actions_prev_30d",
            "int",
            "numeric",
            f"Core actions ({core}) in the 30 days before those.",
            "{value} core actions in the 30 days before that",
            "actions",
            "events",
        ),
        FeatureDef(
            "core_trend_ratio",
            "float",
            "numeric",
            "core_actions_30d / core_actions_prev_30d (null when the prior 30 days had none).",
            "core actions {direction} {pct}% vs prior 30 days || no core actions in the prior 30 days",
            "ratio",
            "events",
        ),
        FeatureDef(
            "days_since_last_event",
            "float",
            "numeric",
            "Days since the last event (null when never active).",
            "no activity for {value} days || never active",
            "days",
            "events",
        ),
        FeatureDef(
            "days_since_last_core_action",
            "float",
            "numeric",
            "Days since the last core action (null when never).",
            "no core action for {value} days || never used a core feature",
            "days",
            "events",
        ),
        FeatureDef(
            "modules_used_90d",
            "int",
            "numeric",
            "Distinct product modules used in the last 90 days.",
            "used {value} modules in the last 90 days",
            "modules",
            "events",
        ),
        FeatureDef(
            "core_modules_used_90d",
            "int",
            "numeric",
            "Distinct modules with a core action in the last 90 days (feature penetration).",
            "uses {value} of {n_core_modules} core modules",
            "modules",
            "events",
        ),
        FeatureDef(
            "uses_3plus_modules",
            "int",
            "flag",
            f"1 when core_modules_used_90d >= {settings.core_modules_threshold} (setting core_modules_threshold; "
            "the name keeps the article's default).",
            f"uses {settings.core_modules_threshold} or more core modules || "
            f"uses fewer than {settings.core_modules_threshold} core modules",
            None,
            "events",
        ),
        FeatureDef(
            "aha_reached",
            "int",
            "flag",
            f"1 when the Aha rule ({aha}) was met before the cutoff.",
            "reached the Aha moment || never reached the Aha moment",
            None,
            "events",
        ),
        FeatureDef(
            "days_to_aha",
            "float",
            "numeric",
            "Days from signup to the Aha moment (null when not reached).",
            "reached the Aha moment after {value} days || has not reached the Aha moment",
            "days",
            "events",
        ),
        FeatureDef(
            "weeks_below_aha_bar",
            "int",
            "numeric",
            f"Consecutive 7-day blocks ending at the cutoff with fewer than {bar} core actions.",
            "{value} weeks in a row below the Aha bar",
            "weeks",
            "events",
        ),
        FeatureDef(
            "usual_gap_days",
            "float",
            "numeric",
            "Median gap in days between active days over the last 180 days (the customer's own rhythm).",
            "usually active every {value} days || no usual rhythm yet",
            "days",
            "events",
        ),
        FeatureDef(
            "idle_ratio",
            "float",
            "numeric",
            "days_since_last_event / usual_gap_days.",
            "idle {value}x longer than usual || no usual rhythm to compare with",
            "ratio",
            "events",
        ),
        FeatureDef(
            "days_since_reactivation",
            "float",
            "numeric",
            f"Days since the customer came back after {dormant}+ idle days (null if never).",
            "came back {value} days ago after a dormant spell || never reactivated",
            "days",
            "events",
        ),
        FeatureDef(
            "txn_count_90d",
            "int",
            "numeric",
            "Purchases in the last 90 days.",
            "{value} purchases in the last 90 days",
            "purchases",
            "transactions",
        ),
        FeatureDef(
            "txn_amount_90d",
            "float",
            "numeric",
            "Amount spent in the last 90 days.",
            "spent {value} in the last 90 days",
            "currency",
            "transactions",
        ),
        FeatureDef(
            "txn_count_total",
            "int",
            "numeric",
            "Purchases before the cutoff.",
            "{value} purchases in total",
            "purchases",
            "transactions",
        ),
        FeatureDef(
            "txn_amount_total",
            "float",
            "numeric",
            "Amount spent before the cutoff.",
            "spent {value} in total",
            "currency",
            "transactions",
        ),
        FeatureDef(
            "days_since_last_txn",
            "float",
            "numeric",
            "Days since the last purchase (null when never).",
            "no purchase for {value} days || never purchased",
            "days",
            "transactions",
        ),
        FeatureDef(
            "btyd_frequency",
            "float",
            "numeric",
            "BTYD frequency: distinct purchase days minus 1 (null without purchases).",
            "{value} repeat purchase days || never purchased",
            "purchase days",
            "transactions",
        ),
        FeatureDef(
            "btyd_recency",
            "float",
            "numeric",
            f"BTYD recency: last minus first purchase day, in {unit_name} (null without purchases).",
            f"last repeat purchase {{value}} {unit_name} after the first || never purchased",
            unit_name,
            "transactions",
        ),
        FeatureDef(
            "btyd_T",
            "float",
            "numeric",
            f"BTYD T: last observable day before the cutoff minus first purchase day, in {unit_name} "
            "(null without purchases).",
            f"first purchase {{value}} {unit_name} ago || never purchased",
            unit_name,
            "transactions",
        ),
        FeatureDef(
            "btyd_monetary",
            "float",
            "numeric",
            "Mean spend per repeat purchase day, first day excluded (null when no repeat purchase).",
            "spends {value} per repeat purchase day || no repeat purchase",
            "currency",
            "transactions",
        ),
        FeatureDef(
            "sub_active",
            "int",
            "flag",
            "1 when a subscription is active at the cutoff.",
            "has an active subscription || has no active subscription",
            None,
            "subscriptions",
        ),
        FeatureDef(
            "sub_plan",
            "category",
            "categorical",
            "Plan of the most recently started subscription.",
            "on plan {value} || never subscribed",
            None,
            "subscriptions",
        ),
        FeatureDef(
            "sub_mrr",
            "float",
            "numeric",
            "MRR of the subscriptions active at the cutoff (0 when none).",
            "pays {value} MRR",
            "currency/month",
            "subscriptions",
        ),
        FeatureDef(
            "sub_tenure_days",
            "float",
            "numeric",
            "Days since the first subscription started (null if never).",
            "subscriber for {value} days || never subscribed",
            "days",
            "subscriptions",
        ),
        FeatureDef(
            "sub_ended_count",
            "int",
            "numeric",
            "Subscriptions that ended before the cutoff.",
            "{value} subscriptions ended",
            "subscriptions",
            "subscriptions",
        ),
        FeatureDef(
            "nps_last",
            "float",
            "numeric",
            "Latest NPS answer 0-10 (null when never answered).",
            "last NPS answer {value} || never answered NPS",
            "score",
            "nps_responses",
        ),
        FeatureDef(
            "nps_mean",
            "float",
            "numeric",
            "Mean NPS answer (null when never answered).",
            "mean NPS answer {value} || never answered NPS",
            "score",
            "nps_responses",
        ),
        FeatureDef(
            "nps_count",
            "int",
            "numeric",
            "NPS answers before the cutoff.",
            "{value} NPS answers",
            "answers",
            "nps_responses",
        ),
        FeatureDef(
            "days_since_last_nps",
            "float",
            "numeric",
            "Days since the latest NPS answer (null when never).",
            "last NPS answer {value} days ago || never answered NPS",
            "days",
            "nps_responses",
        ),
        FeatureDef(
            "tickets_90d",
            "int",
            "numeric",
            "Support tickets opened in the last 90 days.",
            "{value} support tickets in the last 90 days",
            "tickets",
            "support_tickets",
        ),
        FeatureDef(
            "tickets_open",
            "int",
            "numeric",
            "Tickets open at the cutoff.",
            "{value} support tickets open",
            "tickets",
            "support_tickets",
        ),
        FeatureDef(
            "tickets_resolved_90d",
            "int",
            "numeric",
            "Tickets resolved in the last 90 days.",
            "{value} support tickets resolved in the last 90 days",
            "tickets",
            "support_tickets",
        ),
        FeatureDef(
            "ticket_satisfaction_mean",
            "float",
            "numeric",
            "Mean satisfaction 1-5 of tickets resolved before the cutoff (null when none rated).",
            "mean support satisfaction {value} of 5 || no rated support ticket",
            "score",
            "support_tickets",
        ),
        FeatureDef(
            "days_since_last_ticket_resolved",
            "float",
            "numeric",
            "Days since the latest ticket resolution (null when none).",
            "no support ticket resolved in {value} days || no support ticket resolved",
            "days",
            "support_tickets",
        ),
        FeatureDef(
            "ticket_resolution_hours_mean",
            "float",
            "numeric",
            "Mean hours from opening to resolution of tickets resolved before the cutoff.",
            "support tickets took {value} hours to resolve on average || no support ticket resolved",
            "hours",
            "support_tickets",
        ),
        FeatureDef(
            "account_users",
            "float",
            "numeric",
            "Users of the customer's B2B account signed up before the cutoff.",
            "account has {value} users || not part of an account",
            "users",
            "customers.account_id",
        ),
        FeatureDef(
            "account_active_users_30d",
            "float",
            "numeric",
            "Account users with any event in the last 30 days.",
            "{value} account users active in the last 30 days || not part of an account",
            "users",
            "customers.account_id",
        ),
        FeatureDef(
            "account_core_actions_30d",
            "float",
            "numeric",
            "Core actions of all account users in the last 30 days.",
            "account made {value} core actions in the last 30 days || not part of an account",
            "actions",
            "customers.account_id",
        ),
        FeatureDef(
            "account_core_trend_ratio",
            "float",
            "numeric",
            "Account core actions last 30 days / prior 30 days (null when the prior had none or no account).",
            "account core actions {direction} {pct}% vs prior 30 days || no account trend",
            "ratio",
            "customers.account_id",
        ),
    ]
    return out


def _is_missing(value: object) -> bool:
    if value is None:
        return True
    try:
        return bool(isinstance(value, float) and math.isnan(value))
    except TypeError:
        return False


def _readable(value: float) -> str:
    """Round for a sentence: whole numbers without decimals, small numbers with up to 2."""
    if float(value).is_integer():
        return str(int(value))
    if abs(value) >= 10:
        return f"{value:.0f}"
    return f"{value:.2f}".rstrip("0").rstrip(".") if abs(value) < 1 else f"{value:.1f}".rstrip("0").rstrip(".")


@dataclass
class FeatureSpec:
    """The features of one frame, the ones left out (and why), the time unit and the settings used."""

    features: list[FeatureDef]
    absent: dict[str, str] = field(default_factory=dict)
    time_unit: TimeUnit = TimeUnit.WEEK
    settings: dict[str, Any] = field(default_factory=dict)

    # -- lookups -------------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        """Feature column names in frame order (id columns excluded)."""
        return [f.name for f in self.features]

    @property
    def categorical(self) -> list[str]:
        """Names of the categorical features (pandas 'category' columns)."""
        return [f.name for f in self.features if f.dtype == "category"]

    @cached_property
    def _by_name(self) -> dict[str, FeatureDef]:
        # reason codes look features up once per reason: a 1M-row batch asks ~3M times
        return {f.name: f for f in self.features}

    @cached_property
    def _phrase_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {str(k): v for k, v in self.settings.items()}
        n_core = self.settings.get("n_core_modules")
        fields["n_core_modules"] = n_core if n_core is not None else "the"
        return fields

    def feature(self, name: str) -> FeatureDef:
        """The definition of ``name``; a UserInputError names the spec's features when unknown."""
        found = self._by_name.get(name)
        if found is not None:
            return found
        why = f" (left out: {self.absent[name]})" if name in self.absent else ""
        raise UserInputError(f"unknown feature {name!r}{why}; the spec has {', '.join(self.names)}")

    # -- words ---------------------------------------------------------------------------------
    def describe(self, name: str, value: float | str | None, reference: float | None = None) -> str:
        """A plain phrase for a reason code, e.g. "core actions down 45% vs prior 30 days".

        ``reference`` (e.g. the population's typical value) is appended as "(typical: x)" for
        numeric features when given.
        """
        feat = self.feature(name)
        normal, _, other = feat.phrase.partition(ALTERNATIVE)
        missing = _is_missing(value)
        if feat.kind == "flag":
            on = not missing and float(value) >= 0.5  # type: ignore[arg-type]
            return normal if on else (other or f"not {normal}")
        if missing:
            return other or f"{feat.description.rstrip('.')}: unknown"
        fields = dict(self._phrase_fields)
        if feat.kind == "categorical":
            fields["value"] = str(value)
        else:
            number = float(value)  # type: ignore[arg-type]
            fields["value"] = _readable(number)
            ratio = math.exp(number) if feat.unit == "log ratio" else number
            fields["pct"] = f"{abs(1.0 - ratio) * 100:.0f}"
            fields["direction"] = "down" if ratio < 1.0 else "up"
            if feat.unit == "share":
                fields["pct"] = f"{number * 100:.0f}"
        text = normal.format(**fields)
        if reference is not None and feat.kind == "numeric" and not _is_missing(reference):
            text += f" (typical: {_readable(float(reference))})"
        return text

    # -- comparison ----------------------------------------------------------------------------
    def diff(self, other: FeatureSpec) -> list[str]:
        """Exact differences of ``other`` (e.g. what a caller supplies) against this spec (e.g. a model's).

        Empty when the two are interchangeable. Each line names the feature and both values.
        """
        lines: list[str] = []
        mine = {f.name: f for f in self.features}
        theirs = {f.name: f for f in other.features}
        for name, f in mine.items():
            if name not in theirs:
                why = f" (left out: {other.absent[name]})" if name in other.absent else ""
                lines.append(f"missing feature {name!r} ({f.dtype}, from {f.source}){why}")
            else:
                g = theirs[name]
                for attr in ("dtype", "kind", "unit"):
                    if getattr(f, attr) != getattr(g, attr):
                        lines.append(f"feature {name!r}: {attr} is {getattr(g, attr)!r}, expected {getattr(f, attr)!r}")
        lines.extend(
            f"extra feature {name!r} ({g.dtype}, from {g.source})" for name, g in theirs.items() if name not in mine
        )
        common_mine = [n for n in mine if n in theirs]
        common_theirs = [n for n in theirs if n in mine]
        if common_mine != common_theirs:
            lines.append("feature order differs: expected " + ", ".join(common_mine))
        if self.time_unit != other.time_unit:
            lines.append(f"time unit is {other.time_unit.value!r}, expected {self.time_unit.value!r}")
        for key in FEATURE_SETTING_KEYS:
            a, b = self.settings.get(key), other.settings.get(key)
            if key in self.settings and key in other.settings and a != b:
                lines.append(f"setting {key!r} is {b!r}, expected {a!r}")
        return lines

    def validate_frame(self, frame: pd.DataFrame) -> None:
        """Raise a UserInputError naming every missing, extra or wrongly typed column of ``frame``.

        ``customer_id`` and ``as_of`` may be present. float features accept any numeric column,
        int features integer columns (or floats holding whole numbers), categorical features
        'category' or string columns.
        """
        from pandas.api import types as ptypes

        problems: list[str] = []
        expected = set(self.names)
        missing = [n for n in self.names if n not in frame.columns]
        if missing:
            problems.append("missing column(s): " + ", ".join(missing))
        extra = [str(c) for c in frame.columns if c not in expected and c not in ID_COLUMNS]
        if extra:
            problems.append("extra column(s): " + ", ".join(extra))
        for f in self.features:
            if f.name not in frame.columns:
                continue
            col = frame[f.name]
            dtype = col.dtype
            if f.dtype == "category":
                ok = isinstance(dtype, ptypes.CategoricalDtype) or ptypes.is_string_dtype(dtype)
            elif ptypes.is_bool_dtype(dtype) or not ptypes.is_numeric_dtype(dtype):
                ok = False
            elif f.dtype == "int" and ptypes.is_float_dtype(dtype):
                values = col.dropna().to_numpy()
                ok = bool((values == values.round()).all())
            else:
                ok = True
            if not ok:
                problems.append(f"column {f.name!r} has type {dtype}, expected {f.dtype}")
        if problems:
            raise UserInputError("the feature frame does not match the feature spec: " + "; ".join(problems))

    # -- persistence ---------------------------------------------------------------------------
    def to_json(self) -> str:
        """Plain JSON (saved as feature_spec.json with every model)."""
        payload = {
            "format_version": SPEC_FORMAT_VERSION,
            "time_unit": self.time_unit.value,
            "features": [asdict(f) for f in self.features],
            "absent": dict(self.absent),
            "settings": self.settings,
        }
        return json.dumps(payload, indent=2, sort_keys=False, default=str)

    @classmethod
    def from_json(cls, text: str) -> FeatureSpec:
        """Inverse of ``to_json``; a UserInputError says what is wrong with a damaged file."""
        try:
            payload = json.loads(text)
            version = payload.get("format_version")
            if version != SPEC_FORMAT_VERSION:
                raise UserInputError(
                    f"feature spec format_version {version!r} is not supported (expected {SPEC_FORMAT_VERSION})"
                )
            features = [FeatureDef(**f) for f in payload["features"]]
            return cls(
                features=features,
                absent={str(k): str(v) for k, v in payload.get("absent", {}).items()},
                time_unit=TimeUnit(payload["time_unit"]),
                settings=dict(payload.get("settings", {})),
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as err:
            if isinstance(err, UserInputError):
                raise
            raise UserInputError(f"not a valid feature spec JSON: {err}") from err
