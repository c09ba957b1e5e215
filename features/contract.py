"""The data contract: the tables churnltv reads, their columns, types and rules.

This module is the single source of truth for the schema. Loaders validate against
it, the generator writes it, docs/DATA_CONTRACT.md is rendered from it
(`churnltv contract`), and a test keeps that file in sync.

Conventions
-----------
* Timestamps are stored as naive UTC (`TIMESTAMP` in DuckDB). Inputs may carry an
  offset (``2024-03-01T10:00:00+02:00``) as long as a column uses one convention:
  a column that mixes offset-aware and naive values is rejected.
* Money is a non-negative float in the base's single currency.
* Identifiers are strings (numeric ids are read as text so ``007`` stays ``007``).
* Extra columns are an error, except customer attributes named ``attr_*``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ColumnType(StrEnum):
    """Logical column types, each mapped to one DuckDB type."""

    STRING = "string"
    TIMESTAMP = "timestamp"
    DATE = "date"
    FLOAT = "float"
    INTEGER = "integer"

    @property
    def duckdb_type(self) -> str:
        return {
            ColumnType.STRING: "VARCHAR",
            ColumnType.TIMESTAMP: "TIMESTAMP",
            ColumnType.DATE: "DATE",
            ColumnType.FLOAT: "DOUBLE",
            ColumnType.INTEGER: "BIGINT",
        }[self]


@dataclass(frozen=True)
class Column:
    """One column of a contract table.

    ``min_value``/``max_value`` bound numeric columns (inclusive); ``allowed`` lists
    the permitted values of a string column; ``references`` names a table whose key
    this column must match (``"customers"`` means ``customers.customer_id``).
    """

    name: str
    type: ColumnType
    required: bool
    meaning: str
    nullable: bool = False
    min_value: float | None = None
    max_value: float | None = None
    allowed: tuple[str, ...] | None = None
    references: str | None = None
    pattern: str | None = None
    pattern_meaning: str = ""


@dataclass(frozen=True)
class Table:
    """One contract table. ``key`` columns must be unique when present."""

    name: str
    required: bool
    meaning: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    time_column: str | None = None
    allows_attributes: bool = False
    notes: tuple[str, ...] = field(default=())
    key_message: str = "duplicate id"
    """What a repeated ``key`` means, in the user's words (the error names it)."""

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"table {self.name!r} has no column {name!r}")

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


# Short aliases keep the table definitions readable.
S, TS, D, F, INT = (
    ColumnType.STRING,
    ColumnType.TIMESTAMP,
    ColumnType.DATE,
    ColumnType.FLOAT,
    ColumnType.INTEGER,
)

CUSTOMERS = Table(
    name="customers",
    required=True,
    meaning="One row per customer (B2C person or B2B user).",
    key=("customer_id",),
    time_column="signup_at",
    allows_attributes=True,
    columns=(
        Column("customer_id", S, True, "Unique customer identifier."),
        Column("signup_at", TS, True, "When the customer signed up (first contact)."),
        Column("acquisition_channel", S, True, "Channel that acquired the customer; joins acquisition_spend.channel."),
        Column("segment", S, True, "Business model of the customer.", allowed=("b2c", "b2b")),
        Column(
            "account_id",
            S,
            False,
            "B2B account the user belongs to; user signals roll up to it. Null for B2C.",
            nullable=True,
        ),
    ),
    notes=(
        "Optional descriptive attributes may be added as columns named attr_<name>.",
        "Ids are matched exactly, as written: two ids that differ only by surrounding spaces (`c2`, ` c2 `) are an "
        "error (rule `id_surrounding_spaces`), two that differ only in letter case (`c2`, `C2`) are accepted as two "
        "customers with a warning (rule `id_case_only`).",
    ),
)

