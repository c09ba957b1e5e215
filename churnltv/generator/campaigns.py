"""Past retention campaigns with random control groups and heterogeneous, known effects (an optional mechanism).

``RetentionCampaigns`` (``generate(..., mechanisms=[RetentionCampaigns()])``) sends a campaign every 90 days: it
selects a random share of the customers who look active on the send day (alive, or gone less than 30 days ago and
not yet back: a CRM cannot tell those apart), holds out a random control group and gives the others one of the
actions at random. A contact at time ``t`` multiplies the customer's churn hazard by ``m`` over
``[t, t + EFFECT_DAYS)``; the churn time is re-drawn from the *same* exponential draw (the remaining cumulative
hazard), so a contact with ``m = 1`` changes nothing and the control group's behaviour is the one they would have
had anyway. Customers who are already gone are not affected (a retention contact does not bring them back).

Every customer has one latent response class (``truth.campaign_response``), read from traits the data reveals
(subscription, segment, Aha moment, module breadth, acquisition channel), with a random share unresponsive:

* ``sleeping_dog``: B2C subscribers (80% of them): any contact reminds them of a subscription they barely use;
  the email multiplies their hazard by 1.6, the offer by 2.5 (contact *raises* churn);
* ``needs_guidance``: no Aha moment or at most two modules: feature tips help (email 0.4, offer 0.8);
* ``deal_seeker``: B2C customers acquired by paid search or paid social: the time-limited offer helps (0.35),
  the email a little (0.85);
* ``unresponsive``: everyone else, and a random 15% of the others: no effect (m = 1).

Each responsive customer's multipliers vary around their class's by a log-normal factor (sd 0.15). Whether a
contact helps also depends on the customer's state: the same multiplier saves more of a customer in decline (high
hazard) than of a steady one. ``true_uplift`` turns the truth into the exact effect of contacting a customer at a
time on P(still alive after the horizon), per action (``true_uplift_<action>``): the oracle of uplift targeting.
``response_types`` names the classic four types from it: persuadable, sure thing, lost cause, sleeping dog.

The campaigns land in the contract table ``campaign_contacts`` (customer_id, campaign_id, contacted_at, arm,
cost); the latest campaign is only days before the end, so its outcomes are not observable yet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from churnltv.generator.hazard import Hazard, sample_churn
from churnltv.generator.mechanisms import Mechanism, World
from churnltv.generator.parameters import (
    CHANNELS,
    DAY_SECONDS,
    HISTORY_DAYS,
    REACTIVATION_MEAN_EXTRA_DAYS,
    REACTIVATION_MIN_GAP_DAYS,
)
from churnltv.generator.timeline import FloatArray, time_of_day, to_timestamp

CONTROL = "control"
EMAIL = "care_email_feature_tips"
OFFER = "time_limited_offer"
ACTIONS: tuple[str, ...] = (EMAIL, OFFER)
"""The actions the campaigns use: the policy's default low- and high-tier action keys."""
COSTS: dict[str, float] = {CONTROL: 0.0, EMAIL: 0.2, OFFER: 6.0}
"""Cost per contact (an email send; the offer's discount)."""
ARM_SHARES: dict[str, float] = {CONTROL: 0.2, EMAIL: 0.4, OFFER: 0.4}
EFFECT_DAYS = 60.0
"""A contact changes the hazard for this many days (shorter than the 90 days between campaigns)."""
CAMPAIGN_DAYS_BEFORE_END: tuple[float, ...] = (540.0, 450.0, 360.0, 270.0, 180.0, 90.0, 10.0)
TARGET_SHARE = 0.3
"""Share of the customers who look active on a send day that a campaign selects."""
MIN_TENURE_DAYS = 14.0
LOOKS_ACTIVE_DAYS = 30.0
"""Customers gone less than this long are still on the CRM's active list."""

RESPONSE_CLASSES: tuple[str, ...] = ("unresponsive", "sleeping_dog", "needs_guidance", "deal_seeker")
MULTIPLIERS: dict[str, dict[str, float]] = {
    "unresponsive": {EMAIL: 1.0, OFFER: 1.0},
    "sleeping_dog": {EMAIL: 1.6, OFFER: 2.5},
    "needs_guidance": {EMAIL: 0.4, OFFER: 0.8},
    "deal_seeker": {EMAIL: 0.85, OFFER: 0.35},
}
UNRESPONSIVE_SHARE = 0.15
SLEEPING_DOG_SHARE = 0.8
MULTIPLIER_SD = 0.15
DEAL_CHANNELS = ("paid_search", "paid_social")


