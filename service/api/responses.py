"""The one builder of the API's prediction bodies: a scored customer (or account) -> its JSON response record.

Every route answers from columns named as ``service.prediction.SCORE_COLUMNS``, whatever produced them:
``prediction_records`` takes the prediction assembly's arrays (``/v1/predict``), ``frame_records`` a scored frame
(a batch run read from the score store, or a live lookup), and both end in ``_records``, so a field means the same
in every answer. ``account_record`` builds ``/v1/accounts`` from the rolled-up account row with the same blocks.
Values are made JSON-safe by ``service.json_values`` (NaN and infinity -> null).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from service.json_values import json_numbers, json_value

if TYPE_CHECKING:
    import pandas as pd

    from service.prediction import Scored

# what every record is read from (SCORE_COLUMNS; model outputs and policy columns)
_NUMBERS = (
    "churn_probability",
    "p_alive",
    "expected_purchases",
    "p_no_purchase",
    "horizon_days",
    "predicted_ltv",
    "ltv_lower",
    "ltv_upper",
    "ltv_p10",
    "ltv_p50",
    "ltv_p90",
    "ltv_interval_80_low",
    "ltv_interval_80_high",
    "next_purchase_days",
    "p_purchase_30d",
    "value_at_risk",
    "health_score",
    "health_activity",
    "health_penetration",
    "health_service",
    "health_feedback",
    "expected_uplift",
    "incremental_value",
    "action_cost",
    "holdout_control",
)
_LABELS = (
    "risk_tier",
    "action_key",
    "action_text",
    "ltv_method",
    "stage_b2c",
    "stage_b2b",
    "nps_segment",
    "decision_basis",
    "best_action",
)
_NESTED = ("triggers", "reasons", "uplift_by_action")
_VERSIONS = ("churn_model_version", "ltv_model_version", "uplift_model_version")


def prediction_records(scored: Scored) -> list[dict[str, Any]]:
    """Records of the prediction assembly's output (``score_rows``): one per customer, in input order.

    The arrays are converted in one pass each (a one-customer answer is dominated by per-value costs); the
    triggers and reasons are already plain Python values.
    """
    n = scored.n
    if n == 0:
        return []
    c = scored.columns
    columns: dict[str, Sequence[Any]] = {name: json_numbers(c[name]) for name in _NUMBERS}
    columns.update({name: c[name].tolist() for name in _LABELS})
    columns.update({name: c[name] for name in _NESTED})
    columns.update({name: [c[name]] * n for name in _VERSIONS})
    columns["customer_id"] = scored.ids["customer_id"]
    columns["as_of"] = [None if a is None else _iso(a) for a in scored.ids["as_of"]]
    return _records(columns, n)


def frame_records(scored: pd.DataFrame) -> list[dict[str, Any]]:
    """Records of a scored frame (``score_frame`` output, or a run's rows from the score store)."""
    n = len(scored)
    columns: dict[str, Sequence[Any]] = {}
    for name in _NUMBERS:
        if name not in scored:  # a run scored by an older release (no predictive interval yet)
            columns[name] = [None] * n
            continue
        values = scored[name].to_numpy(dtype=np.float64, na_value=np.nan)
        columns[name] = json_numbers(values)
    for name in (*_LABELS, *_VERSIONS, "customer_id", "as_of"):
        # a run of an older release has no decision columns: null
        columns[name] = [json_value(v) for v in scored[name].tolist()] if name in scored else [None] * n
    for name in _NESTED:
        columns[name] = [json_value(v) or [] for v in scored[name].tolist()] if name in scored else [[]] * n
    return _records(columns, n)


def row_records(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Records of stored rows given as dicts (``ScoreStore.lookup_rows``): what ``frame_records`` gives for the
    same rows as a frame, without building one (a lookup answers one customer; per-column pandas work was most of
    its time). A column a run of an older release lacks is null."""
    n = len(rows)
    columns: dict[str, Sequence[Any]] = {}
    for name in (*_NUMBERS, *_LABELS, *_VERSIONS, "customer_id", "as_of"):
        columns[name] = [json_value(row.get(name)) for row in rows]
    for name in _NESTED:
        columns[name] = [json_value(row.get(name)) or [] for row in rows]
    return _records(columns, n)


def _records(c: Mapping[str, Sequence[Any]], n: int) -> list[dict[str, Any]]:
    """The response record of each of ``n`` customers from JSON-safe columns named as ``SCORE_COLUMNS``."""
    return [
        {
            "customer_id": c["customer_id"][i],
            "as_of": c["as_of"][i],
            "churn_probability": c["churn_probability"][i],
            "risk_tier": c["risk_tier"][i],
            "triggers": c["triggers"][i],  # fired only: built from Python numbers, never NaN
            "recommended_action": _action(c["action_key"][i], c["action_text"][i]),
            "reasons": c["reasons"][i],  # Python numbers, None for a missing value (reason_codes)
            "p_alive": c["p_alive"][i],
            "expected_purchases": c["expected_purchases"][i],
            "p_no_purchase": c["p_no_purchase"][i],
            "horizon_days": _whole(c["horizon_days"][i]),
            "ltv": {
                "predicted": c["predicted_ltv"][i],
                "lower": c["ltv_lower"][i],
                "upper": c["ltv_upper"][i],
                "p10": c["ltv_p10"][i],
                "p50": c["ltv_p50"][i],
                "p90": c["ltv_p90"][i],
                "interval_80": {"low": c["ltv_interval_80_low"][i], "high": c["ltv_interval_80_high"][i]},
                "method": c["ltv_method"][i],
            },
            "next_purchase_days": c["next_purchase_days"][i],
            "p_purchase_30d": c["p_purchase_30d"][i],
            "value_at_risk": c["value_at_risk"][i],
            "health": _health(c, i),
            "lifecycle_stage": _stage(c["stage_b2c"][i], c["stage_b2b"][i]),
            "nps_segment": c["nps_segment"][i],
            "decision_basis": c["decision_basis"][i],
            "best_action": c["best_action"][i],
            "expected_uplift": c["expected_uplift"][i],
            "incremental_value": c["incremental_value"][i],
            "action_cost": c["action_cost"][i],
            "uplift_by_action": c["uplift_by_action"][i],
            "holdout_control": _flag(c["holdout_control"][i]),
            "model_versions": _versions(
                c["churn_model_version"][i], c["ltv_model_version"][i], c["uplift_model_version"][i]
            ),
        }
        for i in range(n)
    ]


def account_record(
    account_id: str,
    as_of: dt.datetime,
    account: Mapping[str, Any],
    members: pd.DataFrame,
    versions: Mapping[str, str | None],
) -> dict[str, Any]:
    """``/v1/accounts``: the rolled-up account row (``roll_up_account``) and its members' scored rows."""
    import pandas as pd

    row = {k: json_value(v) for k, v in account.items()}
    one = {name: [row.get(name)] for name in _NUMBERS if name in row}
    member_fields = ("customer_id", "risk_tier", "churn_probability", "predicted_ltv", "value_at_risk")
    listed = {name: [json_value(v) for v in members[name].tolist()] for name in member_fields}
    return {
        "account_id": account_id,
        "as_of": pd.Timestamp(as_of).isoformat(),
        "users": int(row["users"]),
        "risk_tier": row["risk_tier"],
        "triggers": row["triggers"] or [],
        "recommended_action": _action(row["action_key"], row["action_text"]),
        "churn_probability": row["churn_probability"],
        "p_alive": row.get("p_alive"),
        "predicted_ltv": row.get("predicted_ltv"),
        "value_at_risk": row.get("value_at_risk"),
        "health": _health(one, 0),
        "lifecycle_stage": _stage(row["stage_b2c"], row["stage_b2b"]),
        "members": [{name: listed[name][i] for name in member_fields} for i in range(len(members))],
        "model_versions": _versions(versions["churn"], versions["ltv"]),
    }


def _action(key: str | None, text: str | None) -> dict[str, str | None]:
    return {"key": key, "text": text}


def _health(c: Mapping[str, Sequence[Any]], i: int) -> dict[str, float | None]:
    return {
        "score": c["health_score"][i],
        "activity": c["health_activity"][i],
        "penetration": c["health_penetration"][i],
        "service": c["health_service"][i],
        "feedback": c["health_feedback"][i],
    }


def _stage(b2c: str, b2b: str) -> dict[str, str]:
    return {"b2c": b2c, "b2b": b2b}


def _versions(churn: str | None, ltv: str | None, uplift: str | None = None) -> dict[str, str | None]:
    return {"churn": churn, "ltv": ltv, "uplift": uplift}


def _flag(value: float | None) -> bool | None:
    """A 0/1 column (the score store keeps numbers) as a JSON boolean; null when a run did not record it."""
    return None if value is None else bool(value)


def _whole(value: float | None) -> int | None:
    return None if value is None else int(value)


def _iso(value: Any) -> str | None:
    """A request's as_of (a naive datetime: the route parsed it) as ISO 8601 text, as pandas writes it."""
    if type(value) is dt.datetime:
        return value.isoformat()
    import pandas as pd

    return json_value(pd.Timestamp(value))  # type: ignore[no-any-return]
