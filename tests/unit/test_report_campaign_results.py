"""The report's "Campaign results" section: measured lift per campaign and action against each campaign's own
control group (the known effect of the test base is found), campaigns without control named, and a note while
no uplift model is registered."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from features.settings import FeatureSettings
from models.policy_settings import PolicySettings
from support.frames import open_frames
from support.uplift_base import END, make_base
from training.report.builder import SECTION_IDS, build_report


def _section(page: str, section_id: str) -> str:
    match = re.search(rf'<section id="{section_id}">(.*?)</section>', page, flags=re.S)
    assert match is not None
    return match.group(1)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> str:
    tables = make_base(1200, seed=2)
    con = open_frames(tables, extracted_at=END).connect()
    return build_report(
        con=con,
        scores=None,
        score_run=None,
        data_quality=None,
        tracking_uri=f"sqlite:///{tmp_path_factory.mktemp('r')}/empty.db",
        policy=PolicySettings(),
        feature_settings=FeatureSettings(),
    )


def test_measured_lift_per_campaign_and_action(page: str) -> None:
    assert "campaign-results" in SECTION_IDS
    body = _section(page, "campaign-results")
    assert 'class="section-error"' not in body
    assert "Measured lift per campaign and action" in body
    rows = re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in rows[1:]]
    care = [c for c in cells if c[1] == "care_email" and "[" in c[7]]
    assert care, "care_email is measured in the campaigns with a control arm"
    # the base's care_email effect is +0.30 for half the customers, 0 for the others: about +0.15 on average
    lifts = [float(c[7].split(" ")[0]) for c in care]
    assert sum(lifts) / len(lifts) == pytest.approx(0.15, abs=0.07)


def test_campaign_without_control_is_named_and_no_model_is_a_note(page: str) -> None:
    body = _section(page, "campaign-results")
    assert "No control arm:" in body
    assert "not measurable (no control)" in body
    assert "no uplift model is registered" in body


def test_without_campaign_contacts_the_section_says_so(tmp_path: Path) -> None:
    tables = make_base(200, seed=3)
    del tables["campaign_contacts"]
    con = open_frames(tables, extracted_at=END).connect()
    page = build_report(
        con=con,
        scores=None,
        score_run=None,
        data_quality=None,
        tracking_uri=f"sqlite:///{tmp_path}/empty.db",
        policy=PolicySettings(),
        feature_settings=FeatureSettings(),
    )
    assert "no <code>campaign_contacts</code> table" in _section(page, "campaign-results")
