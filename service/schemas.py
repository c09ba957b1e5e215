"""Request and response bodies of the HTTP API (the OpenAPI schema the CRM integrates from).

The feature fields are the point-in-time feature vocabulary (docs/ARCHITECTURE.md). Every field is
optional in the schema because a model trained on data without, say, transactions does not use the
``txn_*`` features; the loaded model's feature specification decides which fields a request must
carry, and a missing one is a 422 naming it. ``null`` is an accepted value where a feature is
undefined (``days_since_last_event`` of a customer who never acted); NaN and infinity are not, nor is
a boolean where a number belongs. Every number has an upper bound (counts and ratios 1e9, money 1e12,
durations 1e6 days), so a valid request always fits the float64 feature matrix.
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

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from features.event_vocabulary import NAME_PATTERN

# Upper bounds: far above any real customer, low enough that every value fits a float64 feature matrix and the
# money arithmetic downstream stays finite (a 400-digit integer must be a 422 naming its field, not an overflow)
MAX_COUNT = 1_000_000_000
MAX_AMOUNT = 1e12
MAX_DAYS = 1_000_000  # ~2,700 years; also bounds hours (ticket_resolution_hours_mean)


def _not_a_bool(value: object) -> object:
    # pydantic's lax mode reads JSON true/false as 1/0 (or 1.0/0.0); a boolean where a number belongs is a client
    # bug to name, not a count of one
    if isinstance(value, bool):
        raise PydanticCustomError(
            "bool_not_number", "Input should be a number, not a boolean ({value})", {"value": str(value).lower()}
        )
    return value


NoBool = BeforeValidator(_not_a_bool)
Count = Annotated[float | None, Field(ge=0, le=MAX_COUNT), NoBool]
Amount = Annotated[float | None, Field(ge=0, le=MAX_AMOUNT), NoBool]  # money: spend, MRR, mean spend
WholeCount = Annotated[int | None, Field(ge=0, le=MAX_COUNT), NoBool]  # the catalog's int counts (3.0 is accepted)
Days = Annotated[float | None, Field(ge=0, le=MAX_DAYS), NoBool]
Flag = Annotated[int | None, Field(ge=0, le=1), NoBool]
Ratio = Annotated[float | None, Field(ge=0, le=MAX_COUNT), NoBool]
Score = Annotated[float | None, Field(ge=0, le=10), NoBool]
Rating = Annotated[float | None, Field(ge=1, le=5), NoBool]
# the contractual CLV calculator: a margin may be negative; a lifetime of 1,000 years and a discount rate of 1,000%
# per period are beyond any real contract
Money = Annotated[float | None, Field(ge=-MAX_AMOUNT, le=MAX_AMOUNT), NoBool]
Months = Annotated[float | None, Field(ge=0, le=12_000), NoBool]
MAX_RATE = 10.0


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
    txn_amount_90d: Amount = Field(None, description="Spend in the last 90 days.")
    txn_count_total: WholeCount = Field(None, description="Purchases before as_of.")
    txn_amount_total: Amount = Field(None, description="Spend before as_of.")
    days_since_last_txn: Days = Field(None, description="Days since the last purchase (null if never).")
    btyd_frequency: Count = Field(None, description="BTYD frequency: repeat purchase days.")
    btyd_recency: Count = Field(None, description="BTYD recency in the model's time unit.")
    btyd_T: Count = Field(None, description="BTYD customer age T in the model's time unit.")  # noqa: N815 - paper name
    btyd_monetary: Amount = Field(None, description="Mean spend per repeat purchase day.")
    sub_active: Flag = Field(None, description="1 while a subscription is active.")
    sub_plan: str | None = Field(None, max_length=200, description="Current or last plan.")
    sub_mrr: Amount = Field(None, description="Monthly recurring revenue.")
    sub_tenure_days: Days = Field(None, description="Days since the current subscription started.")
    sub_ended_count: WholeCount = Field(None, description="Subscriptions ended before as_of.")
    nps_last: Score = Field(None, description="Last NPS answer (0-10).")
    nps_mean: Score = Field(None, description="Mean NPS answer.")
    nps_count: WholeCount = Field(None, description="NPS answers before as_of.")
    days_since_last_nps: Days = Field(None, description="Days since the last NPS answer.")
    tickets_90d: WholeCount = Field(None, description="Support tickets opened in 90 days.")
    tickets_open: WholeCount = Field(None, description="Tickets open at as_of.")
    tickets_resolved_90d: WholeCount = Field(None, description="Tickets resolved in 90 days.")
    ticket_satisfaction_mean: Rating = Field(None, description="Mean rating 1-5.")
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
        description="Growth-funnel stage (docs/DOMAIN.md section 1); `lost` = already gone by their own rhythm "
        "(no risk tier; the win-back action)."
    )
    b2b: StageB2B = Field(description="Relationship stage (docs/DOMAIN.md section 1).")


class ModelVersions(BaseModel):
    churn: str | None = Field(description="Registry version (or bundle path) of the churn model.")
    ltv: str | None = Field(description="Registry version (or bundle path) of the LTV model; null when none.")
    uplift: str | None = Field(
        default=None, description="Registry version (or bundle path) of the uplift model; null when none."
    )


class ActionUplift(BaseModel):
    action: str = Field(description="A modelled action key (learned from past campaign_contacts).")
    retention: float | None = Field(
        description="Uplift on retention: change in P(still a customer after the horizon) if contacted with this "
        "action rather than left alone (negative: contact harms)."
    )
    spend: float | None = Field(description="Change in spend within the horizon; null when not modelled.")
    incremental_value: float | None = Field(description="retention x LTV + spend - cost of this action.")


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
    decision_basis: Literal["uplift", "risk_x_value"] | None = Field(
        default=None,
        description="uplift: best_action from the uplift model (uplift x value); risk_x_value: no campaign history "
        "(no uplift model), best_action is the risk tier's action. Null for a run of an older release.",
    )
    best_action: str | None = Field(
        default=None,
        description="Action with the largest positive incremental value, or no_action when none pays (this "
        "includes sleeping dogs, whom contact harms); the tier's action on the risk_x_value basis.",
    )
    expected_uplift: float | None = Field(
        default=None, description="Retention uplift of best_action (0 for no_action; null on risk_x_value)."
    )
    incremental_value: float | None = Field(
        default=None,
        description="Expected incremental value of best_action: uplift x LTV + spend uplift - cost (null on "
        "risk_x_value).",
    )
    action_cost: float | None = Field(default=None, description="Cost of one contact with best_action.")
    uplift_by_action: list[ActionUplift] = Field(
        default_factory=list, description="uplift_<action> for every modelled action (empty without uplift model)."
    )
    holdout_control: bool | None = Field(
        default=None,
        description="Held out of best_action as this run's random control group (CHURNLTV_POLICY_HOLDOUT_SHARE, "
        "default 10% of every action's targets): do not contact. Null for a run of an older release.",
    )
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
    """A B2B account, scored from its users (models/account_rollup.py, docs/DOMAIN.md section 9)."""

    account_id: str
    as_of: str = Field(description="Cutoff the users' features were built at (exclusive).")
    users: int = Field(description="Users of the account signed up before as_of.")
    risk_tier: RiskTier = Field(description="The account's tier, from the policy run on its rolled-up signals.")
    triggers: list[Trigger] = Field(description="Rule triggers that fired on the account's signals.")
    recommended_action: Action
    churn_probability: float = Field(description="Mean churn probability of the users (expected share lost).")
    p_alive: float | None = Field(
        description="Max P(alive) over the users who have bought: the account is alive while any buyer is; null when "
        "no user has bought (a never-buyer's P(alive) is only the model's prior)."
    )
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
    decision_basis: Literal["uplift", "risk_x_value"] | None = Field(None, description="As in CustomerPrediction.")
    best_action: str | None = Field(None, description="The action to send (uplift basis) or the tier's action.")
    expected_uplift: float | None = Field(None, description="Retention uplift of best_action (uplift basis).")
    incremental_value: float | None = Field(None, description="uplift x LTV + spend uplift - cost (uplift basis).")
    holdout_control: bool | None = Field(
        None, description="This run's control group: do not contact (never chosen in budget mode)."
    )
    cost: float | None = Field(
        None, description="budget mode: cost of the action (uplift basis: of best_action; else cost_per_action)."
    )
    expected_saved_value: float | None = Field(
        None, description="budget mode: incremental_value + cost (uplift basis), else save_rate x value_at_risk."
    )
    expected_net_gain: float | None = Field(None, description="budget mode: expected_saved_value - cost.")
    cumulative_cost: float | None = Field(None, description="budget mode: spend up to and including this customer.")


class RetentionListResponse(BaseModel):
    run_id: str | None = Field(description="The batch score run the list is read from.")
    as_of: str | None = Field(description="Cutoff of that run.")
    decision_basis: Literal["uplift", "risk_x_value"] | None = Field(
        None,
        description="How budget mode chose: uplift (incremental value per unit cost, from the uplift model) or "
        "risk_x_value (no uplift model in the run: save_rate x value at risk per cost_per_action).",
    )
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
    uplift: ModelInfo | None = Field(
        default=None,
        description="The uplift model deciding best_action (docs/RETENTION_DECISIONS.md); null without campaign "
        "history: decisions by risk x value.",
    )


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
    """docs/DOMAIN.md section 6. `formula` picks which article formula to use."""

    formula: Literal["simple", "retention", "pay_after_service", "saas"]
    monthly_margin: Money = Field(None, description="simple: monthly gross margin.")
    monthly_cost: Amount = Field(None, description="simple: monthly cost to serve/market.")
    expected_lifetime_months: Months = Field(None, description="simple/saas: expected lifetime.")
    revenue: Money = Field(None, description="retention: revenue per period M.")
    cost: Amount = Field(None, description="retention: cost per period R.")
    retention: Annotated[float | None, Field(ge=0, le=1), NoBool] = Field(
        None, description="retention: retention rate r per period."
    )
    discount: Annotated[float | None, Field(ge=0, le=MAX_RATE), NoBool] = Field(
        None, description="retention: discount rate d per period."
    )
    mrr: Amount = Field(None, description="saas: monthly recurring revenue.")
    cost_to_serve: Amount = Field(None, description="saas: total cost to serve.")


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
