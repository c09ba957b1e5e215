"""Where the health score's activity scale comes from: the training population's own activity.

The article fixes the weights of the health card (docs/DOMAIN.md section 4), not what "full activity" means; a
fixed number of active days cannot fit a daily tool and a monthly one alike. So by default
(``health_scale = "training_data"``) the churn job measures it on the customers it was trained on: full activity
= ``activity_full_days`` = the ``health_scale_quantile`` (0.9) quantile of ``active_days_30d`` over the latest
training cutoff's population (the customers active before it, the churn model's own population), at least 1 and
at most 30 days. The value is stored in the churn bundle's metadata (``health_scale``) and applied wherever that
model scores (API and batch: ``scaled_policy`` when the model set is loaded), so both paths agree; without it
(an older bundle, or ``health_scale = "fixed"``) the setting ``activity_full_days`` (15) applies. The other
components have natural scales: core modules out of ``core_modules_total``, satisfaction 1-5, NPS 0-10.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from models.policy_settings import PolicySettings

HEALTH_SCALE_KEY = "health_scale"
"""Key of the fitted scale in a churn bundle's metadata."""


def fit_health_scale(active_days_30d: npt.ArrayLike, quantile: float) -> dict[str, Any]:
    """The activity scale of a population: ``{"activity_full_days", "quantile", "customers"}`` (None when empty)."""
    days = np.asarray(active_days_30d, dtype=np.float64)
    days = days[np.isfinite(days)]
    if days.size == 0:
        return {"activity_full_days": None, "quantile": quantile, "customers": 0}
    full = float(np.clip(np.quantile(days, quantile), 1.0, 30.0))
    return {"activity_full_days": full, "quantile": quantile, "customers": int(days.size)}


def scaled_policy(policy: PolicySettings, metadata: Mapping[str, Any] | None) -> PolicySettings:
    """``policy`` with the churn model's fitted activity scale, when the settings ask for it and the model has one."""
    if policy.health_scale != "training_data" or not metadata:
        return policy
    scale = metadata.get(HEALTH_SCALE_KEY)
    full = scale.get("activity_full_days") if isinstance(scale, Mapping) else None
    if full is None:
        return policy
    return policy.model_copy(update={"activity_full_days": float(full)})
