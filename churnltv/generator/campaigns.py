"""Past retention campaigns with random control groups and heterogeneous, known effects (an optional mechanism).

``RetentionCampaigns`` (``generate(..., mechanisms=[RetentionCampaigns()])``) sends a campaign every 90 days. It
selects customers who look active on the send day (alive, or gone less than 30 days ago and not yet back: a CRM
cannot tell those apart), more often those whose usage is declining (a retention campaign goes after the at-risk),
holds out a random control group and gives the others one of the actions at random. Customers already gone are
not affected (a retention contact does not bring them back). For a customer alive at the contact time ``t``, the
contact acts through the customer's multiplier ``m`` of that action:

* ``m < 1`` (the contact helps): the churn hazard is multiplied by ``m`` over ``[t, t + EFFECT_DAYS)``, the churn
  time re-drawn from the *same* exponential draw (the remaining cumulative hazard), so the control group behaves
  as it would have anyway; and with probability ``RESPONSE_RATE (1 - m)`` the customer responds: a session
  (login + core action) about ``RESPONSE_MEAN_DAYS`` later, if still alive;
* ``m > 1`` (a sleeping dog: the contact reminds them of a subscription they barely use): with probability
  ``1 - 1/m`` they cancel on the spot (churn within hours of the contact);
* ``m = 1``: nothing changes (tested: tables identical to the base without the mechanism).

Every customer has one latent response class (``truth.campaign_response``), read from traits the data reveals
(subscription, segment, Aha moment, module breadth, acquisition channel), with a random share unresponsive:

* ``sleeping_dog``: B2C subscribers (80% of them): email 1.6, offer 2.5;
* ``needs_guidance``: no Aha moment or at most two modules: feature tips help (email 0.4, offer 0.8);
* ``deal_seeker``: B2C customers acquired by paid search or paid social: the offer helps (0.35), email 0.85;
* ``unresponsive``: everyone else, and a random 15% of the others: 1.0.

Each responsive customer's multipliers vary around their class's by a log-normal factor (sd 0.15). Whether a
contact pays also depends on the customer's state: the same multiplier saves more of a customer in decline.
``true_uplift`` turns the truth into each contact's effect on the product's outcome, P(retained over the horizon
by the activity label: an event in ``[t, t + H)``), per action (``true_uplift_<action>``): the uplift oracle.
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

from churnltv.generator.hazard import Hazard, decline_at, sample_churn
from churnltv.generator.mechanisms import Mechanism, World
from churnltv.generator.parameters import (
    CHANNELS,
    DAY_SECONDS,
    DECLINE_ACTIVITY_DROP,
    EVENT_TYPES,
    HISTORY_DAYS,
    HOME_MODULE,
    MODULE_CATEGORIES,
    REACTIVATION_MEAN_EXTRA_DAYS,
    REACTIVATION_MIN_GAP_DAYS,
    SECOND_LIFE_ACTIVITY,
    WEEKDAY_B2B,
    WEEKDAY_B2C,
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
AT_RISK_WEIGHT = 2.0
"""Selection probability: ``TARGET_SHARE (0.5 + AT_RISK_WEIGHT D(t))`` for a customer in decline ``D`` (at most 1)."""
RESPONSE_RATE = 0.6
RESPONSE_MEAN_DAYS = 2.0
CANCEL_WITHIN_DAYS = 0.25
CORE_ACTION_AFTER_DAYS = 3.0 / 1440.0

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
        self._responses: list[tuple[npt.NDArray[np.int64], FloatArray]] = []

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
            decline = np.where(alive1, decline_at(t, cu.d, cu.k), 0.5)  # between lives / second life: at risk
            select = np.minimum(self.target_share * (0.5 + AT_RISK_WEIGHT * decline), 1.0)
            chosen = np.flatnonzero(looks_active & (rng.random(n) < select))
            arm = arms[rng.choice(arms.size, size=chosen.size, p=shares)]
            for action in ACTIONS:
                treated = chosen[arm == action]
                treated = treated[(alive1 | alive2)[treated]]  # the already gone are not affected
                m = self._multipliers[action][treated]
                helped, harmed = treated[m < 1.0], treated[m > 1.0]
                self._cancel(world, harmed, t[harmed], 1.0 - 1.0 / self._multipliers[action][harmed])
                mh = self._multipliers[action][helped]
                life1 = alive1[helped]
                self._treat_life1(world, helped[life1], t[helped[life1]], mh[life1])
                self._treat_life2(world, helped[~life1], t[helped[~life1]], mh[~life1])
                self._respond(world, helped, t[helped], RESPONSE_RATE * (1.0 - mh))
            self._contacts.append(
                {"who": chosen, "t": t[chosen], "arm": arm, "campaign": np.full(chosen.size, k, dtype=np.int64)}
            )

    @staticmethod
    def _set_churn(world: World, idx: npt.NDArray[np.int64], new: FloatArray, life1: npt.NDArray[np.bool_]) -> None:
        """New churn times of the current life; a changed first-life churn gets a fresh return decision."""
        cu, rng = world.customers, world.rng
        limit = float(HISTORY_DAYS)
        new = np.where(new < limit, new, np.inf)
        one, two = idx[life1], idx[~life1]
        cu.c2[two] = new[~life1]
        if one.size == 0:
            return
        c1 = new[life1]
        cu.c1[one] = c1
        # treatment does not act on returns: a changed churn time gets a fresh return decision
        returns = np.isfinite(c1) & (rng.random(one.size) < cu.react_p[one])
        gap = REACTIVATION_MIN_GAP_DAYS + rng.exponential(REACTIVATION_MEAN_EXTRA_DAYS, one.size)
        r = np.where(returns, c1 + gap, np.inf)
        r = np.where(r < limit, r, np.inf)
        c2 = np.where(np.isfinite(r), r + rng.exponential(1.0, one.size) / cu.b2[one], np.inf)
        cu.r[one] = r
        cu.c2[one] = np.where(c2 < limit, c2, np.inf)

    def _cancel(self, world: World, idx: npt.NDArray[np.int64], t: FloatArray, p: FloatArray) -> None:
        """Sleeping dogs contacted at ``t``: with probability ``p`` they cancel within hours."""
        cu, rng = world.customers, world.rng
        cancel = rng.random(idx.size) < p
        idx, t = idx[cancel], t[cancel]
        life1 = t < cu.c1[idx]
        self._set_churn(world, idx, t + rng.random(idx.size) * CANCEL_WITHIN_DAYS, life1)

    def _respond(self, world: World, idx: npt.NDArray[np.int64], t: FloatArray, p: FloatArray) -> None:
        """Helped customers contacted at ``t``: with probability ``p`` a session a few days later, if still alive."""
        cu, rng = world.customers, world.rng
        respond = rng.random(idx.size) < p
        idx, t = idx[respond], t[respond]
        at = t + rng.exponential(RESPONSE_MEAN_DAYS, idx.size)
        alive = ((at < cu.c1[idx]) | ((cu.r[idx] <= at) & (at < cu.c2[idx]))) & (at < HISTORY_DAYS)
        self._responses.append((idx[alive], at[alive]))

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
        if changed.any():
            RetentionCampaigns._set_churn(world, idx[changed], new[changed], np.ones(int(changed.sum()), dtype=bool))

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
        world.tables["events"] = self._with_responses(world)
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
            "responses": int(sum(r[0].size for r in self._responses)),
        }

    def _with_responses(self, world: World) -> pd.DataFrame:
        """The events table plus each response: a login and, minutes later, a core action in a module they use."""
        events = world.tables["events"]
        if not self._responses:
            return events
        who = np.concatenate([r[0] for r in self._responses])
        at = np.concatenate([r[1] for r in self._responses])
        keep = at + CORE_ACTION_AFTER_DAYS < HISTORY_DAYS
        who, at = who[keep], at[keep]
        cu = world.customers
        ids = world.customer_ids
        n = who.size
        extra = pd.DataFrame(
            {
                "customer_id": pd.Categorical.from_codes(np.concatenate([who, who]), categories=pd.Index(ids)),
                "occurred_at": to_timestamp(world.origin, np.concatenate([at, at + CORE_ACTION_AFTER_DAYS])),
                "event_type": pd.Categorical.from_codes(
                    np.concatenate([np.full(n, EVENT_TYPES.index("login")), np.zeros(n, dtype=np.int64)]),
                    categories=pd.Index(EVENT_TYPES),
                ),
                "module": pd.Categorical.from_codes(
                    np.concatenate([np.full(n, MODULE_CATEGORIES.index(HOME_MODULE)), cu.modules[who, 0]]),
                    categories=pd.Index(MODULE_CATEGORIES),
                ),
                "value": np.concatenate([np.full(n, np.nan), np.ones(n)]).astype(np.float32),
            }
        )
        merged = pd.concat([events, extra], ignore_index=True)
        order = np.lexsort((merged["occurred_at"].to_numpy(), merged["customer_id"].cat.codes.to_numpy()))
        return merged.iloc[order].reset_index(drop=True)


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
    """``true_uplift_<action>``: P(retained over H | contacted at t) - P(retained over H | not contacted), where
    retained is the product's activity label (an event in ``[t, t + H)``)."""
    retention: FloatArray
    """P(retained over H) without contact (0 for customers already gone at t)."""
    survival: FloatArray
    """P(alive at t + H) without contact (0 for customers already gone at t)."""
    alive: npt.NDArray[np.bool_]
    """Alive at t (in their first or second life): only they can be affected."""
    response: npt.NDArray[np.object_]
    """The customer's latent response class."""


