"""A small base whose past campaigns have a known, heterogeneous effect written into the behaviour itself.

Independent of the demo generator on purpose (a base unlike it): customers carry ``attr_plan`` (monthly/annual)
and ``attr_region``; every 60 days a campaign selects a random 60% of them and assigns control (30%),
``care_email`` or ``winback_offer`` at random. Over the 30 days after a contact the customer is retained (has an
event and a purchase in the window) with probability

    0.5 + effect, effect(care_email) = +0.30 for monthly plans, 0 for annual;
                  effect(winback_offer) = +0.10 for monthly, -0.25 for annual (sleeping dogs).

Everyone also has activity in the 30 days before each campaign (so features see them), never inside another
contact's window. One campaign is too recent for its outcome, one has no control arm.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

END = pd.Timestamp("2025-06-30")
CAMPAIGN_DAYS = ("2024-08-01", "2024-10-01", "2024-12-01", "2025-02-01", "2025-04-01")
EFFECTS = {
    "care_email": {"monthly": 0.30, "annual": 0.0},
    "winback_offer": {"monthly": 0.10, "annual": -0.25},
}
COSTS = {"care_email": 1.0, "winback_offer": 4.0}


def true_effect(action: str, plan: pd.Series) -> np.ndarray:
    return plan.map(EFFECTS[action]).to_numpy(np.float64)


def make_base(n: int = 2000, seed: int = 0) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = [f"u{i:05d}" for i in range(n)]
    plan = np.where(rng.random(n) < 0.5, "monthly", "annual")
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "signup_at": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 150, n), unit="D"),
            "acquisition_channel": rng.choice(["ads", "seo", "partners"], n),
            "segment": "b2c",
            "attr_plan": plan,
            "attr_region": rng.choice(["north", "south"], n),
        }
    )
    events: list[tuple[str, pd.Timestamp]] = []
    txns: list[tuple[str, pd.Timestamp, float]] = []
    contacts: list[tuple[str, str, pd.Timestamp, str, float | None]] = []
    for k, day in enumerate(CAMPAIGN_DAYS):
        t0 = pd.Timestamp(day) + pd.Timedelta(hours=9)
        for i in range(n):  # activity before the campaign (everyone), a few days apart
            for _ in range(int(rng.integers(1, 5))):
                events.append((ids[i], t0 - pd.Timedelta(days=float(rng.uniform(1, 29)))))
        chosen = np.flatnonzero(rng.random(n) < 0.6)
        arms = rng.choice(["control", "care_email", "winback_offer"], chosen.size, p=[0.3, 0.35, 0.35])
        for i, arm in zip(chosen.tolist(), arms.tolist(), strict=True):
            effect = 0.0 if arm == "control" else EFFECTS[arm][plan[i]]
            retained = rng.random() < 0.5 + effect
            cost = None if arm == "control" else COSTS[arm]
            contacts.append((ids[i], f"camp{k}", t0, arm, cost))
            if retained:
                at = t0 + pd.Timedelta(days=float(rng.uniform(0.1, 29)))
                events.append((ids[i], at))
                txns.append((ids[i], at, float(round(rng.gamma(4.0, 5.0), 2))))
        # the unselected may be active or not after the campaign; keep them out of contacted windows anyway
    for i in range(n):  # everyone is seen in June 2025, so the data runs to its end
        events.append((ids[i], pd.Timestamp("2025-06-05") + pd.Timedelta(days=float(rng.uniform(0, 24)))))
    # one campaign too recent for a 30-day outcome and one without a control group
    recent = pd.Timestamp("2025-06-20 09:00")
    for i in range(0, n, 10):
        contacts.append((ids[i], "camp_recent", recent, "care_email" if i % 20 else "control", 1.0))
    for i in range(5, n, 25):
        contacts.append((ids[i], "camp_nocontrol", pd.Timestamp("2025-05-05 09:00"), "care_email", 1.0))
    frame_events = pd.DataFrame(events, columns=["customer_id", "occurred_at"])
    frame_events["occurred_at"] = frame_events["occurred_at"].dt.floor("s").astype("datetime64[us]")
    frame_events["event_type"] = "core_action"
    frame_events["module"] = "reports"
    frame_events = frame_events[frame_events["occurred_at"] < END]
    signup = customers.set_index("customer_id")["signup_at"]
    frame_events = frame_events[frame_events["occurred_at"] > frame_events["customer_id"].map(signup)]
    tx = pd.DataFrame(txns, columns=["customer_id", "occurred_at", "amount"])
    tx["occurred_at"] = tx["occurred_at"].dt.floor("s").astype("datetime64[us]")
    tx = tx[tx["occurred_at"] < END].reset_index(drop=True)
    tx["order_id"] = [f"o{i}" for i in range(len(tx))]
    campaign = pd.DataFrame(contacts, columns=["customer_id", "campaign_id", "contacted_at", "arm", "cost"])
    return {
        "customers": customers,
        "events": frame_events.sort_values("occurred_at").reset_index(drop=True),
        "transactions": tx,
        "campaign_contacts": campaign,
    }
