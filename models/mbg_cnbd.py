"""MBG/CNBD-k: Platzer & Reutterer (2016), "Ticking Away the Moments: Timing Regularity Helps to Better Predict
Customer Activity", Marketing Science 35(5), 779-799; reference implementation the R package BTYDplus
(``mbgcnbd.*``).

The MBG/NBD with Erlang-k inter-purchase times: while alive, a customer's purchases are every k-th event of a
Poisson process with rate lambda ~ Gamma(r, alpha) (k = 1 is the MBG/NBD; k > 1 means more regular timing); at
each purchase (the first included) the customer drops out with probability p ~ Beta(a, b). k is an integer chosen
by maximum likelihood over 1..12 (BTYDplus' grid search, stopped once the likelihood falls twice in a row).

* LL = (k-1) litt - x ln((k-1)!) + ln B(a, b+x+1) - ln B(a, b) + ln G(r+kx) - ln G(r) + r ln alpha
  - (r+kx) ln(alpha+T) + ln(S1 + S2), with litt = sum of ln inter-purchase times,
  S1 = a/(b+x) ((alpha+T)/(alpha+t_x))^(r+kx), S2 = sum_{j=0}^{k-1} (r+kx)_j (T-t_x)^j / (j! (alpha+T)^j)
* P(alive) = 1 / (1 + S1/S2)
* Y(t) given alive: the posterior weights w_j of the j sub-events elapsed since the last purchase (S2's terms),
  lambda | j ~ Gamma(r+kx+j, alpha+T), p ~ Beta(a, b+x+1); P(Y(t) >= n | alive, j) = B(a, b+x+n)/B(a, b+x+1)
  I_z(nk - j, r+kx+j), z = t/(alpha+T+t) (``models.purchase_count_distribution``). E[Y(t) | x, t_x, T] is that
  series summed: exact, where BTYDplus approximates it with BG/NBD's expression at a scale k alpha and a cohort-level
  bias correction. With k = 1 the series equals the MBG/NBD closed form (tests: to 1e-9).
* The next purchase of an alive customer comes after k - j more events: P(wait <= u) = sum_j w_j
  I_{u/(alpha+T+u)}(k-j, r+kx+j); its median by bisection between the components' medians.

Conformance (tests): on CDNOW the grid search picks k = 1 (BTYDplus' demo: "no regularity detected for CDNow")
and the parameters equal the MBG/NBD's; on data simulated from BTYDplus' test parameters (k = 3, r = 0.85,
alpha = 1.45, a = 0.79, b = 2.42) the fit recovers k and the parameters (BTYDplus tests to 10%).
"""

from __future__ import annotations

import math
from typing import Any, Self

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize
from scipy.special import betainc, betaincinv, betaln, gammaln

from features.errors import UserInputError
from models.btyd_inputs import FloatArray, as_float_array, check_summary, unique_pairs
from models.count_model import CountModel
from models.mbg_nbd import ModifiedBetaGeoModel
from models.purchase_count_distribution import CountMoments, bg_family_survival, cnbd_weights, survival_moments

MAX_K = 12


def cnbd_log_likelihood(  # noqa: PLR0917 - the paper's parameter list
    values: FloatArray, k: int, x: FloatArray, t_x: FloatArray, T: FloatArray, litt: FloatArray
) -> FloatArray:
    r, alpha, a, b = values
    p1 = (k - 1) * litt - x * math.lgamma(k)
    p2 = betaln(a, b + x + 1.0) - betaln(a, b)
    p3 = gammaln(r + k * x) - gammaln(r) + r * np.log(alpha)
    p4 = -(r + k * x) * np.log(alpha + T)
    log_s1 = np.log(a) - np.log(b + x) + (r + k * x) * (np.log(alpha + T) - np.log(alpha + t_x))
    s2 = cnbd_weights_sum(r + k * x, alpha + T, T - t_x, k)
    result: FloatArray = p1 + p2 + p3 + p4 + np.logaddexp(log_s1, np.log(s2))
    return result


def cnbd_weights_sum(shape: FloatArray, rate: FloatArray, gap: FloatArray, k: int) -> FloatArray:
    """S2 = sum_{j<k} (shape)_j (gap/rate)^j / j!."""
    term = np.ones_like(shape)
    total = np.ones_like(shape)
    ratio = gap / rate
    for jj in range(1, k):
        term = term * (shape + jj - 1.0) * ratio / jj
        total = total + term
    return total


