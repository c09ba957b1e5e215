"""The heterogeneous-vocabulary generator mode: eight event types whose rates drive churn with different signs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from churnltv.cli import app
from churnltv.generator import GeneratedBase, generate, oracle_churn_probability
from churnltv.generator.vocabulary import RATIO, VOCABULARY, HeterogeneousVocabulary, vocabulary_mechanisms
from features.errors import UserInputError

END = pd.Timestamp("2026-06-30")


@pytest.fixture(scope="module")
def base() -> GeneratedBase:
    return generate(1500, seed=3, end=END, mechanisms=[HeterogeneousVocabulary()])


def test_every_type_of_the_vocabulary_is_in_the_events(base: GeneratedBase) -> None:
    events = base.tables["events"]
    names = [kind.name for kind in VOCABULARY]
    assert 6 <= len(names) <= 10
    assert set(events["event_type"].astype(str)) == set(names)
    assert base.metadata["vocabulary"] == names
    assert (events["occurred_at"] < END).all()
    # the contract's order: by customer, then time
    codes = events["customer_id"].cat.codes.to_numpy()
    assert (np.diff(codes) >= 0).all()


def test_effects_have_both_signs_and_cancel_on_the_shared_activity() -> None:
    effects = [kind.effect for kind in VOCABULARY]
    assert min(effects) < 0 < max(effects)
    assert sum(effects) == pytest.approx(0.0)  # doing more of everything is not safer: totals carry no signal
    assert {RATIO[0], RATIO[1]} <= {kind.name for kind in VOCABULARY}


def _rate_correlation_with_hazard(base: GeneratedBase, name: str) -> float:
    truth = base.truth
    return float(np.corrcoef(np.log(truth[f"rate_{name}"]), np.log(truth["base_hazard_per_day"]))[0, 1])


def test_true_rates_move_the_hazard_by_the_sign_of_their_effect(base: GeneratedBase) -> None:
    for kind in VOCABULARY:
        corr = _rate_correlation_with_hazard(base, kind.name)
        if kind.effect <= -0.5:
            assert corr < -0.1, (kind.name, corr)
        elif kind.effect >= 0.5:
            assert corr > 0.1, (kind.name, corr)


def test_observed_rates_differ_between_churners_and_stayers_by_sign_of_effect(base: GeneratedBase) -> None:
    # the data itself (not only the truth) carries the signal: per-day rates of the subscribers who churn next month
    truth = base.truth.set_index("customer_id")
    cutoff = END.floor("D") - pd.Timedelta(days=60)
    alive = (truth["signup_at"] < cutoff - pd.Timedelta(days=60)) & (
        truth["churn_at"].isna() | (truth["churn_at"] >= cutoff)
    )
    churned = alive & (truth["churn_at"] < cutoff + pd.Timedelta(days=30))
    events = base.tables["events"]
    recent = events[(events["occurred_at"] < cutoff) & (events["occurred_at"] >= cutoff - pd.Timedelta(days=60))]
    counts = recent.groupby(["customer_id", "event_type"], observed=False).size().unstack(fill_value=0)
    counts = counts.reindex(truth.index[alive], fill_value=0)
    flags = churned[alive]
    for name in ("post", "unfriend"):
        ratio = counts.loc[flags, name].mean() / counts.loc[~flags, name].mean()
        assert (ratio < 1.0) if name == "post" else (ratio > 1.0), (name, ratio)


def test_oracle_is_the_constant_hazard_and_spreads_widely(base: GeneratedBase) -> None:
    truth = base.truth
    assert (truth["decline_multiplier"] == 0.0).all()
    as_of = END - pd.Timedelta(days=60)
    prob = oracle_churn_probability(truth, as_of, 30).dropna()
    alive = truth.set_index("customer_id").loc[prob.index]
    alive1 = (alive["churn_at"].isna() | (alive["churn_at"] >= as_of)).to_numpy()
    expected = 1.0 - np.exp(-alive["base_hazard_per_day"].to_numpy() * 30.0)
    np.testing.assert_allclose(prob.to_numpy()[alive1], expected[alive1], rtol=1e-9)
    assert prob[alive1].quantile(0.95) > 10 * prob[alive1].median()


def test_same_seed_same_base_other_seed_differs() -> None:
    one = generate(200, seed=5, mechanisms=[HeterogeneousVocabulary()])
    two = generate(200, seed=5, mechanisms=[HeterogeneousVocabulary()])
    other = generate(200, seed=6, mechanisms=[HeterogeneousVocabulary()])
    for name in one.tables:
        pd.testing.assert_frame_equal(one.tables[name], two.tables[name])
    pd.testing.assert_frame_equal(one.truth, two.truth)
    assert not one.tables["events"]["occurred_at"].equals(other.tables["events"]["occurred_at"])


def test_unknown_vocabulary_is_a_user_error() -> None:
    with pytest.raises(UserInputError, match="--vocabulary 'social' is not one of default, hetero"):
        vocabulary_mechanisms("social")


def test_cli_writes_a_hetero_base(tmp_path: Path) -> None:
    out = tmp_path / "social"
    result = CliRunner().invoke(
        app, ["generate", "--customers", "150", "--vocabulary", "hetero", "--out", str(out), "--format", "parquet"]
    )
    assert result.exit_code == 0, result.output
    events = pd.read_parquet(out / "events.parquet")
    assert set(events["event_type"].astype(str)) == {kind.name for kind in VOCABULARY}
    assert "rate_post" in pd.read_parquet(tmp_path / "social.truth.parquet").columns


def test_cli_rejects_an_unknown_vocabulary(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["generate", "--customers", "10", "--vocabulary", "x", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "--vocabulary 'x' is not one of default, hetero" in result.output
