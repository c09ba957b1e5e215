"""The factored path of E[Y(t)] (scale per customer x growth per distinct (x, T) pair) equals the per-horizon
conditional expectation of each model, and the cached pair table never answers for different arrays."""

from __future__ import annotations

import numpy as np
import pytest

from features.time_units import TimeUnit
from models.bgnbd import BetaGeoModel
from models.btyd_inputs import unique_pairs
from models.count_model import CountModel
from models.customer_value import count_model_value
from models.mbg_cnbd import MbgCnbdModel
from models.mbg_nbd import ModifiedBetaGeoModel
from models.pareto_nbd import ParetoNbdModel

WEEK = TimeUnit.WEEK
MODELS: list[CountModel] = [
    BetaGeoModel.from_params(0.243, 4.414, 0.793, 2.426, time_unit=WEEK),
    ModifiedBetaGeoModel.from_params(0.525, 6.183, 0.891, 1.614, time_unit=WEEK),
    ParetoNbdModel.from_params(0.553, 10.58, 0.606, 11.67, time_unit=WEEK),
    MbgCnbdModel.from_dict({"params": {"r": 0.85, "alpha": 1.45, "a": 0.79, "b": 2.42}, "time_unit": "W", "k": 3}),
]


def _summary(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    T = rng.integers(1, 80, n).astype(float)
    x = rng.poisson(2.0, n).astype(float)
    t_x = np.where(x > 0, np.floor(rng.uniform(0, 1, n) * T), 0.0)
    return x, t_x, T


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.NAME)
def test_factored_expected_purchases_equal_each_horizon(model: CountModel) -> None:
    x, t_x, T = _summary(500, 1)
    steps = np.array([1.0, 4.3, 13.0, 52.0])
    factored = model.expected_purchases_at(steps, x, t_x, T)
    # the same quantity without the factorisation: one model call per horizon on one customer at a time
    direct = np.array(
        [
            [model.conditional_expected_purchases(s, x[i : i + 1], t_x[i : i + 1], T[i : i + 1])[0] for i in range(50)]
            for s in steps
        ]
    )
    np.testing.assert_allclose(factored[:, :50], direct, rtol=1e-10)
    assert factored.shape == (4, 500)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.NAME)
def test_discounted_value_is_the_same_with_and_without_factors(model: CountModel) -> None:
    x, t_x, T = _summary(400, 2)
    steps, weights = np.arange(1.0, 13.0) * 4.35, 0.99 ** np.arange(1.0, 13.0)
    spend = np.full(len(x), 20.0)
    cov = np.eye(len(model.PARAM_NAMES)) * 0.01
    value, sd = count_model_value(model, spend, None, cov, x, t_x, T, steps, weights)

    class Unfactored(type(model)):  # type: ignore[misc, valid-type]
        """The model with its full (steps, customers) matrix, the path before the factorisation."""

        def expected_purchases_at(self, steps: np.ndarray, *summary: np.ndarray) -> np.ndarray:
            factors = super().purchase_factors(steps, *summary)
            assert factors is not None
            scales, growths, inverse = factors
            return sum(s[None, :] * g[:, inverse] for s, g in zip(scales, growths, strict=True))  # type: ignore[return-value]

        def purchase_factors(self, *args: object) -> None:
            return None

    plain = Unfactored.from_dict(model.to_dict())
    value_plain, sd_plain = count_model_value(plain, spend, None, cov, x, t_x, T, steps, weights)
    np.testing.assert_allclose(value, value_plain, rtol=1e-12)
    np.testing.assert_allclose(sd, sd_plain, rtol=1e-9)


def test_pair_cache_answers_only_for_the_same_arrays() -> None:
    x, _, T = _summary(100, 3)
    first = unique_pairs(x, T)
    assert unique_pairs(x, T) is first
    other_T = T + 1.0
    ux, uT, inverse = unique_pairs(x, other_T)
    np.testing.assert_array_equal(uT[inverse], other_T)
    np.testing.assert_array_equal(ux[inverse], x)
    assert not first[2].flags.writeable


def test_mbg_cnbd_factors_equal_the_mixture_of_alive_moments() -> None:
    """E[Y(t)] = P(alive) sum_j w_j E_j[Y(t)], as the alive customer's moments (the predictive path) compute it."""
    model = MODELS[3]
    assert isinstance(model, MbgCnbdModel)
    x, t_x, T = _summary(300, 4)
    steps = np.array([2.0, 26.0])
    p_alive = model.p_alive(x, t_x, T)
    mixture = np.vstack([p_alive * model.alive_customer_moments(float(s), x, t_x, T).mean for s in steps])
    np.testing.assert_allclose(model.expected_purchases_at(steps, x, t_x, T), mixture, rtol=1e-12)
