"""BG/NBD: Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An Alternative to the Pareto/NBD
Model", Marketing Science 24(2), 275-284.

While alive a customer buys as a Poisson process with rate lambda ~ Gamma(r, alpha); after each purchase they
drop out with probability p ~ Beta(a, b). A customer is summarised by x (repeat purchases), t_x (time of the
last purchase) and T (time since the first purchase), all in one explicit ``TimeUnit``.

Fitting uses ``lifetimes.BetaGeoFitter`` (maximum likelihood with an optional L2 penalizer). lifetimes minimises
-LL/n + c (r^2 + (alpha/max T)^2 + a^2 + b^2) (alpha on its time scale where the oldest customer has T = 1), so the
covariance of the estimate is taken from the Hessian of that same penalised objective, LL - n c (...), not of LL
alone (``bgnbd_penalty``). Every prediction
is closed-form numpy/scipy on the fitted parameters (no lifetimes at prediction time), vectorised over
customers:

* P(alive | x, t_x, T) = 1 / (1 + [x > 0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x))     (FHL 2005 eq. 11 note;
  Hardie's note 021)
* E[X(t)] = (a+b-1)/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b; a+b-1; t/(alpha+t))]       (eq. 7)
* E[Y(t) | x, t_x, T] = C(x, t_x, T) G(x, T, t), with C = ((a+b+x-1)/(a-1)) / (1 + [x>0] a/(b+x-1)
  ((alpha+T)/(alpha+t_x))^(r+x)) and G = 1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))
                                                                                           (eq. 10)
* P(no purchase in (T, T+t] | x, t_x, T) = 1 - P(alive) (1 - ((alpha+T)/(alpha+T+t))^(r+x)): a customer alive
  at T cannot drop out before their next purchase, and lambda | alive, data ~ Gamma(r+x, alpha+T).
* log-likelihood (eq. 6) without the x! term, as the paper quotes it (CDNOW: -9582.4).
"""

from __future__ import annotations

import contextlib
import io
from typing import Any, Self

import numpy as np
import numpy.typing as npt
from scipy.special import betaln, expit, gammaln, hyp2f1

from features.errors import UserInputError
from features.time_units import TimeUnit
from models.btyd_inputs import FloatArray, as_float_array, check_summary, unique_pairs
from models.count_model import CountModel
from models.parameter_draws import log_parameter_covariance
from models.purchase_count_distribution import CountMoments, bg_family_survival, survival_moments

PARAM_NAMES = ("r", "alpha", "a", "b")


def bgnbd_log_likelihood(  # noqa: PLR0917 - the papers' parameter list
    r: float, alpha: float, a: float, b: float, x: FloatArray, t_x: FloatArray, T: FloatArray
) -> FloatArray:
    """Per-customer log-likelihood (FHL 2005 eq. 6, without ln x!), computed in log space for stability."""
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x) - betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    a4 = np.log(a) - np.log(b + np.maximum(x, 1.0) - 1.0) - (r + x) * np.log(alpha + t_x)
    a4 = np.where(x > 0, a4, -np.inf)
    result: FloatArray = a1 + a2 + np.logaddexp(a3, a4)
    return result


def bgnbd_log_hyp_term(  # noqa: PLR0917 - the papers' parameter list
    r: float, alpha: float, a: float, b: float, x: FloatArray, T: FloatArray, t: Any
) -> FloatArray:
    """ln 2F1(r+x, b+x; a+b+x-1; z), z = t/(alpha+T+t), with Euler's transformation where 2F1 overflows."""
    _a, _b, _c = r + x, b + x, a + b + x - 1.0
    z = t / (alpha + T + t)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        direct = np.log(hyp2f1(_a, _b, _c, z))
        bad = ~np.isfinite(direct)
        if np.any(bad):
            zb = np.broadcast_to(z, direct.shape)[bad]
            ab, bb, cb = (np.broadcast_to(v, direct.shape)[bad] for v in (_a, _b, _c))
            direct[bad] = np.log(hyp2f1(cb - ab, cb - bb, cb, zb)) + (cb - ab - bb) * np.log1p(-zb)
    result: FloatArray = direct
    return result