def multiplier_column(action: str) -> str:
    """Truth column of a customer's hazard multiplier while contacted with ``action``."""
    return f"contact_multiplier_{action}"


def true_uplift_column(action: str) -> str:
    """Column of ``true_uplift``: the true effect of ``action`` on P(retained over the horizon)."""
    return f"true_uplift_{action}"


@dataclass
class RetentionCampaigns(Mechanism):
    """Simulated retention campaigns with a random control group and heterogeneous effects (module docstring)."""

    name: ClassVar[str] = "retention_campaigns"

    days_before_end: Sequence[float] = CAMPAIGN_DAYS_BEFORE_END
    target_share: float = TARGET_SHARE
    multipliers: Mapping[str, Mapping[str, float]] = field(default_factory=lambda: MULTIPLIERS)
    """Hazard multiplier per response class and action (``MULTIPLIERS``; all 1.0 = contacts change nothing)."""

    def __post_init__(self) -> None:
        self._contacts: list[dict[str, npt.NDArray[np.generic]]] = []
        self._response: npt.NDArray[np.int64] | None = None
        self._multipliers: dict[str, FloatArray] = {}

    def shape_customers(self, world: World) -> None:
        cu, rng = world.customers, world.rng
        n = cu.s.size
        b2c = ~cu.b2b
        deal_channel = np.isin(np.array(CHANNELS)[cu.channel], DEAL_CHANNELS)
        response = np.zeros(n, dtype=np.int64)  # unresponsive
        response[b2c & deal_channel] = RESPONSE_CLASSES.index("deal_seeker")
        response[~cu.aha | (cu.breadth <= 2)] = RESPONSE_CLASSES.index("needs_guidance")
        response[b2c & cu.subscribed & (rng.random(n) < SLEEPING_DOG_SHARE)] = RESPONSE_CLASSES.index("sleeping_dog")
        response[rng.random(n) < UNRESPONSIVE_SHARE] = 0
        self._response = response
        for action in ACTIONS:
            base = np.array([self.multipliers[c][action] for c in RESPONSE_CLASSES])[response]
            noise = np.exp(rng.normal(0.0, MULTIPLIER_SD, n))
            self._multipliers[action] = np.where(base == 1.0, 1.0, base * noise)  # no effect stays exactly none

        arms = np.array(list(ARM_SHARES), dtype=object)
        shares = np.array(list(ARM_SHARES.values()))
        for k, before in enumerate(sorted(self.days_before_end, reverse=True)):
            day = np.floor(HISTORY_DAYS - before)
            if day < 0:
                continue
            t = day + time_of_day(rng, n)  # each customer's send time on that day
            alive1 = (cu.s <= t - MIN_TENURE_DAYS) & (t < cu.c1)
            alive2 = (cu.r <= t) & (t < cu.c2)
            lapsed = ((cu.c1 <= t) & (t < np.minimum(cu.c1 + LOOKS_ACTIVE_DAYS, cu.r))) | (
                (cu.c2 <= t) & (t < cu.c2 + LOOKS_ACTIVE_DAYS)
            )
            looks_active = alive1 | alive2 | lapsed
            chosen = np.flatnonzero(looks_active & (rng.random(n) < self.target_share))
            arm = arms[rng.choice(arms.size, size=chosen.size, p=shares)]
            for action in ACTIONS:
                treated = chosen[arm == action]
                treated = treated[self._multipliers[action][treated] != 1.0]  # no effect: nothing to re-draw
                m = self._multipliers[action][treated]
                self._treat_life1(world, treated[alive1[treated]], t[treated[alive1[treated]]], m[alive1[treated]])
                self._treat_life2(world, treated[alive2[treated]], t[treated[alive2[treated]]], m[alive2[treated]])
            self._contacts.append(
                {"who": chosen, "t": t[chosen], "arm": arm, "campaign": np.full(chosen.size, k, dtype=np.int64)}
            )

    @staticmethod
    def _treat_life1(world: World, idx: npt.NDArray[np.int64], t: FloatArray, m: FloatArray) -> None:
        """Re-draw the first-life churn time of customers contacted at ``t`` (alive then) with multiplier ``m``."""
        if idx.size == 0:
            return
        cu, rng = world.customers, world.rng
        limit = float(HISTORY_DAYS)
        hz = Hazard(cu.b[idx], cu.g[idx], cu.d[idx], cu.k[idx])
        old = cu.c1[idx]
        censored = ~np.isfinite(old)
        # the remaining cumulative hazard to churn; beyond the history it is the censored part plus a fresh Exp(1)
        remaining = np.where(
            censored,
            hz.cumulative(t, np.full(t.shape, limit)) + rng.exponential(1.0, idx.size),
            hz.cumulative(t, np.where(censored, t, old)),
        )
        window_end = t + EFFECT_DAYS
        in_window = m * hz.cumulative(t, window_end)
        early = remaining <= in_window
        new = np.full(idx.size, np.inf)
        if early.any():
            new[early] = sample_churn(t[early], limit, hz.subset(early), remaining[early] / m[early])
        late = ~early
        if late.any():
            new[late] = sample_churn(window_end[late], limit, hz.subset(late), (remaining - in_window)[late])
        changed = new != old
        if not changed.any():
            return
        idx, new = idx[changed], new[changed]
        cu.c1[idx] = new
        # a changed churn time gets a fresh return decision (treatment does not act on returns)
        returns = np.isfinite(new) & (rng.random(idx.size) < cu.react_p[idx])
        gap = REACTIVATION_MIN_GAP_DAYS + rng.exponential(REACTIVATION_MEAN_EXTRA_DAYS, idx.size)
        r = np.where(returns, new + gap, np.inf)
        r = np.where(r < limit, r, np.inf)
        c2 = np.where(np.isfinite(r), r + rng.exponential(1.0, idx.size) / cu.b2[idx], np.inf)
        cu.r[idx] = r
        cu.c2[idx] = np.where(c2 < limit, c2, np.inf)

    @staticmethod
    def _treat_life2(world: World, idx: npt.NDArray[np.int64], t: FloatArray, m: FloatArray) -> None:
        """Re-draw the second-life churn time (constant hazard ``b2``) of customers contacted at ``t``."""
        if idx.size == 0:
            return
        cu, rng = world.customers, world.rng
        limit = float(HISTORY_DAYS)
        b2, old = cu.b2[idx], cu.c2[idx]
        remaining = np.where(
            np.isfinite(old),
            b2 * (np.where(np.isfinite(old), old, t) - t),
            b2 * (limit - t) + rng.exponential(1.0, idx.size),
        )
        in_window = m * b2 * EFFECT_DAYS
        new = np.where(remaining <= in_window, t + remaining / (m * b2), t + EFFECT_DAYS + (remaining - in_window) / b2)
        cu.c2[idx] = np.where(new < limit, new, np.inf)

    def extend_tables(self, world: World) -> None:
        assert self._response is not None, "shape_customers runs first"
        ids = world.customer_ids.to_numpy()
        campaign_days = sorted(self.days_before_end, reverse=True)
        names = [
            f"retention-{(world.origin + pd.Timedelta(days=float(np.floor(HISTORY_DAYS - b)))).date()}"
            for b in campaign_days
        ]
        if self._contacts:
            who = np.concatenate([c["who"] for c in self._contacts])
            t = np.concatenate([c["t"] for c in self._contacts]).astype(np.float64)
            arm = np.concatenate([c["arm"] for c in self._contacts])
            campaign = np.concatenate([c["campaign"] for c in self._contacts])
        else:
            who, t, arm, campaign = (np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0, dtype=object),
                                     np.zeros(0, dtype=np.int64))  # fmt: skip
        contacts = pd.DataFrame(
            {
                "customer_id": pd.Series(ids[who], dtype="str"),
                "campaign_id": pd.Series(np.array(names, dtype=object)[campaign], dtype="str"),
                "contacted_at": to_timestamp(world.origin, t),
                "arm": pd.Series(arm, dtype="str"),
                "cost": np.array([COSTS[str(a)] for a in arm], dtype=np.float64),
            }
        )
        world.tables["campaign_contacts"] = contacts.sort_values(
            ["contacted_at", "campaign_id", "customer_id"], kind="stable", ignore_index=True
        )
        world.truth_columns["campaign_response"] = pd.Series(
            np.array(RESPONSE_CLASSES, dtype=object)[self._response], dtype="str"
        ).to_numpy()
        for action in ACTIONS:
            world.truth_columns[multiplier_column(action)] = self._multipliers[action]
        world.truth_columns["contact_effect_days"] = np.full(ids.size, EFFECT_DAYS)
        world.metadata[self.name] = {
            "campaigns": names,
            "actions": list(ACTIONS),
            "costs": dict(COSTS),
            "arm_shares": dict(ARM_SHARES),
            "effect_days": EFFECT_DAYS,
            "contacts": len(contacts),
        }


