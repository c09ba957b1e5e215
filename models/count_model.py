"""The common shape of every BTYD purchase-count model (BG/NBD, MBG/NBD, Pareto/NBD, MBG/CNBD-k, BG/BB, NBD).

A count model turns a customer's summary (x repeat purchases, recency t_x, age T, in one explicit ``TimeUnit``)
into P(alive), E[Y(t) | x, t_x, T] and the distribution of Y(t), the number of purchases in the next t periods.
Every model here is closed-form numpy/scipy on its fitted parameters, vectorised over customers; lifetimes fits
three of them and is the test oracle (its per-customer functions are far too slow to serve).

The base class holds what is the same for all: parameters stored as ``<name>_`` attributes in the papers' names,
the time unit, the L2 penalizer (lifetimes' option), the covariance of the log-parameters from the Hessian of the
optimised objective (``models.parameter_draws``), plain-JSON persistence, and ``with_values`` (the same model at
other parameters: a parameter draw, or a shifted set for a numerical gradient).
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from features.errors import UserInputError
from features.time_units import TimeUnit
from models.btyd_inputs import FloatArray, check_summary
from models.parameter_draws import log_parameter_covariance


class CountModel:
    """Base of the BTYD purchase-count models; subclasses define the likelihood and the predictions."""

    NAME: ClassVar[str]
    LABEL: ClassVar[str]
    REFERENCE: ClassVar[str]
    PARAM_NAMES: ClassVar[tuple[str, ...]]
    has_dropout: ClassVar[bool] = True

    def __init__(self, penalizer_coef: float = 0.0, time_unit: TimeUnit = TimeUnit.WEEK) -> None:
        self.penalizer_coef = penalizer_coef
        self.time_unit = time_unit

    # -- parameters -----------------------------------------------------------------------------
    @classmethod
    def from_params(cls, *values: float, time_unit: TimeUnit, penalizer_coef: float = 0.0, **named: float) -> Self:
        """A model with known parameters, positional in ``PARAM_NAMES`` order or by name."""
        model = cls(penalizer_coef=penalizer_coef, time_unit=time_unit)
        if values and named:
            raise TypeError("give parameters by position or by name, not both")
        vector = values if values else tuple(named[name] for name in cls.PARAM_NAMES)
        model._set_values(np.asarray(vector, dtype="float64"))
        return model

    def _set_values(self, values: FloatArray) -> None:
        if len(values) != len(self.PARAM_NAMES):
            raise UserInputError(f"{self.LABEL} takes {len(self.PARAM_NAMES)} parameters, got {len(values)}")
        for name, value in zip(self.PARAM_NAMES, values, strict=True):
            setattr(self, f"{name}_", float(value))

    def with_values(self, values: FloatArray) -> Self:
        """This model at other parameter values (same unit, penalizer and fixed settings)."""
        other = copy.copy(self)
        for attr in ("log_likelihood_", "log_params_covariance_"):
            other.__dict__.pop(attr, None)
        other._set_values(np.asarray(values, dtype="float64"))
        return other

    @property
    def params_(self) -> dict[str, float]:
        return dict(zip(self.PARAM_NAMES, self._p(), strict=True))

    def values(self) -> FloatArray:
        return np.asarray(self._p(), dtype="float64")

    def _p(self) -> tuple[float, ...]:
        try:
            return tuple(getattr(self, f"{name}_") for name in self.PARAM_NAMES)
        except AttributeError:
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit() or from_params() first") from None

    @property
    def paper_params(self) -> dict[str, float]:
        """The parameters as the paper names them (fixed settings such as CNBD-k's k included)."""
        return self.params_

    # -- likelihood -------------------------------------------------------------------------------
    def _log_likelihood(self, values: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
        raise NotImplementedError

    def penalty(self, values: FloatArray, n_customers: int, max_T: float) -> float:
        """What the total log-likelihood loses to lifetimes' L2 term at ``values`` (0 without a penalizer)."""
        return 0.0

    def log_likelihood(self, frequency: Any, recency: Any, T: Any) -> FloatArray:
        """Per-customer log-likelihood at the fitted parameters."""
        x, t_x, t = check_summary(frequency, recency, T)
        return self._log_likelihood(self.values(), x, t_x, t)

    def _finish_fit(self, x: FloatArray, t_x: FloatArray, T: FloatArray, *, compute_covariance: bool) -> None:
        """Validate the estimate, store the diagnostics and (optionally) the covariance of the log-parameters."""
        values = self.values()
        if not np.all(np.isfinite(values)) or np.any(values <= 0):
            shown_params = ", ".join(f"{n} = {float(v):.6g}" for n, v in zip(self.PARAM_NAMES, values, strict=True))
            raise UserInputError(f"{self.LABEL} converged to invalid parameters ({shown_params})")
        self.n_customers_ = len(x)
        self.n_repeat_customers_ = int(np.sum(x > 0))
        self.log_likelihood_ = float(self._log_likelihood(values, x, t_x, T).sum())
        if compute_covariance:
            n, max_T = len(x), float(np.max(T))

            def objective(log_params: FloatArray) -> float:
                params = np.exp(log_params)
                total = float(self._log_likelihood(params, x, t_x, T).sum())
                return total - self.penalty(params, n, max_T) if self.penalizer_coef > 0 else total

            self.log_params_covariance_ = log_parameter_covariance(
                objective, np.log(values), self.PARAM_NAMES, self.LABEL, self.penalizer_coef
            )

    # -- predictions every model provides ----------------------------------------------------------
    def p_alive(self, frequency: Any, recency: Any, T: Any) -> FloatArray:
        raise NotImplementedError

    def conditional_expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> FloatArray:
        """E[Y(t) | x, t_x, T] for one horizon t (a scalar) per customer."""
        raise NotImplementedError

    def expected_purchases_at(self, steps: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
        """E[Y(t) | x, t_x, T] at each horizon of ``steps``: shape (len(steps), customers)."""
        factors = self.purchase_factors(np.asarray(steps, dtype="float64"), x, t_x, T)
        if factors is not None:
            scales, growths, inverse = factors
            result: FloatArray = sum(
                scale[None, :] * growth[:, inverse] for scale, growth in zip(scales, growths, strict=True)
            )
            return result
        return np.vstack([self.conditional_expected_purchases(float(s), x, t_x, T) for s in steps])

    def purchase_factors(
        self, steps: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray
    ) -> tuple[FloatArray, FloatArray, npt.NDArray[np.intp]] | None:
        """E[Y(t) | x, t_x, T] = sum_j scale_j(x, t_x, T) growth_j(x, T, t), where a model factors that way: BG/NBD,
        MBG/NBD and Pareto/NBD with one term (P(alive), or its BG/NBD analogue, times the alive customer's
        growth), MBG/CNBD-k with k (P(alive) w_j times the growth from phase j of the Erlang-k clock).
        Returns (scales (J, customers), growths (J, steps, distinct (x, T) pairs), each customer's pair index);
        None for a model that does not factor.

        Sums over many horizons (the CLV's month steps, and the gradient's shifted parameters) then cost one row
        of growth per pair instead of per customer (``customer_value.count_model_value``).
        """
        return None

    def p_no_purchase(self, t: Any, frequency: Any, recency: Any, T: Any) -> FloatArray:
        """P(no purchase in the next t periods | x, t_x, T)."""
        raise NotImplementedError

    def next_purchase_median(self, frequency: Any, recency: Any, T: Any) -> FloatArray:
        """Median time (model periods from T) to the next purchase given the customer is alive and stays so."""
        raise NotImplementedError

    def alive_moments(self, t: float, x: FloatArray, t_x: FloatArray, T: FloatArray) -> Any:
        """Given alive, per customer: P(Y(t) >= 1), E[Y(t)], E[Y(Y-1)] (``purchase_count_distribution.CountMoments``);
        the (x, T)-pair models compute it once per distinct pair."""
        from models.btyd_inputs import unique_pairs
        from models.purchase_count_distribution import CountMoments

        ux, uT, inverse = unique_pairs(x, T)
        pair = self.alive_count_moments(t, ux, uT)
        return CountMoments(pair.p_any[inverse], pair.mean[inverse], pair.factorial2[inverse])

    def alive_count_moments(self, t: float, ux: FloatArray, uT: FloatArray) -> Any:
        raise NotImplementedError

    # -- persistence -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "model": self.NAME,
            "reference": self.REFERENCE,
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
    def from_dict(cls, data: dict[str, Any]) -> Self:
        try:
            params = data["params"]
            model = cls.from_params(
                *(float(params[name]) for name in cls.PARAM_NAMES),
                time_unit=TimeUnit(data["time_unit"]),
                penalizer_coef=float(data.get("penalizer_coef", 0.0)),
            )
            model._load_extra(data)
        except (KeyError, TypeError, ValueError) as err:
            raise UserInputError(f"{cls.NAME}.json is not a {cls.LABEL} parameter file: {err}") from None
        if "log_likelihood" in data:
            model.log_likelihood_ = float(data["log_likelihood"])
        if "log_params_covariance" in data:
            model.log_params_covariance_ = np.asarray(data["log_params_covariance"], dtype="float64")
        return model

    def _load_extra(self, data: dict[str, Any]) -> None:
        """Fixed settings beyond the parameters (CNBD-k's k, BG/BB's opportunity length)."""


def log_hyp2f1(a: Any, b: Any, c: Any, z: Any) -> FloatArray:
    """ln 2F1(a, b; c; z) for 0 <= z < 1, with Euler's transformation where 2F1 itself overflows (as lifetimes)."""
    from scipy.special import hyp2f1

    a, b, c, z = np.broadcast_arrays(*(np.asarray(v, dtype="float64") for v in (a, b, c, z)))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        direct = np.log(hyp2f1(a, b, c, z))
        bad = ~np.isfinite(direct)
        if np.any(bad):
            ab, bb, cb, zb = a[bad], b[bad], c[bad], z[bad]
            direct[bad] = np.log(hyp2f1(cb - ab, cb - bb, cb, zb)) + (cb - ab - bb) * np.log1p(-zb)
    result: FloatArray = np.array(direct, dtype="float64")
    return result
