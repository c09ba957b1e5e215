"""The sampling distribution of fitted BG/NBD + Gamma-Gamma parameters, as draws kept with the model.

The draws come from the asymptotic normal distribution of the estimate in log-parameter space:
theta_hat ~ N(theta, (-H)^-1) with H the Hessian, at the optimum, of the objective that was maximised (log scale
keeps every draw positive). With an L2 penalizer that objective is the penalised log-likelihood (the covariance is
then the Laplace approximation around the penalised estimate, whose curvature includes the penalty's); without one
it is the log-likelihood and this is the usual observed-information covariance. The two models are fitted on
separate likelihoods, so their blocks are independent.
Draws are stored in ``parameter_draws.json`` so an interval can be recomputed exactly later; fast prediction
uses their covariance (see ``models.customer_value``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from features.errors import UserInputError

FloatArray = npt.NDArray[np.float64]


def numerical_hessian(f: Callable[[FloatArray], float], theta: FloatArray, step: float = 1e-4) -> FloatArray:
    """Central-difference Hessian of a scalar function (4 evaluations per off-diagonal, 3 per diagonal entry)."""
    k = len(theta)
    hess = np.empty((k, k))
    f0 = f(theta)
    eye = np.eye(k) * step
    for i in range(k):
        hess[i, i] = (f(theta + eye[i]) - 2.0 * f0 + f(theta - eye[i])) / step**2
        for j in range(i + 1, k):
            value = (
                f(theta + eye[i] + eye[j])
                - f(theta + eye[i] - eye[j])
                - f(theta - eye[i] + eye[j])
                + f(theta - eye[i] - eye[j])
            ) / (4.0 * step**2)
            hess[i, j] = hess[j, i] = value
    return hess


def log_parameter_covariance(
    objective: Callable[[FloatArray], float],
    log_params: FloatArray,
    names: Sequence[str],
    model: str,
    penalizer_coef: float = 0.0,
) -> FloatArray:
    """Covariance of the log-parameters: the inverse of minus the Hessian of ``objective`` (the total log-likelihood
    minus the L2 penalty when ``penalizer_coef`` > 0) at its maximum; a flat objective is a user error."""
    info = -numerical_hessian(objective, log_params)
    try:
        np.linalg.cholesky(info)
        cov = np.asarray(np.linalg.inv(info), dtype="float64")
    except np.linalg.LinAlgError:
        if penalizer_coef > 0:
            advice = (
                f"even with the L2 penalty CHURNLTV_LTV_PENALIZER_COEF={penalizer_coef:g}; add more customers or "
                "history, or raise the penalizer"
            )
        else:
            advice = (
                "add more customers or history, or set CHURNLTV_LTV_PENALIZER_COEF (e.g. 0.001), whose L2 penalty "
                "adds curvature in every direction"
            )
        raise UserInputError(
            f"{model}: the {'penalised ' if penalizer_coef > 0 else ''}likelihood is flat in some direction at the "
            f"fitted parameters ({', '.join(names)}), so they are not identified by this data; {advice}"
        ) from None
    result: FloatArray = 0.5 * (cov + cov.T)
    return result


@dataclass(frozen=True)
class ParameterDraws:
    """Draws of (r, alpha, a, b, p, q, v) on the natural scale; ``estimate`` is the point fit."""

    names: tuple[str, ...]
    estimate: FloatArray
    draws: FloatArray  # shape (n_draws, len(names))
    method: str
    seed: int

    @classmethod
    def from_log_normal(
        cls, names: Sequence[str], estimate: FloatArray, log_covariance: FloatArray, n_draws: int, seed: int
    ) -> ParameterDraws:
        """Draw log-parameters from N(log estimate, covariance) and return them on the natural scale."""
        rng = np.random.default_rng(seed)
        logs = rng.multivariate_normal(np.log(estimate), log_covariance, size=n_draws, method="cholesky")
        return cls(tuple(names), np.asarray(estimate, dtype="float64"), np.exp(logs), "hessian_lognormal", seed)

    def column(self, name: str) -> FloatArray:
        return np.asarray(self.draws[:, self.names.index(name)], dtype="float64")

    def log_covariance(self) -> FloatArray:
        """Covariance of the log-parameters across the draws (what the fast delta-method interval uses)."""
        return np.asarray(np.cov(np.log(self.draws), rowvar=False), dtype="float64")

    def to_dict(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "estimate": [float(v) for v in self.estimate],
            "draws": [[float(v) for v in row] for row in self.draws],
            "method": self.method,
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ParameterDraws:
        draws = np.asarray(data["draws"], dtype="float64")
        names = tuple(str(n) for n in data["names"])
        if draws.ndim != 2 or draws.shape[1] != len(names) or not np.all(np.isfinite(draws)) or np.any(draws <= 0):
            raise UserInputError("parameter_draws.json: draws must be a positive finite matrix, one column per name")
        return cls(names, np.asarray(data["estimate"], dtype="float64"), draws, str(data["method"]), int(data["seed"]))
