"""The retention-campaigns mechanism: valid contacts with a random control group, effects that the simulated
behaviour actually shows, and a truth (``true_uplift``) that agrees with it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churnltv.generator import generate
from churnltv.generator.campaigns import (
    ACTIONS,
    CONTROL,
    OFFER,
    RESPONSE_CLASSES,
    RetentionCampaigns,
    response_types,
    true_uplift,
    true_uplift_column,
)

HORIZON = 30


@pytest.fixture(scope="module")
def base():  # type: ignore[no-untyped-def]
    return generate(30_000, seed=11, mechanisms=[RetentionCampaigns()])


def _retained(tables: dict[str, pd.DataFrame], contacts: pd.DataFrame, days: float) -> np.ndarray:
    """The product's activity label, computed independently: an event or a purchase in [contacted_at, + days)."""
    activity = pd.concat(
        [
            tables["events"][["customer_id", "occurred_at"]].rename(columns={"occurred_at": "ts"}),
            tables["transactions"][["customer_id", "occurred_at"]].rename(columns={"occurred_at": "ts"}),
        ]
    ).astype({"customer_id": "str"})
    activity["ts"] = activity["ts"].astype("datetime64[us]")
    left = contacts[["customer_id", "contacted_at"]].astype({"customer_id": "str"}).reset_index()
    left["contacted_at"] = left["contacted_at"].astype("datetime64[us]")
    nxt = (
        pd.merge_asof(
            left.sort_values("contacted_at"),
            activity.sort_values("ts"),
            left_on="contacted_at",
            right_on="ts",
            by="customer_id",
            direction="forward",
        )
        .set_index("index")
        .sort_index()
    )
    return (nxt["ts"].notna() & (nxt["ts"] < nxt["contacted_at"] + pd.Timedelta(days=days))).to_numpy()


def test_contacts_follow_the_contract_with_a_random_control_group(base, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from features.dataset_writer import write_dataset
    from features.sources import open_source

    contacts = base.tables["campaign_contacts"]
    assert set(contacts["arm"]) == {CONTROL, *ACTIONS}
    assert not contacts.duplicated(["customer_id", "campaign_id"]).any()
    assert (contacts["contacted_at"] < base.end).all()
    shares = contacts["arm"].value_counts(normalize=True)
    assert shares[CONTROL] == pytest.approx(0.2, abs=0.02)
    # random assignment: the control group looks like the treated on what was known at the contact
    signup = base.tables["customers"].set_index("customer_id")["signup_at"]
    tenure = (contacts["contacted_at"] - signup.loc[contacts["customer_id"]].to_numpy()).dt.days
    by_arm = tenure.groupby(contacts["arm"].to_numpy()).mean()
    assert by_arm.max() - by_arm.min() < 0.1 * by_arm.mean()
    report = open_source(write_dataset(base.tables, tmp_path / "c.duckdb"), extracted_at=base.end).validate()
    assert not report.problems
    assert base.metadata["retention_campaigns"]["contacts"] == len(contacts)


def test_contacts_with_no_effect_change_nothing() -> None:
    plain = generate(3_000, seed=3)
    neutral = RetentionCampaigns(multipliers={c: dict.fromkeys(ACTIONS, 1.0) for c in RESPONSE_CLASSES})
    extended = generate(3_000, seed=3, mechanisms=[neutral])
    for name, frame in plain.tables.items():
        pd.testing.assert_frame_equal(extended.tables[name], frame)
    assert (extended.truth[f"contact_multiplier_{OFFER}"] == 1.0).all()


def test_the_simulated_effect_matches_the_true_uplift(base) -> None:  # type: ignore[no-untyped-def]
    contacts = base.tables["campaign_contacts"]
    late = contacts["contacted_at"] + pd.Timedelta(days=HORIZON) >= base.end
    contacts = contacts[~late].reset_index(drop=True)
    effects = true_uplift(base.truth, contacts["customer_id"], contacts["contacted_at"], HORIZON)
    alive = _retained(base.tables, contacts, HORIZON).astype(float)
    control = (contacts["arm"] == CONTROL).to_numpy()
    for action in ACTIONS:
        treated = (contacts["arm"] == action).to_numpy()
        measured = alive[treated].mean() - alive[control].mean()
        se = np.sqrt(alive[treated].var() / treated.sum() + alive[control].var() / control.sum())
        # the truth's expected effect over the treated contacts (random assignment: the same as over everyone)
        expected = effects.uplift[true_uplift_column(action)].to_numpy()[treated].mean()
        # the truth leaves purchases out of the label (module docstring): a small, action-independent slack
        assert abs(measured - expected) < 3.5 * se + 0.01, (action, measured, expected, se)


def test_sleeping_dogs_churn_more_when_contacted(base) -> None:  # type: ignore[no-untyped-def]
    contacts = base.tables["campaign_contacts"]
    contacts = contacts[contacts["contacted_at"] + pd.Timedelta(days=HORIZON) < base.end].reset_index(drop=True)
    effects = true_uplift(base.truth, contacts["customer_id"], contacts["contacted_at"], HORIZON)
    dogs = (effects.response == "sleeping_dog") & effects.alive
    alive = _retained(base.tables, contacts, HORIZON).astype(float)
    offered = (contacts["arm"] == OFFER).to_numpy()
    control = (contacts["arm"] == CONTROL).to_numpy()
    measured = alive[dogs & offered].mean() - alive[dogs & control].mean()
    se = np.sqrt(
        alive[dogs & offered].var() / (dogs & offered).sum() + alive[dogs & control].var() / (dogs & control).sum()
    )
    expected = effects.uplift[true_uplift_column(OFFER)].to_numpy()[dogs].mean()
    assert measured < 0
    assert abs(measured - expected) < 3.5 * se + 0.01, (measured, expected, se)
    assert (effects.uplift[true_uplift_column(OFFER)].to_numpy()[dogs] < 0).all()
    types = response_types(effects, OFFER)
    assert set(types) == {"persuadable", "sure_thing", "lost_cause", "sleeping_dog"}
    gone = ~effects.alive
    assert (types[gone] == "lost_cause").all()  # a contact does not bring back the already gone


def test_true_uplift_needs_a_campaign_truth() -> None:
    from features.errors import UserInputError

    plain = generate(50, seed=1)
    with pytest.raises(UserInputError, match="contact_multiplier_care_email_feature_tips"):
        true_uplift(plain.truth, plain.truth["customer_id"], [plain.end] * 50, HORIZON)
