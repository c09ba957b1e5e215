"""The family of BTYD count models: names, loading by name, and fitting one with graceful degradation.

Models (``MODELS``): ``bgnbd`` (BG/NBD), ``pareto_nbd`` (Pareto/NBD), ``mbg_nbd`` (MBG/NBD), ``mbg_cnbd_k``
(MBG/CNBD-k, the purchase-regularity model), ``bgbb`` (BG/BB, discrete opportunities) and ``nbd`` (no dropout: the
boundary limit of all the others). ``fit_count_model`` fits one and degrades instead of refusing where the data
still identifies something:

* a dropout model whose maximum lies on the boundary (BG/NBD, MBG/NBD, CNBD-k: a -> 0 or b -> infinity, i.e. mean
  dropout probability a/(a+b) < 1e-4; Pareto/NBD: s -> 0 or beta -> infinity, i.e. mean dropout rate s/beta below
  1e-4 per oldest customer's age), that does not converge, or whose likelihood is flat at its estimate, is replaced by
  the NBD limit with its identified parameters (r, alpha) and a warning naming the reason;
* a refusal (``UserInputError``) remains for data that identifies nothing: no repeat purchase at all, every customer
  of age 0, or an NBD that does not converge either; the message says what is missing.

BG/BB applies to discrete-time data only: purchases on a regular opportunity grid (``detect_opportunity_grid``:
at least 3 distinct purchase days, every gap between consecutive ones within 10% of their median, the median at
least 7 days), or a configured opportunity length (``CHURNLTV_LTV_OPPORTUNITY_DAYS``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from features.errors import UserInputError
from features.time_units import TimeUnit
from models.bgbb import BetaGeoBetaBinomModel
from models.bgnbd import BetaGeoModel
from models.btyd_inputs import FloatArray, check_summary
from models.count_model import CountModel
from models.mbg_cnbd import MbgCnbdModel
from models.mbg_nbd import ModifiedBetaGeoModel
from models.nbd import NbdModel
from models.pareto_nbd import ParetoNbdModel

MODELS: dict[str, type[CountModel]] = {
    "bgnbd": BetaGeoModel,
    "pareto_nbd": ParetoNbdModel,
    "mbg_nbd": ModifiedBetaGeoModel,
    "mbg_cnbd_k": MbgCnbdModel,
    "bgbb": BetaGeoBetaBinomModel,
    "nbd": NbdModel,
}
CANDIDATES = ("bgnbd", "pareto_nbd", "mbg_nbd", "mbg_cnbd_k", "bgbb")
MODEL_CHOICES = (*CANDIDATES, "auto")
_BOUNDARY_DROPOUT = 1e-4
_GRID_TOLERANCE = 0.10
_GRID_MIN_DAYS = 7.0


@dataclass
class FittedCountModel:
    """What ``fit_count_model`` returns: the model fitted (the NBD when degraded) and why, in sentences."""

    requested: str
    model: CountModel
    warnings: list[str] = field(default_factory=list)

    @property
    def degraded(self) -> bool:
        return self.requested != self.model.NAME


def count_model_from_dict(data: dict[str, Any]) -> CountModel:
    """Load a count model's JSON (``to_dict``) by its ``model`` key."""
    name = data.get("model")
    if name not in MODELS:
        raise UserInputError(f"unknown count model {name!r} in the bundle; known: {', '.join(MODELS)}")
    return MODELS[str(name)].from_dict(data)


def _boundary_reason(model: CountModel, max_T: float) -> str | None:
    """Why ``model``'s estimate lies on the boundary where dropout vanishes, or None."""
    params = model.params_
    if isinstance(model, BetaGeoModel | ModifiedBetaGeoModel | MbgCnbdModel):
        a, b = params["a"], params["b"]
        if a / (a + b) < _BOUNDARY_DROPOUT:
            return f"its maximum lies on the boundary a -> 0 or b -> infinity (a = {a:.3g}, b = {b:.3g})"
    if isinstance(model, ParetoNbdModel):
        s, beta = params["s"], params["beta"]
        if s / beta * max_T < _BOUNDARY_DROPOUT:
            return f"its maximum lies on the boundary s -> 0 or beta -> infinity (s = {s:.3g}, beta = {beta:.3g})"
    return None


