"""Gamma-Gamma spend model: Fader, Hardie & Lee (2005b), "RFM and CLV: Using Iso-Value Curves for Customer Base
Analysis", Journal of Marketing Research 42(4), 415-430; Fader & Hardie (2013), "The Gamma-Gamma Model of
Monetary Value" (note 025).

Each transaction value is Gamma(p, nu) with nu ~ Gamma(q, v) across customers. For a customer with x repeat
transactions of mean value m_x:

* E[M | p, q, v, x, m_x] = (q-1)/(p x + q - 1) * v p/(q-1) + p x/(p x + q - 1) * m_x        (note 025, eq. 5)
  a weighted average of the population mean v p/(q-1) and the customer's own mean;
* log-likelihood of m_x (note 025, eq. 1a): ln G(px+q) - ln G(px) - ln G(q) + q ln v + (px-1) ln m_x
  + px ln x - (px+q) ln(x m_x + v).

Assumptions enforced here: the model is fitted on repeat customers (x > 0) with positive mean spend only (the
rest are excluded and counted, never silently dropped); the mean spend is assumed independent of purchase
frequency, so the Pearson correlation between x and m_x is measured (``frequency_spend_correlation_``) and
reported. q <= 1 means the population mean spend is infinite: that is an error, not a number.

lifetimes' optional L2 penalizer c is on the parameters themselves: it minimises -LL/n + c (p^2 + q^2 + v^2), and v
is in currency units, so even c = 0.01 pulls hard on CDNOW (v ~ 15 costs 2.25 per customer) and drags q below 1.
The covariance comes from the Hessian of that same penalised objective (``gamma_gamma_penalty``).
"""

from __future__ import annotations

import contextlib
import io
from typing import Any, Self

import numpy as np
from scipy.special import gammaln

from features.errors import UserInputError
from features.value_repr import shown
from models.btyd_inputs import FloatArray, as_float_array
from models.parameter_draws import log_parameter_covariance

PARAM_NAMES = ("p", "q", "v")


def gamma_gamma_log_likelihood(p: float, q: float, v: float, x: FloatArray, m: FloatArray) -> FloatArray:
    """Per-customer log-likelihood of the mean spend m over x transactions (note 025 eq. 1a)."""
    result: FloatArray = (
        gammaln(p * x + q)
        - gammaln(p * x)
        - gammaln(q)
        + q * np.log(v)
        + (p * x - 1.0) * np.log(m)
        + p * x * np.log(x)
        - (p * x + q) * np.log(x * m + v)
    )
    return result


def gamma_gamma_expected_spend(p: float, q: float, v: float, x: FloatArray, m: FloatArray) -> FloatArray:
    """E[M | x, m_x]; customers with x = 0 or no observed mean get the population mean v p/(q-1)."""
    population = v * p / (q - 1.0)
    weight = p * x / (p * x + q - 1.0)
    own = np.where(np.isfinite(m) & (x > 0), m, 0.0)
    result: FloatArray = np.where(x > 0, weight * own + (1.0 - weight) * population, population)
    return result


def gamma_gamma_penalty(params: FloatArray, n_customers: int, penalizer_coef: float) -> float:
    """n c (p^2 + q^2 + v^2): lifetimes' L2 term times n (its objective is the mean log-likelihood)."""
    return float(n_customers * penalizer_coef * np.sum(np.asarray(params) ** 2))


def _lifetimes_fit(x: FloatArray, m: FloatArray, penalizer_coef: float, n_fitted: int) -> FloatArray:
    """(p, q, v) from lifetimes.GammaGammaFitter; a failed convergence is a ``UserInputError``."""
    from lifetimes import GammaGammaFitter
    from lifetimes.utils import ConvergenceError

    fitter = GammaGammaFitter(penalizer_coef=penalizer_coef)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # lifetimes prints the optimiser state on failure
            fitter.fit(x.astype(int), m)
    except ConvergenceError:
        hint = "raise CHURNLTV_LTV_PENALIZER_COEF" if penalizer_coef > 0 else "try CHURNLTV_LTV_PENALIZER_COEF=0.001"
        raise UserInputError(f"Gamma-Gamma did not converge on {n_fitted} repeat customers; {hint}") from None
    return np.array([float(fitter.params_[name]) for name in PARAM_NAMES])


