"""The search (``churn_selection.select_model``): a nominal-seconds budget (deterministic) plus a wall-clock safety
cap that can only stop it early."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.feature_spec import FeatureSpec, feature_catalog
from features.settings import FeatureSettings
from training.churn_selection import SelectionOutcome, candidates, select_model
from training.churn_split import TimeSplit
from training.churn_tuning import STOPPED_BUDGET, STOPPED_COMPLETE, STOPPED_WALL_CLOCK

NAMES = ("days_since_last_event", "events_30d")


def _spec() -> FeatureSpec:
    catalog = {f.name: f for f in feature_catalog(FeatureSettings())}
    return FeatureSpec(features=[catalog[n] for n in NAMES], settings={"n_core_modules": 6})


def _rows(n: int, seed: int, as_of: str) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    silence = rng.exponential(10, n)
    events = rng.poisson(20, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(-2.0 + 0.1 * silence)))).astype(np.int8)
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "as_of": pd.Timestamp(as_of),
            "churned": y,
            "days_since_last_event": silence,
            "events_30d": events,
        }
    )


@pytest.fixture(scope="module")
def split() -> TimeSplit:
    return TimeSplit(
        train=_rows(800, 1, "2026-01-01"),
        validation=_rows(400, 2, "2026-02-01"),
        test=_rows(400, 3, "2026-03-01"),
        train_cutoffs=[pd.Timestamp("2026-01-01")],
        validation_cutoff=pd.Timestamp("2026-02-01"),
        test_cutoff=pd.Timestamp("2026-03-01"),
    )


def tune(split: TimeSplit, spec: FeatureSpec, **kwargs: object) -> SelectionOutcome:
    return select_model(split, spec, horizon_days=30, n_folds=1, min_cutoff_churners=1, **kwargs)  # type: ignore[arg-type]


def _ticking(step: float) -> Callable[[], float]:
    """A clock that advances ``step`` seconds each time it is read (a very slow machine)."""
    now = [0.0]

    def clock() -> float:
        now[0] += step
        return now[0]

    return clock


def test_whole_space_within_a_large_budget(split: TimeSplit) -> None:
    out = tune(split, _spec(), seed=7, budget_seconds=1e9, num_threads=1, wall_clock_cap_seconds=1e9)
    assert out.stopped_by == STOPPED_COMPLETE
    assert len(out.trials) == len(candidates(int(split.train["churned"].sum())))


def test_nominal_budget_stops_after_the_first_candidate(split: TimeSplit) -> None:
    out = tune(split, _spec(), seed=7, budget_seconds=1e-12, num_threads=1, wall_clock_cap_seconds=1e9)
    assert out.stopped_by == STOPPED_BUDGET
    assert len(out.trials) == 1
    assert out.nominal_seconds > 0


def test_wall_clock_cap_only_stops_early_and_says_so(split: TimeSplit, caplog: pytest.LogCaptureFixture) -> None:
    full = tune(split, _spec(), seed=7, budget_seconds=1e9, num_threads=1)
    with caplog.at_level("WARNING", logger="training.churn_tuning"):
        capped = tune(
            split, _spec(), seed=7, budget_seconds=1e9, num_threads=1, wall_clock_cap_seconds=25, clock=_ticking(10)
        )
    assert capped.stopped_by == STOPPED_WALL_CLOCK
    assert 1 <= len(capped.trials) < len(full.trials)

    def timeless(trials: list[dict[str, object]]) -> list[dict[str, object]]:
        return [{k: v for k, v in t.items() if k != "seconds"} for t in trials]

    # the candidates it did try are the same ones, with the same results, in the same order
    assert timeless(capped.trials) == timeless(full.trials)[: len(capped.trials)]
    assert "wall-clock safety cap" in caplog.text
    # the first candidate always runs, however slow the machine
    first_only = tune(
        split, _spec(), seed=7, budget_seconds=1e9, num_threads=1, wall_clock_cap_seconds=1, clock=_ticking(100)
    )
    assert len(first_only.trials) == 1
    alone = tune(split, _spec(), seed=7, budget_seconds=1e-12, num_threads=1).best
    assert first_only.best.model_text() == alone.model_text()  # type: ignore[union-attr]


def test_train_help_documents_both_limits() -> None:
    from churnltv.cli import app

    result = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = " ".join(re.sub("[│╭╮╰╯─]", " ", result.output).split())  # rich's box, wrapped lines
    assert "--time-budget" in text
    assert "NOMINAL seconds of work" in text
    assert "--wall-clock-cap" in text
    assert "can only stop the search early" in text
    assert "tuning_stopped_by=wall_clock_cap" in text
