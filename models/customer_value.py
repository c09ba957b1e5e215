"""Discounted customer lifetime value from BG/NBD + Gamma-Gamma, its interval, and the predictor the service calls.

CLV over a horizon of H months (Fader, Hardie & Lee 2005b; the lifetimes formula):

    CLV = E[M | x, m_x] * sum_{i=1..H} (E[Y(i s) | x, t_x, T] - E[Y((i-1) s) | x, t_x, T]) / (1 + d_m)^i

with s the length of one month in model periods and d_m the monthly discount rate. By default a month is 365.25/12
days in every time unit (``features.time_units.MONTH_DAYS``), so the same customers get the same CLV whether the
model counts days, weeks or months. ``month_convention="lifetimes"`` steps 30 days, 4.345 weeks or 1 month instead,
as ``GammaGammaFitter.customer_lifetime_value`` does; it exists so the numbers can be checked against lifetimes
(equal to 1e-6 on CDNOW). An annual rate d becomes monthly as (1+d)^(1/12) - 1. Converting the horizon in months to
model periods here, once, is what prevents the classic bug of a 12-"month" horizon silently meaning 12 weeks.

Speed: E[Y(t)] = C(x, t_x, T) G(x, T, t) (see ``models.bgnbd``), and only G needs the hypergeometric function.
G depends on the customer only through (x, T), and BTYD summaries live on a day grid, so G is computed once per
distinct (x, T) pair and gathered back: exact, and a large saving on real bases.

Interval: the parameters' sampling distribution is kept as draws (``models.parameter_draws``). The exact interval
is the quantiles of CLV over the draws (``method="draws"``: n_draws x n_customers evaluations, chunked). The
default (``method="delta"``) linearises ln CLV in the log-parameters, ln CLV_d ~ ln CLV + g . (theta_d - theta),
so ln CLV is normal with variance g' S g (S = covariance of the draws' log-parameters) and the interval is
CLV * exp(+-z sd): 15 evaluations instead of n_draws, which is what makes 1M customers in seconds possible.
Tests compare both on CDNOW.

Subscribers are valued by ``models.subscription_value`` (contractual CLV from the churn probability); the
predictor carries that object (``LtvPredictor.subscription``) built from the same bundle settings.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy.special import expit, hyp2f1
from scipy.stats import norm

from features.errors import UserInputError
from features.time_units import MonthConvention, TimeUnit
from features.value_repr import shown
from models.bgnbd import BetaGeoModel, bgnbd_no_purchase
from models.btyd_inputs import FloatArray, as_float_array, check_summary, summary_row_is_valid, unique_pairs
from models.count_model import CountModel
from models.gamma_gamma import GammaGammaModel
from models.ltv_settings import LtvSettings
from models.parameter_draws import ParameterDraws
from models.subscription_value import SubscriptionValue
from models.value_distribution import (
    ValueDistribution,
    gamma_gamma_spend_moments,
    narrower_interval_80,
    unit_value_moments,
    value_distribution,
)

DiscountPeriod = Literal["annual", "monthly"]

METHOD_BTYD = "bgnbd_gamma_gamma"
METHOD_POPULATION_SPEND = "population_mean_spend"  # no repeat purchase (or no spend recorded): GG's prior mean
METHOD_ZERO_SPEND = "zero_observed_spend"  # repeat purchases that were all free: expected spend 0
BTYD_PARAMS = ("r", "alpha", "a", "b", "p", "q", "v")
_FLOAT_OUTPUTS = (
    "p_alive",
    "expected_purchases",
    "p_no_purchase",
    "expected_spend",
    "predicted_ltv",
    "ltv_lower",
    "ltv_upper",
)
PREDICTIVE_OUTPUTS = (
    "ltv_p10",
    "ltv_p50",
    "ltv_p90",
    "ltv_interval_80_low",
    "ltv_interval_80_high",
    "next_purchase_days",
    "p_purchase_30d",
)
_CHUNK = 1_000_000  # customers per block in LtvPredictor.predict (bounds memory)
_PAIR_CHUNK = 20_000  # distinct (x, T) pairs per broadcast hyp2f1 call
_ROW_BY_ROW = 8  # up to this many customers, LtvPredictor.predict_rows scores them one by one
_DELTA_STEP = 1e-5


def monthly_discount_rate(discount_rate: float, discount_period: DiscountPeriod) -> float:
    """The per-month rate: an annual d becomes (1+d)^(1/12) - 1 (equivalent compounding)."""
    if discount_rate < 0 or not np.isfinite(discount_rate):
        raise UserInputError(f"discount_rate must be >= 0, got {shown(discount_rate)}")
    if discount_period == "monthly":
        return float(discount_rate)
    if discount_period == "annual":
        return float((1.0 + discount_rate) ** (1.0 / 12.0) - 1.0)
    raise UserInputError(f"discount_period must be 'annual' or 'monthly', got {discount_period!r}")


def _growth_sets(sets: FloatArray, ux: FloatArray, uT: FloatArray, t: FloatArray) -> FloatArray:
    """G(x, T, t) of eq. 10 for k parameter sets x S times x U pairs in one broadcast call (shape (k, S, U))."""
    r, alpha, a, b = (sets[:, j, None, None] for j in range(4))
    x, T, tt = ux[None, None, :], uT[None, None, :], t[None, :, None]
    _a, _b, _c = r + x, b + x, a + b + x - 1.0
    z = tt / (alpha + T + tt)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ln_hyp = np.log(hyp2f1(_a, _b, _c, z))
        bad = ~np.isfinite(ln_hyp)
        if bad.any():  # Euler's transformation where 2F1 overflows (as lifetimes does)
            ab, bb, cb, zb = (np.broadcast_to(v, ln_hyp.shape)[bad] for v in (_a, _b, _c, z))
            ln_hyp[bad] = np.log(hyp2f1(cb - ab, cb - bb, cb, zb)) + (cb - ab - bb) * np.log1p(-zb)
    result: FloatArray = 1.0 - np.exp(ln_hyp + (r + x) * np.log((alpha + T) / (alpha + T + tt)))
    return result


def parameter_sets(bg: FloatArray, *, gradient: bool) -> FloatArray:
    """(r, alpha, a, b) as a (1, 4) stack; with ``gradient``, followed by each log-parameter shifted by
    +-``_DELTA_STEP`` in turn (shape (9, 4)), the sets whose H give d ln|H| / d ln(r, alpha, a, b).

    Depends only on the fitted parameters, so ``LtvPredictor`` builds it once at load time.
    """
    sets = [np.asarray(bg, dtype="float64")]
    if gradient:
        for j in range(4):
            for sign in (1.0, -1.0):
                shifted = np.log(sets[0]).copy()
                shifted[j] += sign * _DELTA_STEP
                sets.append(np.exp(shifted))
    return np.vstack(sets)


def _discounted_growth(G: FloatArray, weights: FloatArray) -> FloatArray:
    """H = sum_i (G(t_i) - G(t_{i-1})) w_i over axis 1 of G (k, S, U) -> (k, U), with G(x, T, 0) = 0.

    Summed with ``np.add.accumulate``, strictly step by step whatever the array's shape (einsum, BLAS and
    ``np.sum`` reorder by shape), so one customer and a block of a million give bit-identical H: the central
    difference in ``_log_gradient`` divides H's rounding by 2 * _DELTA_STEP, so any reordering would show in the
    interval at ~1e-11.
    """
    terms = np.empty_like(G)
    terms[:, 0] = G[:, 0]
    np.subtract(G[:, 1:], G[:, :-1], out=terms[:, 1:])
    terms *= weights[:, None]
    H: FloatArray = np.add.accumulate(terms, axis=1)[:, -1]
    return H


def _log_gradient(H: FloatArray) -> FloatArray:
    """d ln|H| / d ln(r, alpha, a, b) per pair (U, 4), by central differences over the shifted sets of H (9, U)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ln_abs = np.log(np.abs(H[1:]))
        grad = ((ln_abs[0::2] - ln_abs[1::2]) / (2.0 * _DELTA_STEP)).T
    result: FloatArray = np.where(np.isfinite(grad), grad, 0.0)
    return result


