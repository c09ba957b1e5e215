"""Features in, everything the CRM acts on out: the one prediction path shared by the API and batch scoring.

``score_frame`` is vectorised (numpy over a feature frame): batch scoring calls it on chunks of
100k customers. ``score_rows`` is the API's path for request bodies: the same model calls and the
same policy rules (``models.risk_tiers``, ``models.health_score``, ``models.lifecycle_stage``,
``models.nps``, ``models.value_at_risk``), fed from plain column arrays instead of a DataFrame,
because on a one-customer request pandas' per-column overhead (~10-50 us per operation, ~10 ms per
request in total) and not arithmetic is the cost. tests/integration/test_prediction_paths.py checks
the two give identical records, so a batch score and an API answer for the same customer and models
cannot disagree.

LTV (``_ltv_arrays``, shared by both paths) runs after the churn model because it needs its probability: customers
with an active subscription get contractual CLV from ``sub_mrr`` and P(churn) (``models.subscription_value``,
method ``contractual_retention_no_interval``), the others BG/NBD + Gamma-Gamma (``bgnbd_gamma_gamma`` and its
fallbacks); ``ltv_method`` says which produced each number.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.time_units import TimeUnit
from models.policy_frame import FloatArray, PolicyInputs

if TYPE_CHECKING:
    from models.churn_bundle import ChurnBundle
    from models.reason_codes import Reason
    from service.model_set import ModelSet

BTYD_COLUMNS = ("btyd_frequency", "btyd_recency", "btyd_T", "btyd_monetary")

# Columns of a scored frame, in output order (batch files and the score store use exactly these).
SCORE_COLUMNS = (
    "customer_id",
    "as_of",
    "segment",
    "churn_probability",
    "risk_tier",
    "triggers",
    "action_key",
    "action_text",
    "reasons",
    "p_alive",
    "expected_purchases",
    "p_no_purchase",
    "horizon_days",
    "predicted_ltv",
    "ltv_lower",
    "ltv_upper",
    "ltv_method",
    "value_at_risk",
    "health_score",
    "health_activity",
    "health_penetration",
    "health_service",
    "health_feedback",
    "stage_b2c",
    "stage_b2b",
    "nps_segment",
    "churn_model_version",
    "ltv_model_version",
)


SUBSCRIPTION_COLUMNS = ("sub_active", "sub_mrr")


def _ltv_columns(models: ModelSet, features: pd.DataFrame, churn_probability: FloatArray) -> dict[str, Any]:
    names = [c for c in (*BTYD_COLUMNS, *SUBSCRIPTION_COLUMNS) if c in features.columns]
    columns = {c: features[c].to_numpy(dtype=np.float64, na_value=np.nan) for c in names}
    return _ltv_arrays(models, columns, len(features), churn_probability)


def _ltv_arrays(
    models: ModelSet, columns: Mapping[str, FloatArray], n: int, churn_probability: FloatArray
) -> dict[str, Any]:
    """LTV outputs from the feature columns (float64, NaN = undefined) and the calibrated churn probability.

    Customers with an active subscription (``sub_active`` = 1) get contractual CLV from their MRR and churn
    probability (``models.subscription_value``); everyone else BG/NBD + Gamma-Gamma from the BTYD columns, or an
    'unavailable' method when those are absent. P(alive), expected purchases and P(no purchase) always come from
    BG/NBD (they describe purchases, whoever the customer is).
    """
    result = _btyd_arrays(models, columns, n)
    active = columns.get("sub_active")
    if models.ltv is None or active is None:
        return result
    subscriber = active == 1  # NaN (unknown) is not a subscription
    if not subscriber.any():
        return result
    mrr = columns.get("sub_mrr")
    value, method = models.ltv.subscription.predict(
        subscriber, np.full(n, np.nan) if mrr is None else mrr, churn_probability, _churn_horizon_days(models)
    )
    result["predicted_ltv"] = np.where(subscriber, value, result["predicted_ltv"])
    result["ltv_lower"] = np.where(subscriber, np.nan, result["ltv_lower"])  # no honest interval (see module)
    result["ltv_upper"] = np.where(subscriber, np.nan, result["ltv_upper"])
    result["ltv_method"] = np.where(subscriber, method, result["ltv_method"])
    return result


def _churn_horizon_days(models: ModelSet) -> float | None:
    """H of the churn model's P(churn within H days), from its bundle metadata (None when not recorded)."""
    horizon = getattr(models.churn, "horizon_days", None)
    return None if horizon is None else float(horizon)


