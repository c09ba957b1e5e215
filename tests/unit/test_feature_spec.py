"""Feature spec: JSON round trip, exact diff messages, frame validation, reason-code phrases, settings."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from features.errors import UserInputError
from features.feature_spec import FeatureSpec, feature_catalog
from features.settings import FeatureSettings, load_feature_settings
from features.time_units import TimeUnit

VOCABULARY = [
    "tenure_days", "segment", "acquisition_channel", "events_7d", "events_30d", "events_90d", "active_days_7d",
    "active_days_30d", "active_days_90d", "core_actions_30d", "core_actions_prev_30d", "core_trend_ratio",
    "days_since_last_event", "days_since_last_core_action", "modules_used_90d", "core_modules_used_90d",
    "uses_3plus_modules", "aha_reached", "days_to_aha", "weeks_below_aha_bar", "usual_gap_days", "idle_ratio",
    "days_since_reactivation", "txn_count_90d", "txn_amount_90d", "txn_count_total", "txn_amount_total",
    "days_since_last_txn", "btyd_frequency", "btyd_recency", "btyd_T", "btyd_monetary", "sub_active", "sub_plan",
    "sub_mrr", "sub_tenure_days", "sub_ended_count", "nps_last", "nps_mean", "nps_count", "days_since_last_nps",
    "tickets_90d", "tickets_open", "tickets_resolved_90d", "ticket_satisfaction_mean",
    "days_since_last_ticket_resolved", "ticket_resolution_hours_mean", "account_users", "account_active_users_30d",
    "account_core_actions_30d", "account_core_trend_ratio",
]  # fmt: skip


def make_spec(settings: FeatureSettings | None = None, n_core_modules: int | None = 6) -> FeatureSpec:
    settings = settings or FeatureSettings()
    return FeatureSpec(
        features=feature_catalog(settings),
        absent={},
        time_unit=settings.btyd_time_unit,
        settings={**settings.summary(), "n_core_modules": n_core_modules},
    )


def test_catalog_is_exactly_the_architecture_vocabulary() -> None:
    assert make_spec().names == VOCABULARY
    assert make_spec().categorical == ["segment", "acquisition_channel", "sub_plan"]


def test_json_round_trip() -> None:
    spec = make_spec()
    spec.absent["nps_last"] = "no nps_responses table"
    again = FeatureSpec.from_json(spec.to_json())
    assert again == spec
    assert again.to_json() == spec.to_json()


def test_damaged_json_is_a_user_error() -> None:
    with pytest.raises(UserInputError, match="not a valid feature spec"):
        FeatureSpec.from_json("{")
    with pytest.raises(UserInputError, match="format_version"):
        FeatureSpec.from_json('{"format_version": 99}')


def test_diff_names_missing_extra_and_type_changes() -> None:
    model = make_spec()
    supplied = make_spec()
    supplied.features = [f for f in supplied.features if f.name != "nps_last"]
    supplied.absent["nps_last"] = "no nps_responses table"
    supplied.features = [
        dataclasses.replace(f, dtype="int") if f.name == "tenure_days" else f for f in supplied.features
    ]
    supplied.features.append(dataclasses.replace(supplied.features[0], name="shoe_size"))
    assert model.diff(supplied) == [
        "feature 'tenure_days': dtype is 'int', expected 'float'",
        "missing feature 'nps_last' (float, from nps_responses) (left out: no nps_responses table)",
        "extra feature 'shoe_size' (int, from customers)",
    ]
    assert model.diff(make_spec()) == []


def test_diff_names_time_unit_and_feature_settings_but_not_label_settings() -> None:
    model = make_spec()
    other = make_spec(FeatureSettings(btyd_time_unit=TimeUnit.DAY, horizon_days=60))
    lines = model.diff(other)
    assert "time unit is 'D', expected 'W'" in lines
    assert "setting 'btyd_time_unit' is 'D', expected 'W'" in lines
    assert not any("horizon" in line for line in lines)  # the horizon shapes labels, not features
    assert make_spec(n_core_modules=None).diff(model) == []  # informational only


def test_diff_reports_order() -> None:
    model = make_spec()
    swapped = make_spec()
    swapped.features = [swapped.features[1], swapped.features[0], *swapped.features[2:]]
    assert model.diff(swapped) == ["feature order differs: expected " + ", ".join(model.names)]


def frame_for(spec: FeatureSpec) -> pd.DataFrame:
    data: dict[str, object] = {"customer_id": ["a"], "as_of": [pd.Timestamp("2024-01-01")]}
    for f in spec.features:
        data[f.name] = pd.Categorical(["x"]) if f.dtype == "category" else [1 if f.dtype == "int" else 1.5]
    return pd.DataFrame(data)


def test_validate_frame_accepts_a_matching_frame() -> None:
    spec = make_spec()
    spec.validate_frame(frame_for(spec))
    spec.validate_frame(frame_for(spec).drop(columns=["customer_id", "as_of"]))


def test_validate_frame_names_missing_extra_and_wrongly_typed_columns() -> None:
    spec = make_spec()
    frame = frame_for(spec).drop(columns=["events_7d"])
    frame["shoe_size"] = 42
    frame["tenure_days"] = ["long"]
    frame["events_30d"] = [2.5]
    with pytest.raises(UserInputError) as err:
        spec.validate_frame(frame)
    text = str(err.value)
    assert "missing column(s): events_7d" in text
    assert "extra column(s): shoe_size" in text
    assert "column 'tenure_days' has type str, expected float" in text
    assert "column 'events_30d' has type float64, expected int" in text


def test_int_feature_accepts_whole_floats() -> None:
    spec = make_spec()
    frame = frame_for(spec)
    frame["events_30d"] = [3.0]
    spec.validate_frame(frame)


@pytest.mark.parametrize(
    ("name", "value", "phrase"),
    [
        ("core_trend_ratio", 0.55, "core actions down 45% vs prior 30 days"),
        ("core_trend_ratio", 1.2, "core actions up 20% vs prior 30 days"),
        ("core_trend_ratio", float("nan"), "no core actions in the prior 30 days"),
        ("days_since_last_event", 21.0, "no activity for 21 days"),
        ("days_since_last_event", None, "never active"),
        ("core_modules_used_90d", 1, "uses 1 of 6 core modules"),
        ("days_since_last_ticket_resolved", 21.4, "no support ticket resolved in 21 days"),
        ("aha_reached", 0, "never reached the Aha moment"),
        ("aha_reached", 1, "reached the Aha moment"),
        ("weeks_below_aha_bar", 2, "2 weeks in a row below the Aha bar"),
        ("segment", "b2b", "segment b2b"),
        ("idle_ratio", 3.456, "idle 3.5x longer than usual"),
        ("nps_last", 3.0, "last NPS answer 3"),
    ],
)
def test_describe_phrases(name: str, value: float | str | None, phrase: str) -> None:
    assert make_spec().describe(name, value) == phrase


def test_describe_with_reference_and_unknown_core_module_count() -> None:
    assert make_spec().describe("events_30d", 2, reference=14.0) == "2 events in the last 30 days (typical: 14)"
    assert make_spec(n_core_modules=None).describe("core_modules_used_90d", 2) == "uses 2 of the core modules"
    with pytest.raises(UserInputError, match="shoe_size"):
        make_spec().describe("shoe_size", 1)


def test_btyd_descriptions_follow_the_time_unit() -> None:
    spec = make_spec(FeatureSettings(btyd_time_unit=TimeUnit.MONTH))
    assert spec.feature("btyd_T").unit == "months"
    assert spec.describe("btyd_T", 3.0) == "first purchase 3 months ago"


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHURNLTV_FEATURES_HORIZON_DAYS", "60")
    monkeypatch.setenv("CHURNLTV_FEATURES_AHA__COUNT", "5")
    monkeypatch.setenv("CHURNLTV_FEATURES_AHA__MODE", "days_in_a_row")
    monkeypatch.setenv("CHURNLTV_FEATURES_CORE_EVENT_TYPES", '["core_action", "export"]')
    monkeypatch.setenv("CHURNLTV_FEATURES_BTYD_TIME_UNIT", "month")
    settings = load_feature_settings()
    assert settings.horizon_days == 60
    assert (settings.aha.count, settings.aha.mode) == (5, "days_in_a_row")
    assert settings.core_event_types == ("core_action", "export")
    assert settings.btyd_time_unit == TimeUnit.MONTH


def test_invalid_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHURNLTV_FEATURES_HORIZON_DAYS", "0")
    with pytest.raises(UserInputError, match="CHURNLTV_FEATURES_HORIZON_DAYS"):
        load_feature_settings()
    monkeypatch.delenv("CHURNLTV_FEATURES_HORIZON_DAYS")
    with pytest.raises(UserInputError, match="churn_definition"):
        load_feature_settings(churn_definition="sometimes")
