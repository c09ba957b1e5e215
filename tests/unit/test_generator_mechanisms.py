"""The generator's extension point: an optional mechanism adds tables, columns, truth and metadata, and changes
nothing else (its draws come from its own random stream)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnltv.generator import Mechanism, World, generate
from features.errors import UserInputError


class _Survey(Mechanism):
    """A toy mechanism: a per-customer 'true effect', a table about it, and a note for the caller."""

    name = "survey"

    def __init__(self) -> None:
        self.tables_seen_before: set[str] = set()
        self.tables_seen_after: set[str] = set()

    def shape_customers(self, world: World) -> None:
        self.tables_seen_before = set(world.tables)

    def extend_tables(self, world: World) -> None:
        self.tables_seen_after = set(world.tables)
        n = len(world.customer_ids)
        effect = world.rng.normal(0.0, 1.0, n)
        world.truth_columns["survey_effect"] = effect
        world.tables["surveys"] = pd.DataFrame({"customer_id": world.customer_ids, "answer": effect > 0})
        world.metadata["survey"] = {"customers": n}


class _ShorterLives(Mechanism):
    """Changes the latent lives in place before activity is simulated: every first churn comes 10 days earlier."""

    name = "shorter_lives"

    def shape_customers(self, world: World) -> None:
        cu = world.customers
        cu.c1[:] = np.where(np.isfinite(cu.c1), np.maximum(cu.s, cu.c1 - 10.0), cu.c1)


def test_a_mechanism_adds_its_tables_truth_and_metadata_and_changes_nothing_else() -> None:
    plain = generate(300, seed=5)
    survey = _Survey()
    extended = generate(300, seed=5, mechanisms=[survey])
    assert survey.tables_seen_before == set()  # shape_customers runs before any table exists
    assert survey.tables_seen_after == set(plain.tables)  # extend_tables sees every core table
    for name, frame in plain.tables.items():
        pd.testing.assert_frame_equal(extended.tables[name], frame)
    assert set(extended.tables) == {*plain.tables, "surveys"}
    pd.testing.assert_frame_equal(extended.truth.drop(columns="survey_effect"), plain.truth)
    assert extended.metadata == {"survey": {"customers": 300}}
    assert plain.metadata == {}
    again = generate(300, seed=5, mechanisms=[_Survey()])
    np.testing.assert_array_equal(again.truth["survey_effect"], extended.truth["survey_effect"])
    other_seed = generate(300, seed=6, mechanisms=[_Survey()])
    assert not np.array_equal(other_seed.truth["survey_effect"], extended.truth["survey_effect"])


def test_shape_customers_changes_what_is_simulated_after_it() -> None:
    plain = generate(400, seed=8)
    shorter = generate(400, seed=8, mechanisms=[_ShorterLives()])
    churned = plain.truth["churn_at"].notna()
    assert churned.any()
    earlier = plain.truth.loc[churned, "churn_at"] - shorter.truth.loc[churned, "churn_at"]
    assert (earlier <= pd.Timedelta(days=10, seconds=1)).all()
    assert (earlier > pd.Timedelta(0)).any()
    pd.testing.assert_frame_equal(shorter.tables["customers"], plain.tables["customers"])  # drawn before the hook


def test_mechanisms_need_distinct_names() -> None:
    with pytest.raises(UserInputError, match="distinct, non-empty names"):
        generate(10, mechanisms=[_Survey(), _Survey()])
    with pytest.raises(UserInputError, match="distinct, non-empty names"):
        generate(10, mechanisms=[Mechanism()])
