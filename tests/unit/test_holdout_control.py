"""The control group of a scoring run: a random share of every action's targets, the same for the same seed and
as_of day, a new one for the next run, never a customer with nothing to send."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.holdout_control import holdout_control
from models.policy_settings import PolicySettings

IDS = [f"c{i:06d}" for i in range(40_000)]
DAY = pd.Timestamp("2026-03-01")


def _held(ids: list[str], day: pd.Timestamp, actions: list[str], *, share: float = 0.1, seed: int = 0) -> np.ndarray:
    return holdout_control(ids, [day] * len(ids), actions, share=share, seed=seed, no_action="no_action")


def test_a_tenth_of_every_actions_targets_by_default() -> None:
    assert PolicySettings().holdout_share == pytest.approx(0.10)
    actions = ["care_email"] * 20_000 + ["offer"] * 15_000 + ["no_action"] * 5_000
    held = _held(IDS, DAY, actions)
    a = np.array(actions)
    for action in ("care_email", "offer"):
        assert held[a == action].mean() == pytest.approx(0.10, abs=0.01)
    assert not held[a == "no_action"].any()


def test_deterministic_by_seed_and_run_day() -> None:
    actions = ["care_email"] * len(IDS)
    first = _held(IDS, DAY, actions)
    later_same_day = holdout_control(
        IDS, [DAY + pd.Timedelta(hours=7)] * len(IDS), actions, share=0.1, seed=0, no_action="no_action"
    )
    np.testing.assert_array_equal(first, later_same_day)  # a resumed or repeated run holds out the same customers
    reordered = _held(IDS[::-1], DAY, actions)[::-1]
    np.testing.assert_array_equal(first, reordered)  # per customer, not per position or part
    next_run = _held(IDS, DAY + pd.Timedelta(days=7), actions)
    other_seed = _held(IDS, DAY, actions, seed=1)
    for other in (next_run, other_seed):  # independent draws: overlap ~ 0.1 x 0.1
        assert (first & other).mean() == pytest.approx(0.01, abs=0.004)


def test_share_zero_holds_out_nobody_and_the_setting_is_bounded() -> None:
    assert not _held(IDS[:100], DAY, ["offer"] * 100, share=0.0).any()
    with pytest.raises(ValueError, match="holdout_share"):
        PolicySettings(holdout_share=1.0)