def _btyd_arrays(models: ModelSet, columns: Mapping[str, FloatArray], n: int) -> dict[str, Any]:
    """BG/NBD + Gamma-Gamma outputs from the BTYD feature columns; 'unavailable' when absent."""
    if models.ltv is None or any(c not in columns for c in BTYD_COLUMNS):
        why = "unavailable: no LTV model loaded" if models.ltv is None else "unavailable: no transactions in the data"
        nan = np.full(n, np.nan)
        return {
            "p_alive": nan,
            "expected_purchases": nan,
            "p_no_purchase": nan,
            "horizon_days": np.full(n, np.nan),
            "predicted_ltv": nan,
            "ltv_lower": nan,
            "ltv_upper": nan,
            "ltv_method": np.full(n, why, dtype=object),
        }
    spec_unit = TimeUnit(models.churn.spec.time_unit) if hasattr(models.churn, "spec") else models.ltv.time_unit
    factor = spec_unit.convert(1.0, models.ltv.time_unit)  # feature periods -> LTV model periods

    def col(name: str) -> FloatArray:
        return columns[name]

    frequency = col("btyd_frequency")
    # customers with no purchase yet have no BTYD summary: score them as frequency 0, recency 0, T 0
    # (BG/NBD's prior), which is what the model says about someone it has not seen buy
    never = np.isnan(frequency)
    frequency = np.where(never, 0.0, frequency)
    recency = np.where(never, 0.0, col("btyd_recency") * factor)
    T = np.where(never, 0.0, col("btyd_T") * factor)
    monetary = col("btyd_monetary")
    out = models.ltv.predict_rows(frequency, recency, T, monetary)
    result = {
        k: out[k] for k in ("p_alive", "expected_purchases", "p_no_purchase", "predicted_ltv", "ltv_lower", "ltv_upper")
    }
    result["ltv_method"] = np.asarray(out["ltv_method"], dtype=object)
    result["horizon_days"] = np.full(n, float(models.ltv.horizon_days))
    return result


def score_frame(models: ModelSet, features: pd.DataFrame, *, top_reasons: int = 3) -> pd.DataFrame:
    """Score a point-in-time feature frame (one row per customer) with the churn + LTV bundles and the policy."""
    from models.customer_policy import apply_policy

    frame = features.reset_index(drop=True)
    # one encoding and one pass over the trees for probability and reasons, as score_rows does
    raw, reasons = _churn_scores(models.churn, models.churn.matrix(frame), top_reasons)
    churn_probability = np.asarray(models.churn.calibrator.predict(raw), dtype=np.float64)
    scored = frame.copy()
    scored["churn_probability"] = churn_probability
    for name, values in _ltv_columns(models, frame, churn_probability).items():
        scored[name] = values
    scored = apply_policy(scored, models.policy)
    scored["reasons"] = pd.Series(reasons, index=scored.index, dtype=object)
    versions = models.versions
    scored["churn_model_version"] = versions["churn"]
    scored["ltv_model_version"] = versions["ltv"]
    if "segment" not in scored.columns:
        scored["segment"] = None
    return scored[list(SCORE_COLUMNS)]


class ColumnInputs(PolicyInputs):
    """Policy inputs read from a mapping of column -> float64 array (no DataFrame; see module docstring)."""

    def __init__(self, columns: Mapping[str, FloatArray], n: int) -> None:
        self.columns = columns
        self.n = n
        self._numeric = {}

    def has(self, name: str) -> bool:
        return name in self.columns

    def numeric(self, name: str) -> FloatArray | None:
        return self.columns.get(name)


def _float_column(values: list[Any]) -> FloatArray:
    """JSON values (numbers / None) -> float64 with NaN for None."""
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _float_columns(by_name: Mapping[str, list[Any]]) -> dict[str, FloatArray]:
    """``_float_column`` of every column, leaving out text ones the policy does not read (a DataFrame keeps
    those as object). One array conversion for the whole block (rows of one 2-D array), not one per column:
    on a one-customer request the per-call cost, not the values, is what matters."""
    names = list(by_name)
    if not names:
        return {}
    try:
        block = np.array([by_name[name] for name in names], dtype=np.float64)  # None becomes NaN, as in _float_column
    except (TypeError, ValueError):  # some column is text: find it column by column
        columns: dict[str, FloatArray] = {}
        for name in names:
            try:
                columns[name] = _float_column(by_name[name])
            except (TypeError, ValueError):
                continue
        return columns
    return dict(zip(names, block, strict=True))


