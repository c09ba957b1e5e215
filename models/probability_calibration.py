"""Map raw classifier scores to probabilities that match observed churn rates.

Gradient-boosted trees rank well but their raw probabilities drift (early stopping, class imbalance, a later
time window). The calibrator is fitted on the *validation window's* predictions only (never on training rows,
whose scores are optimistically separated), following Zadrozny & Elkan (2002) for isotonic regression and
Platt (1999) for the sigmoid fit.

Parameters are stored as JSON (isotonic thresholds or the two Platt coefficients), never pickled.

Isotonic regression is piecewise constant, so it would tie every customer inside a flat step and throw away
ranking that the model had. Predictions are ``(1 - TIE_BREAK) * isotonic(s) + TIE_BREAK * s`` with
``TIE_BREAK = 1e-6``: a strictly increasing map that stays in [0, 1] and moves no probability by more than 1e-6,
so the ROC-AUC of calibrated and raw scores is identical.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from features.errors import UserInputError

TIE_BREAK = 1e-6
_EPS = 1e-6


def _logit(p: NDArray[np.float64]) -> NDArray[np.float64]:
    q = np.clip(p, _EPS, 1.0 - _EPS)
    return np.asarray(np.log(q / (1.0 - q)), dtype=np.float64)


class ProbabilityCalibration(BaseEstimator):  # type: ignore[misc]  # sklearn ships no type stubs
    """Isotonic (default) or Platt calibration of churn probabilities; a scikit-learn estimator (``fit`` returns
    self, fitted attributes end in ``_``, ``clone`` works, ``predict`` before ``fit`` raises ``NotFittedError``)."""

    def __init__(self, method: Literal["isotonic", "platt"] = "isotonic") -> None:
        self.method = method

    def fit(self, scores: ArrayLike, y: ArrayLike) -> ProbabilityCalibration:
        """Fit on validation-window raw probabilities ``scores`` and outcomes ``y`` (0/1)."""
        s = np.asarray(scores, dtype=np.float64).ravel()
        t = np.asarray(y, dtype=np.float64).ravel()
        if s.shape != t.shape:
            raise UserInputError(f"calibration needs one outcome per score: {s.size} scores, {t.size} outcomes")
        if s.size == 0:
            raise UserInputError("calibration needs at least one validation row; the validation window is empty")
        if not np.isfinite(s).all():
            raise UserInputError("calibration scores contain NaN or infinite values")
        if not np.isin(t, (0.0, 1.0)).all():
            raise UserInputError("calibration outcomes must be 0 or 1")
        if self.method == "isotonic":
            from sklearn.isotonic import IsotonicRegression

            iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(s, t)
            self.x_thresholds_ = np.asarray(iso.X_thresholds_, dtype=np.float64)
            self.y_thresholds_ = np.asarray(iso.y_thresholds_, dtype=np.float64)
        elif self.method == "platt":
            from sklearn.linear_model import LogisticRegression

            if np.unique(t).size < 2:
                raise UserInputError("Platt calibration needs both churned and retained rows in the validation window")
            lr = LogisticRegression(C=1e6, max_iter=1000).fit(_logit(s).reshape(-1, 1), t)
            self.a_ = float(lr.coef_[0, 0])
            self.b_ = float(lr.intercept_[0])
        else:
            raise UserInputError(f"unknown calibration method {self.method!r}; use 'isotonic' or 'platt'")
        self.n_samples_ = int(s.size)
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "n_samples_")

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise NotFittedError("this ProbabilityCalibration is not fitted yet; call fit(scores, y) first")

    def predict(self, scores: ArrayLike) -> NDArray[np.float64]:
        """Calibrated probabilities for raw ``scores`` (same shape, values in [0, 1])."""
        self._check_fitted()
        s = np.asarray(scores, dtype=np.float64)
        if self.method == "isotonic":
            iso = np.interp(s, self.x_thresholds_, self.y_thresholds_)
            out = (1.0 - TIE_BREAK) * iso + TIE_BREAK * s
        else:
            out = 1.0 / (1.0 + np.exp(-(self.a_ * _logit(s) + self.b_)))
        return np.asarray(np.clip(out, 0.0, 1.0), dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        self._check_fitted()
        data: dict[str, Any] = {"method": self.method, "n_samples": self.n_samples_}
        if self.method == "isotonic":
            data["x_thresholds"] = self.x_thresholds_.tolist()
            data["y_thresholds"] = self.y_thresholds_.tolist()
            data["tie_break"] = TIE_BREAK
        else:
            data["a"] = self.a_
            data["b"] = self.b_
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProbabilityCalibration:
        method = data.get("method")
        if method not in ("isotonic", "platt"):
            raise UserInputError(f"calibrator.json: unknown method {method!r}")
        cal = cls(method=method)
        try:
            if method == "isotonic":
                cal.x_thresholds_ = np.asarray(data["x_thresholds"], dtype=np.float64)
                cal.y_thresholds_ = np.asarray(data["y_thresholds"], dtype=np.float64)
                if cal.x_thresholds_.shape != cal.y_thresholds_.shape or cal.x_thresholds_.size == 0:
                    raise UserInputError("calibrator.json: x_thresholds and y_thresholds must be equal, non-empty")
            else:
                cal.a_ = float(data["a"])
                cal.b_ = float(data["b"])
            cal.n_samples_ = int(data.get("n_samples", 0))
        except KeyError as err:
            raise UserInputError(f"calibrator.json: missing key {err.args[0]!r}") from None
        return cal

    @classmethod
    def from_json(cls, text: str) -> ProbabilityCalibration:
        return cls.from_dict(json.loads(text))