EVENTS = Table(
    name="events",
    required=True,
    meaning="Product usage events: one row per event.",
    time_column="occurred_at",
    columns=(
        Column("customer_id", S, True, "Who did it.", references="customers"),
        Column("occurred_at", TS, True, "When it happened."),
        Column("event_type", S, True, "What happened; settings name which types are core actions."),
        Column("module", S, True, "Product area the event belongs to (feature penetration counts these)."),
        Column("value", F, False, "Optional numeric payload (e.g. items, minutes).", nullable=True),
    ),
    notes=("A row dated before its customer's `signup_at` is an error (rule `before_signup`).",),
)

TRANSACTIONS = Table(
    name="transactions",
    required=False,
    meaning="Purchases: one row per payment. Feeds BG/NBD + Gamma-Gamma.",
    key=("order_id",),
    time_column="occurred_at",
    columns=(
        Column("customer_id", S, True, "Who paid.", references="customers"),
        Column("occurred_at", TS, True, "When the payment happened."),
        Column("amount", F, True, "Amount paid, in the base currency; zero allowed, negative not.", min_value=0.0),
        Column("order_id", S, False, "Optional order identifier; unique when present.", nullable=True),
    ),
    notes=("A row dated before its customer's `signup_at` is an error (rule `before_signup`).",),
)

SUBSCRIPTIONS = Table(
    name="subscriptions",
    required=False,
    meaning="Contracts: one row per subscription period. Feeds contractual CLV and contractual churn labels.",
    time_column="started_at",
    columns=(
        Column("customer_id", S, True, "Subscriber.", references="customers"),
        Column("plan", S, True, "Plan name."),
        Column("mrr", F, True, "Monthly recurring revenue of the subscription.", min_value=0.0),
        Column("started_at", TS, True, "Start of the subscription."),
        Column("ended_at", TS, True, "End of the subscription; null while active.", nullable=True),
    ),
)

NPS_RESPONSES = Table(
    name="nps_responses",
    required=False,
    meaning="Answers to 'How likely are you to recommend us?'.",
    time_column="answered_at",
    columns=(
        Column("customer_id", S, True, "Who answered.", references="customers"),
        Column("answered_at", TS, True, "When."),
        Column("score", INT, True, "0-10; detractor 0-6, passive 7-8, promoter 9-10.", min_value=0, max_value=10),
    ),
)

SUPPORT_TICKETS = Table(
    name="support_tickets",
    required=False,
    meaning="Support interactions.",
    time_column="opened_at",
    columns=(
        Column("customer_id", S, True, "Who opened it.", references="customers"),
        Column("opened_at", TS, True, "When it was opened."),
        Column("resolved_at", TS, True, "When it was resolved; null while open.", nullable=True),
        Column(
            "satisfaction",
            INT,
            False,
            "Satisfaction rating 1-5 given after resolution; null if not rated.",
            nullable=True,
            min_value=1,
            max_value=5,
        ),
    ),
)

ACQUISITION_SPEND = Table(
    name="acquisition_spend",
    required=False,
    meaning="Marketing spend per channel and month (for CAC and LTV/CAC).",
    key=("channel", "month"),
    time_column="month",
    columns=(
        Column("channel", S, True, "Acquisition channel; matches customers.acquisition_channel."),
        Column("month", D, True, "First day of the month the spend belongs to."),
        Column("spend", F, True, "Spend in the base currency.", min_value=0.0),
    ),
)

REFERRALS = Table(
    name="referrals",
    required=False,
    meaning="Referral events: an existing customer referred a new one (for referral anti-fraud).",
    time_column="occurred_at",
    columns=(
        Column("referrer_id", S, True, "Customer who referred.", references="customers"),
        Column("referred_id", S, True, "Customer who was referred.", references="customers"),
        Column("occurred_at", TS, True, "When the referral was recorded."),
        Column("ip", S, False, "IP address the referred sign-up came from (de-duplication).", nullable=True),
        Column("device_id", S, False, "Device fingerprint of the referred sign-up (de-duplication).", nullable=True),
        Column(
            "reward_type",
            S,
            False,
            "cash, points or two_sided.",
            nullable=True,
            allowed=("cash", "points", "two_sided"),
        ),
    ),
)

