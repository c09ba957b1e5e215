"""The HTML report (`churnltv report`): every section on a fully trained world, and missing inputs.

The shared ``trained_world`` fixture (tests/conftest.py) generates a small base (3,000 customers, seed 3), validates it, trains the churn and LTV
models into the session's temporary MLflow store (tests/conftest.py), promotes both, batch-scores the base and
writes the report once per session; tests/e2e/test_report_browser.py renders the same file in Chromium.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from churnltv.report_command import read_data_quality, read_drift
from features.errors import UserInputError
from features.settings import FeatureSettings
from models.policy_settings import PolicySettings
from support.world import TrainedWorld
from training.report import tracking_reads
from training.report.builder import SECTION_IDS, build_report, write_report
from training.report.inputs import ReportInputs
from training.report.section import render_section
from training.report.sections import b2b_accounts, drift, health_retention, referral

# the settings the composition root builds for `churnltv report` (the report reads no environment)
SETTINGS: dict[str, Any] = {"policy": PolicySettings(), "feature_settings": FeatureSettings()}


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


NO_MONITOR_RUN = "no drift monitor run was found"


@pytest.mark.slow
def test_full_report_has_every_section_with_content_and_plots(world: TrainedWorld) -> None:
    page = world.report.read_text(encoding="utf-8")
    assert 'class="section-error"' not in page
    for section_id in SECTION_IDS:
        if section_id == "campaign-results":  # the shared world has no campaign history (tests/unit/...campaign*)
            assert "no <code>campaign_contacts</code> table" in section(page, section_id)
            continue
        body = section(page, section_id)
        assert 'class="missing"' not in body, f"{section_id}: every input exists in the full world"
    # the shared world (tests/conftest.py) logs a monitor run before writing the report
    assert NO_MONITOR_RUN not in section(page, "drift")
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
        "b2b-accounts": 1,  # account health distribution
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
    b2b = section(page, "b2b-accounts")
    for text in ("Accounts per risk tier", "Health distribution", "accounts by value at risk", "time_limited_offer"):
        assert text in b2b
    referral = section(page, "referral")
    for text in ("Whom to ask", "referral events screened", "duplicate_ip", "already used by the referral"):
        assert text in referral
    assert world.seconds < 60, f"report took {world.seconds:.1f} s"


def _world_inputs(world: TrainedWorld) -> tuple[Any, Any]:
    """(connection, ReportInputs) over the shared world's data and latest score run."""
    from features.contract import TABLES
    from features.sources import open_source
    from models.policy_settings import default_policy_settings
    from service.score_store import open_score_store

    store = open_score_store(world.scores)
    run = store.latest_run()
    assert run is not None
    scores = store.read_scores(run_id=str(run["run_id"]))
    store.close()
    con = open_source(world.data).connect()
    tables = {str(r[0]) for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    inputs = ReportInputs(
        con=con,
        scores=scores,
        score_run=run,
        data_quality=None,
        tracking_uri=world.tracking_uri,
        policy=default_policy_settings(),
        feature_settings=FeatureSettings(),
        tables=tables & set(TABLES),
    )
    return con, inputs


@pytest.mark.slow
def test_b2b_section_rolls_every_scored_b2b_user_up_to_their_account(world: TrainedWorld) -> None:

    con, inputs = _world_inputs(world)
    try:
        built = b2b_accounts.account_frame(inputs)
        assert not isinstance(built, str), built
        accounts, note = built
        scored = set(inputs.scores["customer_id"].astype(str))
        members = con.execute(
            "SELECT CAST(customer_id AS VARCHAR), account_id FROM customers WHERE account_id IS NOT NULL"
        ).fetchall()
        members = [(c, a) for c, a in members if c in scored]
        body = render_section(b2b_accounts.SECTION, inputs)
    finally:
        con.close()
    assert len(accounts) == len({a for _, a in members}) > 10
    assert int(accounts["users"].sum()) == len(members), "every scored B2B user is in exactly one account"
    assert "churn model version" in note  # features rebuilt with the scoring model's settings
    # the account's probability is the mean of its users' scores, its LTV the sum (docs/DOMAIN.md section 9)
    by_user = inputs.scores.assign(customer_id=inputs.scores["customer_id"].astype(str)).set_index("customer_id")
    first = accounts.iloc[0]
    users = [c for c, a in members if a == first["account_id"]]
    assert first["churn_probability"] == pytest.approx(by_user.loc[users, "churn_probability"].mean())
    assert first["predicted_ltv"] == pytest.approx(by_user.loc[users, "predicted_ltv"].sum())
    top = accounts.sort_values("value_at_risk", ascending=False).iloc[0]
    assert body.index(f">{top['account_id']}<") < body.index("</table>", body.index("accounts by value at risk"))
    tier_rows = re.findall(r'<tr><td class="text">(none|low|medium|high)</td><td>([\d,]+)</td>', body)
    assert sum(int(n.replace(",", "")) for _, n in tier_rows) == len(accounts)


@pytest.mark.slow
def test_referral_section_accounts_for_every_referral_event(world: TrainedWorld) -> None:
    from models.referral_screening import screen_referrals

    con, inputs = _world_inputs(world)
    try:
        events = con.execute(
            "SELECT CAST(referrer_id AS VARCHAR) AS referrer_id, CAST(referred_id AS VARCHAR) AS referred_id, "
            "occurred_at, ip, device_id FROM referrals"
        ).df()
        body = render_section(referral.SECTION, inputs)
    finally:
        con.close()
    expected = screen_referrals(events)
    assert len(expected.rejected) > 0, "the demo generator plants referral fraud rings"
    assert f"{len(events):,} referral events screened" in body
    assert f"<b>{len(expected.accepted):,} accepted</b>, <b>{len(expected.rejected):,} rejected</b>" in body
    for reason, n in expected.rejected["reason"].value_counts().items():
        assert f'<td class="text">{reason}</td><td>{n:,}</td>' in body


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
    from support.frames import open_frames

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
        **SETTINGS,
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
    for section_id in ("ltv-distribution", "risk-tiers", "lifecycle", "value-at-risk", "b2b-accounts", "referral"):
        assert "no score run" in section(page, section_id)
    assert "no <code>referrals</code> table" in section(page, "referral")
    assert NO_MONITOR_RUN in section(page, "drift")
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
        con=con,
        scores=None,
        score_run=None,
        data_quality=quality,
        tracking_uri=f"sqlite:///{tmp_path}/e.db",
        **SETTINGS,
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

    monkeypatch.setattr(tracking_reads, "run_artifacts", lambda run_id, path, dst: None)
    con = open_source(world.data).connect()
    page = build_report(
        con=con, scores=None, score_run=None, data_quality=None, tracking_uri=world.tracking_uri, **SETTINGS
    )
    con.close()
    churn = section(page, "churn-model")
    assert 'class="section-error"' not in churn
    assert len(images(churn)) == 4
    assert "holdout_buckets.json" in section(page, "btyd")  # the LTV bucket artifact is reported missing


def test_health_verdict_needs_enough_customers_in_each_group(monkeypatch: pytest.MonkeyPatch) -> None:
    from models.policy_settings import default_policy_settings

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

    inputs = ReportInputs(
        con=duckdb.connect(),
        scores=None,
        score_run=None,
        data_quality=None,
        tracking_uri="sqlite:////nonexistent/x.db",
        policy=default_policy_settings(),
        feature_settings=FeatureSettings(),
        tables={"events"},
    )
    monkeypatch.setattr(
        health_retention,
        "health_retention_frame",
        lambda con, policy, fs: (table(200), pd.Timestamp("2026-01-01"), 700),
    )
    body = render_section(health_retention.SECTION, inputs)
    assert body.count("healthy customers retain better") == 2
    assert body.count("the article's 92%: reached") == 2
    assert len(images(body)) == 1
    monkeypatch.setattr(
        health_retention, "health_retention_frame", lambda con, policy, fs: (table(5), pd.Timestamp("2026-01-01"), 505)
    )
    body = render_section(health_retention.SECTION, inputs)
    assert body.count("too few customers in a group to judge") == 2
    assert "retain better" not in body


# ---------------------------------------------------------------------- B2B, referral and drift on hand-made data
START = pd.Timestamp("2026-01-01")
AS_OF = pd.Timestamp("2026-03-01")


def _b2b_inputs(tmp_path: Path, *, referrals: bool = True, accounts: bool = True, policy: Any = None) -> Any:
    """acme (U1, U2) and solo (U3) accounts plus a B2C customer C4, scored at AS_OF, with NPS and referrals."""
    from features.contract import TABLES
    from models.policy_settings import PolicySettings
    from support.frames import open_frames

    customers = pd.DataFrame(
        {
            "customer_id": ["U1", "U2", "U3", "C4"],
            "signup_at": [START] * 4,
            "acquisition_channel": ["ads"] * 4,
            "segment": ["b2b", "b2b", "b2b", "b2c"],
            "account_id": ["acme", "acme", "solo", None],
        }
    )
    days = [START + pd.Timedelta(days=d) for d in range(0, 59, 2)]
    events = pd.DataFrame(
        {
            "customer_id": ["U1"] * len(days) + ["U2", "U3", "C4"],
            "occurred_at": [*days, START + pd.Timedelta(days=50), START + pd.Timedelta(days=1), START],
            "event_type": ["core_action"] * (len(days) + 3),
            "module": ["m1"] * (len(days) + 3),
            "value": [None] * (len(days) + 3),
        }
    )
    nps = pd.DataFrame(
        {
            "customer_id": ["U1", "U3", "C4", "U3"],
            "answered_at": [START + pd.Timedelta(days=d) for d in (10, 20, 30, 70)],  # U3's 2nd answer: after AS_OF
            "score": [9, 10, 5, 0],
        }
    )
    if not accounts:
        customers = customers.drop(columns="account_id")
    frames = {"customers": customers, "events": events, "nps_responses": nps}
    if referrals:
        frames["referrals"] = pd.DataFrame(
            {
                "referrer_id": ["U1", "U2", "U3", "U1"],
                "referred_id": ["C4", "U2", "C4", "U3"],
                "occurred_at": [START + pd.Timedelta(days=d) for d in (1, 2, 3, 4)],
                "ip": ["1.1.1.1", "2.2.2.2", "3.3.3.3", "1.1.1.1"],
                "device_id": ["d1", "d2", "d3", "d4"],
            }
        )
    con = open_frames(frames, extracted_at="2026-12-31").connect()
    scores = pd.DataFrame(
        {
            "customer_id": ["U1", "U2", "U3", "C4"],
            "as_of": [AS_OF] * 4,
            "segment": ["b2b", "b2b", "b2b", "b2c"],
            "churn_probability": [0.2, 0.4, 0.9, 0.5],
            "p_alive": [0.9, 0.8, 0.1, 0.5],
            "predicted_ltv": [100.0, 50.0, 300.0, 10.0],
            "risk_tier": ["low", "medium", "high", "medium"],
        }
    )
    tables = {str(r[0]) for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    return ReportInputs(
        con=con,
        scores=scores,
        score_run=None,
        data_quality=None,
        tracking_uri=f"sqlite:///{tmp_path}/none.db",
        policy=policy or PolicySettings(),
        feature_settings=FeatureSettings(),
        tables=tables & set(TABLES),
    )


def test_b2b_accounts_on_hand_made_accounts(tmp_path: Path) -> None:

    inputs = _b2b_inputs(tmp_path)
    built = b2b_accounts.account_frame(inputs)
    assert not isinstance(built, str), built
    accounts = built[0].set_index("account_id")
    assert accounts["users"].to_dict() == {"acme": 2, "solo": 1}  # C4 (B2C) is not rolled up
    assert accounts.loc["acme", "churn_probability"] == pytest.approx(0.3)  # mean of 0.2 and 0.4
    assert accounts.loc["acme", "value_at_risk"] == pytest.approx(0.3 * 150.0)
    assert accounts.loc["solo", "value_at_risk"] == pytest.approx(0.9 * 300.0)
    # acme is active every other day (U1), so its account is not idle although U2 is; solo idles 58 days, P(churn) 0.9
    assert accounts.loc["solo", "risk_tier"] == "high"
    assert accounts.loc["acme", "days_since_last_event"] == pytest.approx(1.0)
    body = render_section(b2b_accounts.SECTION, inputs)
    assert len(images(body)) == 1
    top = body[body.index("accounts by value at risk") :]
    assert top.index(">solo<") < top.index(">acme<"), "accounts are ranked by value at risk"
    assert "<td>270.00</td>" in top
    assert "<td>45.00</td>" in top


def test_b2b_section_says_so_without_accounts(tmp_path: Path) -> None:

    body = render_section(b2b_accounts.SECTION, _b2b_inputs(tmp_path, accounts=False))
    assert 'class="missing"' in body
    assert "no scored customer belongs to a B2B account" in body


def test_referral_candidates_and_screening_on_hand_made_events(tmp_path: Path) -> None:
    from models.policy_settings import PolicySettings

    body = render_section(referral.SECTION, _b2b_inputs(tmp_path))
    # promoters at AS_OF: U1 (9, LTV 100) and U3 (10; its later 0 is after the cutoff). LTV >= the 75th percentile
    # of (100, 50, 300, 10) = 150: only U3
    assert "<b>1</b> candidates of 2 promoters" in body
    candidates = body[: body.index("Referral events")]
    assert ">U3<" in candidates
    assert ">U1<" not in candidates
    assert "<b>1 accepted</b>, <b>3 rejected</b>" in body
    for reason in ("self_referral", "duplicate_referred", "duplicate_ip"):
        assert f'<td class="text">{reason}</td><td>1</td>' in body
    assert "ip 1.1.1.1 already used by the referral in input row 1" in body
    no_ip_dedup = render_section(
        referral.SECTION, _b2b_inputs(tmp_path, policy=PolicySettings(referral_dedup_ip=False))
    )
    assert "<b>2 accepted</b>, <b>2 rejected</b>" in no_ip_dedup
    assert "duplicate IP (off" in no_ip_dedup


def test_referral_section_without_referral_events(tmp_path: Path) -> None:

    body = render_section(referral.SECTION, _b2b_inputs(tmp_path, referrals=False))
    assert "no <code>referrals</code> table" in body
    assert "candidates of 2 promoters" in body  # the candidates part does not need the referrals table


def _drift_result(**overrides: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "as_of": "2026-06-30 00:00:00",
        "reference_as_of": "2026-05-30 00:00:00",
        "source": "demo.duckdb",
        "n_reference": 1000,
        "n_current": 1100,
        "features": [
            {"feature": "tenure_days", "psi": 0.31, "band": "alert"},
            {"feature": "events_30d", "psi": None, "band": "alert"},  # non-finite PSI, written as null
            {"feature": "segment", "psi": 0.01, "band": "stable"},
        ],
        "score": {"psi": 0.05, "band": "stable"},
        "btyd": {"skipped": "the LTV model was fitted on data up to 2026-06-30"},
        "calibration": {
            "cutoff": "2026-05-31 00:00:00",
            "customers": 900,
            "ece": 0.09,
            "reference_ece": 0.03,
            "ece_increase": 0.06,
            "band": "alert",
        },
        "limits": {
            "psi_watch": 0.1,
            "psi_alert": 0.2,
            "btyd_watch": 0.1,
            "btyd_alert": 0.2,
            "calibration_watch": 0.02,
            "calibration_alert": 0.05,
        },
        "notes": [],
        "status": "alert",
    }
    return result | overrides


def test_drift_section_from_a_given_result(tmp_path: Path) -> None:
    con = _minimal_connection()
    page = build_report(
        con=con,
        scores=None,
        score_run=None,
        data_quality=None,
        tracking_uri=f"sqlite:///{tmp_path}/empty.db",
        **SETTINGS,
        drift=_drift_result(),
        drift_file=Path("drift.json"),
    )
    body = section(page, "drift")
    assert 'class="missing"' not in body
    assert 'Overall: <b><span class="bad">alert</span></b>' in body
    assert "from the file <code>drift.json</code>" in body
    assert "ECE 0.090 at 2026-05-31 (900 customers) vs holdout 0.030" in body
    assert "<td>0.0600</td>" in body  # the rise is what is banded
    assert "<td>n/a</td>" in body  # the non-finite PSI
    assert "the LTV model was fitted" in body
    assert len(images(body)) == 1


def test_read_drift_requires_a_monitor_result(tmp_path: Path) -> None:
    assert read_drift(None) is None
    with pytest.raises(UserInputError, match="drift file not found"):
        read_drift(tmp_path / "nope.json")
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"tables": []}))
    with pytest.raises(UserInputError, match="not a drift monitor result"):
        read_drift(other)
    good = tmp_path / "drift.json"
    good.write_text(json.dumps(_drift_result()))
    assert read_drift(good)["status"] == "alert"  # type: ignore[index]


