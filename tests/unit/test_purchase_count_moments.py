"""The purchase-count distribution behind the predictive intervals agrees with each model's closed forms.

P(alive) x E[Y(t) | alive] from the survival series must equal the model's conditional expected purchases (eq. 10
of Fader, Hardie & Lee 2005 for BG/NBD; Schmittlein et al.'s for Pareto/NBD), E[Y(Y-1)] >= 0 with
Var Y = E[Y(Y-1)] + E[Y] - E[Y]^2 >= 0, and the block recurrence for the incomplete beta equals scipy's betainc.
Parameters are the published CDNOW estimates (so no fit runs here).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import betainc

from features.time_units import TimeUnit
from models.bgnbd import BetaGeoModel
from models.count_model import CountModel
from models.mbg_cnbd import MbgCnbdModel
from models.mbg_nbd import ModifiedBetaGeoModel
from models.pareto_nbd import ParetoNbdModel
from models.purchase_count_distribution import betainc_steps

W = TimeUnit.WEEK
RNG = np.random.default_rng(11)
N = 400
X = RNG.integers(0, 40, N).astype(float)
T = RNG.uniform(1.0, 78.0, N)
T_X = np.where(X > 0, RNG.uniform(0.0, 1.0, N) * T, 0.0)


def _models() -> list[CountModel]:
    return [
        BetaGeoModel.from_params(0.243, 4.414, 0.793, 2.426, time_unit=W),  # FHL 2005 on CDNOW
        ParetoNbdModel.from_params(0.553, 10.578, 0.606, 11.669, time_unit=W),  # Fader & Hardie's note
        ModifiedBetaGeoModel.from_params(0.525, 6.183, 0.891, 1.614, time_unit=W),
        MbgCnbdModel.from_dict(
            {"params": {"r": 0.85, "alpha": 1.45, "a": 0.79, "b": 2.42}, "time_unit": W.value, "k": 2}
        ),
    ]


@pytest.mark.parametrize("model", _models(), ids=lambda m: m.NAME)
@pytest.mark.parametrize("t", [4.0, 39.0, 52.0])
def test_alive_moments_match_the_closed_form_mean(model: CountModel, t: float) -> None:
    moments = model.alive_moments(t, X, T_X, T)
    expected = model.conditional_expected_purchases(t, X, T_X, T)
    np.testing.assert_allclose(model.p_alive(X, T_X, T) * moments.mean, expected, rtol=1e-6, atol=1e-9)
    variance = moments.factorial2 + moments.mean - moments.mean**2
    assert np.all(moments.factorial2 >= 0.0)
    assert np.all(variance >= -1e-9)
    assert np.all((moments.p_any >= 0.0) & (moments.p_any <= 1.0 + 1e-12))
    assert np.all(moments.p_any <= moments.mean + 1e-12)  # P(Y >= 1) <= E[Y]


@pytest.mark.parametrize(("a0", "step"), [(1.0, 1), (25.0, 1), (3.0, 2), (6.0, 3)])
def test_betainc_block_recurrence_equals_scipy(a0: float, step: int) -> None:
    b = RNG.uniform(0.2, 80.0, 3000)
    z = np.concatenate([RNG.uniform(0.0, 1.0, 2998), [0.0, 1.0 - 1e-12]])
    got = betainc_steps(np.full(3000, a0), 24, b, z, step)
    want = betainc((a0 + np.arange(24) * step)[:, None], b[None, :], z[None, :])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-11)


def test_served_80_interval_holds_80_percent_for_every_customer() -> None:
    """[0, P80] or [P10, P90], whichever is narrower: the distribution's own mass inside is 80% (or the atom)."""
    from models.value_distribution import ValueDistribution

    p_zero = np.array([0.0, 0.05, 0.3, 0.7, 0.85])
    dist = ValueDistribution(p_zero, np.full(5, 2.0), np.full(5, 50.0), np.full(5, 100.0))
    low, high = dist.interval_80()
    mass = dist.cdf(high) - np.where(low > 0, dist.cdf(low), 0.0)
    np.testing.assert_allclose(mass[:4], 0.8, atol=1e-9)
    assert mass[4] == pytest.approx(0.85)  # an atom above 80% is the interval [0, 0]
    assert high[4] == 0.0
    assert np.all(low[2:] == 0.0)  # with an atom of 10% or more the interval starts at 0
