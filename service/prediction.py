"""Features in, everything the CRM acts on out: the one prediction assembly of the API, batch scoring and accounts.

``assemble(models, features, inputs)`` is the single place that turns point-in-time features into every output
column: one encoding and one pass over the trees for the churn probability and its reasons, LTV, then the whole
customer policy (``models.customer_policy.evaluate_policy``, which ``apply_policy`` is made of) on those outputs.
Its two front ends differ only in how features arrive:

* ``score_frame(models, frame)``: a DataFrame (batch chunks of 100k customers, live lookups, an account's users)
  -> a DataFrame of ``SCORE_COLUMNS``;
* ``score_rows(models, rows)``: request rows (feature name -> JSON value) as plain column arrays, because on a
  one-customer request pandas' per-column overhead (~10-50 us per operation, ~10 ms per request in total) and
  not arithmetic is the cost.

Both return the same columns, so a batch score and an API answer for the same customer and models cannot
disagree (tests/integration/test_prediction_paths.py); ``service.api.responses`` turns either into response
bodies. ``roll_up_account`` applies the same policy at account level (``models.account_rollup``) to users scored
by ``score_frame``.

LTV (``_ltv_arrays``) runs after the churn model because it needs its probability: customers with an active
subscription get contractual CLV from ``sub_mrr`` and P(churn) (``models.subscription_value``, method
``contractual_retention_no_interval``), the others BG/NBD + Gamma-Gamma (``bgnbd_gamma_gamma`` and its fallbacks);
``ltv_method`` says which produced each number.

The retention decision (``_decision_columns``) runs last because it needs the LTV: with an uplift model,
``models.retention_decision.decide`` (uplift x LTV + spend uplift - cost per action, ``no_action`` when none pays);
without one, the tier's action on the risk x value basis. ``holdout_control`` (``models.holdout_control``) marks
the random share of every action's targets that is held out as this run's control group.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from features.time_units import TimeUnit
from models.customer_policy import evaluate_policy
from models.customer_value import PREDICTIVE_OUTPUTS
from models.policy_frame import ColumnInputs, FloatArray, PolicyInputs

if TYPE_CHECKING:
    import pandas as pd

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
    "ltv_p10",
    "ltv_p50",
    "ltv_p90",
    "ltv_interval_80_low",
    "ltv_interval_80_high",
    "next_purchase_days",
    "p_purchase_30d",
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
    # retention decision (docs/RETENTION_DECISIONS.md): uplift x value with an uplift model, else the tier's action
    "decision_basis",
    "best_action",
    "expected_uplift",
    "incremental_value",
    "action_cost",
    "uplift_by_action",
    "holdout_control",
    "churn_model_version",
    "ltv_model_version",
    "uplift_model_version",
)


# the predictive distribution of the horizon's value (P10/P50/P90: purchase counts x spend, parameter uncertainty
# folded in; models.value_distribution) and the next-purchase outputs; ltv_lower/ltv_upper stay the
# parameter-uncertainty band of the point value
PREDICTIVE_COLUMNS = PREDICTIVE_OUTPUTS
PREDICTIVE_VALUE_COLUMNS = tuple(c for c in PREDICTIVE_OUTPUTS if c.startswith("ltv_"))

SUBSCRIPTION_COLUMNS = ("sub_active", "sub_mrr")
LTV_INPUT_COLUMNS = (*BTYD_COLUMNS, *SUBSCRIPTION_COLUMNS)


# the columns of a scored customer that identify it, and the ones the assembly computes
ID_COLUMNS = ("customer_id", "as_of", "segment")
OUTPUT_COLUMNS = tuple(c for c in SCORE_COLUMNS if c not in ID_COLUMNS)
# request fields that are text: never read as numbers (the churn model encodes its categorical features itself)
TEXT_FIELDS = frozenset({"customer_id", "as_of", "segment", "acquisition_channel", "sub_plan"})


@dataclass(frozen=True)
class Scored:
    """Every output of ``assemble`` for ``n`` customers, in input order.

    ``columns`` maps each name of ``OUTPUT_COLUMNS`` to an array (float64 with NaN = undefined, or object for
    labels), except ``triggers`` and ``reasons`` (lists of per-customer lists of dicts of Python values) and the
    two model versions (one value for everyone). ``ids`` holds ``ID_COLUMNS`` as the input gave them.
    """

    n: int
    ids: dict[str, Any]
    columns: dict[str, Any]


def assemble(
    models: ModelSet,
    features: pd.DataFrame | Mapping[str, Sequence[Any]],
    inputs: PolicyInputs,
    *,
    top_reasons: int,
    ids: Mapping[str, Sequence[Any]],
    uplift_features: Mapping[str, Sequence[Any]] | None = None,
) -> dict[str, Any]:
    """The output columns (``OUTPUT_COLUMNS``; see ``Scored``) of the customers ``features`` holds.

    ``features`` is what the churn model encodes (a frame, or feature name -> values); ``inputs`` the same
    customers' features as numbers for LTV and the policy; ``ids`` their ``customer_id`` and ``as_of`` (the
    holdout draw), ``uplift_features`` what the uplift model encodes when ``features`` holds the churn model's only.
    """
    churn = models.churn
    n = inputs.n
    raw, reasons = _churn_scores(churn, churn.matrix(features), top_reasons)
    probability = np.asarray(churn.calibrator.predict(raw), dtype=np.float64)
    ltv_inputs = {c: v for c in LTV_INPUT_COLUMNS if (v := inputs.numeric(c)) is not None}
    ltv = _ltv_arrays(models, ltv_inputs, n, probability)
    method = ltv.pop("ltv_method")
    outputs = {"churn_probability": probability, **ltv}
    policy = evaluate_policy(inputs.with_columns(outputs), models.policy)
    versions = models.versions
    decisions = _decision_columns(
        models, features if uplift_features is None else uplift_features, ids, outputs["predicted_ltv"], policy.columns
    )
    return {
        **outputs,
        "ltv_method": method,
        **policy.columns,
        **decisions,
        "reasons": reasons,
        "churn_model_version": versions["churn"],
        "ltv_model_version": versions["ltv"],
        "uplift_model_version": models.uplift_version,
    }


def _decision_columns(
    models: ModelSet,
    features: pd.DataFrame | Mapping[str, Sequence[Any]],
    ids: Mapping[str, Sequence[Any]],
    ltv: FloatArray,
    policy_columns: Mapping[str, Any],
) -> dict[str, Any]:
    """best_action, expected_uplift, incremental_value, action_cost, uplift_by_action, decision_basis and
    holdout_control of every customer (see the module docstring)."""
    from models.holdout_control import holdout_control
    from models.retention_decision import RISK_X_VALUE_BASIS, UPLIFT_BASIS, decide
    from models.uplift_bundle import spend_uplift_column, uplift_column

    settings = models.policy
    tier_action = np.asarray(policy_columns["action_key"], dtype=object)
    n = tier_action.size
    bundle = models.uplift
    if bundle is None:
        basis = RISK_X_VALUE_BASIS
        best = tier_action
        nan = np.full(n, np.nan)
        expected, value, cost = nan, nan.copy(), nan.copy()
        by_action: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    else:
        basis = UPLIFT_BASIS
        effects = bundle.effects_from_matrix(bundle.matrix(features))
        actions = bundle.action_keys
        spend = {a: effects[spend_uplift_column(a)] for a in actions if spend_uplift_column(a) in effects}
        retention = {a: effects[uplift_column(a)] for a in actions}
        decided = decide(retention, spend, ltv, bundle.costs, no_action=settings.action_none_key)
        best, expected = decided.best_action, decided.expected_uplift
        value, cost = decided.incremental_value, decided.cost
        per_action = decided.values  # noqa: PD011 - the per-action dict of Decisions, not pandas
        lists = {a: retention[a].tolist() for a in actions}
        spend_lists = {a: spend[a].tolist() if a in spend else [None] * n for a in actions}
        value_lists = {a: per_action[a].tolist() for a in actions}
        by_action = [
            [
                {
                    "action": a,
                    "retention": lists[a][i],
                    "spend": spend_lists[a][i],
                    "incremental_value": value_lists[a][i],
                }
                for a in actions
            ]
            for i in range(n)
        ]
    held_out = holdout_control(
        ids["customer_id"],
        ids["as_of"],
        best,
        share=settings.holdout_share,
        seed=settings.holdout_seed,
        no_action=settings.action_none_key,
    )
    return {
        "decision_basis": np.full(n, basis, dtype=object),
        "best_action": np.asarray(best, dtype=object),
        "expected_uplift": expected,
        "incremental_value": value,
        "action_cost": cost,
        "uplift_by_action": by_action,
        "holdout_control": held_out.astype(np.float64),
    }


def score_frame(models: ModelSet, features: pd.DataFrame, *, top_reasons: int = 3) -> pd.DataFrame:
    """Score a point-in-time feature frame (one row per customer): a frame of ``SCORE_COLUMNS``, in row order."""
    import pandas as pd

    frame = features.reset_index(drop=True)
    ids = {"customer_id": frame["customer_id"].tolist(), "as_of": frame["as_of"].tolist()}
    columns = assemble(models, frame, PolicyInputs(frame), top_reasons=top_reasons, ids=ids)
    data: dict[str, Any] = {
        "customer_id": frame["customer_id"],
        "as_of": frame["as_of"],
        "segment": frame["segment"] if "segment" in frame.columns else None,
    }
    for name in OUTPUT_COLUMNS:
        values = columns[name]
        is_objects = isinstance(values, list) or (isinstance(values, np.ndarray) and values.dtype == object)
        data[name] = pd.Series(values, index=frame.index, dtype=object) if is_objects else values
    return pd.DataFrame(data, index=frame.index, columns=list(SCORE_COLUMNS))


def score_rows(models: ModelSet, rows: Sequence[Mapping[str, Any]], *, top_reasons: int = 3) -> Scored:
    """Score request rows (feature name -> JSON value, plus ``customer_id`` and ``as_of``).

    The same outputs as ``score_frame(models, pandas.DataFrame(rows))``: a feature a row does not carry is
    absent for every row (the API rejects bodies where the model needs it), exactly as a missing column.
    """
    n = len(rows)
    present: set[str] = set()
    for row in rows:
        present.update(row)
    by_name = {name: [row.get(name) for row in rows] for name in present}
    ids = {name: by_name.get(name, [None] * n) for name in ID_COLUMNS}
    if n == 0:
        return Scored(0, ids, {})
    churn = models.churn
    skip = TEXT_FIELDS | set(churn.categories)
    inputs = ColumnInputs(_float_columns({k: v for k, v in by_name.items() if k not in skip}), n)
    matrix_input = {name: by_name[name] for name in churn.names}
    uplift_input = None
    if models.uplift is not None:  # a feature only the uplift model reads and the request lacks is unknown
        uplift_input = {name: by_name.get(name, [None] * n) for name in models.uplift.names}
    return Scored(
        n, ids, assemble(models, matrix_input, inputs, top_reasons=top_reasons, ids=ids, uplift_features=uplift_input)
    )


def roll_up_account(models: ModelSet, account_id: str, users: pd.DataFrame, scored: pd.DataFrame) -> dict[str, Any]:
    """The account's row: its users' features and model outputs rolled up, the policy applied at account level.

    ``users`` are the users' point-in-time features and ``scored`` their ``score_frame`` rows, in the same order;
    the roll-up rules are models.account_rollup's.
    """
    from models.account_rollup import account_policy

    model_outputs = ("churn_probability", "p_alive", "predicted_ltv")
    outputs = scored[["customer_id", *model_outputs]]
    inputs = users.drop(columns=[c for c in model_outputs if c in users.columns])
    merged = inputs.merge(outputs, on="customer_id", how="inner", validate="one_to_one")
    merged["account_id"] = account_id
    account = account_policy(merged, settings=models.policy)
    return {str(k): v for k, v in account.iloc[0].to_dict().items()}


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
    for name in ("ltv_lower", "ltv_upper", *PREDICTIVE_VALUE_COLUMNS):  # no honest interval (see module)
        result[name] = np.where(subscriber, np.nan, result[name])
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
            **{name: nan for name in PREDICTIVE_COLUMNS},
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
    kept = ("p_alive", "expected_purchases", "p_no_purchase", "predicted_ltv", "ltv_lower", "ltv_upper")
    result = {k: out[k] for k in (*kept, *PREDICTIVE_COLUMNS)}
    result["ltv_method"] = np.asarray(out["ltv_method"], dtype=object)
    result["horizon_days"] = np.full(n, float(models.ltv.horizon_days))
    return result


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
    raw = churn.raw_proba_from_contributions(contrib, matrix)
    reasons = reason_codes(
        contrib, matrix, churn.names, churn.spec, k=k, categories=churn.categories, references=churn.references
    )
    return raw, reasons