def _churn_scores(churn: ChurnBundle, matrix: FloatArray, k: int) -> tuple[FloatArray, list[list[Reason]]]:
    """Uncalibrated churn probability and reasons from one contributions pass.

    For LightGBM's binary objective the contributions plus the bias column add up to the raw margin, for both
    reason methods (decision-path credit by construction; TreeSHAP by local accuracy, Lundberg et al. 2020), so
    sigmoid(sum) is the model's probability up to float rounding (~1e-15) and a second pass over the trees for
    ``predict`` is not needed: on one customer that pass costs as much as the policy.
    """
    from models.reason_codes import reason_codes

    contrib = churn.contributions_from_matrix(matrix)
    params = churn.booster.params
    if params.get("objective") == "binary":
        slope = float(params.get("sigmoid", 1.0))
        raw = 1.0 / (1.0 + np.exp(-slope * contrib.sum(axis=1)))
    else:  # any other objective: let LightGBM apply its own link function
        raw = churn.raw_proba_from_matrix(matrix)
    reasons = reason_codes(
        contrib, matrix, churn.names, churn.spec, k=k, categories=churn.categories, references=churn.references
    )
    return raw, reasons


def score_rows(models: ModelSet, rows: Sequence[Mapping[str, Any]], *, top_reasons: int = 3) -> list[dict[str, Any]]:
    """Score request rows (feature name -> JSON value, plus ``customer_id`` and ``as_of``) to API records.

    Equivalent to ``to_records(score_frame(models, pandas.DataFrame(rows)))``: a feature a row does not carry
    is absent for every row (the API rejects bodies where the model needs it), exactly as a missing column.
    """
    from models.health_score import compute_health_score
    from models.lifecycle_stage import B2B_LABELS, B2C_LABELS, assign_lifecycle_stages
    from models.nps import nps_segment
    from models.risk_tiers import assign_risk_tiers
    from models.value_at_risk import value_at_risk

    n = len(rows)
    if n == 0:
        return []
    present: set[str] = set()
    for row in rows:
        present.update(row)
    churn = models.churn
    categorical = set(churn.categories)
    by_name = {name: [row.get(name) for row in rows] for name in present}
    matrix = churn.matrix({name: by_name[name] for name in churn.names})
    raw, reasons = _churn_scores(churn, matrix, top_reasons)
    probability = np.asarray(churn.calibrator.predict(raw), dtype=np.float64)

    skip = categorical | {"customer_id", "as_of", "segment", "acquisition_channel", "sub_plan"}
    columns = _float_columns({name: values for name, values in by_name.items() if name not in skip})
    columns["churn_probability"] = probability
    ltv = _ltv_arrays(models, columns, n, probability)
    columns.update({k: v for k, v in ltv.items() if k != "ltv_method"})

    policy = models.policy
    inputs = ColumnInputs(columns, n)
    tiers = assign_risk_tiers(inputs, policy)
    health = compute_health_score(inputs, policy)
    stages = assign_lifecycle_stages(inputs, policy)
    nps = columns.get("nps_last")
    segment_nps = [None] * n if nps is None else nps_segment(nps, policy, where="nps_last").tolist()
    var = value_at_risk(probability, columns["predicted_ltv"])
    versions = models.versions
    # every numeric output as Python floats (None for NaN) in one pass per array, not one _clean per value
    num = {
        "churn_probability": probability,
        "value_at_risk": var,
        "horizon_days": ltv["horizon_days"],
        **{k: ltv[k] for k in ("p_alive", "expected_purchases", "p_no_purchase", "predicted_ltv", "ltv_lower")},
        "ltv_upper": ltv["ltv_upper"],
        "health_score": health.score,
        **{f"health_{k}": health.components[k] for k in ("activity", "penetration", "service", "feedback")},
    }
    py = {k: _json_floats(v) for k, v in num.items()}
    method = ltv["ltv_method"].tolist()
    tier, key, text = tiers.tier.tolist(), tiers.action_key.tolist(), tiers.action_text.tolist()
    b2c, b2b = stages.b2c_code.tolist(), stages.b2b_code.tolist()
    out = []
    for i, row in enumerate(rows):
        as_of = row.get("as_of")
        horizon = py["horizon_days"][i]
        out.append(
            {
                "customer_id": row.get("customer_id"),
                "as_of": None if as_of is None else _clean(pd.Timestamp(as_of)),
                "churn_probability": py["churn_probability"][i],
                "risk_tier": tier[i],
                "triggers": tiers.triggers[i],  # built from Python numbers (tolist), never NaN: fired only
                "recommended_action": {"key": key[i], "text": text[i]},
                "reasons": reasons[i],  # Python numbers, None for a missing value (reason_codes)
                "p_alive": py["p_alive"][i],
                "expected_purchases": py["expected_purchases"][i],
                "p_no_purchase": py["p_no_purchase"][i],
                "horizon_days": None if horizon is None else int(horizon),
                "ltv": {
                    "predicted": py["predicted_ltv"][i],
                    "lower": py["ltv_lower"][i],
                    "upper": py["ltv_upper"][i],
                    "method": _clean(method[i]),
                },
                "value_at_risk": py["value_at_risk"][i],
                "health": {
                    "score": py["health_score"][i],
                    "activity": py["health_activity"][i],
                    "penetration": py["health_penetration"][i],
                    "service": py["health_service"][i],
                    "feedback": py["health_feedback"][i],
                },
                "lifecycle_stage": {"b2c": B2C_LABELS[b2c[i]], "b2b": B2B_LABELS[b2b[i]]},
                "nps_segment": segment_nps[i],
                "model_versions": {"churn": versions["churn"], "ltv": versions["ltv"]},
            }
        )
    return out