def _days_between(ts: pd.Series, at: npt.NDArray[np.datetime64]) -> FloatArray:
    """(ts - at) in days per row; +inf where ``ts`` is NaT."""
    delta = (pd.to_datetime(ts).to_numpy("datetime64[us]") - at).astype("timedelta64[us]").astype(np.float64)
    delta = np.where(pd.isna(pd.Series(ts)).to_numpy(), np.nan, delta / 1e6 / DAY_SECONDS)
    out: FloatArray = np.where(np.isnan(delta), np.inf, delta)
    return out


@dataclass(frozen=True)
class ContactEffects:
    """The true effect of contacting each (customer, time) with every action, and what it is made of."""

    uplift: pd.DataFrame
    """``true_uplift_<action>``: P(alive at t + H | contacted at t) - P(alive at t + H | not contacted)."""
    survival: FloatArray
    """P(alive at t + H) without contact (0 for customers already gone at t)."""
    alive: npt.NDArray[np.bool_]
    """Alive at t (in their first or second life): only they can be affected."""
    response: npt.NDArray[np.object_]
    """The customer's latent response class."""


def true_uplift(
    truth: pd.DataFrame, customer_ids: Sequence[str], times: Sequence[pd.Timestamp] | pd.Series, horizon_days: float
) -> ContactEffects:
    """The exact effect of a contact at ``times`` on staying alive over the next ``horizon_days``, per action.

    A contact multiplies the hazard by ``m`` over ``[t, t + W)``; with ``S(a, b)`` the survival from ``a`` to ``b``
    under the customer's current life, ``P(alive at t + H | contacted) = S(t, t + min(H, W))^m S(t + min(H, W), t +
    H)``. Customers gone at ``t`` (between lives or for good) are not affected. ``truth`` must come from a base
    generated with ``RetentionCampaigns``.
    """
    missing = [multiplier_column(a) for a in ACTIONS if multiplier_column(a) not in truth.columns]
    if missing:
        from features.errors import UserInputError

        raise UserInputError(
            f"the truth has no {', '.join(missing)}: generate the base with the retention campaigns mechanism"
        )
    frame = truth.set_index("customer_id").loc[list(customer_ids)]
    at = pd.to_datetime(pd.Series(list(times))).to_numpy("datetime64[us]")
    s = _days_between(frame["signup_at"], at)
    c1 = _days_between(frame["churn_at"], at)
    r = _days_between(frame["reactivated_at"], at)
    c2 = _days_between(frame["final_churn_at"], at)
    d = _days_between(frame["decline_onset_at"], at)
    b = frame["base_hazard_per_day"].to_numpy(np.float64)
    g = frame["decline_multiplier"].to_numpy(np.float64)
    k = frame["decline_rate_per_day"].to_numpy(np.float64)
    b2 = frame["return_hazard_per_day"].to_numpy(np.float64)
    w = frame["contact_effect_days"].to_numpy(np.float64)
    h = np.full(len(frame), float(horizon_days))
    hw = np.minimum(h, w)
    zeros = np.zeros(len(frame))
    alive1 = (s <= 0) & (c1 > 0)
    alive2 = (r <= 0) & (c2 > 0)
    hz = Hazard(b, g, d, k)
    with np.errstate(over="ignore", invalid="ignore"):
        cum_window = np.where(alive1, hz.cumulative(zeros, hw), b2 * hw)
        cum_rest = np.where(alive1, hz.cumulative(hw, h), b2 * (h - hw))
    alive = alive1 | alive2
    survival = np.where(alive, np.exp(-(cum_window + cum_rest)), 0.0)
    uplift = {}
    for action in ACTIONS:
        m = frame[multiplier_column(action)].to_numpy(np.float64)
        treated = np.exp(-(m * cum_window + cum_rest))
        uplift[true_uplift_column(action)] = np.where(alive, treated - survival, 0.0)
    return ContactEffects(
        uplift=pd.DataFrame(uplift, index=pd.RangeIndex(len(frame))),
        survival=survival,
        alive=alive,
        response=frame["campaign_response"].to_numpy(object),
    )


PERSUADABLE, SURE_THING, LOST_CAUSE, SLEEPING_DOG = "persuadable", "sure_thing", "lost_cause", "sleeping_dog"


def response_types(effects: ContactEffects, action: str, *, min_effect: float = 0.01) -> npt.NDArray[np.object_]:
    """The classic four types of a contact with ``action``, from its true effect and the no-contact survival.

    ``sleeping_dog``: the contact lowers retention by more than ``min_effect``; ``persuadable``: it raises it by more
    than ``min_effect``; otherwise ``sure_thing`` when the customer stays anyway (survival >= 0.5), else
    ``lost_cause``.
    """
    effect = effects.uplift[true_uplift_column(action)].to_numpy(np.float64)
    out = np.where(effects.survival >= 0.5, SURE_THING, LOST_CAUSE).astype(object)
    out[effect > min_effect] = PERSUADABLE
    out[effect < -min_effect] = SLEEPING_DOG
    return out
