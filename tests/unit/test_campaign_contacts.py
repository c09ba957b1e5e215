"""campaign_contacts: validated like every table (named errors, a warning for no control arm) and turned into
contact outcomes with the churn label's own definition."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.campaign_outcomes import contact_features, contact_outcomes, read_contacts
from features.dataset_writer import write_dataset
from features.errors import DataContractError, UserInputError
from features.labels import build_labels, churned_after
from features.settings import FeatureSettings
from features.sources import open_source

CUSTOMERS = (
    "customer_id,signup_at,acquisition_channel,segment,attr_plan\n"
    "c1,2024-01-01,ads,b2c,monthly\nc2,2024-01-02,seo,b2c,annual\nc3,2024-01-03,seo,b2c,annual\n"
)
EVENTS = (
    "customer_id,occurred_at,event_type,module\n"
    "c1,2024-02-01,core_action,reports\nc2,2024-02-02,login,app\nc3,2024-02-03,login,app\n"
    "c1,2024-03-10,login,app\nc3,2024-06-01,login,app\n"
)
TRANSACTIONS = "customer_id,occurred_at,amount,order_id\nc1,2024-03-05,20,o1\nc1,2024-03-20,5,o2\nc2,2024-04-01,7,o3\n"
CONTACTS_HEADER = "customer_id,campaign_id,contacted_at,arm,cost\n"
GOOD = CONTACTS_HEADER + (
    "c1,k1,2024-03-01 09:00:00,care_email_feature_tips,1.5\nc2,k1,2024-03-01 09:00:00,control,\n"
    "c3,k1,2024-03-01 09:00:00,care_email_feature_tips,1.5\nc1,k2,2024-05-20,control,0\n"
)


def _write(tmp_path: Path, contacts: str) -> Path:
    for name, text in (
        ("customers", CUSTOMERS),
        ("events", EVENTS),
        ("transactions", TRANSACTIONS),
        ("campaign_contacts", contacts),
    ):
        (tmp_path / f"{name}.csv").write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (
            "c9,k1,2024-03-01,control,0",
            "row 5, column 'customer_id': unknown customer (not in customers) (value: 'c9')",
        ),
        ("c2,k3,2026-03-01,control,0", "row 5, column 'contacted_at', customer 'c2': dated in the future"),
        (
            "c1,k1,2024-03-01,control,0",
            "row 5, column 'campaign_id, customer_id': the same customer twice in one campaign",
        ),
        ("c2,k3,2024-03-01,care_email,-2", "row 5, column 'cost', customer 'c2': negative amount (value: '-2')"),
        ("c2,k3,2024-03-01,free upgrade!,1", "row 5, column 'arm', customer 'c2': not an action key"),
        ("c2,k3,yesterday,control,1", "row 5, column 'contacted_at', customer 'c2': not a valid date/time"),
        ("c2,k3,2024-03-01,,1", "row 5, column 'arm', customer 'c2': missing value"),
    ],
)
def test_bad_contact_rows_are_named(tmp_path: Path, row: str, expected: str) -> None:
    source = open_source(_write(tmp_path, GOOD + row + "\n"), extracted_at="2025-01-01")
    messages = [str(ex) for p in source.validate().problems for ex in p.examples]
    assert any(m.startswith("campaign_contacts.csv, " + expected) for m in messages), messages
    with pytest.raises(DataContractError):
        source.connect()


def test_campaign_without_control_is_a_warning_not_an_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    source = open_source(
        _write(tmp_path, GOOD + "c2,k3,2024-04-01,care_email_feature_tips,1\n"), extracted_at="2025-01-01"
    )
    report = source.validate()
    assert report.ok
    assert [w.message for w in report.warnings] == ["campaign without a control arm"]
    assert "campaign 'k3' has no 'control' arm (1 contacts)" in report.render_text()
    assert report.to_dict()["warnings"][0]["count"] == 1
    with caplog.at_level("WARNING", logger="features.sources"):
        source.connect()
    assert "campaign 'k3' has no 'control' arm" in caplog.text


def test_outcomes_use_the_churn_label_and_horizon_spend(tmp_path: Path) -> None:
    con = open_source(_write(tmp_path, GOOD), extracted_at="2025-01-01").connect()
    out = contact_outcomes(con, read_contacts(con), FeatureSettings(horizon_days=30))
    by = out.set_index(["campaign_id", "customer_id"])
    # c1 active 2024-03-05/-10/-20 after the 2024-03-01 contact; c2 next seen 2024-04-01 (31 days: churned);
    # c3 next seen in June: churned; k2 (2024-05-20) ends 2024-06-19 <= last activity 2024-06-01? no: unobservable
    assert by.loc[("k1", "c1"), "retained"] == 1.0
    assert by.loc[("k1", "c1"), "spend"] == 25.0
    assert by.loc[("k1", "c2"), "retained"] == 0.0
    assert by.loc[("k1", "c2"), "spend"] == 0.0
    assert by.loc[("k1", "c3"), "retained"] == 0.0
    assert not by.loc[("k2", "c1"), "observable"]
    assert np.isnan(by.loc[("k2", "c1"), "retained"])
    assert len(out) == 4  # nothing dropped
    assert np.isnan(out.loc[out["arm"] == "control", "cost"]).any()


def test_churned_after_agrees_with_build_labels(tmp_path: Path) -> None:
    con = open_source(_write(tmp_path, GOOD), extracted_at="2025-01-01").connect()
    settings = FeatureSettings(horizon_days=30)
    labels = build_labels(con, ["2024-03-01"], settings)
    again = churned_after(con, labels, settings)
    assert labels["churned"].tolist() == again.astype(int).tolist()


def test_contact_features_are_point_in_time_and_carry_attributes(tmp_path: Path) -> None:
    con = open_source(_write(tmp_path, GOOD), extracted_at="2025-01-01").connect()
    contacts = read_contacts(con)
    built = contact_features(con, contacts, FeatureSettings())
    assert built.attributes == ["attr_plan"]
    assert built.frame["customer_id"].tolist() == contacts["customer_id"].tolist()
    assert built.frame["as_of"].tolist() == contacts["contacted_at"].dt.floor("D").tolist()
    c1 = built.frame[(built.frame["customer_id"] == "c1")].iloc[0]
    assert c1["attr_plan"] == "monthly"
    assert c1["txn_count_total"] == 0  # the 2024-03-05 purchase is after the contact day


def test_contact_before_signup_is_refused(tmp_path: Path) -> None:
    con = open_source(
        _write(tmp_path, CONTACTS_HEADER + "c3,k1,2023-12-01,control,0\n"), extracted_at="2025-01-01"
    ).connect()
    with pytest.raises(UserInputError, match=r"before the customer signed up, e\.g\. customer 'c3'"):
        contact_features(con, read_contacts(con), FeatureSettings())


@pytest.mark.parametrize("target", ["dir_parquet", "base.duckdb"])
def test_contacts_load_from_parquet_and_duckdb(tmp_path: Path, target: str) -> None:
    frames = {
        name: pd.read_csv(_write(tmp_path, GOOD) / f"{name}.csv")
        for name in ("customers", "events", "transactions", "campaign_contacts")
    }
    for name, column in (("customers", "signup_at"), ("events", "occurred_at"), ("transactions", "occurred_at")):
        frames[name][column] = pd.to_datetime(frames[name][column], format="ISO8601").astype("datetime64[us]")
    contacted = pd.to_datetime(frames["campaign_contacts"]["contacted_at"], format="ISO8601")
    frames["campaign_contacts"]["contacted_at"] = contacted.astype("datetime64[us]")
    out = write_dataset(frames, tmp_path / target)
    con = open_source(out, extracted_at="2025-01-01").connect()
    contacts = read_contacts(con)
    assert contacts["arm"].tolist().count("control") == 2
    assert contacts["cost"].isna().sum() == 1