class MbgCnbdModel(CountModel):
    """MBG/CNBD-k (own maximum likelihood, scipy); parameters ``r_``, ``alpha_``, ``a_``, ``b_`` and the integer
    ``k``. Fitting needs ``litt`` (sum of ln inter-purchase times per customer, in the model's time unit)."""

    NAME = "mbg_cnbd_k"
    LABEL = "MBG/CNBD-k"
    REFERENCE = "Platzer & Reutterer (2016), Marketing Science 35(5); BTYDplus (mbgcnbd)"
    PARAM_NAMES = ("r", "alpha", "a", "b")

    def __init__(self, penalizer_coef: float = 0.0, time_unit: Any = None, k: int | None = None) -> None:
        from features.time_units import TimeUnit

        super().__init__(penalizer_coef, time_unit if time_unit is not None else TimeUnit.WEEK)
        self.k = 1 if k is None else int(k)
        self._fixed_k = k is not None

    @property
    def paper_params(self) -> dict[str, float]:
        return {"k": float(self.k), **self.params_}

    # -- fitting ------------------------------------------------------------------------------------
    def fit(self, frequency: Any, recency: Any, T: Any, litt: Any, *, compute_covariance: bool = True) -> Self:
        """Maximum likelihood for a fixed ``k`` (given at construction) or the best k in 1..12."""
        x, t_x, t = check_summary(frequency, recency, T)
        ll = as_float_array(litt, "litt")
        if len(ll) != len(x):
            raise UserInputError(f"litt has {len(ll)} rows but frequency has {len(x)}")
        if not np.all(np.isfinite(ll)):
            pos = int(np.flatnonzero(~np.isfinite(ll))[0])
            raise UserInputError(f"litt: row {pos} is not finite (two purchases on one day give ln 0)")
        if self._fixed_k:
            values, _ = self._fit_k(self.k, x, t_x, t, ll)
        else:
            best: tuple[float, int, FloatArray] | None = None
            history: list[float] = []
            for k in range(1, MAX_K + 1):
                try:
                    values, loglik = self._fit_k(k, x, t_x, t, ll)
                except UserInputError:
                    break
                history.append(loglik)
                if best is None or loglik > best[0]:
                    best = (loglik, k, values)
                if len(history) >= 3 and history[-1] < history[-2] < history[-3]:
                    break
            if best is None:
                raise UserInputError(f"MBG/CNBD-k did not converge on {len(x)} customers for any k")
            _, self.k, values = best
        self._set_values(values)
        self.litt_ = ll
        self._finish_fit(x, t_x, t, compute_covariance=compute_covariance)
        del self.litt_
        return self

    def _fit_k(
        self, k: int, x: FloatArray, t_x: FloatArray, T: FloatArray, litt: FloatArray
    ) -> tuple[FloatArray, float]:
        def negative(log_params: FloatArray) -> float:
            with np.errstate(all="ignore"):
                total = float(cnbd_log_likelihood(np.exp(log_params), k, x, t_x, T, litt).sum())
            return -total if np.isfinite(total) else 1e300

        start = np.log([1.0, 3.0, 1.0, 3.0])  # BTYDplus' starting point
        result = minimize(negative, start, method="L-BFGS-B", bounds=[(-12.0, 12.0)] * 4)
        result = minimize(negative, result.x, method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-9})
        if not np.isfinite(result.fun) or result.fun >= 1e300:
            raise UserInputError(f"MBG/CNBD-k (k = {k}) did not converge on {len(x)} customers")
        return np.exp(result.x), -float(result.fun)

    def _log_likelihood(self, values: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
        litt = getattr(self, "litt_", None)
        if litt is None:
            if self.k != 1:
                raise UserInputError("MBG/CNBD-k's likelihood with k > 1 needs litt (ln inter-purchase times)")
            litt = np.zeros(len(x))
        return cnbd_log_likelihood(values, self.k, x, t_x, T, litt)

    def log_likelihood(self, frequency: Any, recency: Any, T: Any, litt: Any = None) -> FloatArray:
        x, t_x, t = check_summary(frequency, recency, T)
        ll = np.zeros(len(x)) if litt is None and self.k == 1 else as_float_array(litt, "litt")
        return cnbd_log_likelihood(self.values(), self.k, x, t_x, t, ll)

    # -- predictions --------------------------------------------------------------------------------
    def _terms(self, x: FloatArray, t_x: FloatArray, T: FloatArray) -> tuple[FloatArray, FloatArray]:
        """P(alive) and the weights w_j (k, customers)."""
        r, alpha, a, b = self._p()
        shape = r + self.k * x
        log_s1 = np.log(a) - np.log(b + x) + shape * (np.log(alpha + T) - np.log(alpha + t_x))
        s2 = cnbd_weights_sum(shape, alpha + T, T - t_x, self.k)
        p_alive = 1.0 / (1.0 + np.exp(log_s1 - np.log(s2)))
        return p_alive, cnbd_weights(shape, alpha + T, T - t_x, self.k)

    def p_alive(self, frequency: Any, recency: Any, T: Any) -> FloatArray:
        x, t_x, t = check_summary(frequency, recency, T)
        return self._terms(x, t_x, t)[0]

    def _mbg(self) -> ModifiedBetaGeoModel:
        return ModifiedBetaGeoModel.from_params(*self._p(), time_unit=self.time_unit)

    def expected_purchases_population(self, t: Any) -> FloatArray:
        """E[X(t)] = sum_n B(a, b+n)/B(a, b) P(N(t) >= n k): the n-th repeat purchase needs n k events and n
        survived dropout chances (the first purchase's included)."""
        r, alpha, a, b = self._p()
        tt = as_float_array(t, "t")
        if self.k == 1:
            return self._mbg().expected_purchases_population(tt)
        out = np.empty(len(tt))
        for i, ti in enumerate(tt):
            fn = bg_family_survival(np.array([r]), np.array([alpha]), a, np.array([b + 1.0]), float(ti), self.k)
            out[i] = survival_moments(fn, 1).mean[0] * math.exp(betaln(a, b + 1.0) - betaln(a, b))
        return out

    def alive_count_moments_by_j(self, t: float, ux: FloatArray, uT: FloatArray) -> list[CountMoments]:
        r, alpha, a, b = self._p()
        return [
            survival_moments(bg_family_survival(r + self.k * ux, alpha + uT, a, b + ux + 1.0, t, self.k, j), len(ux))
            for j in range(self.k)
        ]

    def alive_customer_moments(self, t: float, x: FloatArray, t_x: FloatArray, T: FloatArray) -> CountMoments:
        """Given alive, per customer: the pair moments mixed over the weights w_j."""
        ux, uT, inverse = unique_pairs(x, T)
        _, weights = self._terms(x, t_x, T)
        by_j = self.alive_count_moments_by_j(t, ux, uT)
        fields = [
            sum(weights[j] * getattr(by_j[j], name)[inverse] for j in range(self.k))
            for name in CountMoments.__dataclass_fields__
        ]
        return CountMoments(*fields)

    def alive_moments(self, t: float, x: FloatArray, t_x: FloatArray, T: FloatArray) -> CountMoments:
        if self.k == 1:
            result: CountMoments = self._mbg().alive_moments(t, x, t_x, T)
            return result
        return self.alive_customer_moments(t, x, t_x, T)

    def purchase_factors(
        self, steps: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray
    ) -> tuple[FloatArray, FloatArray, npt.NDArray[np.intp]]:
        """k terms: P(alive) w_j per customer times E[Y(t)] of an alive customer whose clock is in phase j, which
        depends on (x, T) only (the weights carry t_x)."""
        if self.k == 1:
            return self._mbg().purchase_factors(steps, x, t_x, T)
        ux, uT, inverse = unique_pairs(x, T)
        p_alive, weights = self._terms(x, t_x, T)
        growths = np.empty((self.k, len(steps), len(ux)))
        for i, step in enumerate(np.asarray(steps, dtype="float64")):
            for j, moments in enumerate(self.alive_count_moments_by_j(float(step), ux, uT)):
                growths[j, i] = moments.mean
        return p_alive[None, :] * weights, growths, inverse

    def conditional_expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> FloatArray:
        x, t_x, tt = check_summary(frequency, recency, T)
        result: FloatArray = self.expected_purchases_at(np.array([float(t)]), x, t_x, tt)[0]
        return result

    def p_no_purchase(self, t: Any, frequency: Any, recency: Any, T: Any) -> FloatArray:
        x, t_x, tt = check_summary(frequency, recency, T)
        p_alive, weights = self._terms(x, t_x, tt)
        r, alpha, _, _ = self._p()
        z = t / (alpha + tt + t)
        shape = r + self.k * x
        reach = sum(weights[j] * betainc(self.k - j, shape + j, z) for j in range(self.k))
        result: FloatArray = 1.0 - p_alive * reach
        return result

    def next_purchase_median(self, frequency: Any, recency: Any, T: Any) -> FloatArray:
        x, t_x, tt = check_summary(frequency, recency, T)
        r, alpha, _, _ = self._p()
        _, weights = self._terms(x, t_x, tt)
        shape, rate = r + self.k * x, alpha + tt
        comps = np.vstack([betaincinv(self.k - j, shape + j, 0.5) for j in range(self.k)])
        comps = comps / (1.0 - comps) * rate  # z -> u = z (alpha+T) / (1 - z)
        lo, hi = np.log(comps.min(axis=0)), np.log(comps.max(axis=0))
        for _ in range(40):  # bisection in ln u: the mixture's median lies between its components' medians
            mid = 0.5 * (lo + hi)
            u = np.exp(mid)
            cdf = sum(weights[j] * betainc(self.k - j, shape + j, u / (rate + u)) for j in range(self.k))
            below = cdf < 0.5
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        result: FloatArray = np.exp(0.5 * (lo + hi))
        return result

    # -- persistence ----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "k": self.k}

    def _load_extra(self, data: dict[str, Any]) -> None:
        k = int(data["k"])
        if not 1 <= k <= MAX_K:
            raise ValueError(f"k = {k} is outside 1..{MAX_K}")
        self.k = k
        self._fixed_k = True


def log_intertransaction_sum(days: Any, customer_codes: Any, unit_days: float) -> FloatArray:
    """litt per customer: sum of ln(gap between consecutive purchase days, in model periods), from purchase days
    sorted within each customer (``customer_codes`` 0..n-1 ascending). Days are whole, so gaps are >= 1 day."""
    d = np.asarray(days, dtype="float64")
    c = np.asarray(customer_codes, dtype=np.intp)
    same = np.r_[False, c[1:] == c[:-1]]
    gaps = np.diff(d, prepend=np.nan)[same] / unit_days
    out = np.zeros(int(c.max()) + 1 if len(c) else 0)
    np.add.at(out, c[same], np.log(gaps))
    return out
