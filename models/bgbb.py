"""BG/BB: Fader, Hardie & Shang (2010), "Customer-Base Analysis in a Discrete-Time Noncontractual Setting",
Marketing Science 29(6), 1086-1108.

For discrete transaction opportunities (an annual campaign, a weekly delivery slot): at each opportunity an alive
customer buys with probability p ~ Beta(alpha, beta) and, before the next one, dies with probability
theta ~ Beta(gamma, delta). A customer is (x, t_x, n): purchases at x of the n opportunities after the first, the
last at opportunity t_x. Fitted with ``lifetimes.BetaGeoBetaBinomFitter``; vectorised here:

* L = B(alpha+x, beta+n-x)/B(alpha, beta) B(gamma, delta+n)/B(gamma, delta)
  + sum_{i=0}^{n-t_x-1} B(alpha+x, beta+t_x-x+i)/B(alpha, beta) B(gamma+1, delta+t_x+i)/B(gamma, delta)     (eq. 5)
* P(alive at n+1 | x, t_x, n) = B(alpha+x, beta+n-x)/B(alpha, beta) B(gamma, delta+n+1)/B(gamma, delta) / L  (eq. 11)
* E[X(n, n+n*) | x, t_x, n] = B(alpha+x+1, beta+n-x)/B(alpha, beta) delta/(gamma-1) G(gamma+delta)/G(1+delta)
  [G(1+delta+n)/G(gamma+delta+n) - G(1+delta+n+n*)/G(gamma+delta+n+n*)] / L                                    (eq. 13)
* Given alive at n, the number of further opportunities survived L* has P(L* >= i) = B(gamma, delta+n+i)/B(gamma,
  delta+n) and purchases are Binomial(L*, p) with p ~ Beta(alpha+x, beta+n-x), so the count's moments and
  P(no purchase) are finite sums over the n* future opportunities (no simulation needed).

Donations (Fader, Hardie & Shang 2010, 11,104 donors, 6 opportunities): alpha = 1.204, beta = 0.750, gamma = 0.657,
delta = 2.783, LL = -33,225.6. Applicable only where purchases fall on a regular opportunity grid (see
``models.btyd_family.detect_opportunity_grid``); ``opportunity_days`` is the grid's spacing, and inputs given in
the model's time unit are converted to opportunities through days.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any, Self

import numpy as np
from scipy.special import betaln, gammaln

from features.errors import UserInputError
from features.time_units import TimeUnit
from models.btyd_inputs import FloatArray, as_float_array, check_summary
from models.count_model import CountModel
from models.purchase_count_distribution import CountMoments


def bgbb_log_likelihood(values: FloatArray, x: FloatArray, t_x: FloatArray, n: FloatArray) -> FloatArray:
    alpha, beta, gamma, delta = values
    log_alive = betaln(alpha + x, beta + n - x) - betaln(alpha, beta) + betaln(gamma, delta + n) - betaln(gamma, delta)
    gaps = (n - t_x).astype(int)
    max_gap = int(gaps.max()) if len(gaps) else 0
    total = np.exp(log_alive)
    for i in range(max_gap):
        term = np.exp(
            betaln(alpha + x, beta + t_x - x + i)
            - betaln(alpha, beta)
            + betaln(gamma + 1.0, delta + t_x + i)
            - betaln(gamma, delta)
        )
        total = total + np.where(i < gaps, term, 0.0)
    result: FloatArray = np.log(total)
    return result


class BetaGeoBetaBinomModel(CountModel):
    """BG/BB fitted with lifetimes; parameters ``alpha_``, ``beta_``, ``gamma_``, ``delta_`` per opportunity."""

    NAME = "bgbb"
    LABEL = "BG/BB"
    REFERENCE = "Fader, Hardie & Shang (2010), Marketing Science 29(6)"
    PARAM_NAMES = ("alpha", "beta", "gamma", "delta")

    def __init__(
        self, penalizer_coef: float = 0.0, time_unit: TimeUnit = TimeUnit.WEEK, opportunity_days: float = 7.0
    ) -> None:
        super().__init__(penalizer_coef, time_unit)
        if not opportunity_days > 0:
            raise UserInputError(f"opportunity_days must be > 0, got {opportunity_days}")
        self.opportunity_days = float(opportunity_days)

    @classmethod
    def from_params(
        cls,
        *values: float,
        time_unit: TimeUnit,
        penalizer_coef: float = 0.0,
        opportunity_days: float = 7.0,
        **named: float,
    ) -> Self:
        model = super().from_params(*values, time_unit=time_unit, penalizer_coef=penalizer_coef, **named)
        model.opportunity_days = float(opportunity_days)
        return model

    # -- opportunities -------------------------------------------------------------------------------
    def to_opportunities(self, periods: FloatArray, *, elapsed: bool = False) -> FloatArray:
        """Model periods -> opportunities: a span between two purchases on the grid is a whole number of them
        (rounded); the age T counts only the opportunities that have passed (``elapsed``: floored)."""
        spans = periods * self.time_unit.days / self.opportunity_days
        result: FloatArray = np.floor(spans + 1e-9) if elapsed else np.round(spans)
        return result

    def _summary(self, frequency: Any, recency: Any, T: Any) -> tuple[FloatArray, FloatArray, FloatArray]:
        x, t_x, t = check_summary(frequency, recency, T)
        n = self.to_opportunities(t, elapsed=True)
        t_opp = np.minimum(self.to_opportunities(t_x), n)
        if np.any(x > n):
            pos = int(np.flatnonzero(x > n)[0])
            raise UserInputError(
                f"frequency: row {pos} has {int(x[pos])} purchases in {int(n[pos])} opportunities of "
                f"{self.opportunity_days:g} days; BG/BB needs at most one purchase per opportunity"
            )
        return x, t_opp, n

    # -- fitting ----------------------------------------------------------------------------------------
    def fit_opportunities(self, x: Any, t_x: Any, n: Any, *, compute_covariance: bool = True) -> Self:
        """Fit on a summary already in opportunities (x purchases, last at t_x, of n)."""
        from lifetimes import BetaGeoBetaBinomFitter

        xx = as_float_array(x, "frequency")
        tt = as_float_array(t_x, "recency")
        nn = as_float_array(n, "n_periods")
        frame = np.column_stack([xx, tt, nn])
        uniques, counts = np.unique(frame, axis=0, return_counts=True)  # lifetimes takes weights: fit on patterns
        fitter = BetaGeoBetaBinomFitter(penalizer_coef=self.penalizer_coef)
        try:
            with contextlib.redirect_stdout(io.StringIO()), np.errstate(all="ignore"):
                fitter.fit(uniques[:, 0].astype(int), uniques[:, 1].astype(int), uniques[:, 2].astype(int), counts)
        except Exception as err:  # lifetimes raises ConvergenceError or a numpy error on degenerate input
            raise UserInputError(f"BG/BB did not converge on {len(xx)} customers ({err})") from None
        self._set_values(np.array([float(fitter.params_[name]) for name in self.PARAM_NAMES]))
        self._finish_fit(xx, tt, nn, compute_covariance=compute_covariance)
        return self

    def fit(self, frequency: Any, recency: Any, T: Any, *, compute_covariance: bool = True) -> Self:
        x, t_opp, n = self._summary(frequency, recency, T)
        return self.fit_opportunities(x, t_opp, n, compute_covariance=compute_covariance)

    def _log_likelihood(self, values: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
        return bgbb_log_likelihood(values, x, t_x, T)

    def penalty(self, values: FloatArray, n_customers: int, max_T: float) -> float:
        return float(n_customers * self.penalizer_coef * np.sum(np.asarray(values) ** 2))

    def log_likelihood(self, frequency: Any, recency: Any, T: Any) -> FloatArray:
        return bgbb_log_likelihood(self.values(), *self._summary(frequency, recency, T))

    # -- predictions in opportunities ----------------------------------------------------------------------
    def p_alive_opportunities(self, x: FloatArray, t_x: FloatArray, n: FloatArray) -> FloatArray:
        alpha, beta, gamma, delta = self._p()
        log_num = betaln(alpha + x, beta + n - x) - betaln(alpha, beta) + betaln(gamma, delta + n + 1.0)
        log_num = log_num - betaln(gamma, delta)
        result: FloatArray = np.exp(log_num - bgbb_log_likelihood(self.values(), x, t_x, n))
        return result

    def expected_opportunities(self, x: FloatArray, t_x: FloatArray, n: FloatArray, n_star: Any) -> FloatArray:
        """E[X(n, n + n*) | x, t_x, n] (eq. 13), n* future opportunities (scalar or per customer)."""
        alpha, beta, gamma, delta = self._p()
        ns = np.asarray(n_star, dtype="float64")
        log_l = bgbb_log_likelihood(self.values(), x, t_x, n)
        head = betaln(alpha + x + 1.0, beta + n - x) - betaln(alpha, beta) - log_l
        front = delta / (gamma - 1.0) * np.exp(gammaln(gamma + delta) - gammaln(1.0 + delta))
        bracket = np.exp(gammaln(1.0 + delta + n) - gammaln(gamma + delta + n)) - np.exp(
            gammaln(1.0 + delta + n + ns) - gammaln(gamma + delta + n + ns)
        )
        result: FloatArray = np.exp(head) * front * bracket
        return result

    def alive_opportunity_moments(self, x: FloatArray, n: FloatArray, n_star: int) -> CountMoments:
        """Given alive at n, over the next n* opportunities: P(Y >= 1), E[Y], E[Y(Y-1)] per customer.

        P(alive) is that of being alive at opportunity n + 1, so theta | alive ~ Beta(gamma, delta+n+1) and the
        opportunities L* lived through of the n* satisfy P(L* >= i) = B(gamma, delta+n+i)/B(gamma, delta+n+1).
        """
        alpha, beta, gamma, delta = self._p()
        ap, bp = alpha + x, beta + n - x
        mean_p = ap / (ap + bp)
        mean_p2 = ap * (ap + 1.0) / ((ap + bp) * (ap + bp + 1.0))
        base = betaln(gamma, delta + n + 1.0)
        e_l = np.zeros(len(x))
        e_l2 = np.zeros(len(x))
        p_none = np.zeros(len(x))
        survive = np.ones(len(x))  # P(L* >= 1) = 1: alive at n + 1
        for i in range(1, n_star + 1):
            e_l += survive
            e_l2 += 2.0 * (i - 1.0) * survive
            after = np.exp(betaln(gamma, delta + n + i + 1.0) - base) if i < n_star else np.zeros(len(x))
            p_none += (survive - after) * np.exp(betaln(ap, bp + i) - betaln(ap, bp))  # P(L* = i) E[(1-p)^i]
            survive = after
        return CountMoments(1.0 - p_none, mean_p * e_l, mean_p2 * e_l2)

    # -- the common interface (time in model periods) ------------------------------------------------------
    def _n_star(self, t: float) -> int:
        return int(np.floor(t * self.time_unit.days / self.opportunity_days + 1e-9))

    def p_alive(self, frequency: Any, recency: Any, T: Any) -> FloatArray:
        return self.p_alive_opportunities(*self._summary(frequency, recency, T))

    def expected_purchases_population(self, t: Any) -> FloatArray:
        alpha, beta, gamma, delta = self._p()
        n = np.floor(as_float_array(t, "t") * self.time_unit.days / self.opportunity_days + 1e-9)
        result: FloatArray = (
            alpha
            / (alpha + beta)
            * delta
            / (gamma - 1.0)
            * (
                1.0
                - np.exp(
                    gammaln(gamma + delta) - gammaln(gamma + delta + n) + gammaln(1 + delta + n) - gammaln(1 + delta)
                )
            )
        )
        return result

    def expected_purchases_at(self, steps: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
        xx, t_opp, n = self._summary(x, t_x, T)
        return np.vstack([self.expected_opportunities(xx, t_opp, n, self._n_star(float(s))) for s in steps])

    def conditional_expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> FloatArray:
        result: FloatArray = self.expected_purchases_at(np.array([float(t)]), *check_summary(frequency, recency, T))[0]
        return result

    def alive_moments(self, t: float, x: FloatArray, t_x: FloatArray, T: FloatArray) -> CountMoments:
        xx, _, n = self._summary(x, t_x, T)
        n_star = self._n_star(float(t))
        if n_star == 0:
            zero = np.zeros(len(xx))
            return CountMoments(zero, zero, zero)
        return self.alive_opportunity_moments(xx, n, n_star)

    def p_no_purchase(self, t: Any, frequency: Any, recency: Any, T: Any) -> FloatArray:
        x, t_opp, n = self._summary(frequency, recency, T)
        n_star = self._n_star(float(t))
        if n_star == 0:
            return np.ones(len(x))
        moments = self.alive_opportunity_moments(x, n, n_star)
        result: FloatArray = 1.0 - self.p_alive_opportunities(x, t_opp, n) * moments.p_any
        return result

    def next_purchase_median(self, frequency: Any, recency: Any, T: Any) -> FloatArray:
        """Opportunities until an alive customer who stays alive buys with probability >= 1/2, in model periods:
        the smallest m with 1 - B(a', b'+m)/B(a', b') >= 1/2 (p | alive ~ Beta(a', b'))."""
        x, _, n = self._summary(frequency, recency, T)
        alpha, beta, _, _ = self._p()
        ap, bp = alpha + x, beta + n - x
        m = np.ones(len(x))
        for _ in range(1000):
            pending = np.exp(betaln(ap, bp + m) - betaln(ap, bp)) > 0.5
            if not pending.any():
                break
            m = np.where(pending, m + 1.0, m)
        result: FloatArray = m * self.opportunity_days / self.time_unit.days
        return result

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "opportunity_days": self.opportunity_days}

    def _load_extra(self, data: dict[str, Any]) -> None:
        self.opportunity_days = float(data["opportunity_days"])
