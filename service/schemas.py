"""Request and response bodies of the HTTP API (the OpenAPI schema the CRM integrates from).

The feature fields are the point-in-time feature vocabulary (docs/ARCHITECTURE.md). Every field is
optional in the schema because a model trained on data without, say, transactions does not use the
``txn_*`` features; the loaded model's feature specification decides which fields a request must
carry, and a missing one is a 422 naming it. ``null`` is an accepted value where a feature is
undefined (``days_since_last_event`` of a customer who never acted); NaN and infinity are not.
The fields, their order and their JSON types follow ``features.feature_spec.feature_catalog``
(tests/unit/test_request_schema.py keeps the two equal). Besides them a body may carry the behaviour features of
the model's learned event vocabulary (``ev_<type>_*`` and ``mod_<module>_*``, features/behaviour_vocabulary.py):
numbers or null, names checked against ``features.event_vocabulary.NAME_PATTERN``; any other extra field is still
"Extra inputs are not permitted".
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from features.event_vocabulary import NAME_PATTERN

Count = Annotated[float | None, Field(ge=0)]
WholeCount = Annotated[int | None, Field(ge=0)]  # the catalog's int counts (3.0 is accepted, 3.5 is not)
Days = Annotated[float | None, Field(ge=0)]
Flag = Annotated[int | None, Field(ge=0, le=1)]
Ratio = Annotated[float | None, Field(ge=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


_VOCABULARY_NAME = re.compile(NAME_PATTERN)


def _vocabulary_name(name: str) -> str:
    if not _VOCABULARY_NAME.match(name):
        raise PydanticCustomError("extra_forbidden", "Extra inputs are not permitted")
    return name


VocabularyName = Annotated[str, AfterValidator(_vocabulary_name)]
VocabularyValue = Annotated[float | None, Field(allow_inf_nan=False)]


class CustomerFeatures(BaseModel):
    """Point-in-time features of one customer, as built by `churnltv features` (see the data contract docs).

    Extra fields named ``ev_*`` / ``mod_*`` are the behaviour features of the model's learned event vocabulary.
    """

    model_config = ConfigDict(
        extra="allow",
        allow_inf_nan=False,
        json_schema_extra={"patternProperties": {NAME_PATTERN: {"type": ["number", "null"]}}},
    )
    __pydantic_extra__: dict[VocabularyName, VocabularyValue] = Field(init=False)

    customer_id: str = Field(min_length=1, max_length=200, description="The customer's id (echoed back).")
    as_of: dt.datetime | None = Field(None, description="When the features were taken (default: now, UTC).")
    tenure_days: Days = Field(None, description="Days from signup to as_of.")
    segment: Literal["b2c", "b2b"] | None = Field(None, description="Business model of the customer.")
    acquisition_channel: str | None = Field(None, max_length=200, description="Channel that acquired the customer.")
    events_7d: WholeCount = Field(None, description="Events in the 7 days before as_of.")
    events_30d: WholeCount = Field(None, description="Events in the 30 days before as_of.")
    events_90d: WholeCount = Field(None, description="Events in the 90 days before as_of.")
    active_days_7d: WholeCount = Field(None, description="Distinct active days in the last 7 days.")
    active_days_30d: WholeCount = Field(None, description="Distinct active days in the last 30 days.")
    active_days_90d: WholeCount = Field(None, description="Distinct active days in the last 90 days.")
    core_actions_30d: WholeCount = Field(None, description="Core actions in the last 30 days.")
    core_actions_prev_30d: WholeCount = Field(None, description="Core actions in the 30 days before those.")
    core_trend_ratio: Ratio = Field(None, description="core_actions_30d / core_actions_prev_30d (null if prev is 0).")
    days_since_last_event: Days = Field(None, description="Days since the last event (null if never).")
    days_since_last_core_action: Days = Field(None, description="Days since the last core action (null if never).")
    modules_used_90d: WholeCount = Field(None, description="Distinct modules with any event in 90 days.")
    core_modules_used_90d: WholeCount = Field(None, description="Distinct modules with a core action in 90 days.")
    uses_3plus_modules: Flag = Field(None, description="1 when core_modules_used_90d >= 3.")
    aha_reached: Flag = Field(None, description="1 when the activation (Aha) rule was met before as_of.")
    days_to_aha: Days = Field(None, description="Days from signup to the Aha moment (null if not reached).")
    weeks_below_aha_bar: WholeCount = Field(None, description="Consecutive recent weeks below the weekly Aha bar.")
    usual_gap_days: Days = Field(None, description="Median gap between active days (the customer's own rhythm).")
    idle_ratio: Ratio = Field(None, description="days_since_last_event / usual_gap_days.")
    days_since_reactivation: Days = Field(None, description="Days since coming back after a dormant gap.")
    txn_count_90d: WholeCount = Field(None, description="Purchases in the last 90 days.")
    txn_amount_90d: Count = Field(None, description="Spend in the last 90 days.")
    txn_count_total: WholeCount = Field(None, description="Purchases before as_of.")
    txn_amount_total: Count = Field(None, description="Spend before as_of.")
    days_since_last_txn: Days = Field(None, description="Days since the last purchase (null if never).")
    btyd_frequency: Count = Field(None, description="BTYD frequency: repeat purchase days.")
    btyd_recency: Count = Field(None, description="BTYD recency in the model's time unit.")
    btyd_T: Count = Field(None, description="BTYD customer age T in the model's time unit.")  # noqa: N815 - paper name
    btyd_monetary: Count = Field(None, description="Mean spend per repeat purchase day.")
    sub_active: Flag = Field(None, description="1 while a subscription is active.")
    sub_plan: str | None = Field(None, max_length=200, description="Current or last plan.")
    sub_mrr: Count = Field(None, description="Monthly recurring revenue.")
    sub_tenure_days: Days = Field(None, description="Days since the current subscription started.")
    sub_ended_count: WholeCount = Field(None, description="Subscriptions ended before as_of.")
    nps_last: Annotated[float | None, Field(ge=0, le=10)] = Field(None, description="Last NPS answer (0-10).")
    nps_mean: Annotated[float | None, Field(ge=0, le=10)] = Field(None, description="Mean NPS answer.")
    nps_count: WholeCount = Field(None, description="NPS answers before as_of.")
    days_since_last_nps: Days = Field(None, description="Days since the last NPS answer.")
    tickets_90d: WholeCount = Field(None, description="Support tickets opened in 90 days.")
    tickets_open: WholeCount = Field(None, description="Tickets open at as_of.")
    tickets_resolved_90d: WholeCount = Field(None, description="Tickets resolved in 90 days.")
    ticket_satisfaction_mean: Annotated[float | None, Field(ge=1, le=5)] = Field(None, description="Mean rating 1-5.")
    days_since_last_ticket_resolved: Days = Field(None, description="Days since a ticket was last resolved.")
    ticket_resolution_hours_mean: Days = Field(None, description="Mean hours to resolve a ticket.")
    account_users: Count = Field(None, description="Users in the customer's B2B account.")
    account_active_users_30d: Count = Field(None, description="Account users active in 30 days.")
    account_core_actions_30d: Count = Field(None, description="Account core actions in 30 days.")
    account_core_trend_ratio: Ratio = Field(None, description="Account core-action trend (last vs prior 30 days).")


class PredictRequest(_Strict):
    customers: list[CustomerFeatures] = Field(min_length=1, description="One or more customers to score.")


RiskTier = Literal["none", "low", "medium", "high"]
StageB2C = Literal["acquisition", "activation", "retention", "monetization", "referral", "reactivated", "lost"]
StageB2B = Literal["acquisition", "growth", "maturity", "maintenance", "churn", "reactivated"]
NpsSegment = Literal["promoter", "passive", "detractor"]


class Trigger(BaseModel):
    """One early-warning rule that fired (models/risk_tiers.py), with the value it measured."""

    trigger: str = Field(
        description="Rule that fired: core_frequency_drop, below_aha_bar, idle_vs_own_rhythm, low_p_alive, "
        "idle_too_long or churn_probability_band."
    )
    tier: Literal["low", "medium", "high"] = Field(description="Tier this rule raises the customer to.")
    column: str = Field(description="Feature or model output the rule reads, e.g. core_trend_ratio.")
    value: float = Field(description="The customer's measured value of `column`.")
    operator: Literal["<=", ">=", "<"] = Field(description="The rule fires when `value operator threshold`.")
    threshold: float = Field(description="The rule's threshold (a CHURNLTV_POLICY_* setting).")


class Reason(BaseModel):
    feature: str = Field(description="Feature behind this reason (a field of CustomerFeatures).")
    value: float | str | None = Field(description="The customer's value of the feature (null when unknown).")
    contribution: float = Field(description="Contribution to the churn score in log-odds (positive raises risk).")
    phrase: str = Field(description="The reason in plain words.")


class Action(BaseModel):
    key: str | None = Field(description="Recommended action for the tier (CHURNLTV_POLICY_ACTION_<TIER>_KEY).")
    text: str | None = Field(description="The action in words, for the CRM user.")


class Interval(BaseModel):
    low: float | None
    high: float | None


class Ltv(BaseModel):
    predicted: float | None = Field(description="Discounted CLV over the configured horizon.")
    lower: float | None = Field(
        description="Lower bound of the parameter-uncertainty band of `predicted` (how sure the model is of the "
        "expected value; not the range of what the customer will spend: see p10/p90)."
    )
    upper: float | None = Field(description="Upper bound of the parameter-uncertainty band of `predicted`.")
    p10: float | None = Field(
        default=None,
        description="10th percentile of the customer's value over the horizon: the predictive distribution of the "
        "number of purchases combined with the spend model, parameter uncertainty folded in. Null for subscribers "
        "(contractual CLV) and without an LTV model.",
    )
    p50: float | None = Field(default=None, description="Median of the predictive distribution of value.")
    p90: float | None = Field(default=None, description="90th percentile of the predictive distribution of value.")
    interval_80: Interval | None = Field(
        default=None,
        description="The 80% predictive interval of value: the narrower of [p10, p90] and [0, P80]. A customer "
        "likely to buy nothing has an atom at 0 and [p10, p90] then holds 90%; this one holds 80% for everyone "
        "(its holdout coverage is in the LTV evaluation, `ltv_interval_80_coverage`).",
    )
    method: str | None = Field(description="How the value was computed (or why it is unavailable).")


class Health(BaseModel):
    score: float | None = Field(description="0-100: activity 40%, penetration 30%, service 20%, feedback 10%.")
    activity: float | None
    penetration: float | None
    service: float | None
    feedback: float | None


class Stage(BaseModel):
    b2c: StageB2C = Field(
        description="Growth-funnel stage (DOMAIN.md section 1); `lost` = already gone by their own rhythm (no risk "
        "tier; the win-back action)."
    )
    b2b: StageB2B = Field(description="Relationship stage (DOMAIN.md section 1).")


class ModelVersions(BaseModel):
    churn: str | None = Field(description="Registry version (or bundle path) of the churn model.")
    ltv: str | None = Field(description="Registry version (or bundle path) of the LTV model; null when none.")


class Prediction(BaseModel):
    customer_id: str
    as_of: str | None
    churn_probability: float = Field(description="Calibrated probability of churn within the model's horizon.")
    risk_tier: RiskTier = Field(description="max(rule tier, probability band tier).")
    triggers: list[Trigger] = Field(description="Every rule trigger that fired, with its measured value.")
    recommended_action: Action
    reasons: list[Reason] = Field(description="Top contributions to the churn probability, in plain words.")
    p_alive: float | None
    expected_purchases: float | None
    p_no_purchase: float | None
    horizon_days: int | None
    ltv: Ltv
    next_purchase_days: float | None = Field(
        default=None, description="Median days to the next purchase, given the customer is alive."
    )
    p_purchase_30d: float | None = Field(
        default=None, description="P(at least one purchase in the next 30 days), alive or not."
    )
    value_at_risk: float | None = Field(description="churn_probability x predicted LTV.")
    health: Health
    lifecycle_stage: Stage
    nps_segment: NpsSegment | None = Field(description="Segment of the last NPS answer; null when never answered.")
    model_versions: ModelVersions


class PredictResponse(BaseModel):
    predictions: list[Prediction]


class CustomerPrediction(Prediction):
    source: Literal["batch", "live"] = Field(description="batch: read from the latest complete score run.")
    run_id: str | None = None


class BatchGetRequest(_Strict):
    customer_ids: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(min_length=1)
    as_of: dt.datetime | None = None


class NotFound(BaseModel):
    customer_id: str
    error: str


class BatchGetResponse(BaseModel):
    predictions: list[CustomerPrediction]
    not_found: list[NotFound]


class AccountMember(BaseModel):
    customer_id: str
    risk_tier: RiskTier
    churn_probability: float
    predicted_ltv: float | None
    value_at_risk: float | None


class AccountPrediction(BaseModel):
    """A B2B account, scored from its users (models/account_rollup.py, DOMAIN.md section 9)."""

    account_id: str
    as_of: str = Field(description="Cutoff the users' features were built at (exclusive).")
    users: int = Field(description="Users of the account signed up before as_of.")
    risk_tier: RiskTier = Field(description="The account's tier, from the policy run on its rolled-up signals.")
    triggers: list[Trigger] = Field(description="Rule triggers that fired on the account's signals.")
    recommended_action: Action
    churn_probability: float = Field(description="Mean churn probability of the users (expected share lost).")
    p_alive: float | None = Field(description="Max P(alive) over users: the account is alive while any user is.")
    predicted_ltv: float | None = Field(description="Sum of the users' predicted LTV.")
    value_at_risk: float | None = Field(description="churn_probability x predicted_ltv.")
    health: Health
    lifecycle_stage: Stage
    members: list[AccountMember] = Field(description="Every user with their own tier and scores.")
    model_versions: ModelVersions


class RetentionEntry(BaseModel):
    customer_id: str
    segment: Literal["b2c", "b2b"] | None
    churn_probability: float | None
    predicted_ltv: float | None
    value_at_risk: float | None = Field(description="churn_probability x predicted LTV.")
    risk_tier: RiskTier | None
    action_key: str | None
    action_text: str | None
    cost: float | None = Field(None, description="budget mode: cost of the action (cost_per_action).")
    expected_saved_value: float | None = Field(None, description="budget mode: save_rate x value_at_risk.")
    expected_net_gain: float | None = Field(None, description="budget mode: expected_saved_value - cost.")
    cumulative_cost: float | None = Field(None, description="budget mode: spend up to and including this customer.")


class RetentionListResponse(BaseModel):
    run_id: str | None = Field(description="The batch score run the list is read from.")
    as_of: str | None = Field(description="Cutoff of that run.")
    customers: list[RetentionEntry] = Field(description="Largest value at risk first (budget mode: best gain/cost).")


class DateRange(BaseModel):
    start: str | None
    end: str | None


class ModelInfo(BaseModel):
    name: str = Field(description="Registered model name (churnltv-churn / churnltv-ltv).")
    ref: str = Field(description="What the service was configured to load (alias, models:/ URI or path).")
    version: str | None = Field(description="Registry version; null for a bundle loaded from a path.")
    aliases: list[str] = Field(description="Registry aliases of that version, e.g. champion.")
    created_at: str | None = Field(description="When the bundle was trained (LTV: when it was registered).")
    data_range: DateRange | None = Field(description="Time span of the training data.")
    holdout: DateRange | None = Field(description="Time window the holdout metrics were measured on.")
    holdout_metrics: dict[str, float] = Field(description="Holdout metrics, e.g. test_roc_auc, ltv_holdout_mae.")


class ModelsResponse(BaseModel):
    service_version: str
    loaded: bool
    error: str | None = Field(description="Why no models are loaded (null when loaded).")
    loaded_at: str | None
    churn: ModelInfo | None
    ltv: ModelInfo | None


class ReloadResponse(BaseModel):
    status: Literal["reloaded"]
    versions: ModelVersions
    previous: ModelVersions | None


class HealthResponse(BaseModel):
    status: Literal["ok"]


class ReadyChecks(BaseModel):
    models: str = Field(description="ok, or why the models are not loaded.")
    data: str | None = Field(None, description="ok or unreachable: why (absent when no data source is configured).")
    score_store: str | None = Field(None, description="ok or unreachable: why (absent when none is configured).")


class ReadyResponse(BaseModel):
    status: Literal["ready", "not ready"]
    checks: ReadyChecks


class ContractualClvRequest(_Strict):
    """DOMAIN.md section 6. `formula` picks which article formula to use."""

    formula: Literal["simple", "retention", "pay_after_service", "saas"]
    monthly_margin: float | None = Field(None, description="simple: monthly gross margin.")
    monthly_cost: float | None = Field(None, ge=0, description="simple: monthly cost to serve/market.")
    expected_lifetime_months: float | None = Field(None, ge=0, description="simple/saas: expected lifetime.")
    revenue: float | None = Field(None, description="retention: revenue per period M.")
    cost: float | None = Field(None, ge=0, description="retention: cost per period R.")
    retention: float | None = Field(None, ge=0, le=1, description="retention: retention rate r per period.")
    discount: float | None = Field(None, ge=0, description="retention: discount rate d per period.")
    mrr: float | None = Field(None, ge=0, description="saas: monthly recurring revenue.")
    cost_to_serve: float | None = Field(None, ge=0, description="saas: total cost to serve.")


class ContractualClvResponse(BaseModel):
    formula: str
    clv: float
    expression: str


class FieldError(BaseModel):
    field: str = Field(description="Dotted path of the offending field, e.g. customers.0.events_30d.")
    message: str


class ErrorResponse(BaseModel):
    """Every error answer (4xx/5xx): a sentence naming the field/value, plus per-field errors on a 422."""

    detail: str = Field(description="What went wrong, in words, naming the field or value.")
    errors: list[FieldError] | None = Field(None, description="Per-field validation errors (422 only).")
