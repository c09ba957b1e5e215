"""The HTML report (`churnltv report`): every section on a fully trained world, and missing inputs.

The shared ``trained_world`` fixture (tests/conftest.py) generates a small base (3,000 customers, seed 3), validates it, trains the churn and LTV
models into the session's temporary MLflow store (tests/conftest.py), promotes both, batch-scores the base and
writes the report once per session; tests/e2e/test_report_browser.py renders the same file in Chromium.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from churnltv.report_command import read_data_quality
from conftest import TrainedWorld
from features.errors import UserInputError
from training.report import SECTION_IDS, build_report, write_report


@pytest.fixture(scope="module")
def world(trained_world: TrainedWorld) -> TrainedWorld:
    return trained_world


def section(page: str, section_id: str) -> str:
    """The HTML of one section (sections do not nest)."""
    match = re.search(rf'<section id="{section_id}">(.*?)</section>', page, flags=re.S)
    assert match is not None, f"section {section_id!r} not in the report"
    return match.group(1)


def images(fragment: str) -> list[str]:
    return re.findall(r'<img alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', fragment)


@pytest.mark.slow
def test_full_report_has_every_section_with_content_and_plots(world: TrainedWorld) -> None:
    page = world.report.read_text(encoding="utf-8")
    for section_id in SECTION_IDS:
        section(page, section_id)
    assert 'class="section-error"' not in page
    assert 'class="missing"' not in page, "every input exists in the full world: no section may say it is missing"
    # self-contained: no external resources
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "<script" not in page
    expected_images = {
        "churn-model": 4,  # ROC, lift, calibration, feature importance
        "btyd": 2,  # predicted vs actual per bucket, P(alive) heatmap
        "ltv-distribution": 1,
        "risk-tiers": 1,
        "health-retention": 1,
        "lifecycle": 1,
        "nps": 1,
        "acquisition": 1,
    }
    for section_id, n in expected_images.items():
        found = images(section(page, section_id))
        assert len(found) == n, f"{section_id}: {len(found)} image(s), expected {n}"
        assert all(len(b) > 2000 for b in found), f"{section_id}: an image is (nearly) empty"
    churn = section(page, "churn-model")
    for text in ("ROC-AUC", "(champion)", "oracle", "Against baselines"):
        assert text in churn
    health = section(page, "health-retention")
    assert "score &gt;= 85" in health or "score >= 85" in health
    for text in ("30 days", "90 days", "healthy vs"):
        assert text in health
    lifecycle = section(page, "lifecycle")
    for stage in ("activation", "monetization", "maturity", "maintenance", "reactivated"):
        assert stage in lifecycle
    acquisition = section(page, "acquisition")
    assert "LTV/CAC &gt; 3" in acquisition
    assert "(reserve)" in acquisition
    var = section(page, "value-at-risk")
    assert var.count("<tr>") == 21  # header + top 20
    assert world.seconds < 60, f"report took {world.seconds:.1f} s"


@pytest.mark.slow
def test_value_at_risk_table_is_the_score_stores_ranking(world: TrainedWorld) -> None:
    from service.score_store import open_score_store

    store = open_score_store(world.scores)
    top = store.retention_list(limit=5)
    store.close()
    var = section(world.report.read_text(encoding="utf-8"), "value-at-risk")
    positions = [var.find(f">{cid}<") for cid in top["customer_id"]]
    assert all(p >= 0 for p in positions)
    assert positions == sorted(positions), "the report must rank customers by value at risk like the store"


@pytest.mark.slow
def test_cli_writes_the_report(world: TrainedWorld, tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from churnltv import report_command

    app = typer.Typer()
    report_command.register(app)
    app.command("noop")(lambda: None)  # a second command keeps `report` a subcommand
    out = tmp_path / "out" / "report.html"
    result = CliRunner().invoke(
        app,
        ["report", "--data", str(world.data), "--scores", str(world.scores), "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert str(out.resolve()) in result.output
    page = out.read_text(encoding="utf-8")
    assert "no data-quality summary was given" in section(page, "data-quality")
    assert images(section(page, "risk-tiers"))


# ------------------------------------------------------------------------------------- missing inputs (fast)
def _minimal_connection() -> duckdb.DuckDBPyConnection:
    """customers + events only (no transactions, NPS, spend, tickets), 40 days of data."""
    from features.sources import open_frames

    start = pd.Timestamp("2026-01-01")
    customers = pd.DataFrame(
        {
            "customer_id": [f"C{i}" for i in range(6)],
            "signup_at": [start] * 6,
            "acquisition_channel": ["ads"] * 6,
            "segment": ["b2c"] * 6,
        }
    )
    events = pd.DataFrame(
        {
            "customer_id": [f"C{i % 6}" for i in range(60)],
            "occurred_at": [start + pd.Timedelta(hours=16 * i) for i in range(60)],
            "event_type": ["core_action"] * 60,
            "module": ["m1"] * 60,
            "value": [None] * 60,
        }
    )
    return open_frames({"customers": customers, "events": events}, extracted_at="2026-12-31").connect()


def test_report_without_optional_inputs_says_what_is_missing(tmp_path: Path) -> None:
    con = _minimal_connection()
    page = build_report(
        con=con,
        scores=None,
        score_run=None,
        data_quality=None,
        tracking_uri=f"sqlite:///{tmp_path}/empty.db",
    )
    assert 'class="section-error"' not in page
    for section_id in SECTION_IDS:
        body = section(page, section_id)
        assert 'class="missing"' in body, f"{section_id} must say what is missing"
    assert "no data-quality summary" in section(page, "data-quality")
    assert "no churn model is registered" in section(page, "churn-model")
    assert "no <code>transactions</code> table" in section(page, "btyd")
    assert "no <code>nps_responses</code> table" in section(page, "nps")
    assert "no <code>acquisition_spend</code> table" in section(page, "acquisition")
    assert "too short" in section(page, "health-retention")
    for section_id in ("ltv-distribution", "risk-tiers", "lifecycle", "value-at-risk"):
        assert "no score run" in section(page, section_id)
    out = write_report(page, tmp_path / "r" / "report.html")
    assert out.read_text(encoding="utf-8") == page
    assert [p.name for p in out.parent.iterdir()] == ["report.html"], "no temporary file may be left behind"


def test_data_quality_section_lists_tables_and_problems(tmp_path: Path) -> None:
    con = _minimal_connection()
    quality = {
        "source": "shop.duckdb",
        "extracted_at": "2026-02-01",
        "ok": False,
        "rows_rejected": 3,
        "tables": [{"table": "customers", "source": "x", "rows": 6, "customers": 6, "first": "a", "last": "b"}],
        "absent_tables": ["transactions"],
        "problems": [
            {"table": "events", "column": "occurred_at", "problem": "in the future", "count": 3, "examples": ["e1"]}
        ],
    }
    page = build_report(
        con=con, scores=None, score_run=None, data_quality=quality, tracking_uri=f"sqlite:///{tmp_path}/e.db"
    )
    body = section(page, "data-quality")
    assert "3 row(s) break the contract" in body
    assert "in the future" in body
    assert "<code>transactions</code>" in body


def test_read_data_quality_rejects_other_json_and_accepts_absent_file(tmp_path: Path) -> None:
    assert read_data_quality(None) is None
    assert read_data_quality(tmp_path / "nope.json") is None
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([1, 2]))
    with pytest.raises(UserInputError, match="not a data-quality summary"):
        read_data_quality(bad)
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(UserInputError, match="invalid JSON"):
        read_data_quality(broken)


@pytest.mark.slow
def test_churn_plots_are_redrawn_from_the_bundle_when_the_run_artifacts_are_gone(
    world: TrainedWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from features.sources import open_source
    from training import report

    monkeypatch.setattr(report, "_run_artifacts", lambda run_id, path, dst: None)
    con = open_source(world.data).connect()
    page = build_report(con=con, scores=None, score_run=None, data_quality=None)
    con.close()
    churn = section(page, "churn-model")
    assert 'class="section-error"' not in churn
    assert len(images(churn)) == 4
    assert "holdout_buckets.json" in section(page, "btyd")  # the LTV bucket artifact is reported missing


def test_health_verdict_needs_enough_customers_in_each_group(monkeypatch: pytest.MonkeyPatch) -> None:
    from models.policy_settings import default_policy_settings
    from training import report

    def table(n_healthy: int) -> pd.DataFrame:
        rows = []
        for horizon in (30, 90):
            rows.append(("score >= 85", horizon, n_healthy, 0.95))
            rows.append(("score < 85", horizon, 500, 0.70))
        return pd.DataFrame(
            {
                "horizon_days": [h for _, h, _, _ in rows],
                "group": [g for g, _, _, _ in rows],
                "customers": [n for _, _, n, _ in rows],
                "labelled": [n for _, _, n, _ in rows],
                "retained": [round(n * r) for _, _, n, r in rows],
                "retention_rate": [r for _, _, _, r in rows],
            }
        )

    inputs = report.ReportInputs(
        con=duckdb.connect(),
        scores=None,
        score_run=None,
        data_quality=None,
        tracking_uri="sqlite:////nonexistent/x.db",
        policy=default_policy_settings(),
        tables={"events"},
    )
    monkeypatch.setattr(
        report, "health_retention_frame", lambda con, policy: (table(200), pd.Timestamp("2026-01-01"), 700)
    )
    body = report.health_retention_section(inputs)
    assert body.count("healthy customers retain better") == 2
    assert body.count("the article's 92%: reached") == 2
    assert len(images(body)) == 1
    monkeypatch.setattr(
        report, "health_retention_frame", lambda con, policy: (table(5), pd.Timestamp("2026-01-01"), 505)
    )
    body = report.health_retention_section(inputs)
    assert body.count("too few customers in a group to judge") == 2
    assert "retain better" not in body
