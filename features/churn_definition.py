"""Which churn definition a base gets when the setting says ``auto``: chosen from the data's shape.

A subscription business loses a customer when the contract ends, whatever their activity; a store or an app
without contracts only sees the customer fall silent. So with ``churn_definition = "auto"`` (the default):

* ``contractual`` when the data has a subscriptions table and at least ``contractual_min_share`` (50%) of the
  customers have a subscription: the population is the subscribers active at the cutoff, and churn is the
  subscription ending (labelling silent-but-paying subscribers as churned would say nothing about renewals);
* ``non_contractual`` otherwise: a few subscribers among many buyers do not make the base contractual.

``resolve_churn_definition`` returns the choice with a one-sentence reason, which the training run logs, records
in MLflow (param ``churn_definition``, tag ``churnltv.churn_definition_reason``) and prints. A definition set
explicitly is kept as is (the reason says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from features.point_in_time import present_columns

if TYPE_CHECKING:
    import duckdb

    from features.settings import FeatureSettings

ConcreteDefinition = Literal["non_contractual", "contractual"]


@dataclass(frozen=True)
class ChurnDefinitionChoice:
    """The definition a run uses and why (one sentence)."""

    definition: ConcreteDefinition
    reason: str
    subscriber_share: float | None = None


def subscriber_share(con: duckdb.DuckDBPyConnection) -> float | None:
    """Share of the customers table with at least one subscription row; None without a subscriptions table."""
    columns = present_columns(con)
    if "subscriptions" not in columns or "customers" not in columns:
        return None
    row = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE customer_id IN (SELECT customer_id FROM subscriptions)) FROM customers"
    ).fetchone()
    total, subscribed = (0, 0) if row is None else (int(row[0]), int(row[1]))
    return subscribed / total if total else 0.0


def resolve_churn_definition(con: duckdb.DuckDBPyConnection, settings: FeatureSettings) -> ChurnDefinitionChoice:
    """The concrete definition for ``settings.churn_definition`` on this data (see the module docstring)."""
    if settings.churn_definition != "auto":
        return ChurnDefinitionChoice(
            settings.churn_definition,
            f"churn_definition is set to {settings.churn_definition} (CHURNLTV_FEATURES_CHURN_DEFINITION)",
        )
    share = subscriber_share(con)
    threshold = settings.contractual_min_share
    if share is None:
        return ChurnDefinitionChoice(
            "non_contractual", "auto: the data has no subscriptions table, so churn is no activity in the horizon"
        )
    if share >= threshold:
        return ChurnDefinitionChoice(
            "contractual",
            f"auto: {share:.0%} of customers have a subscription (>= contractual_min_share {threshold:.0%}), so churn "
            "is the subscription ending in the horizon, among subscribers active at the cutoff",
            share,
        )
    return ChurnDefinitionChoice(
        "non_contractual",
        f"auto: only {share:.0%} of customers have a subscription (< contractual_min_share {threshold:.0%}), so "
        "churn is no activity in the horizon",
        share,
    )


def concrete_settings(con: duckdb.DuckDBPyConnection, settings: FeatureSettings) -> FeatureSettings:
    """``settings`` with ``auto`` replaced by the definition this data gets (unchanged when already concrete)."""
    if settings.churn_definition != "auto":
        return settings
    return settings.model_copy(update={"churn_definition": resolve_churn_definition(con, settings).definition})