def _pair_table(
    sets: FloatArray, pairs: tuple[FloatArray, FloatArray, npt.NDArray[np.intp]], grid: _ClvGrid
) -> tuple[FloatArray, FloatArray | None]:
    """H(x, T) = sum_i (G(t_i) - G(t_{i-1})) / (1+d)^i per distinct pair for ``parameter_sets`` (point first),
    and d ln|H| / d ln(r, alpha, a, b) when the sets include the shifted ones."""
    ux, uT, _ = pairs
    H = np.empty((len(sets), len(ux)))
    for start in range(0, len(ux), _PAIR_CHUNK):
        sl = slice(start, start + _PAIR_CHUNK)
        H[:, sl] = _discounted_growth(_growth_sets(sets, ux[sl], uT[sl], grid.steps), grid.weights)
    if len(sets) == 1:
        return H[0], None
    return H[0], _log_gradient(H)


# The kernels below are plain arithmetic (plus np.log), so one implementation serves float arrays (``predict``)
# and single floats (``predict_one``); the callers apply the [x > 0] branches with np.where or an ``if``.


def _dropout_log_odds(  # noqa: PLR0917 - the papers' parameter list
    r: float, alpha: float, a: float, b: float, x: Any, t_x: Any, T: Any
) -> tuple[Any, Any, Any]:
    """ln((alpha+T)/(alpha+t_x)), b+x-1 (x >= 1) and the log odds of having dropped out,
    ln odds = ln a - ln(b+x-1) + (r+x) ln((alpha+T)/(alpha+t_x)), so P(alive) = expit(-ln odds) for x > 0."""
    log_ratio = np.log(alpha + T) - np.log(alpha + t_x)
    bx = b + np.maximum(x, 1.0) - 1.0
    return log_ratio, bx, np.log(a) - np.log(bx) + (r + x) * log_ratio


def _scale_kernel(  # noqa: PLR0917 - the papers' parameter list
    bg: tuple[float, float, float, float], x: Any, t_x: Any, T: Any, q: Any, p_alive: Any, log_ratio: Any, bx: Any
) -> tuple[Any, tuple[Any, Any, Any, Any]]:
    """C(x, t_x, T) of eq. 10 and d ln|C| / d ln(r, alpha, a, b) in closed form (q = 1 - P(alive)).

    ln C = ln(a+b+x-1) - ln|a-1| - ln(1 + [x>0] odds).
    """
    r, alpha, a, b = bg
    scale = (a + b + x - 1.0) / (a - 1.0) * p_alive
    grad = (
        -q * r * log_ratio,
        -q * alpha * (r + x) * (1.0 / (alpha + T) - 1.0 / (alpha + t_x)),
        a / (a + b + x - 1.0) - a / (a - 1.0) - q,
        b / (a + b + x - 1.0) + q * b / bx,
    )
    return scale, grad