def true_uplift(  # noqa: PLR0915 - one closed-form computation, read top to bottom
    truth: pd.DataFrame, customer_ids: Sequence[str], times: Sequence[pd.Timestamp] | pd.Series, horizon_days: float
) -> ContactEffects:
    """Each contact's true effect on P(retained by the activity label over ``horizon_days``), per action.

    From the truth of a base generated with ``RetentionCampaigns``, on a grid of whole days over the horizon: with
    ``S(u)`` the survival of the current life and ``a(u) = a0 w e(u)`` the rate of active days (``e`` the
    engagement left by the decline, ``w`` the mean weekday factor), P(no activity) is
    ``sum_u [S(u) - S(u+1)] exp(-A(u)) + S(H) exp(-A(H))`` with ``A`` the cumulative rate. A helping contact
    (``m < 1``) raises ``S`` to ``S^m`` over the effect window and adds a response session with probability
    ``RESPONSE_RATE (1 - m)`` (if alive then); a sleeping dog (``m > 1``) cancels with probability ``1 - 1/m``.
    Purchases also count as activity for the label; they are left out here (a slight underestimate of the
    retention of buyers, the same for every action, so the ranking the oracle needs is unaffected by it).
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
    d = _days_between(frame["decline_onset_at"], at)[:, None]
    b = frame["base_hazard_per_day"].to_numpy(np.float64)[:, None]
    g = frame["decline_multiplier"].to_numpy(np.float64)[:, None]
    k = frame["decline_rate_per_day"].to_numpy(np.float64)[:, None]
    b2 = frame["return_hazard_per_day"].to_numpy(np.float64)[:, None]
    a0 = frame["active_days_per_day"].to_numpy(np.float64)[:, None]
    w = frame["contact_effect_days"].to_numpy(np.float64)[:, None]
    b2b = (frame["segment"].astype(str) == "b2b").to_numpy()[:, None]
    alive1 = (s <= 0) & (c1 > 0)
    alive2 = (r <= 0) & (c2 > 0)
    alive = alive1 | alive2
    first = alive1[:, None]

    h = float(horizon_days)
    steps = max(1, int(np.ceil(h)))
    grid = np.linspace(0.0, h, steps + 1)[None, :]  # u = 0, ..., H
    zeros = np.zeros_like(grid)
    with np.errstate(over="ignore", invalid="ignore"):
        cum = np.where(first, Hazard(b, g, d, k).cumulative(zeros, grid), b2 * grid)
        in_window = np.where(first, Hazard(b, g, d, k).cumulative(zeros, np.minimum(grid, w)), b2 * np.minimum(grid, w))
    mid = 0.5 * (grid[:, 1:] + grid[:, :-1])
    weekday = np.where(b2b, WEEKDAY_B2B.mean(), WEEKDAY_B2C.mean())
    engagement = np.where(first, 1.0 - DECLINE_ACTIVITY_DROP * decline_at(mid, d, k), SECOND_LIFE_ACTIVITY)
    rate = a0 * weekday * engagement * np.diff(grid, axis=1)
    activity = np.concatenate([np.zeros((len(frame), 1)), np.cumsum(rate, axis=1)], axis=1)  # A(u) on the grid

    def no_activity(cumulative: FloatArray) -> FloatArray:
        surv = np.exp(-cumulative)
        out: FloatArray = np.sum((surv[:, :-1] - surv[:, 1:]) * np.exp(-activity[:, :-1]), axis=1) + surv[
            :, -1
        ] * np.exp(-activity[:, -1])
        return out

    quiet = no_activity(cum)
    retention = np.where(alive, 1.0 - quiet, 0.0)
    survival = np.where(alive, np.exp(-cum[:, -1]), 0.0)
    response_day = min(RESPONSE_MEAN_DAYS, h)
    at_response = np.searchsorted(grid[0], response_day)
    uplift = {}
    for action in ACTIONS:
        m = frame[multiplier_column(action)].to_numpy(np.float64)
        helped_cum = cum + (m[:, None] - 1.0) * in_window
        helped_quiet = no_activity(np.where((m < 1.0)[:, None], helped_cum, cum))
        responds = RESPONSE_RATE * np.clip(1.0 - m, 0.0, None) * np.exp(-helped_cum[:, at_response])
        helped_quiet = helped_quiet * (1.0 - np.where(m < 1.0, responds, 0.0))
        cancel = np.where(m > 1.0, 1.0 - 1.0 / m, 0.0)
        treated_quiet = np.where(m > 1.0, cancel + (1.0 - cancel) * quiet, helped_quiet)
        uplift[true_uplift_column(action)] = np.where(alive, quiet - treated_quiet, 0.0)
    return ContactEffects(
        uplift=pd.DataFrame(uplift, index=pd.RangeIndex(len(frame))),
        retention=retention,
        survival=survival,
        alive=alive,
        response=frame["campaign_response"].to_numpy(object),
    )


PERSUADABLE, SURE_THING, LOST_CAUSE, SLEEPING_DOG = "persuadable", "sure_thing", "lost_cause", "sleeping_dog"


def response_types(effects: ContactEffects, action: str, *, min_effect: float = 0.01) -> npt.NDArray[np.object_]:
    """The classic four types of a contact with ``action``, from its true effect and the no-contact retention.

    ``sleeping_dog``: the contact lowers retention by more than ``min_effect``; ``persuadable``: it raises it by more
    than ``min_effect``; otherwise ``sure_thing`` when the customer is retained anyway (retention >= 0.5), else
    ``lost_cause``.
    """
    effect = effects.uplift[true_uplift_column(action)].to_numpy(np.float64)
    out = np.where(effects.retention >= 0.5, SURE_THING, LOST_CAUSE).astype(object)
    out[effect > min_effect] = PERSUADABLE
    out[effect < -min_effect] = SLEEPING_DOG
    return out