def _json_floats(values: FloatArray) -> list[Any]:
    """An array as Python numbers with None for NaN: ``_clean`` of each element, in one ``tolist``."""
    return [None if v != v else v for v in values.tolist()]  # noqa: PLR0124 - v != v is the NaN test


def _clean(value: Any) -> Any:  # noqa: PLR0911 - one branch per type
    """JSON-safe scalar: NaN/NaT become None, numpy scalars become Python ones."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:  # the common cases first
        return value
    if kind is float:
        return None if math.isnan(value) else value
    if isinstance(value, float | np.floating):
        return None if math.isnan(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [_clean(v) for v in value.tolist()]
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def to_records(scored: pd.DataFrame) -> list[dict[str, Any]]:
    """The API's response shape for each scored row (nested health/ltv/model blocks)."""
    out = []
    for row in scored.to_dict(orient="records"):
        r = {k: _clean(v) for k, v in row.items()}
        out.append(
            {
                "customer_id": r["customer_id"],
                "as_of": r["as_of"],
                "churn_probability": r["churn_probability"],
                "risk_tier": r["risk_tier"],
                "triggers": r["triggers"] or [],
                "recommended_action": {"key": r["action_key"], "text": r["action_text"]},
                "reasons": r["reasons"] or [],
                "p_alive": r["p_alive"],
                "expected_purchases": r["expected_purchases"],
                "p_no_purchase": r["p_no_purchase"],
                "horizon_days": None if r["horizon_days"] is None else int(r["horizon_days"]),
                "ltv": {
                    "predicted": r["predicted_ltv"],
                    "lower": r["ltv_lower"],
                    "upper": r["ltv_upper"],
                    "method": r["ltv_method"],
                },
                "value_at_risk": r["value_at_risk"],
                "health": {
                    "score": r["health_score"],
                    "activity": r["health_activity"],
                    "penetration": r["health_penetration"],
                    "service": r["health_service"],
                    "feedback": r["health_feedback"],
                },
                "lifecycle_stage": {"b2c": r["stage_b2c"], "b2b": r["stage_b2b"]},
                "nps_segment": r["nps_segment"],
                "model_versions": {"churn": r["churn_model_version"], "ltv": r["ltv_model_version"]},
            }
        )
    return out


def account_record(
    models: ModelSet, account_id: str, when: dt.datetime, users: pd.DataFrame, scored: pd.DataFrame
) -> dict[str, Any]:
    """Roll the users up (features + their model outputs) and apply the policy at account level."""
    from models.account_rollup import account_policy

    outputs = scored[["customer_id", "churn_probability", "p_alive", "predicted_ltv"]]
    inputs = users.drop(columns=[c for c in ("churn_probability", "p_alive", "predicted_ltv") if c in users.columns])
    merged = inputs.merge(outputs, on="customer_id", how="inner", validate="one_to_one")
    merged["account_id"] = account_id
    account = account_policy(merged, settings=models.policy)
    row = {k: _clean(v) for k, v in account.iloc[0].to_dict().items()}
    members = [
        {
            "customer_id": r["customer_id"],
            "risk_tier": r["risk_tier"],
            "churn_probability": _clean(r["churn_probability"]),
            "predicted_ltv": _clean(r["predicted_ltv"]),
            "value_at_risk": _clean(r["value_at_risk"]),
        }
        for r in scored.to_dict(orient="records")
    ]
    return {
        "account_id": account_id,
        "as_of": pd.Timestamp(when).isoformat(),
        "users": int(row["users"]),
        "risk_tier": row["risk_tier"],
        "triggers": row["triggers"] or [],
        "recommended_action": {"key": row["action_key"], "text": row["action_text"]},
        "churn_probability": row["churn_probability"],
        "p_alive": row.get("p_alive"),
        "predicted_ltv": row.get("predicted_ltv"),
        "value_at_risk": row.get("value_at_risk"),
        "health": {
            "score": row["health_score"],
            "activity": row["health_activity"],
            "penetration": row["health_penetration"],
            "service": row["health_service"],
            "feedback": row["health_feedback"],
        },
        "lifecycle_stage": {"b2c": row["stage_b2c"], "b2b": row["stage_b2b"]},
        "members": members,
        "model_versions": models.versions,
    }