class GammaGammaModel:
    """Gamma-Gamma fitted with lifetimes on repeat customers with positive spend; parameters ``p_``, ``q_``, ``v_``."""

    def __init__(self, penalizer_coef: float = 0.0) -> None:
        self.penalizer_coef = penalizer_coef

    def fit(self, frequency: Any, monetary_value: Any, *, compute_covariance: bool = True) -> Self:
        """Fit on rows with x > 0 and m > 0; ``n_excluded_one_time_``/``n_excluded_zero_spend_`` count the rest.

        ``compute_covariance`` (default) also sets ``log_params_covariance_`` from the Hessian of the optimised
        (penalised when ``penalizer_coef`` > 0) objective.
        """
        x = as_float_array(frequency, "frequency")
        m = as_float_array(monetary_value, "monetary_value")
        if len(x) != len(m):
            raise UserInputError(f"frequency and monetary_value must have one length, got {len(x)} and {len(m)}")
        negative = np.isfinite(m) & (m < 0)
        if np.any(negative):
            pos = int(np.flatnonzero(negative)[0])
            raise UserInputError(f"monetary_value: row {pos} has value {shown(m[pos])}; spend cannot be negative")
        repeat = x > 0
        usable = repeat & np.isfinite(m) & (m > 0)
        self.n_customers_ = len(x)
        self.n_excluded_one_time_ = int(np.sum(~repeat))
        self.n_excluded_zero_spend_ = int(np.sum(repeat & ~usable))
        self.n_fitted_ = int(np.sum(usable))
        if self.n_fitted_ < 2:
            raise UserInputError(
                f"Gamma-Gamma needs repeat customers with positive spend; found {self.n_fitted_} "
                f"({self.n_excluded_one_time_} one-time buyers and {self.n_excluded_zero_spend_} zero-spend repeat "
                "customers were excluded)"
            )
        xf, mf = x[usable], m[usable]
        corr = float(np.corrcoef(xf, mf)[0, 1]) if np.std(xf) > 0 and np.std(mf) > 0 else float("nan")
        self.frequency_spend_correlation_ = corr
        values = _lifetimes_fit(xf, mf, self.penalizer_coef, self.n_fitted_)
        if not np.all(np.isfinite(values)) or np.any(values <= 0):
            shown_params = ", ".join(f"{n} = {float(v):.6g}" for n, v in zip(PARAM_NAMES, values, strict=True))
            raise UserInputError(f"Gamma-Gamma converged to invalid parameters ({shown_params})")
        if values[1] <= 1.0:
            raise UserInputError(self._infinite_mean_message(float(values[1]), xf, mf))
        self.p_, self.q_, self.v_ = (float(v) for v in values)
        self.log_likelihood_ = float(gamma_gamma_log_likelihood(self.p_, self.q_, self.v_, xf, mf).sum())
        if compute_covariance:
            n, coef = len(xf), self.penalizer_coef

            def objective(log_params: FloatArray) -> float:
                params = np.exp(log_params)
                p, q, v = params
                total = float(gamma_gamma_log_likelihood(p, q, v, xf, mf).sum())
                return total - gamma_gamma_penalty(params, n, coef) if coef > 0 else total

            self.log_params_covariance_ = log_parameter_covariance(
                objective, np.log(values), PARAM_NAMES, "Gamma-Gamma", coef
            )
        return self

    def _infinite_mean_message(self, q: float, xf: FloatArray, mf: FloatArray) -> str:
        """Why q <= 1: the penalizer when an unpenalised fit has q > 1, otherwise the spends' heavy tail."""
        head = f"Gamma-Gamma: q = {q:.3f} <= 1 means the fitted spend distribution has no finite mean"
        if self.penalizer_coef > 0:
            try:
                q0 = float(_lifetimes_fit(xf, mf, 0.0, len(xf))[1])
            except UserInputError:
                q0 = float("nan")
            if q0 > 1.0:
                return (
                    f"{head}; the L2 penalty CHURNLTV_LTV_PENALIZER_COEF={self.penalizer_coef:g} caused it (lifetimes "
                    f"penalises p, q and v themselves, and v is in currency units): without it q = {q0:.3f}. Lower "
                    "or unset CHURNLTV_LTV_PENALIZER_COEF"
                )
        return f"{head} (a few very large orders dominate the spends); cap outliers or check the amount column"

    @classmethod
    def from_params(cls, p: float, q: float, v: float, *, penalizer_coef: float = 0.0) -> GammaGammaModel:
        model = cls(penalizer_coef=penalizer_coef)
        model.p_, model.q_, model.v_ = float(p), float(q), float(v)
        return model

    @property
    def params_(self) -> dict[str, float]:
        return {"p": self.p_, "q": self.q_, "v": self.v_}

    def _p(self) -> tuple[float, float, float]:
        try:
            return self.p_, self.q_, self.v_
        except AttributeError:
            raise RuntimeError("GammaGammaModel is not fitted; call fit() or from_params() first") from None

    @property
    def population_mean_spend(self) -> float:
        """v p / (q - 1): the expected spend per transaction of a customer we know nothing about."""
        p, q, v = self._p()
        return v * p / (q - 1.0)

    def conditional_expected_average_profit(self, frequency: Any, monetary_value: Any) -> FloatArray:
        """E[M | x, m_x] (note 025 eq. 5); the population mean where x = 0 or m_x is missing."""
        x = as_float_array(frequency, "frequency")
        m = as_float_array(monetary_value, "monetary_value")
        return gamma_gamma_expected_spend(*self._p(), x, m)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "model": "gamma_gamma",
            "reference": "Fader, Hardie & Lee (2005b), JMR 42(4); Fader & Hardie (2013) note 025",
            "params": self.params_,
            "penalizer_coef": self.penalizer_coef,
        }
        for name in (
            "log_likelihood_",
            "n_customers_",
            "n_fitted_",
            "n_excluded_one_time_",
            "n_excluded_zero_spend_",
            "frequency_spend_correlation_",
        ):
            if hasattr(self, name):
                value = getattr(self, name)
                data[name.rstrip("_")] = None if isinstance(value, float) and not np.isfinite(value) else value
        if hasattr(self, "log_params_covariance_"):
            data["log_params_covariance"] = self.log_params_covariance_.tolist()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GammaGammaModel:
        try:
            params = data["params"]
            model = cls.from_params(
                params["p"], params["q"], params["v"], penalizer_coef=float(data.get("penalizer_coef", 0.0))
            )
        except (KeyError, TypeError, ValueError) as err:
            raise UserInputError(f"gamma_gamma.json is not a Gamma-Gamma parameter file: {err}") from None
        if model.q_ <= 1.0:
            raise UserInputError(f"gamma_gamma.json: q = {model.q_} <= 1 has no finite mean spend")
        if data.get("frequency_spend_correlation") is not None:
            model.frequency_spend_correlation_ = float(data["frequency_spend_correlation"])
        if "log_params_covariance" in data:
            model.log_params_covariance_ = np.asarray(data["log_params_covariance"], dtype="float64")
        return model
