"""The uplift job end to end on a base with a known campaign effect: learns it, evaluates it honestly against the
oracle and the baselines, registers and promotes through the gate, and `churnltv uplift score` writes every
customer; the same contacts load from PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from support.postgres import PG, write_contract_tables
from support.uplift_base import COSTS, make_base, true_effect


@pytest.fixture(scope="module")
def uplift_world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    from features.dataset_writer import write_dataset
    from features.settings import FeatureSettings
    from training.settings import TrainingSettings
    from training.uplift_job import train_uplift

    root = tmp_path_factory.mktemp("uplift")
    tables = make_base(1800, seed=4)
    data = write_dataset(tables, root / "u.duckdb")
    settings = TrainingSettings(
        tracking_uri=f"sqlite:///{root}/mlflow.db", artifact_root=str(root / "art"), uplift_bootstrap=60
    )
    plans = tables["customers"].set_index("customer_id")["attr_plan"]

    def oracle(contacts: pd.DataFrame) -> pd.DataFrame:
        plan = contacts["customer_id"].map(plans)
        return pd.DataFrame({f"true_uplift_{a}": true_effect(a, plan) for a in COSTS}, index=contacts.index)

    result = train_uplift(str(data), settings, FeatureSettings(), oracle=oracle)
    return {"data": data, "settings": settings, "result": result, "root": root, "tables": tables}


def test_job_learns_the_effect_and_beats_risk_targeting(uplift_world: dict[str, object]) -> None:
    result = uplift_world["result"]
    m = result.metrics  # type: ignore[attr-defined]
    for action in COSTS:
        assert m[f"test_qini_{action}"] >= 0.8 * m[f"oracle_test_qini_{action}"]
        assert m[f"test_qini_{action}_ci_low"] > m[f"baseline_churn_probability_test_qini_{action}"]
        assert m[f"test_qini_{action}_ci_low"] > 0
    assert set(m) >= {"test_qini", "test_uplift_at_10pct_care_email", "baseline_value_at_risk_test_qini_care_email"}


def test_bundle_round_trip_and_sleeping_dogs(uplift_world: dict[str, object]) -> None:
    from features.campaign_outcomes import features_at
    from features.settings import FeatureSettings
    from features.sources import open_source
    from models.uplift_bundle import UpliftBundle

    result = uplift_world["result"]
    bundle = UpliftBundle.load(result.bundle_dir)  # type: ignore[attr-defined]
    meta = bundle.metadata
    assert meta["contacts"]["campaign_without_control"] > 0
    assert meta["contacts"]["not_observable_yet"] > 0
    assert meta["campaigns"]["test"]
    assert set(meta["campaigns"]["test"]).isdisjoint(meta["campaigns"]["train"])
    assert json.loads((result.bundle_dir / "holdout.json").read_text())["contacts"]  # type: ignore[attr-defined]
    assert not list(Path(result.bundle_dir).rglob("*.pkl"))  # type: ignore[attr-defined]
    con = open_source(uplift_world["data"]).connect()  # type: ignore[arg-type]
    frame, _, _ = features_at(con, None, pd.Timestamp("2025-06-01"), FeatureSettings())
    scored = bundle.score(frame)
    annual = (frame["attr_plan"] == "annual").to_numpy()
    assert scored["uplift_winback_offer"][annual].mean() < -0.1 < 0.0 < scored["uplift_winback_offer"][~annual].mean()
    assert scored["uplift_care_email"][~annual].mean() > 0.2
    decisions = bundle.decide(frame, np.full(len(frame), 100.0))
    # annual plans are sleeping dogs for the offer: it is (almost) never their best action
    assert (decisions["best_action"][annual] == "winback_offer").mean() < 0.02
    assert (decisions["best_action"][~annual] == "care_email").mean() > 0.8


def test_promotion_gate_and_score_command(uplift_world: dict[str, object], tmp_path: Path) -> None:
    import os

    from churnltv.cli import app

    settings = uplift_world["settings"]
    env = {"CHURNLTV_TRACKING_URI": settings.tracking_uri, "CHURNLTV_ARTIFACT_ROOT": settings.artifact_root}  # type: ignore[attr-defined]
    runner = CliRunner()
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        first = runner.invoke(app, ["uplift", "promote"])
        assert first.exit_code == 0, first.output
        assert "promoted to champion" in first.output
        assert "no champion yet" in first.output
        out = tmp_path / "uplift.parquet"
        scored = runner.invoke(
            app, ["uplift", "score", "--data", str(uplift_world["data"]), "--as-of", "2025-06-01", "--output", str(out)]
        )
        assert scored.exit_code == 0, scored.output
        frame = pd.read_parquet(out)
        assert len(frame) == len(uplift_world["tables"]["customers"])  # type: ignore[index]
        assert {"customer_id", "uplift_care_email", "uplift_winback_offer", "best_action"} <= set(frame.columns)
        assert set(frame["best_action"]) <= {"care_email", "winback_offer", "no_action"}
        bad = runner.invoke(
            app, ["uplift", "score", "--data", str(uplift_world["data"]), "--as-of", "soon", "--output", str(out)]
        )
        assert bad.exit_code == 2
        assert "--as-of" in bad.output
        assert "Traceback" not in bad.output
        assert pd.read_parquet(out).equals(frame)  # the failed run left the previous file alone
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_report_shows_the_models_qini_curves_and_strategies(uplift_world: dict[str, object]) -> None:
    """The "Campaign results" section reads the uplift model's logged evaluation: one Qini plot and one
    strategies table per modelled action, the oracle among them."""
    import re

    from features.settings import FeatureSettings
    from features.sources import open_source
    from models.policy_settings import PolicySettings
    from training.report.builder import build_report

    con = open_source(uplift_world["data"]).connect()  # type: ignore[arg-type]
    try:
        page = build_report(
            con=con,
            scores=None,
            score_run=None,
            data_quality=None,
            tracking_uri=uplift_world["settings"].tracking_uri,  # type: ignore[attr-defined]
            policy=PolicySettings(),
            feature_settings=FeatureSettings(),
        )
    finally:
        con.close()
    match = re.search(r'<section id="campaign-results">(.*?)</section>', page, flags=re.S)
    assert match is not None
    body = match.group(1)
    assert 'class="section-error"' not in body
    assert "Targeting strategies on the held-out campaigns" in body
    assert len(re.findall(r'<img alt="Qini curves of ', body)) == len(COSTS)
    for text in ("uplift model", "oracle (true effect)", "by value at risk", "random", "uplift at top 20%"):
        assert text in body


def test_refuses_data_without_enough_contacts(tmp_path: Path) -> None:
    from features.dataset_writer import write_dataset
    from features.errors import UserInputError
    from features.settings import FeatureSettings
    from training.settings import TrainingSettings
    from training.uplift_job import train_uplift

    tables = make_base(150, seed=1)
    data = write_dataset(tables, tmp_path / "small.duckdb")
    with pytest.raises(UserInputError, match="no action has enough campaign contacts"):
        train_uplift(str(data), TrainingSettings(), FeatureSettings())
    del tables["campaign_contacts"]
    data = write_dataset(tables, tmp_path / "none.duckdb")
    with pytest.raises(UserInputError, match="no campaign_contacts table"):
        train_uplift(str(data), TrainingSettings(), FeatureSettings())


@pytest.fixture
def schema() -> Iterator[str]:
    import psycopg

    name = f"t_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.mark.postgres
def test_contacts_from_postgres_match_duckdb(schema: str, tmp_path: Path) -> None:
    from features.campaign_outcomes import contact_outcomes, read_contacts
    from features.dataset_writer import write_dataset
    from features.settings import FeatureSettings
    from features.sources import open_source

    tables = make_base(200, seed=2)
    write_contract_tables(PG, tables, schema=schema)
    pg = open_source(f"{PG}?schema={schema}")
    local = open_source(write_dataset(tables, tmp_path / "b.duckdb"))
    a = contact_outcomes(pg.connect(), read_contacts(pg.connect()), FeatureSettings())
    b = contact_outcomes(local.connect(), read_contacts(local.connect()), FeatureSettings())
    pg.close()
    pd.testing.assert_frame_equal(a, b)
    bad = {**tables, "campaign_contacts": tables["campaign_contacts"].assign(cost=-1.0)}
    write_contract_tables(PG, bad, schema=schema)
    with pytest.raises(Exception, match=r"campaign_contacts, row 1, column 'cost'.*negative amount"):
        open_source(f"{PG}?schema={schema}").connect()