def bgnbd_growth(  # noqa: PLR0917 - the papers' parameter list
    r: float, alpha: float, a: float, b: float, x: FloatArray, T: FloatArray, t: Any
) -> FloatArray:
    """G(x, T, t) of eq. 10: depends on the customer only through (x, T), so it can be computed once per pair."""
    ln_hyp = bgnbd_log_hyp_term(r, alpha, a, b, x, T, t)
    result: FloatArray = 1.0 - np.exp(ln_hyp + (r + x) * np.log((alpha + T) / (alpha + T + t)))
    return result


def bgnbd_scale(  # noqa: PLR0917 - the papers' parameter list
    r: float, alpha: float, a: float, b: float, x: FloatArray, t_x: FloatArray, T: FloatArray
) -> FloatArray:
    """C(x, t_x, T) of eq. 10: ((a+b+x-1)/(a-1)) / (1 + [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x))."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        odds = (a / (b + np.maximum(x, 1.0) - 1.0)) * ((alpha + T) / (alpha + t_x)) ** (r + x)
    denominator = 1.0 + np.where(x > 0, odds, 0.0)
    result: FloatArray = ((a + b + x - 1.0) / (a - 1.0)) / denominator
    return result


def bgnbd_no_purchase(  # noqa: PLR0917 - the papers' parameter list
    r: float, alpha: float, x: Any, T: Any, t: Any, p_alive: Any
) -> Any:
    """P(no purchase in (T, T+t] | x, t_x, T) = 1 - P(alive) (1 - ((alpha+T)/(alpha+T+t))^(r+x)).

    Plain arithmetic, so it serves float arrays and single floats alike (``LtvPredictor.predict_one``).
    """
    return 1.0 - p_alive * (1.0 - ((alpha + T) / (alpha + T + t)) ** (r + x))


def bgnbd_penalty(params: FloatArray, n_customers: int, max_T: float, penalizer_coef: float) -> float:
    """n c (r^2 + (alpha / max T)^2 + a^2 + b^2): lifetimes' L2 term on its rescaled alpha, times n (its objective
    is the mean log-likelihood), i.e. what the total log-likelihood loses to the penalty at these parameters."""
    r, alpha, a, b = params
    return float(n_customers * penalizer_coef * (r**2 + (alpha / max_T) ** 2 + a**2 + b**2))


class BetaGeoModel(CountModel):
    """BG/NBD fitted with lifetimes and predicted in closed form; parameters ``r_``, ``alpha_``, ``a_``, ``b_``.

    ``time_unit`` is the unit of recency, T and every ``t`` passed to the prediction methods.
    """

    NAME = "bgnbd"
    LABEL = "BG/NBD"
    REFERENCE = "Fader, Hardie & Lee (2005), Marketing Science 24(2)"
    PARAM_NAMES = PARAM_NAMES

    def __init__(self, penalizer_coef: float = 0.0, time_unit: TimeUnit = TimeUnit.WEEK) -> None:
        self.penalizer_coef = penalizer_coef
        self.time_unit = time_unit

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, frequency: Any, recency: Any, T: Any, *, compute_covariance: bool = True) -> Self:
        """Maximum-likelihood fit (lifetimes.BetaGeoFitter); a failed convergence raises ``UserInputError``.

        ``compute_covariance`` (default) also sets ``log_params_covariance_`` from the Hessian of the objective that
        was optimised (penalised when ``penalizer_coef`` > 0); without it the fit skips the 33 extra likelihood
        evaluations and cannot fail on a flat likelihood (a point estimate only, e.g. for a baseline).
        """
        from lifetimes import BetaGeoFitter
        from lifetimes.utils import ConvergenceError

        x, t_x, t = check_summary(frequency, recency, T)
        if len(x) < 2:
            raise UserInputError(f"BG/NBD needs customers to fit, got {len(x)}")
        if not np.any(x > 0):
            raise UserInputError("BG/NBD: no customer made a repeat purchase (frequency is 0 for all); cannot fit")
        if not np.max(t) > 0:
            raise UserInputError("BG/NBD: every customer has T = 0 (all first purchases on the cutoff day); cannot fit")
        fitter = BetaGeoFitter(penalizer_coef=self.penalizer_coef)
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # lifetimes prints the optimiser state on failure
                fitter.fit(x.astype(int), t_x, t)
        except ConvergenceError:
            penalised = self.penalizer_coef > 0
            hint = "raise CHURNLTV_LTV_PENALIZER_COEF" if penalised else "try CHURNLTV_LTV_PENALIZER_COEF=0.001"
            raise UserInputError(f"BG/NBD did not converge on {len(x)} customers; {hint} or more history") from None
        params = fitter.params_
        values = np.array([float(params[name]) for name in PARAM_NAMES])
        if not np.all(np.isfinite(values)) or np.any(values <= 0):
            shown_params = ", ".join(f"{n} = {float(v):.6g}" for n, v in zip(PARAM_NAMES, values, strict=True))
            raise UserInputError(f"BG/NBD converged to invalid parameters ({shown_params})")
        self.r_, self.alpha_, self.a_, self.b_ = (float(v) for v in values)
        self.n_customers_ = len(x)
        self.n_repeat_customers_ = int(np.sum(x > 0))
        self.log_likelihood_ = float(self.log_likelihood(x, t_x, t).sum())
        if compute_covariance:
            n, max_T, coef = len(x), float(np.max(t)), self.penalizer_coef

            def objective(log_params: FloatArray) -> float:
                params = np.exp(log_params)
                r, alpha, a, b = params
                total = float(bgnbd_log_likelihood(r, alpha, a, b, x, t_x, t).sum())
                return total - bgnbd_penalty(params, n, max_T, coef) if coef > 0 else total

            self.log_params_covariance_ = log_parameter_covariance(
                objective, np.log(values), PARAM_NAMES, "BG/NBD", coef
            )
        return self

    @classmethod
    def from_params(  # type: ignore[override]
        cls, r: float, alpha: float, a: float, b: float, *, time_unit: TimeUnit, penalizer_coef: float = 0.0
    ) -> BetaGeoModel:
        """A model with known parameters (from a bundle, a parameter draw or a paper)."""
        model = cls(penalizer_coef=penalizer_coef, time_unit=time_unit)
        model.r_, model.alpha_, model.a_, model.b_ = float(r), float(alpha), float(a), float(b)
        return model

    @property
    def params_(self) -> dict[str, float]:
        return {"r": self.r_, "alpha": self.alpha_, "a": self.a_, "b": self.b_}

    def _p(self) -> tuple[float, float, float, float]:
        try:
            return self.r_, self.alpha_, self.a_, self.b_
        except AttributeError:
            raise RuntimeError("BetaGeoModel is not fitted; call fit() or from_params() first") from None

    def _set_values(self, values: FloatArray) -> None:
        self.r_, self.alpha_, self.a_, self.b_ = (float(v) for v in values)

    def _log_likelihood(self, values: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
        r, alpha, a, b = values
        return bgnbd_log_likelihood(r, alpha, a, b, x, t_x, T)

    def penalty(self, values: FloatArray, n_customers: int, max_T: float) -> float:
        return bgnbd_penalty(values, n_customers, max_T, self.penalizer_coef)

    # -- predictions --------------------------------------------------------------------------
    def log_likelihood(self, frequency: Any, recency: Any, T: Any) -> FloatArray:
        """Per-customer log-likelihood at the fitted parameters (eq. 6, no x! term)."""
        x, t_x, t = check_summary(frequency, recency, T)
        return bgnbd_log_likelihood(*self._p(), x, t_x, t)

    def purchase_factors(
        self, steps: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray
    ) -> tuple[FloatArray, FloatArray, npt.NDArray[np.intp]]:
        """E[Y(t)] = C(x, t_x, T) G(x, T, t), G once per distinct (x, T) pair."""
        p = self._p()
        ux, uT, inverse = unique_pairs(x, T)
        G: FloatArray = bgnbd_growth(*p, ux[None, :], uT[None, :], np.asarray(steps, dtype="float64")[:, None])
        return bgnbd_scale(*p, x, t_x, T)[None, :], G[None], inverse

    def alive_count_moments(self, t: float, ux: FloatArray, uT: FloatArray) -> CountMoments:
        """Given alive: P(Y(t) >= 1), E[Y(t)], E[Y(Y-1)] per (x, T) pair (the conditional PMF's series)."""
        r, alpha, a, b = self._p()
        return survival_moments(bg_family_survival(r + ux, alpha + uT, a, b + ux, t), len(ux))

    def next_purchase_median(self, frequency: Any, recency: Any, T: Any) -> FloatArray:
        """(alpha+T) (2^(1/(r+x)) - 1): lambda | alive ~ Gamma(r+x, alpha+T), and BG/NBD drops out only at purchases."""
        x, _, t = check_summary(frequency, recency, T)
        r, alpha, _, _ = self._p()
        result: FloatArray = (alpha + t) * np.expm1(np.log(2.0) / (r + x))
        return result

    def expected_purchases_population(self, t: Any) -> FloatArray:
        """E[X(t)]: expected purchases of a random new customer in (0, t] (eq. 7)."""
        r, alpha, a, b = self._p()
        tt = as_float_array(t, "t")
        hyp = hyp2f1(r, b, a + b - 1.0, tt / (alpha + tt))
        result: FloatArray = (a + b - 1.0) / (a - 1.0) * (1.0 - hyp * (alpha / (alpha + tt)) ** r)
        return result

    def conditional_expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> FloatArray:
        """E[Y(t) | x, t_x, T]: expected purchases in the next t periods (eq. 10)."""
        x, t_x, tt = check_summary(frequency, recency, T)
        p = self._p()
        return bgnbd_scale(*p, x, t_x, tt) * bgnbd_growth(*p, x, tt, np.asarray(t, dtype="float64"))

    def p_alive(self, frequency: Any, recency: Any, T: Any) -> FloatArray:
        """P(alive | x, t_x, T); 1 for customers without a repeat purchase (they cannot have dropped out yet)."""
        x, t_x, t = check_summary(frequency, recency, T)
        r, alpha, a, b = self._p()
        log_div = (r + x) * np.log((alpha + t) / (alpha + t_x)) + np.log(a / (b + np.maximum(x, 1.0) - 1.0))
        result: FloatArray = np.where(x == 0, 1.0, expit(-log_div))
        return result

    def p_no_purchase(self, t: Any, frequency: Any, recency: Any, T: Any) -> FloatArray:
        """P(no purchase in the next t periods | x, t_x, T) = 1 - P(alive) (1 - ((alpha+T)/(alpha+T+t))^(r+x))."""
        x, _, tt = check_summary(frequency, recency, T)
        r, alpha, _, _ = self._p()
        result: FloatArray = bgnbd_no_purchase(r, alpha, x, tt, np.asarray(t), self.p_alive(frequency, recency, T))
        return result

    # -- persistence --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "model": "bgnbd",
            "reference": "Fader, Hardie & Lee (2005), Marketing Science 24(2)",
            "params": self.params_,
            "time_unit": self.time_unit.value,
            "penalizer_coef": self.penalizer_coef,
        }
        for name in ("log_likelihood_", "n_customers_", "n_repeat_customers_"):
            if hasattr(self, name):
                data[name.rstrip("_")] = getattr(self, name)
        if hasattr(self, "log_params_covariance_"):
            data["log_params_covariance"] = self.log_params_covariance_.tolist()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BetaGeoModel:
        try:
            params = data["params"]
            model = cls.from_params(
                params["r"],
                params["alpha"],
                params["a"],
                params["b"],
                time_unit=TimeUnit(data["time_unit"]),
                penalizer_coef=float(data.get("penalizer_coef", 0.0)),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise UserInputError(f"bgnbd.json is not a BG/NBD parameter file: {err}") from None
        if "log_likelihood" in data:
            model.log_likelihood_ = float(data["log_likelihood"])
        if "log_params_covariance" in data:
            model.log_params_covariance_ = np.asarray(data["log_params_covariance"], dtype="float64")
        return model
