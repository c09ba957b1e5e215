"""The fixed parameters of the simulated world: product modules, event types, channels, rhythms, hazard drivers.

Every number the simulator draws from lives here, so a reader can see the whole world on one page and a mechanism
(see ``mechanisms``) can reuse the same vocabulary. Changing any of them changes every generated base.
"""

from __future__ import annotations

import numpy as np

CORE_EVENT_TYPE = "core_action"
"""The event type the default feature settings treat as a core action."""

MODULES: tuple[str, ...] = ("reports", "dashboards", "alerts", "integrations", "automation", "sharing")
"""The six product modules core actions happen in (feature penetration counts these)."""

HOME_MODULE = "home"
"""Module of login events: the landing page, not a product module."""

EVENT_TYPES: tuple[str, ...] = (CORE_EVENT_TYPE, "login", "page_view")
MODULE_CATEGORIES: tuple[str, ...] = (*MODULES, HOME_MODULE)
MODULE_POPULARITY = np.array([0.30, 0.25, 0.15, 0.12, 0.10, 0.08])

# channel, share of B2C sign-ups, share of B2B sign-ups, CAC per new customer, latent quality (log-hazard bonus)
CHANNEL_PARAMETERS: tuple[tuple[str, float, float, float, float], ...] = (
    ("organic_search", 0.30, 0.20, 14.0, 0.25),
    ("paid_search", 0.22, 0.25, 55.0, 0.00),
    ("paid_social", 0.23, 0.05, 38.0, -0.35),
    ("referral", 0.10, 0.10, 20.0, 0.35),
    ("content", 0.12, 0.15, 28.0, 0.15),
    ("partners", 0.03, 0.25, 95.0, 0.10),
)
CHANNELS: tuple[str, ...] = tuple(c[0] for c in CHANNEL_PARAMETERS)

# Relative activity by hour of day (UTC) and weekday (Monday first); B2B users work on weekdays.
HOUR_WEIGHTS = np.array(
    [
        0.5,
        0.3,
        0.2,
        0.15,
        0.15,
        0.3,
        0.8,
        1.6,
        2.6,
        3.4,
        3.8,
        3.7,
        3.2,
        3.3,
        3.5,
        3.4,
        3.2,
        3.0,
        2.8,
        3.0,
        3.3,
        3.0,
        2.0,
        1.0,
    ]
)
WEEKDAY_B2C = np.array([1.0, 1.0, 1.0, 1.0, 0.95, 0.85, 0.85])
WEEKDAY_B2B = np.array([1.0, 1.0, 1.0, 1.0, 0.9, 0.35, 0.3])
SIGNUP_WEEKDAY = np.array([1.1, 1.1, 1.05, 1.0, 0.95, 0.8, 0.75])

HISTORY_DAYS = 730
"""Sign-ups are spread over this many days before ``end``."""
SIGNUP_GROWTH = 3.0
"""Daily sign-ups at the end of the history are this many times those at its start."""

# Hazard (per day) and its drivers; see the module docstring.
BASE_HAZARD_PER_DAY = 0.0009
DECLINE_MULTIPLIER = 16.0
DECLINE_ACTIVITY_DROP = 0.85
"""At full decline a customer is active on this much fewer days (engagement e = 1 - 0.85 D)."""
LOG_HAZARD_COEF = {
    "engagement": -0.45,
    "modules": -0.25,  # per module above 3.5
    "no_aha": 0.8,
    "service": -0.25,
    "disposition": -0.3,
    "price": 0.15,
    "b2b": -0.35,
    "subscribed": -0.2,
}
RETURN_HAZARD_FACTOR = 1.5
REACTIVATION_MIN_GAP_DAYS = 60.0
REACTIVATION_MEAN_EXTRA_DAYS = 75.0
SECOND_LIFE_ACTIVITY = 0.6
CHUNK_CUSTOMERS = 65_536
DAY_SECONDS = 86_400
