"""Generator knobs for robustness tests: defaults change nothing, the knobs move the churn rate the intended way."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from churnltv.generator import GeneratedBase, generate, oracle_churn_probability
from features.errors import UserInputError

# sha256 over every table's column names, dtypes and row hashes, and the truth, of generate(300, seed=5), taken
# from the generator before the knobs existed: the default output must stay byte-identical.
DEFAULT_DIGEST = "fe7544ce93e8b74757b1bf455b63429f63ee7e5bc866928b202b8d3bfea64616"


def _digest(base: GeneratedBase) -> str:
    h = hashlib.sha256()
    for name in sorted(base.tables):
        table = base.tables[name]
        h.update(name.encode())
        h.update(",".join(f"{c}:{table[c].dtype}" for c in table.columns).encode())
        h.update(pd.util.hash_pandas_object(table, index=True).to_numpy().tobytes())
    h.update(pd.util.hash_pandas_object(base.truth, index=True).to_numpy().tobytes())
    return h.hexdigest()


def test_default_knobs_leave_the_output_unchanged() -> None:
    assert _digest(generate(300, seed=5)) == DEFAULT_DIGEST
    assert _digest(generate(300, seed=5, hazard_scale=1.0, activity_scale=1.0)) == DEFAULT_DIGEST


def test_hazard_and_activity_knobs_move_churn_and_activity() -> None:
    plain, risky = generate(1500, seed=8), generate(1500, seed=8, hazard_scale=4.0)
    np.testing.assert_allclose(risky.truth["base_hazard_per_day"], 4.0 * plain.truth["base_hazard_per_day"])
    assert risky.truth["churn_at"].notna().mean() > plain.truth["churn_at"].notna().mean() + 0.1
    # the oracle reads the scaled hazard from the truth: customers alive at a cutoff are riskier
    as_of = pd.Timestamp("2026-05-01")
    alive = plain.truth["churn_at"].isna() & (plain.truth["signup_at"] < as_of)
    ids = plain.truth.loc[alive, "customer_id"].tolist()
    p_plain = oracle_churn_probability(plain.truth, as_of, 30, customer_ids=ids).mean()
    p_risky_same_traits = oracle_churn_probability(
        plain.truth.assign(base_hazard_per_day=4.0 * plain.truth["base_hazard_per_day"]), as_of, 30, customer_ids=ids
    ).mean()
    assert p_risky_same_traits > 3.0 * p_plain
    busy = generate(1500, seed=8, activity_scale=3.0)
    assert len(busy.tables["events"]) > 2 * len(plain.tables["events"])
    assert busy.truth["active_days_per_day"].max() <= 0.9


@pytest.mark.parametrize("knob", ["hazard_scale", "activity_scale"])
@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_knobs_are_user_errors(knob: str, value: float) -> None:
    with pytest.raises(UserInputError, match=f"{knob} must be a positive number"):
        generate(10, **{knob: value})
