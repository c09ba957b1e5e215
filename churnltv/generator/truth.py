"""The hidden ground truth of a generated base, and the oracle that turns it into the best achievable churn score.

The truth frame (one row per customer: true churn and return times, hazard parameters, latent traits) is never read
by training. ``oracle_churn_probability`` computes P(churn in [as_of, as_of + H)) exactly from it; ``TruthOracle``
wraps it in the shape training's holdout evaluation takes (``training.churn_holdout.ChurnOracle``), so the
composition root injects it instead of training looking for a file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from churnltv.generator.customers import LatentCustomers
from churnltv.generator.hazard import Hazard
from churnltv.generator.parameters import (
    CHANNELS,
    DAY_SECONDS,
    HISTORY_DAYS,
    REACTIVATION_MEAN_EXTRA_DAYS,
    REACTIVATION_MIN_GAP_DAYS,
)
from churnltv.generator.timeline import FloatArray, to_timestamp


def truth_table(cu: LatentCustomers, ids: pd.Series, origin: pd.Timestamp) -> pd.DataFrame:
    censored = float(HISTORY_DAYS)
    return pd.DataFrame(
        {
            "customer_id": ids,
            "signup_at": to_timestamp(origin, cu.s),
            "churn_at": to_timestamp(origin, np.where(cu.c1 < censored, cu.c1, np.inf)),
            "reactivated_at": to_timestamp(origin, np.where(cu.r < censored, cu.r, np.inf)),
            "final_churn_at": to_timestamp(origin, np.where(cu.c2 < censored, cu.c2, np.inf)),
            "base_hazard_per_day": cu.b,
            "decline_multiplier": cu.g,
            "decline_onset_at": to_timestamp(origin, cu.d),
            "decline_rate_per_day": cu.k,
            "return_hazard_per_day": cu.b2,
            "reactivation_prob": cu.react_p,
            "reactivation_min_gap_days": np.full(cu.s.size, REACTIVATION_MIN_GAP_DAYS),
            "reactivation_mean_extra_days": np.full(cu.s.size, REACTIVATION_MEAN_EXTRA_DAYS),
            "segment": np.where(cu.b2b, "b2b", "b2c"),
            "acquisition_channel": np.array(CHANNELS)[cu.channel],
            "engagement": cu.eng,
            "active_days_per_day": cu.a0,
            "modules": cu.breadth.astype(np.int64),
            "aha": cu.aha,
            "service_experience": cu.service,
            "disposition": cu.disposition,
            "price_sensitivity": cu.price,
            "subscribed": cu.subscribed,
        }
    ).astype({"segment": "str", "acquisition_channel": "str"})


def _days_from(ts: pd.Series, as_of: pd.Timestamp) -> FloatArray:
    """(ts - as_of) in days; +inf where NaT."""
    delta = (pd.to_datetime(ts) - as_of).dt.total_seconds().to_numpy(dtype=np.float64, na_value=np.nan) / DAY_SECONDS
    out: FloatArray = np.where(np.isnan(delta), np.inf, delta)
    return out


def oracle_churn_probability(
    truth: pd.DataFrame,
    as_of: pd.Timestamp,
    horizon_days: int,
    customer_ids: Sequence[str] | None = None,
) -> pd.Series:
    """The best achievable churn score: P(churn in [as_of, as_of + H)) from the true hazard.

    For a customer alive at ``as_of`` this is ``1 - exp(-(Lambda(as_of + H) - Lambda(as_of)))`` with the
    closed-form cumulative hazard of the customer's current life (exact, no simulation).
    Customers in a churned state at ``as_of`` get the probability that they stay gone through the
    horizon (1 minus the chance their dormant gap ends inside it, given it has not ended yet): that is
    what an activity-based churn label measures for them. A customer who churned for the second time is
    gone for good (1.0). Customers who sign up at or after ``as_of`` get NaN.

    Returns a float Series indexed by customer_id (``customer_ids`` order when given).
    """
    as_of = pd.Timestamp(as_of)
    h = float(horizon_days)
    frame = truth
    if customer_ids is not None:
        frame = truth.set_index("customer_id").loc[list(customer_ids)].reset_index()
    s = _days_from(frame["signup_at"], as_of)
    c1 = _days_from(frame["churn_at"], as_of)
    r = _days_from(frame["reactivated_at"], as_of)
    c2 = _days_from(frame["final_churn_at"], as_of)
    d = _days_from(frame["decline_onset_at"], as_of)
    b = frame["base_hazard_per_day"].to_numpy(dtype=np.float64)
    g = frame["decline_multiplier"].to_numpy(dtype=np.float64)
    k = frame["decline_rate_per_day"].to_numpy(dtype=np.float64)
    b2 = frame["return_hazard_per_day"].to_numpy(dtype=np.float64)
    p = frame["reactivation_prob"].to_numpy(dtype=np.float64)
    g0 = frame["reactivation_min_gap_days"].to_numpy(dtype=np.float64)
    m = frame["reactivation_mean_extra_days"].to_numpy(dtype=np.float64)
    zeros = np.zeros(len(frame))

    alive1 = (s < 0) & (c1 > 0)
    dormant = (c1 <= 0) & (r > 0)
    alive2 = (r <= 0) & (c2 > 0)
    gone = c2 <= 0
    with np.errstate(invalid="ignore", over="ignore"):
        life1 = -np.expm1(-Hazard(b, g, d, k).cumulative(zeros, zeros + h))
        life2 = -np.expm1(-b2 * h)
        # dormant: return by x days after churn with probability p * F(x), F(x) = 1 - exp(-(x - g0)+ / m)
        x1, x2 = -c1, -c1 + h
        f1 = -np.expm1(-np.maximum(x1 - g0, 0.0) / m)
        f2 = -np.expm1(-np.maximum(x2 - g0, 0.0) / m)
        stay_gone = 1.0 - p * (f2 - f1) / (1.0 - p * f1)
    prob = np.full(len(frame), np.nan)
    prob[alive1] = life1[alive1]
    prob[dormant] = stay_gone[dormant]
    prob[alive2] = life2[alive2]
    prob[gone] = 1.0
    prob[s >= 0] = np.nan
    return pd.Series(
        prob, index=pd.Index(frame["customer_id"].to_numpy(), name="customer_id"), name="oracle_churn_probability"
    )


ORACLE_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "signup_at",
    "churn_at",
    "reactivated_at",
    "final_churn_at",
    "decline_onset_at",
    "base_hazard_per_day",
    "decline_multiplier",
    "decline_rate_per_day",
    "return_hazard_per_day",
    "reactivation_prob",
    "reactivation_min_gap_days",
    "reactivation_mean_extra_days",
)
"""The truth columns ``oracle_churn_probability`` reads."""


@dataclass(frozen=True)
class TruthOracle:
    """The generator's true churn probabilities for one base, as training's holdout evaluation takes them.

    ``source`` says where the truth came from (a file path, or the in-memory base); the evaluation records it.
    """

    truth: pd.DataFrame
    source: str = "the generated base in memory"

    @classmethod
    def read(cls, path: Path) -> TruthOracle:
        """The truth file written by ``churnltv generate``; a ``UserInputError`` naming the file when it is not one."""
        from features.errors import UserInputError

        path = Path(path)
        if not path.is_file():
            raise UserInputError(
                f"{path}: truth file not found (`churnltv generate` writes it next to the data as <name>.truth.parquet)"
            )
        try:
            frame = pd.read_parquet(path)
        except (OSError, ValueError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise UserInputError(
                f"{path}: not a truth file of `churnltv generate` (cannot read Parquet: {first})"
            ) from None
        missing = [c for c in ORACLE_COLUMNS if c not in frame.columns]
        if missing:
            raise UserInputError(
                f"{path}: not a truth file of `churnltv generate` (missing column(s) {', '.join(missing)})"
            )
        return cls(frame, str(path))

    def churn_probability(self, as_of: pd.Timestamp, horizon_days: int, customer_ids: Sequence[str]) -> pd.Series:
        """``oracle_churn_probability`` for ``customer_ids``; every one of them must be in the truth."""
        from features.errors import UserInputError

        ids = pd.Index(list(customer_ids), dtype="str")
        unknown = ids[~ids.isin(self.truth["customer_id"].astype("str"))]
        if len(unknown):
            raise UserInputError(
                f"{self.source}: {len(unknown)} of {len(ids)} customer(s) are not in this truth, e.g. {unknown[0]!r}; "
                "pass the truth file written with this dataset"
            )
        return oracle_churn_probability(self.truth, as_of, horizon_days, customer_ids=list(ids))


def truth_path_for(out: Path) -> Path:
    """Where the ground truth of a dataset written to ``out`` lives: ``<stem>.truth.parquet`` next to it."""
    out = Path(out)
    return out.with_name(f"{out.stem}.truth.parquet")