def _scale_terms(
    bg: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray, *, gradient: bool
) -> tuple[FloatArray, FloatArray, FloatArray | None]:
    """C(x, t_x, T) of eq. 10, P(alive) = 1 - q, and d ln|C| / d ln(r, alpha, a, b), per customer."""
    params = tuple(float(v) for v in bg)
    r, alpha, a, b = params
    log_ratio, bx, log_odds = _dropout_log_odds(r, alpha, a, b, x, t_x, T)
    q = np.where(x > 0, expit(log_odds), 0.0)  # 1 - P(alive)
    p_alive = np.where(x > 0, expit(-log_odds), 1.0)  # not 1 - q: keeps precision when P(alive) is tiny
    scale, grad = _scale_kernel(params, x, t_x, T, q, p_alive, log_ratio, bx)  # type: ignore[arg-type]
    return scale, p_alive, np.column_stack(grad) if gradient else None


def _spend_kernel(gg: tuple[float, float, float], xe: Any, me: Any) -> tuple[Any, tuple[Any, Any, Any]]:
    """E[M | x, m_x] = (q-1)/(px+q-1) vp/(q-1) + px/(px+q-1) m_x (note 025 eq. 5) and d ln E[M] / d ln(p, q, v).

    ``xe``, ``me`` are x and m_x where the customer's own spend is usable, 0 otherwise (the population mean).
    """
    p, q, v = gg
    population = v * p / (q - 1.0)
    denom = p * xe + q - 1.0
    w = p * xe / denom
    spend = w * me + (1.0 - w) * population
    diff = me - population
    d_p = xe * (q - 1.0) / denom**2 * diff + (1.0 - w) * v / (q - 1.0)
    d_q = -p * xe / denom**2 * diff - (1.0 - w) * v * p / (q - 1.0) ** 2
    d_v = (1.0 - w) * p / (q - 1.0)
    return spend, (p * d_p / spend, q * d_q / spend, v * d_v / spend)


def _spend_terms(
    gg: FloatArray, x: FloatArray, m: FloatArray, *, gradient: bool
) -> tuple[FloatArray, FloatArray | None]:
    """E[M | x, m_x] with the fallbacks of ``ltv_method`` and d ln E[M] / d ln(p, q, v), per customer."""
    finite = np.isfinite(m)
    usable = (x > 0) & finite & (m > 0)
    zero = (x > 0) & finite & (m <= 0)
    params = (float(gg[0]), float(gg[1]), float(gg[2]))
    with np.errstate(divide="ignore", invalid="ignore"):
        spend, grad = _spend_kernel(params, np.where(usable, x, 0.0), np.where(usable, m, 0.0))
    spend = np.where(zero, 0.0, spend)
    if not gradient:
        return spend, None
    return spend, np.where(zero[:, None], 0.0, np.column_stack(grad))


def _row_method(x: float, m: float) -> str:
    """``ltv_methods`` for one customer."""
    if x == 0 or not math.isfinite(m):
        return METHOD_POPULATION_SPEND
    return METHOD_ZERO_SPEND if m <= 0 else METHOD_BTYD


def ltv_methods(frequency: Any, monetary_value: Any) -> npt.NDArray[np.object_]:
    """Which method produced each customer's LTV (see the METHOD_* constants)."""
    x = as_float_array(frequency, "frequency")
    m = as_float_array(monetary_value, "monetary_value")
    method = np.full(len(x), METHOD_BTYD, dtype=object)
    method[(x == 0) | ~np.isfinite(m)] = METHOD_POPULATION_SPEND
    method[(x > 0) & np.isfinite(m) & (m <= 0)] = METHOD_ZERO_SPEND
    return method


class _ClvGrid:
    """Month steps and discount factors of one horizon, in model periods."""

    def __init__(
        self, horizon_months: int, monthly_rate: float, model_unit: TimeUnit, month_convention: MonthConvention
    ) -> None:
        if horizon_months < 1:
            raise UserInputError(f"horizon_months must be >= 1, got {shown(horizon_months)}")
        step = model_unit.periods_per_month(month_convention)
        months = np.arange(1, horizon_months + 1, dtype="float64")
        self.steps: FloatArray = months * step
        self.discounts: FloatArray = (1.0 + monthly_rate) ** months
        self.weights: FloatArray = 1.0 / self.discounts


def _clv(  # noqa: PLR0917 - the papers' parameter list
    params: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray, m: FloatArray, grid: _ClvGrid
) -> FloatArray:
    """Point CLV for one parameter vector (r, alpha, a, b, p, q, v)."""
    pairs = unique_pairs(x, T)
    H, _ = _pair_table(parameter_sets(params[:4], gradient=False), pairs, grid)
    scale, _, _ = _scale_terms(params[:4], x, t_x, T, gradient=False)
    spend, _ = _spend_terms(params[4:], x, m, gradient=False)
    result: FloatArray = spend * scale * H[pairs[2]]
    return result