CONTROL_ARM = "control"
"""The ``arm`` of a campaign's randomly held-out customers (not contacted; they measure the action's effect)."""

CAMPAIGN_CONTACTS = Table(
    name="campaign_contacts",
    required=False,
    meaning=(
        "Past retention campaigns: one row per customer a campaign selected, contacted with an action or held out "
        "at random as the control group. Feeds the uplift models (docs/RETENTION_DECISIONS.md)."
    ),
    key=("campaign_id", "customer_id"),
    key_message="the same customer twice in one campaign",
    time_column="contacted_at",
    columns=(
        Column("customer_id", S, True, "Who was selected.", references="customers"),
        Column("campaign_id", S, True, "The campaign; every selected customer is in it once."),
        Column(
            "contacted_at",
            TS,
            True,
            "When the action was sent (for the control group: when it would have been). The outcome is read over "
            "the churn horizon after it.",
        ),
        Column(
            "arm",
            S,
            True,
            f"'{CONTROL_ARM}' for the randomly held-out group, else the action key sent "
            "(e.g. care_email_feature_tips).",
            pattern="[A-Za-z][A-Za-z0-9_]{0,62}",
            pattern_meaning="an action key: a letter, then letters, digits or _ (at most 63 characters)",
        ),
        Column(
            "cost", F, False, "Cost of the contact in the base currency; 0 for control.", nullable=True, min_value=0.0
        ),
    ),
    notes=(
        "A campaign without a control arm is accepted with a warning: its effect cannot be measured, so the uplift "
        "models do not learn from it.",
    ),
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        CUSTOMERS,
        EVENTS,
        TRANSACTIONS,
        SUBSCRIPTIONS,
        NPS_RESPONSES,
        SUPPORT_TICKETS,
        ACQUISITION_SPEND,
        REFERRALS,
        CAMPAIGN_CONTACTS,
    )
}


def table(name: str) -> Table:
    """Return the contract table called ``name`` or raise a KeyError listing the known ones."""
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; the contract has {', '.join(TABLES)}") from None


def render_markdown() -> str:
    """The contract as Markdown (docs/DATA_CONTRACT.md is this text)."""
    lines = [
        "# Data contract",
        "",
        "Generated from `features/contract.py` by `churnltv contract`; a test keeps it in sync.",
        "",
        "Timestamps are UTC (an offset such as `+02:00` is accepted and converted; a column must not mix",
        "offset-aware and naive values). Identifiers are text. Extra columns are rejected, except",
        "`attr_*` attributes on customers. No text value may contain a NUL byte (rule `nul_byte`). Every rule and",
        'its exact message is listed in docs/BAD_INPUTS.md ("Data rules").',
        "",
    ]
    for t in TABLES.values():
        status = "required" if t.required else "optional"
        lines += [f"## {t.name} ({status})", "", t.meaning, ""]
        if t.key:
            why = "" if t.key_message == "duplicate id" else f" (a repeat is {t.key_message})"
            lines += [f"Unique key: `{', '.join(t.key)}`{why}.", ""]
        lines += ["| column | type | required | meaning | rules |", "|---|---|---|---|---|"]
        for c in t.columns:
            rules = []
            if c.nullable:
                rules.append("nullable")
            if c.min_value is not None:
                rules.append(f">= {c.min_value:g}")
            if c.max_value is not None:
                rules.append(f"<= {c.max_value:g}")
            if c.allowed:
                rules.append("one of " + ", ".join(c.allowed))
            if c.references:
                rules.append(f"must exist in {c.references}.customer_id")
            if c.pattern:
                rules.append(c.pattern_meaning or f"matches {c.pattern}")
            lines.append(
                f"| `{c.name}` | {c.type.value} | {'yes' if c.required else 'no'} | {c.meaning} | {'; '.join(rules)} |"
            )
        lines.append("")
        for note in t.notes:
            lines += [note, ""]
    return "\n".join(lines)
