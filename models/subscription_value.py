"""Contractual CLV of subscribers, driven by the churn model: what customers with an active subscription are worth.

docs/DOMAIN.md section 6: subscription customers get contractual CLV, transactional customers BG/NBD + Gamma-Gamma.
For a customer with an active subscription at the cutoff (feature ``sub_active`` = 1) paying M = ``sub_mrr`` a
month:

* p_H = the calibrated churn probability within the churn model's horizon H (days, from its bundle metadata);
* r = (1 - p_H)^(MONTH_DAYS / H): the monthly retention with a constant churn hazard over the horizon
  (``models.contractual_clv.retention_per_period``; H = 30 days is not exactly one 30.4375-day month);
* d = the LTV settings' discount rate per month (an annual rate becomes (1+d)^(1/12) - 1);
* R = ``contractual_cost_share_of_mrr`` x M + ``contractual_cost_per_month``;
* CLV = (M - R) sum_{t=s}^{s+N-1} (r / (1+d))^t (``retention_clv_over_periods``), with N = the BG/NBD CLV horizon
  in months (default, so both methods cover the same span) or the article's infinite sum (M - R)(1+d)/(1+d-r)
  (s = 0) or (M - R) r/(1+d-r) (s = 1); s = 1 (only future months, the default) or 0 (the current month counts).

No interval: the calibrated churn probability carries no uncertainty estimate (the calibrator stores no per-step
counts), so any band would be invented. ``ltv_lower``/``ltv_upper`` are null and the method string says so:
``contractual_retention_no_interval``. The value at risk is P(churn) x this CLV, as for every customer.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from features.errors import UserInputError
from features.time_units import MONTH_DAYS
from features.value_repr import shown
from models.btyd_inputs import FloatArray
from models.contractual_clv import discounted_survival_sum

METHOD_CONTRACTUAL = "contractual_retention_no_interval"
METHOD_NO_MRR = "unavailable: active subscription without sub_mrr"
METHOD_NO_CHURN_HORIZON = "unavailable: the churn model records no horizon_days"


class SubscriptionValue:
    """Contractual CLV per subscriber from MRR and P(churn within the churn model's horizon), vectorised.

    Built once per LTV bundle (``LtvPredictor.subscription``) from its settings; ``predict`` is plain numpy on
    arrays of any length (the API's one-customer request and a 100k-row batch chunk run the same lines).
    """

    def __init__(
        self,
        *,
        horizon_months: int | None,
        monthly_discount: float,
        cost_share_of_mrr: float,
        cost_per_month: float,
        pay_after_service: bool,
        month_days: float = MONTH_DAYS,
    ) -> None:
        if horizon_months is None and monthly_discount <= 0:
            raise UserInputError("contractual CLV over the whole lifetime needs a discount rate > 0")
        if not 0.0 <= cost_share_of_mrr <= 1.0 or cost_per_month < 0:
            raise UserInputError(
                f"contractual cost to serve must be a share in [0, 1] and an amount >= 0, got "
                f"{shown(cost_share_of_mrr)} and {shown(cost_per_month)}"
            )
        self.horizon_months = horizon_months
        self.monthly_discount = float(monthly_discount)
        self.cost_share_of_mrr = float(cost_share_of_mrr)
        self.cost_per_month = float(cost_per_month)
        self.pay_after_service = bool(pay_after_service)
        self.month_days = float(month_days)
        # N = inf gives the infinite series: q^inf = 0 for q < 1 (q = 1 cannot happen with d > 0)
        self._periods = math.inf if horizon_months is None else float(horizon_months)

    def monthly_margin(self, mrr: Any) -> Any:
        """M - R: MRR less the cost to serve (share of MRR plus the fixed monthly amount)."""
        return mrr * (1.0 - self.cost_share_of_mrr) - self.cost_per_month

    def predict(
        self, active: npt.NDArray[np.bool_], mrr: FloatArray, p_churn: FloatArray, churn_horizon_days: float | None
    ) -> tuple[FloatArray, npt.NDArray[np.object_]]:
        """CLV and ``ltv_method`` per row; only rows where ``active`` are meaningful (the caller picks them).

        A subscriber without a known MRR gets NaN with ``METHOD_NO_MRR``; a negative MRR of a subscriber is a
        ``UserInputError`` naming ``sub_mrr`` and the row (0-based). Few numpy calls on purpose: on the API's
        one-customer request each costs more than its arithmetic.
        """
        if churn_horizon_days is None or not churn_horizon_days > 0:
            return np.full(len(mrr), np.nan), np.full(len(mrr), METHOD_NO_CHURN_HORIZON, dtype=object)
        negative = active & (mrr < 0)  # NaN compares False
        if negative.any():
            pos = int(np.flatnonzero(negative)[0])
            raise UserInputError(f"sub_mrr: row {pos} has value {shown(mrr[pos])}, but MRR cannot be negative")
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            retention = (1.0 - p_churn) ** (self.month_days / float(churn_horizon_days))
            q = retention / (1.0 + self.monthly_discount)
            value = self.monthly_margin(mrr) * discounted_survival_sum(q, self._periods, self.pay_after_service)
        method = np.where(np.isnan(mrr), METHOD_NO_MRR, METHOD_CONTRACTUAL).astype(object)
        return value, method

    def describe(self) -> dict[str, Any]:
        """The settings in force (for /model endpoints and reports)."""
        return {
            "method": METHOD_CONTRACTUAL,
            "horizon_months": self.horizon_months,
            "monthly_discount": self.monthly_discount,
            "cost_share_of_mrr": self.cost_share_of_mrr,
            "cost_per_month": self.cost_per_month,
            "pay_after_service": self.pay_after_service,
            "month_days": self.month_days,
        }