def _convert_inputs(  # noqa: PLR0917 - the papers' parameter list
    frequency: Any, recency: Any, T: Any, monetary_value: Any, time_unit: TimeUnit, model_unit: TimeUnit
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    x, t_x, t = check_summary(frequency, recency, T)
    m = as_float_array(monetary_value, "monetary_value")
    if len(m) != len(x):
        raise UserInputError(f"monetary_value has {len(m)} rows but frequency has {len(x)}")
    if time_unit != model_unit:  # recency/T given in another unit: convert through days
        factor = time_unit.convert(1.0, model_unit)
        t_x, t = t_x * factor, t * factor
    return x, t_x, t, m


def _params_vector(bgnbd: BetaGeoModel, gg: GammaGammaModel) -> FloatArray:
    return np.array([*bgnbd.params_.values(), *gg.params_.values()], dtype="float64")


def discounted_clv(  # noqa: PLR0917 - the papers' parameter list
    bgnbd: BetaGeoModel,
    gg: GammaGammaModel,
    frequency: Any,
    recency: Any,
    T: Any,
    monetary_value: Any,
    *,
    horizon_months: int,
    discount_rate: float,
    discount_period: DiscountPeriod,
    time_unit: TimeUnit,
    month_convention: MonthConvention = "calendar",
) -> FloatArray:
    """Discounted CLV per customer; ``time_unit`` is the unit of ``recency``/``T`` (converted to the model's).

    With ``month_convention="lifetimes"`` this equals lifetimes' ``customer_lifetime_value(bgf, ...,
    time=horizon_months, discount_rate=<monthly rate>, freq=<model unit>)`` (same month steps, same discounting);
    the default "calendar" month (365.25/12 days) gives one value whatever the model's time unit.
    """
    x, t_x, t, m = _convert_inputs(frequency, recency, T, monetary_value, time_unit, bgnbd.time_unit)
    rate = monthly_discount_rate(discount_rate, discount_period)
    grid = _ClvGrid(horizon_months, rate, bgnbd.time_unit, month_convention)
    return _clv(_params_vector(bgnbd, gg), x, t_x, t, m, grid)


def _log_sd(grad: FloatArray, log_cov: FloatArray) -> FloatArray:
    """sqrt(g' S g) per row of the gradient of ln CLV in the log-parameters (non-finite entries count as 0)."""
    grad = np.where(np.isfinite(grad), grad, 0.0)
    result: FloatArray = np.sqrt(np.maximum(np.add.reduce((grad @ log_cov) * grad, axis=1), 0.0))
    return result


def _interval(clv: Any, sd: Any, z: float) -> tuple[Any, Any]:
    """The log-normal interval CLV exp(-+z sd); a CLV that underflowed to 0 gets (0, 0), not 0 * exp(z sd) = nan
    (a repeat buyer silent for so long that P(alive) is 0 in float64 also has an enormous d ln CLV)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return clv * np.exp(-z * sd), np.where(clv == 0.0, 0.0, clv * np.exp(z * sd))


def clv_interval(
    draws: ParameterDraws,
    frequency: Any,
    recency: Any,
    T: Any,
    monetary_value: Any,
    *,
    horizon_months: int,
    discount_rate: float,
    discount_period: DiscountPeriod,
    time_unit: TimeUnit,
    level: float = 0.9,
    method: Literal["delta", "draws"] = "delta",
    month_convention: MonthConvention = "calendar",
) -> tuple[FloatArray, FloatArray]:
    """Per-customer ``level`` interval of CLV from the parameters' sampling distribution.

    ``time_unit`` is the unit of recency/T and of the model the draws belong to. ``method="draws"``: empirical
    quantiles of CLV over every draw (exact for the draws, cost n_draws x customers, chunked to bound memory).
    ``method="delta"`` (default): log-normal delta approximation with the draws' log-covariance.
    """
    if not 0.0 < level < 1.0:
        raise UserInputError(f"interval level must be between 0 and 1, got {shown(level)}")
    missing = [name for name in BTYD_PARAMS if name not in draws.names]
    if missing:
        raise UserInputError(f"parameter draws lack {', '.join(missing)}")
    order = [draws.names.index(name) for name in BTYD_PARAMS]
    model_unit = TimeUnit(time_unit)
    x, t_x, t, m = _convert_inputs(frequency, recency, T, monetary_value, time_unit, model_unit)
    grid = _ClvGrid(horizon_months, monthly_discount_rate(discount_rate, discount_period), model_unit, month_convention)
    tail = (1.0 - level) / 2.0
    if method == "delta":
        estimate = draws.estimate[order]
        log_cov = draws.log_covariance()[np.ix_(order, order)]
        z = float(norm.ppf(1.0 - tail))
        point, sd = _point_and_log_sd(estimate, log_cov, x, t_x, t, m, grid)
        lower, upper = _interval(point, sd, z)
        return lower, upper
    if method != "draws":
        raise UserInputError(f"interval method must be 'delta' or 'draws', got {method!r}")
    lower = np.empty(len(x))
    upper = np.empty(len(x))
    chunk = max(1, 2_500_000 // len(draws.draws))  # bound the draws x customers matrix (~20 MB)
    for start in range(0, len(x), chunk):
        sl = slice(start, start + chunk)
        values = np.vstack([_clv(row, x[sl], t_x[sl], t[sl], m[sl], grid) for row in draws.draws[:, order]])
        lower[sl], upper[sl] = np.quantile(values, [tail, 1.0 - tail], axis=0)
    return lower, upper


def _point_and_log_sd(  # noqa: PLR0917 - the papers' parameter list
    params: FloatArray,
    log_cov: FloatArray,
    x: FloatArray,
    t_x: FloatArray,
    T: FloatArray,
    m: FloatArray,
    grid: _ClvGrid,
) -> tuple[FloatArray, FloatArray]:
    pairs = unique_pairs(x, T)
    H, dH = _pair_table(parameter_sets(params[:4], gradient=True), pairs, grid)
    scale, _, dC = _scale_terms(params[:4], x, t_x, T, gradient=True)
    spend, dS = _spend_terms(params[4:], x, m, gradient=True)
    assert dH is not None
    assert dC is not None
    assert dS is not None
    inverse = pairs[2]
    point: FloatArray = spend * scale * H[inverse]
    return point, _log_sd(np.hstack([dC + dH[inverse], dS]), log_cov)


def bundle_settings(metadata: dict[str, Any]) -> dict[str, Any]:
    """The LTV settings a bundle was trained with (``metadata["settings"]``), each missing key at its current
    ``LtvSettings`` default: bundles from before a setting existed load with the documented default."""
    defaults = {name: field.default for name, field in LtvSettings.model_fields.items()}
    return {**defaults, **metadata.get("settings", {})}


def expected_spend(gg: GammaGammaModel, frequency: Any, monetary_value: Any) -> FloatArray:
    """E[M | x, m_x] per customer with the fallbacks of ``ltv_methods`` (population mean without a usable own
    spend, 0 for repeat purchases that were all free): the spend factor of every CLV this module computes."""
    x = as_float_array(frequency, "frequency")
    m = as_float_array(monetary_value, "monetary_value")
    if len(x) != len(m):
        raise UserInputError(f"monetary_value has {len(m)} rows but frequency has {len(x)}")
    spend, _ = _spend_terms(np.array([*gg.params_.values()]), x, m, gradient=False)
    return spend


# -- any count model (``models.btyd_family``): the generic path ------------------------------------------------------


def spend_model_methods(model_name: str, frequency: Any, monetary_value: Any, *, unit_value: float | None) -> Any:
    """``ltv_methods`` for any count model: ``<model>_gamma_gamma`` with a spend model (BG/NBD keeps
    ``bgnbd_gamma_gamma``), else ``<model>_unit_value`` (a constant value per purchase) or ``<model>_purchase_count``
    (value in purchases, u = 1) for everyone."""
    if unit_value is None:
        methods = ltv_methods(frequency, monetary_value)
        methods[methods == METHOD_BTYD] = f"{model_name}_gamma_gamma"
        return methods
    suffix = "purchase_count" if unit_value == 1.0 else "unit_value"
    return np.full(len(as_float_array(frequency, "frequency")), f"{model_name}_{suffix}", dtype=object)


def _discounted_sum(EY: FloatArray, weights: FloatArray) -> FloatArray:
    """sum_i (E[Y(t_i)] - E[Y(t_{i-1})]) w_i over axis 0 of EY (steps, customers)."""
    increments = np.diff(EY, axis=0, prepend=0.0)
    result: FloatArray = np.add.accumulate(increments * weights[:, None], axis=0)[-1]
    return result


def _discounted_purchases(  # noqa: PLR0917 - the summary and the grid
    model: CountModel, x: FloatArray, t_x: FloatArray, T: FloatArray, steps: FloatArray, weights: FloatArray
) -> FloatArray:
    """``_discounted_sum`` of E[Y(t_i)]; for a factored model the sum runs over distinct (x, T) pairs, not customers."""
    factors = model.purchase_factors(steps, x, t_x, T)
    if factors is None:
        return _discounted_sum(model.expected_purchases_at(steps, x, t_x, T), weights)
    scales, growths, inverse = factors
    result: FloatArray = sum(
        scale * _discounted_sum(growth, weights)[inverse] for scale, growth in zip(scales, growths, strict=True)
    )
    return result


def count_model_value(  # noqa: PLR0917 - the summary, the models and the grid
    model: CountModel,
    spend: FloatArray,
    spend_gradient: FloatArray | None,
    log_cov: FloatArray | None,
    x: FloatArray,
    t_x: FloatArray,
    T: FloatArray,
    steps: FloatArray,
    weights: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """E[value] = spend * sum_i (E[Y(t_i)] - E[Y(t_{i-1})]) w_i for any count model, and the delta-method sd of its
    log in the log-parameters (count parameters by central differences, spend's in closed form); sd 0 without a
    covariance."""
    value = spend * _discounted_purchases(model, x, t_x, T, steps, weights)
    if log_cov is None:
        return value, np.zeros(len(x))
    from models.btyd_family import shifted_values

    values = model.values()
    grads = []
    shifted = shifted_values(values, _DELTA_STEP)
    with np.errstate(divide="ignore", invalid="ignore"):
        for j in range(len(values)):
            up = _discounted_purchases(model.with_values(shifted[2 * j]), x, t_x, T, steps, weights)
            down = _discounted_purchases(model.with_values(shifted[2 * j + 1]), x, t_x, T, steps, weights)
            grads.append((np.log(np.abs(up)) - np.log(np.abs(down))) / (2.0 * _DELTA_STEP))
    grad = np.column_stack(grads)
    if spend_gradient is not None:
        grad = np.hstack([grad, spend_gradient])
    return value, _log_sd(grad, log_cov)


def predictive_value(  # noqa: PLR0917 - the summary, the models and the horizon
    model: CountModel,
    gg: GammaGammaModel | None,
    unit_value: float | None,
    x: FloatArray,
    t_x: FloatArray,
    T: FloatArray,
    m: FloatArray,
    t: float,
    log_sd: FloatArray,
) -> ValueDistribution:
    """The predictive distribution of the (undiscounted) value of the next t periods (``models.value_distribution``)."""
    p_alive = model.p_alive(x, t_x, T)
    moments = model.alive_moments(float(t), x, t_x, T)
    if gg is None:
        first, second, cross = unit_value_moments(1.0 if unit_value is None else unit_value, len(x))
    else:
        finite = np.isfinite(m)
        usable = (x > 0) & finite & (m > 0)
        zero = (x > 0) & finite & (m <= 0)
        first, second, cross = gamma_gamma_spend_moments(
            gg.p_, gg.q_, gg.v_, np.where(usable, x, 0.0), np.where(usable, m, 0.0), zero
        )
    return value_distribution(p_alive, moments.p_any, moments.mean, moments.factorial2, first, second, cross, log_sd)


def spend_factor(
    gg: GammaGammaModel | None, unit_value: float | None, x: FloatArray, m: FloatArray, *, gradient: bool
) -> tuple[FloatArray, FloatArray | None]:
    """E[spend per purchase] per customer (Gamma-Gamma with the ``ltv_method`` fallbacks, or the unit value) and
    d ln / d ln(p, q, v) (None without a spend model)."""
    if gg is None:
        return np.full(len(x), 1.0 if unit_value is None else float(unit_value)), None
    return _spend_terms(np.array([*gg.params_.values()]), x, m, gradient=gradient)


def expected_value_log_sd(  # noqa: PLR0917 - the summary, the models and the horizon
    model: CountModel,
    gg: GammaGammaModel | None,
    unit_value: float | None,
    log_cov: FloatArray | None,
    x: FloatArray,
    t_x: FloatArray,
    T: FloatArray,
    m: FloatArray,
    t: float,
) -> tuple[FloatArray, FloatArray]:
    """E[value over the next t periods] (undiscounted) and the delta-method sd of its log."""
    spend, dS = spend_factor(gg, unit_value, x, m, gradient=True)
    return count_model_value(model, spend, dS, log_cov, x, t_x, T, np.array([float(t)]), np.ones(1))


class LtvPredictor:
    """Everything the API and batch scoring need from an LTV bundle, vectorised over customers.

    Inputs are the BTYD summary in the bundle's ``time_unit``; ``predict`` returns P(alive), expected purchases
    and P(no purchase) over ``horizon_days``, expected spend per purchase, predicted CLV over the bundle's
    horizon with its interval, and per row the method that produced the number (``ltv_method``).

    ``predict_one`` is the same computation for one customer on floats (the API's per-request case), with
    everything that depends only on the parameters (the 9 parameter sets of the interval's gradient, the month
    steps plus the P(alive)/purchases horizon, the discount weights) built here, once; ``predict_rows`` uses it
    row by row for a handful of customers and ``predict`` otherwise.

    ``subscription`` values subscribers instead (contractual CLV, ``models.subscription_value``) with the same
    bundle's horizon, discount rate and contractual settings; ``service.prediction`` chooses per customer.
    Settings missing from an older bundle's metadata take their current ``LtvSettings`` defaults.
    """

    def __init__(
        self, bgnbd: CountModel, gg: GammaGammaModel | None, draws: ParameterDraws, metadata: dict[str, Any]
    ) -> None:
        self.count_model = bgnbd
        self.bgnbd = bgnbd  # the selected count model (the name predates the model family; every model has its API)
        self.gg = gg
        self.draws = draws
        self.metadata = metadata
        settings = bundle_settings(metadata)
        spend_info = metadata.get("spend_model") or {}
        self.unit_value: float | None = None if gg is not None else float(spend_info.get("unit_value", 1.0))
        self.time_unit: TimeUnit = bgnbd.time_unit
        self.horizon_days: int = int(settings["prediction_horizon_days"])
        self.horizon_months: int = int(settings["horizon_months"])
        self.month_convention: MonthConvention = settings["month_convention"]
        self.discount_rate: float = float(settings["discount_rate"])
        self.discount_period: DiscountPeriod = settings["discount_period"]
        self.interval_level: float = float(settings["interval_level"])
        names = [*bgnbd.PARAM_NAMES, *(("p", "q", "v") if gg is not None else ())]
        missing = [name for name in names if name not in draws.names]
        if missing:
            raise UserInputError(f"parameter_draws.json lacks {', '.join(missing)} for {bgnbd.LABEL}")
        order = [draws.names.index(name) for name in names]
        self._log_cov = draws.log_covariance()[np.ix_(order, order)]
        monthly_rate = monthly_discount_rate(self.discount_rate, self.discount_period)
        self._grid = _ClvGrid(self.horizon_months, monthly_rate, self.time_unit, self.month_convention)
        self.subscription = SubscriptionValue(
            horizon_months=self.horizon_months if settings["contractual_horizon"] == "clv_horizon" else None,
            monthly_discount=monthly_rate,
            cost_share_of_mrr=float(settings["contractual_cost_share_of_mrr"]),
            cost_per_month=float(settings["contractual_cost_per_month"]),
            pay_after_service=bool(settings["contractual_pay_after_service"]),
        )
        self._z = float(norm.ppf(0.5 + self.interval_level / 2.0))
        self._horizon = float(self.time_unit.from_days(self.horizon_days))
        self._days_30 = float(self.time_unit.from_days(30.0))
        # the BG/NBD + Gamma-Gamma fast path (precomputed for predict / predict_one)
        self._fast = isinstance(bgnbd, BetaGeoModel) and gg is not None
        if self._fast:
            assert gg is not None
            self._params = _params_vector(bgnbd, gg)  # type: ignore[arg-type]
            self._sets = parameter_sets(self._params[:4], gradient=True)
            self._steps_and_horizon = np.append(self._grid.steps, self._horizon)
            self._bg = (float(self._params[0]), float(self._params[1]), float(self._params[2]), float(self._params[3]))
            self._gg = (float(self._params[4]), float(self._params[5]), float(self._params[6]))

    @classmethod
    def from_bundle(cls, path: Path) -> LtvPredictor:
        from models.ltv_bundle import load_ltv_bundle

        bgnbd, gg, draws, metadata = load_ltv_bundle(Path(path))
        return cls(bgnbd, gg, draws, metadata)

    def predict(
        self, frequency: Any, recency: Any, T: Any, monetary_value: Any, *, predictive: bool = True
    ) -> dict[str, Any]:
        """Per-customer predictions (arrays of one length; ``ltv_method`` is an object array of strings).

        ``predictive`` (default) adds the predictive interval of the horizon's value (``ltv_p10``, ``ltv_p50``,
        ``ltv_p90``: purchases x spend, parameter uncertainty folded in), ``next_purchase_days`` (median days to
        the next purchase given alive) and ``p_purchase_30d``; without it only the point values and the
        parameter band (``ltv_lower``/``ltv_upper``) are computed.
        """
        x, t_x, t, m = _convert_inputs(frequency, recency, T, monetary_value, self.time_unit, self.time_unit)
        out = self._predict_fast(x, t_x, t, m) if self._fast else self._predict_generic(x, t_x, t, m)
        if predictive:
            out.update(self._predictive(x, t_x, t, m, out["predicted_ltv"], out.pop("_log_sd")))
        else:
            out.pop("_log_sd")
        return out

    def _predictive(  # noqa: PLR0917 - the summary and the point values
        self, x: FloatArray, t_x: FloatArray, t: FloatArray, m: FloatArray, clv: FloatArray, log_sd: FloatArray
    ) -> dict[str, Any]:
        """P10/P50/P90 of the horizon's value, next purchase median (days) and P(purchase in 30 days)."""
        out: dict[str, Any] = {}
        model = self.count_model
        for start in range(0, len(x), _CHUNK):
            sl = slice(start, start + _CHUNK)
            xs, txs, ts, ms = x[sl], t_x[sl], t[sl], m[sl]
            dist = predictive_value(
                model, self.gg, self.unit_value, xs, txs, ts, ms, float(self._grid.steps[-1]), log_sd[sl]
            )
            with np.errstate(divide="ignore", invalid="ignore"):
                discount = np.where(dist.mean > 0, clv[sl] / dist.mean, 1.0)  # the horizon's discounting
            p10, p50, p80, p90 = dist.quantiles((0.1, 0.5, 0.8, 0.9))
            low80, high80 = narrower_interval_80(p10, p80, p90)
            q = np.vstack([p10, p50, p90]) * discount[None, :]
            chunk = {
                "ltv_p10": q[0],
                "ltv_p50": q[1],
                "ltv_p90": q[2],
                "ltv_interval_80_low": low80 * discount,
                "ltv_interval_80_high": high80 * discount,
                "next_purchase_days": model.next_purchase_median(xs, txs, ts) * self.time_unit.days,
                "p_purchase_30d": 1.0 - model.p_no_purchase(self._days_30, xs, txs, ts),
            }
            for key, values in chunk.items():
                out.setdefault(key, np.empty(len(x)))[sl] = values
        if not len(x):
            out = {key: np.empty(0) for key in PREDICTIVE_OUTPUTS}
        return out

    def _predict_generic(self, x: FloatArray, t_x: FloatArray, t: FloatArray, m: FloatArray) -> dict[str, Any]:
        """Any count model (and Gamma-Gamma or a unit value): the same outputs as the BG/NBD fast path."""
        model = self.count_model
        n = len(x)
        out: dict[str, Any] = {key: np.empty(n) for key in (*_FLOAT_OUTPUTS, "_log_sd")}
        out["ltv_method"] = spend_model_methods(model.NAME, x, m, unit_value=self.unit_value)
        for start in range(0, n, _CHUNK):
            sl = slice(start, start + _CHUNK)
            xs, txs, ts, ms = x[sl], t_x[sl], t[sl], m[sl]
            spend, dS = spend_factor(self.gg, self.unit_value, xs, ms, gradient=True)
            clv, sd = count_model_value(
                model, spend, dS, self._log_cov, xs, txs, ts, self._grid.steps, self._grid.weights
            )
            out["p_alive"][sl] = model.p_alive(xs, txs, ts)
            out["expected_purchases"][sl] = model.conditional_expected_purchases(self._horizon, xs, txs, ts)
            out["p_no_purchase"][sl] = model.p_no_purchase(self._horizon, xs, txs, ts)
            out["expected_spend"][sl] = spend
            out["predicted_ltv"][sl] = clv
            out["ltv_lower"][sl], out["ltv_upper"][sl] = _interval(clv, sd, self._z)
            out["_log_sd"][sl] = sd
        return out

    def _predict_fast(self, x: FloatArray, t_x: FloatArray, t: FloatArray, m: FloatArray) -> dict[str, Any]:
        """BG/NBD + Gamma-Gamma: the kernels shared with ``predict_one`` (one hyp2f1 table per distinct pair)."""
        n = len(x)
        horizon = np.array([self._horizon])
        r, alpha = self._bg[:2]
        out: dict[str, Any] = {key: np.empty(n) for key in (*_FLOAT_OUTPUTS, "_log_sd")}
        out["ltv_method"] = ltv_methods(x, m)
        for start in range(0, n, _CHUNK):
            sl = slice(start, start + _CHUNK)
            xs, txs, ts, ms = x[sl], t_x[sl], t[sl], m[sl]
            pairs = unique_pairs(xs, ts)
            ux, uT, inverse = pairs
            H, dH = _pair_table(self._sets, pairs, self._grid)
            G_h = _growth_sets(self._sets[:1], ux, uT, horizon)[0, 0]
            scale, p_alive, dC = _scale_terms(self._params[:4], xs, txs, ts, gradient=True)
            spend, dS = _spend_terms(self._params[4:], xs, ms, gradient=True)
            assert dH is not None
            assert dC is not None
            assert dS is not None
            clv = spend * scale * H[inverse]
            sd = _log_sd(np.hstack([dC + dH[inverse], dS]), self._log_cov)
            out["p_alive"][sl] = p_alive
            out["expected_purchases"][sl] = scale * G_h[inverse]
            out["p_no_purchase"][sl] = bgnbd_no_purchase(r, alpha, xs, ts, self._horizon, p_alive)
            out["expected_spend"][sl] = spend
            out["predicted_ltv"][sl] = clv
            out["ltv_lower"][sl], out["ltv_upper"][sl] = _interval(clv, sd, self._z)
            out["_log_sd"][sl] = sd
        return out

    def predict_one(
        self, frequency: float, recency: float, T: float, monetary_value: float, *, predictive: bool = True
    ) -> dict[str, Any]:
        """``predict`` for one customer given as numbers: the same outputs as floats (``ltv_method`` a str).

        Same kernels as ``predict`` (``_growth_sets``, ``_discounted_growth``, ``_log_gradient``,
        ``_dropout_log_odds``, ``_scale_kernel``, ``_spend_kernel``, ``_log_sd``, ``bgnbd_no_purchase``): the
        results equal ``predict``'s row to rounding (tests: 1e-12 relative). Invalid input raises the same
        ``UserInputError`` as ``predict``.
        """
        try:
            row = (float(frequency), float(recency), float(T), float(monetary_value))
        except (TypeError, ValueError):
            row = None
        if row is None or not summary_row_is_valid(*row[:3]) or not self._fast:
            # raises the rule's UserInputError; any model but BG/NBD + Gamma-Gamma goes through predict
            out = self.predict([frequency], [recency], [T], [monetary_value], predictive=predictive)
            return {key: value[0] if key == "ltv_method" else float(value[0]) for key, value in out.items()}
        x, t_x, t, m = row
        result = self._predict_row(x, min(t_x, t), t, m)
        log_sd = result.pop("_log_sd")
        if predictive:
            arrays = (np.array([x]), np.array([min(t_x, t)]), np.array([t]), np.array([m]))
            extra = self._predictive(*arrays, np.array([result["predicted_ltv"]]), np.array([log_sd]))
            result.update({key: float(value[0]) for key, value in extra.items()})
        return result

    def predict_rows(
        self, frequency: Any, recency: Any, T: Any, monetary_value: Any, *, predictive: bool = True
    ) -> dict[str, Any]:
        """``predict``'s output; up to ``_ROW_BY_ROW`` valid customers go through ``predict_one`` one by one
        (a per-request call: no validation arrays, no de-duplication, no chunking), more through ``predict``."""
        columns = [
            as_float_array(values, name)
            for values, name in (
                (frequency, "frequency"),
                (recency, "recency"),
                (T, "T"),
                (monetary_value, "monetary_value"),
            )
        ]
        n = len(columns[0])
        rows = list(zip(*(c.tolist() for c in columns), strict=False))
        if (
            n > _ROW_BY_ROW
            or not self._fast
            or any(len(c) != n for c in columns)
            or not all(summary_row_is_valid(x, t_x, t) for x, t_x, t, _ in rows)
        ):
            return self.predict(*columns, predictive=predictive)  # vectorised, or the UserInputError naming the row
        results = [self._predict_row(x, min(t_x, t), t, m) for x, t_x, t, m in rows]
        out: dict[str, Any] = {key: np.array([res[key] for res in results], dtype="float64") for key in _FLOAT_OUTPUTS}
        out["ltv_method"] = np.array([res["ltv_method"] for res in results], dtype=object)
        if predictive:
            x, t_x, t, m = (np.array(c, dtype="float64") for c in zip(*rows, strict=True)) if rows else columns
            log_sd = np.array([res["_log_sd"] for res in results], dtype="float64")
            out.update(self._predictive(x, np.minimum(t_x, t), t, m, out["predicted_ltv"], log_sd))
        return out

    def _predict_row(self, x: float, t_x: float, T: float, m: float) -> dict[str, Any]:
        """One validated customer (recency already clipped to T): P(alive), purchases, CLV and its interval."""
        r, alpha = self._bg[:2]
        # G for the 9 parameter sets at the 12 month steps and the horizon, in one hyp2f1 call: (9, S + 1, 1)
        G = _growth_sets(self._sets, np.array([x]), np.array([T]), self._steps_and_horizon)
        H = _discounted_growth(G[:, :-1], self._grid.weights)
        dH = _log_gradient(H)[0]
        log_ratio, bx, log_odds = _dropout_log_odds(*self._bg, x, t_x, T)
        q, p_alive = (expit(log_odds), expit(-log_odds)) if x > 0 else (0.0, 1.0)
        scale, dC = _scale_kernel(self._bg, x, t_x, T, q, p_alive, log_ratio, bx)
        method = _row_method(x, m)
        if method == METHOD_ZERO_SPEND:
            spend, dS = 0.0, (0.0, 0.0, 0.0)
        else:
            usable = method == METHOD_BTYD
            spend, dS = _spend_kernel(self._gg, x if usable else 0.0, m if usable else 0.0)
        clv = spend * scale * float(H[0, 0])
        grad = np.array([[dC[0] + dH[0], dC[1] + dH[1], dC[2] + dH[2], dC[3] + dH[3], *dS]])
        lower, upper = _interval(clv, _log_sd(grad, self._log_cov)[0], self._z)  # _log_sd recomputed below: cheap
        return {
            "p_alive": float(p_alive),
            "expected_purchases": float(scale * G[0, -1, 0]),
            "p_no_purchase": float(bgnbd_no_purchase(r, alpha, x, T, self._horizon, p_alive)),
            "expected_spend": float(spend),
            "predicted_ltv": float(clv),
            "ltv_lower": float(lower),
            "ltv_upper": float(upper),
            "ltv_method": method,
            "_log_sd": float(_log_sd(grad, self._log_cov)[0]),
        }

    def describe(self) -> dict[str, Any]:
        """Parameters and settings, for ``/model`` endpoints and reports (``bgnbd`` holds the selected count
        model's parameters for older readers; ``count_model`` names it)."""
        gg = self.gg.params_ if self.gg is not None else None
        described: dict[str, Any] = json.loads(
            json.dumps(
                {
                    "bgnbd": self.count_model.paper_params,
                    "count_model": self.count_model.NAME,
                    "gamma_gamma": gg,
                    **self.metadata,
                },
                default=str,
            )
        )
        return described