def fit_count_model(  # noqa: PLR0912 - the summary plus its extras; one branch per fallback
    name: str,
    frequency: Any,
    recency: Any,
    T: Any,
    *,
    time_unit: TimeUnit,
    penalizer_coef: float = 0.0,
    litt: Any = None,
    opportunity_days: float | None = None,
    compute_covariance: bool = True,
) -> FittedCountModel:
    """Fit model ``name`` on (x, t_x, T); on a boundary, a failed convergence or a flat likelihood, the NBD limit."""
    if name not in MODELS:
        raise UserInputError(f"unknown model {name!r}; choose one of {', '.join(MODEL_CHOICES)}")
    x, t_x, t = check_summary(frequency, recency, T)
    if len(x) < 2:
        raise UserInputError(f"{MODELS[name].LABEL} needs customers to fit, got {len(x)}")
    if not np.any(x > 0):
        raise UserInputError(
            f"{MODELS[name].LABEL}: no customer made a repeat purchase (frequency is 0 for all), so neither the "
            "purchase rate nor dropout is identified; cannot fit"
        )
    if not np.max(t) > 0:
        raise UserInputError(f"{MODELS[name].LABEL}: every customer has T = 0 (all first purchases on the cutoff day)")
    model: CountModel
    if name == "bgbb":
        if opportunity_days is None:
            raise UserInputError("BG/BB needs an opportunity grid: set CHURNLTV_LTV_OPPORTUNITY_DAYS")
        model = BetaGeoBetaBinomModel(penalizer_coef, time_unit, opportunity_days)
        return FittedCountModel(name, model.fit(x, t_x, t, compute_covariance=compute_covariance))
    if name == "nbd":
        return FittedCountModel(name, NbdModel(penalizer_coef, time_unit).fit(x, t_x, t))
    label = MODELS[name].LABEL
    reason: str | None
    try:
        if name == "mbg_cnbd_k":
            if litt is None:
                raise UserInputError("MBG/CNBD-k needs litt (the sum of ln inter-purchase times per customer)")
            model = MbgCnbdModel(penalizer_coef, time_unit).fit(x, t_x, t, litt, compute_covariance=False)
        else:
            model = MODELS[name](penalizer_coef, time_unit)
            model.fit(x, t_x, t, compute_covariance=False)  # type: ignore[attr-defined]
        reason = _boundary_reason(model, float(np.max(t)))
        if reason is None and compute_covariance:
            if isinstance(model, MbgCnbdModel):
                model.litt_ = np.asarray(litt, dtype="float64")
            try:
                model._finish_fit(x, t_x, t, compute_covariance=True)
            finally:
                model.__dict__.pop("litt_", None)
    except UserInputError as err:
        if "litt" in str(err):
            raise
        reason = f"it could not be fitted ({err})"
    if reason is None:
        return FittedCountModel(name, model)
    try:
        nbd = NbdModel(penalizer_coef, time_unit).fit(x, t_x, t, compute_covariance=compute_covariance)
    except UserInputError as err:
        raise UserInputError(
            f"{label}: {reason}, and its no-dropout limit, the NBD, does not fit either ({err}); the data identifies "
            "neither a purchase rate nor dropout: it needs more repeat purchases or a longer history"
        ) from None
    warning = (
        f"{label}: {reason}, so only the purchase rate is identified; using its limit, the NBD (no dropout), with "
        f"r = {nbd.r_:.4g}, alpha = {nbd.alpha_:.4g}"  # type: ignore[attr-defined]
    )
    return FittedCountModel(name, nbd, [warning])


def detect_opportunity_grid(days: Any) -> float | None:
    """The spacing (days) of a regular grid that every purchase day lies on, or None (see the module docstring)."""
    distinct = np.unique(np.asarray(days, dtype="datetime64[D]").astype("int64"))
    if len(distinct) < 3:
        return None
    gaps = np.diff(distinct).astype("float64")
    median = float(np.median(gaps))
    if median < _GRID_MIN_DAYS or np.any(np.abs(gaps - median) > _GRID_TOLERANCE * median):
        return None
    return median


def applicable_candidates(opportunity_days: float | None) -> tuple[str, ...]:
    """Every continuous-time candidate, plus BG/BB where there is an opportunity grid."""
    return tuple(n for n in CANDIDATES if n != "bgbb" or opportunity_days is not None)


def shifted_values(values: FloatArray, step: float) -> list[FloatArray]:
    """Each log-parameter shifted by +-step in turn (2k vectors): a central-difference gradient's sets."""
    out = []
    for j in range(len(values)):
        for sign in (1.0, -1.0):
            logs = np.log(values).copy()
            logs[j] += sign * step
            out.append(np.exp(logs))
    return out