@pytest.mark.slow
def test_drift_section_shows_the_latest_monitor_run(world: TrainedWorld, tmp_path: Path) -> None:
    """The report gets drift from `churnltv monitor`: the run logged to MLflow, or its drift.json via --drift."""
    import os

    import typer
    from typer.testing import CliRunner

    from churnltv import report_command
    from models.bundle_source import resolve_bundle
    from training.drift_monitor import run_drift_monitor
    from training.registry import CHURN_MODEL, LTV_MODEL
    from training.settings import TrainingSettings

    # the world's champions as directories, so the monitor logs to the session store, not the shared world's
    churn = resolve_bundle(
        "champion", default_name=CHURN_MODEL, tracking_uri=world.tracking_uri, dst_dir=tmp_path / "c"
    )
    ltv = resolve_bundle("champion", default_name=LTV_MODEL, tracking_uri=world.tracking_uri, dst_dir=tmp_path / "l")
    session = TrainingSettings()
    result = run_drift_monitor(
        str(world.data), "2026-06-15", settings=session, churn_ref=str(churn), ltv_ref=str(ltv), out_dir=tmp_path / "m"
    )
    assert result.mlflow_run_id is not None

    con, inputs = _world_inputs(world)
    inputs.tracking_uri = os.environ["CHURNLTV_TRACKING_URI"]  # where that run was logged
    try:
        body = render_section(drift.SECTION, inputs)
    finally:
        con.close()
    assert NO_MONITOR_RUN not in body
    assert f"MLflow run <code>{result.mlflow_run_id}</code>" in body
    assert f'Overall: <b><span class="{drift.BAND_CLASS[result.status]}">{result.status}</span></b>' in body
    assert result.features[0]["feature"] in body
    assert len(images(body)) == 1

    app = typer.Typer()
    report_command.register(app)
    app.command("noop")(lambda: None)
    out = tmp_path / "report.html"
    drift_file = result.files["json"]
    args = ["report", "--data", str(world.data), "--scores", str(world.scores), "--out", str(out)]
    cli = CliRunner().invoke(app, [*args, "--tracking-uri", world.tracking_uri, "--drift", drift_file])
    assert cli.exit_code == 0, cli.output
    from_file = section(out.read_text(encoding="utf-8"), "drift")
    assert "from the file <code>" in from_file
    assert f"{result.n_current:,} customers" in from_file
