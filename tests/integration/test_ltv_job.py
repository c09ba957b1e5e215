"""The LTV job end to end on the CDNOW sample as a contract dataset: holdout, refit, bundle, MLflow, registry."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.dataset_writer import write_dataset
from features.errors import UserInputError
from models.ltv_settings import LtvSettings

LIFETIMES_DATA = Path(__import__("lifetimes").__file__).parent / "datasets"


@pytest.fixture(scope="module")
def cdnow_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    raw = pd.read_csv(
        LIFETIMES_DATA / "CDNOW_sample.txt",
        sep=r"\s+",
        header=None,
        names=["original_id", "customer_id", "date", "quantity", "amount"],
        dtype={"original_id": str, "customer_id": str, "date": str},
    )
    tx = pd.DataFrame(
        {
            "customer_id": raw["customer_id"],
            "occurred_at": pd.to_datetime(raw["date"], format="%Y%m%d") + pd.Timedelta(hours=12),
            "amount": raw["amount"].astype(float),
            "order_id": [f"o{i}" for i in range(len(raw))],
        }
    )
    first = tx.groupby("customer_id")["occurred_at"].min()
    customers = pd.DataFrame(
        {
            "customer_id": first.index,
            "signup_at": first.to_numpy(),
            "acquisition_channel": "organic",
            "segment": "b2c",
            "account_id": None,
        }
    )
    events = pd.DataFrame(
        {
            "customer_id": tx["customer_id"],
            "occurred_at": tx["occurred_at"],
            "event_type": "purchase",
            "module": "store",
            "value": np.nan,
        }
    )
    target = tmp_path_factory.mktemp("cdnow") / "cdnow"
    write_dataset({"customers": customers, "events": events, "transactions": tx}, target)
    return target


@pytest.mark.slow
def test_train_ltv_logs_registers_and_bundle_loads(cdnow_source: Path) -> None:
    import mlflow

    from models.bundle_source import resolve_bundle
    from models.customer_value import LtvPredictor
    from training.ltv_job import train_ltv

    settings = LtvSettings(n_parameter_draws=50)
    result = train_ltv(str(cdnow_source), as_of=pd.Timestamp("1998-07-01"), holdout_days=273, settings=settings)
    # the calibration fit is the paper's (calibration through 1997-09-30); the bundle is refitted to 1998-06-30
    meta = json.loads((result.bundle_dir / "metadata.json").read_text())
    # every candidate is fitted on the calibration period; BG/NBD's is the paper's, Pareto/NBD's Fader-Hardie's note's
    candidates = meta["candidates"]
    assert candidates["bgnbd"]["params"]["r"] == pytest.approx(0.243, rel=0.01)
    assert candidates["pareto_nbd"]["params"]["s"] == pytest.approx(0.61, rel=0.01)
    assert set(candidates) >= {"bgnbd", "pareto_nbd", "mbg_nbd", "mbg_cnbd_k"}
    selected = meta["selected_model"]
    best = min(c["holdout"]["ltv_holdout_mae"] for c in candidates.values() if c["params"])
    assert candidates[selected]["holdout"]["ltv_holdout_mae"] == best  # the default criterion
    assert result.selected_model == selected
    assert json.loads((result.bundle_dir / "bgnbd.json").read_text())["model"] == selected
    assert meta["calibration_end"].startswith("1997-10-01")
    assert result.metrics["ltv_holdout_mae"] < result.metrics["ltv_baseline_mae"]
    assert result.metrics["ltv_holdout_customers"] == 2357
    assert result.params["count_model"] == selected
    # spend over the holdout (the CLV formula cut to the holdout window) beats the own-rate x own-spend baseline
    assert result.metrics["ltv_spend_holdout_mae"] < result.metrics["ltv_spend_baseline_mae"]
    assert abs(result.metrics["ltv_spend_total_rel_error"]) < 0.2
    page = result.report_path.read_text()
    assert page.count("data:image/png;base64,") == 2  # purchases and spend per bucket
    assert "ltv_spend_holdout_mae" in page

    run = mlflow.get_run(result.run_id)
    for name in (
        "ltv_holdout_mae",
        "ltv_holdout_rmse",
        "ltv_baseline_mae",
        "ltv_frequency_spend_correlation",
        "ltv_spend_holdout_mae",
        "ltv_spend_baseline_mae",
        "ltv_spend_actual_total",
        "ltv_interval_coverage_80",
        "candidate.bgnbd.ltv_holdout_mae",
        "candidate.pareto_nbd.log_likelihood",
    ):
        assert name in run.data.metrics
    assert run.data.tags["churnltv.ltv_model"] == selected
    assert "candidates.json" in [a.path for a in mlflow.MlflowClient().list_artifacts(result.run_id)]
    assert "Candidate models" in page
    bundle = resolve_bundle("challenger", default_name="churnltv-ltv")
    predictor = LtvPredictor.from_bundle(bundle)
    out = predictor.predict([2], [30.43], [38.86], [22.35])
    assert out["ltv_method"][0] == ("bgnbd_gamma_gamma" if selected == "bgnbd" else f"{selected}_gamma_gamma")
    assert out["ltv_lower"][0] < out["predicted_ltv"][0] < out["ltv_upper"][0]
    assert out["ltv_p10"][0] <= out["ltv_p50"][0] <= out["ltv_p90"][0]
    assert out["ltv_p90"][0] > out["ltv_upper"][0]  # purchase and spend variability, not only the parameters

    pyfunc = mlflow.pyfunc.load_model(f"models:/churnltv-ltv/{result.version}")
    frame = pd.DataFrame(
        {
            "customer_id": ["a"],
            "btyd_frequency": [2],
            "btyd_recency": [30.43],
            "btyd_T": [38.86],
            "btyd_monetary": [22.35],
        }
    )
    scored = pyfunc.predict(frame)
    assert scored["predicted_ltv"].iloc[0] == pytest.approx(out["predicted_ltv"][0])


def test_too_little_history_is_a_clear_error(cdnow_source: Path) -> None:
    from features.sources import open_source
    from training.ltv_job import fit_ltv, read_transactions

    con = open_source(str(cdnow_source)).connect()
    tx = read_transactions(con)
    with pytest.raises(UserInputError, match=r"too little history.*\b(5[0-9])\b day\(s\).*at least 180"):
        fit_ltv(tx, pd.Timestamp("1997-02-28"), LtvSettings(min_customers=100))
    with pytest.raises(UserInputError, match=r"too few customers.*2357 customer\(s\).*at least 5000"):
        fit_ltv(tx, pd.Timestamp("1997-10-01"), LtvSettings(min_customers=5000))
