"""A realistic synthetic customer base in contract form, with its hidden ground truth.

Why a simulator with a *latent* state: the churn model has to learn from behaviour, so churn here
is driven by hidden traits and a hidden engagement trajectory, never by the features we compute.
The data only reveals that state through what customers do (activity declines, few modules, no
Aha moment, bad support tickets, low NPS). The ground truth (each customer's churn time and the
parameters of their true hazard) goes into a separate frame (``GeneratedBase.truth``) that training
never reads; ``oracle_churn_probability`` turns it into the best achievable churn score, and the composition
root hands it to training as a ``TruthOracle`` so the holdout evaluation can compare a model with it.

The model (time in days; ``s`` = signup, ``c`` = churn, ``r`` = return):

* Life 1, ``[s, c)``: engagement ``e(t) = 1 - 0.85 D(t)`` with a decline ``D(t) = 1 - exp(-k (t - d)+)``
  starting at a customer-specific onset ``d`` (shared by the users of a B2B account) with rate ``k``.
  Churn hazard ``h(t) = b (1 + g D(t))``; ``log b`` is linear in the latent traits (engagement level,
  module breadth, Aha, service experience, disposition, price sensitivity, channel quality, segment,
  account effect). The cumulative hazard has a closed form (``Hazard.cumulative``), so churn times are
  drawn by inverting it (bisection) and the oracle is exact.
* Activity: active days form a Poisson process with intensity ``a0 e(t)`` (thinning), each active day a
  session of ``1 + Poisson`` events across the customer's modules; customers who reach the Aha moment
  show an onboarding burst of core actions in their first days, the others start slowly.
* After churn, a customer returns with probability ``p`` after a dormant gap ``g0 + Exp(mean m)`` days
  (a reactivation), then lives a second life with constant hazard ``b2`` and no further return.
* Purchases: a BG/NBD-like Poisson process while alive with a gamma-distributed rate per customer
  (Fader, Hardie & Lee 2005), spend per purchase Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV"):
  ``nu_i ~ Gamma(q, gamma)``, ``z_ij ~ Gamma(p, nu_i)``.
* NPS answers depend on disposition and the current decline, ticket satisfaction and resolution time
  on service experience; promoters refer new customers (with some IP/device duplicates, i.e. fraud).

Everything is vectorised numpy over customer chunks (no per-row Python loops); the same seed gives
identical frames. Timestamps are naive UTC with realistic times of day and second resolution; no row is
dated at or after ``end``.

Modules, one concept each: ``parameters`` (the world's fixed numbers), ``timeline`` (days, timestamps, ids),
``hazard``, ``customers`` (latent customers and the customers table), ``events``, ``transactions``,
``subscriptions``, ``feedback`` (NPS and support tickets), ``acquisition`` (spend and referrals), ``truth`` (the
truth frame and the oracle), ``mechanisms`` (the extension point for optional behaviours) and ``assembly``
(``generate``); ``campaigns`` is the first optional mechanism (past retention campaigns with control groups and
known individual effects, ``churnltv generate --campaigns``), ``vocabulary`` the second (a social app's eight
event types whose rates drive churn with different signs, ``churnltv generate --vocabulary hetero``). The generator
depends only on ``features``' contract
and errors; it lives in the composition root because it is demo and test tooling, not part of the pipeline.
"""

from churnltv.generator.assembly import GeneratedBase, ProgressCallback, generate
from churnltv.generator.mechanisms import Mechanism, World
from churnltv.generator.parameters import (
    CHANNELS,
    CORE_EVENT_TYPE,
    DECLINE_ACTIVITY_DROP,
    EVENT_TYPES,
    HISTORY_DAYS,
    HOME_MODULE,
    MODULES,
)
from churnltv.generator.truth import TruthOracle, oracle_churn_probability, truth_path_for

__all__ = [
    "CHANNELS",
    "CORE_EVENT_TYPE",
    "DECLINE_ACTIVITY_DROP",
    "EVENT_TYPES",
    "HISTORY_DAYS",
    "HOME_MODULE",
    "MODULES",
    "GeneratedBase",
    "Mechanism",
    "ProgressCallback",
    "TruthOracle",
    "World",
    "generate",
    "oracle_churn_probability",
    "truth_path_for",
]
