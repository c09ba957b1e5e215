"""The real server: train (shared world), start uvicorn on a free port, call every endpoint with a real HTTP client."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pandas as pd
import pytest

from conftest import TrainedWorld

pytestmark = pytest.mark.slow
KEY = "test-key"


@dataclass(frozen=True)
class Server:
    url: str
    world: TrainedWorld
    process: subprocess.Popen[bytes]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


MAX_BODY_BYTES = 200_000  # small, so the 413 tests need no huge bodies


def start_server(world: TrainedWorld, extra_env: dict[str, str] | None = None) -> tuple[str, subprocess.Popen[bytes]]:
    port = _free_port()
    env = {
        **os.environ,
        "CHURNLTV_API_KEYS": f"{KEY},other-key",
        "CHURNLTV_DATA": str(world.data),
        "CHURNLTV_SCORE_STORE": str(world.scores),
        "CHURNLTV_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
        **world.env,
        **(extra_env or {}),
    }
    cmd = [sys.executable, "-m", "uvicorn", "service.asgi:app", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return url, proc
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError("server did not become ready")


@pytest.fixture(scope="module")
def server(trained_world: TrainedWorld) -> Iterator[Server]:
    url, proc = start_server(trained_world)
    yield Server(url, trained_world, proc)
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers={"X-API-Key": KEY}, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def batch_scores(server: Server) -> pd.DataFrame:
    from service.score_store import open_score_store

    store = open_score_store(str(server.world.scores))
    try:
        return store.read_scores()
    finally:
        store.close()


def test_operations_endpoints_need_no_key(server: Server) -> None:
    assert httpx.get(f"{server.url}/health").json() == {"status": "ok"}
    ready = httpx.get(f"{server.url}/ready").json()
    assert ready["checks"] == {"models": "ok", "data": "ok", "score_store": "ok"}
    metrics = httpx.get(f"{server.url}/metrics").text
    assert "churnltv_requests_total" in metrics
    assert 'churnltv_model_info{model="churn"' in metrics


def test_auth_missing_and_wrong_key(server: Server) -> None:
    missing = httpx.get(f"{server.url}/v1/models")
    assert missing.status_code == 401
    assert "X-API-Key" in missing.json()["detail"]
    wrong = httpx.get(f"{server.url}/v1/models", headers={"X-API-Key": "nope"})
    assert wrong.status_code == 403


def test_models_reports_versions_and_the_cli_version(client: httpx.Client) -> None:
    from churnltv import __version__

    body = client.get("/v1/models").json()
    assert body["service_version"] == __version__
    assert body["churn"]["version"] is not None
    assert "champion" in body["churn"]["aliases"]
    assert body["ltv"]["version"] is not None


def test_known_customer_comes_from_the_latest_batch_run(client: httpx.Client, batch_scores: pd.DataFrame) -> None:
    row = batch_scores.sort_values("value_at_risk", ascending=False).iloc[0]
    body = client.get(f"/v1/customers/{row['customer_id']}").json()
    assert body["source"] == "batch"
    assert body["churn_probability"] == pytest.approx(float(row["churn_probability"]))
    assert body["risk_tier"] == row["risk_tier"]
    assert body["model_versions"]["churn"] is not None


def test_live_score_as_of_matches_the_batch_score(client: httpx.Client, batch_scores: pd.DataFrame) -> None:
    row = batch_scores.iloc[0]
    as_of = pd.Timestamp(row["as_of"]).isoformat()
    body = client.get(f"/v1/customers/{row['customer_id']}", params={"as_of": as_of}).json()
    assert body["source"] == "live"
    assert body["churn_probability"] == pytest.approx(float(row["churn_probability"]), rel=1e-9)
    assert body["ltv"]["predicted"] == pytest.approx(row["predicted_ltv"], rel=1e-9, nan_ok=True)


def test_unknown_customer_is_404_naming_it(client: httpx.Client) -> None:
    r = client.get("/v1/customers/no-such-customer")
    assert r.status_code == 404
    assert "no-such-customer" in r.json()["detail"]


def test_batch_get_reports_unknown_ids_per_id(client: httpx.Client, batch_scores: pd.DataFrame) -> None:
    ids = batch_scores["customer_id"].head(3).tolist()
    r = client.post("/v1/customers:batchGet", json={"customer_ids": [*ids, "ghost"]})
    assert r.status_code == 200
    body = r.json()
    assert sorted(p["customer_id"] for p in body["predictions"]) == sorted(ids)
    assert body["not_found"] == [{"customer_id": "ghost", "error": "unknown customer"}]
    too_many = client.post("/v1/customers:batchGet", json={"customer_ids": [f"c{i}" for i in range(101)]})
    assert too_many.status_code == 413
    empty = client.post("/v1/customers:batchGet", json={"customer_ids": []})
    assert empty.status_code == 422


def test_retention_list_is_ranked_by_value_at_risk(client: httpx.Client) -> None:
    body = client.get("/v1/retention-list", params={"limit": 20}).json()
    values = [c["value_at_risk"] for c in body["customers"]]
    assert len(values) == 20
    assert values == sorted(values, reverse=True)
    high = client.get("/v1/retention-list", params={"tier": "high", "limit": 50}).json()["customers"]
    assert all(c["risk_tier"] == "high" for c in high)
    budget = client.get("/v1/retention-list", params={"budget": 100, "cost_per_action": 10, "save_rate": 0.3}).json()
    assert sum(c["cost"] for c in budget["customers"]) <= 100
    assert client.get("/v1/retention-list", params={"tier": "extreme"}).status_code == 422


def _features(world: TrainedWorld, customer_id: str, as_of: pd.Timestamp) -> dict[str, object]:
    from features.point_in_time import build_features
    from features.sources import open_source

    con = open_source(world.data).connect(validate=False)
    frame, _spec = build_features(con, [as_of], customer_ids=[customer_id])
    row = frame.iloc[0].to_dict()
    out: dict[str, object] = {}
    for k, v in row.items():
        if k == "as_of":
            out[k] = pd.Timestamp(v).isoformat()
        elif isinstance(v, float) and math.isnan(v):
            out[k] = None
        elif hasattr(v, "item"):
            out[k] = v.item()
        else:
            out[k] = v
    return out


def test_predict_from_features_matches_the_batch(
    client: httpx.Client, batch_scores: pd.DataFrame, server: Server
) -> None:
    row = batch_scores.iloc[5]
    features = _features(server.world, row["customer_id"], pd.Timestamp(row["as_of"]))
    r = client.post("/v1/predict", json={"customers": [features]})
    assert r.status_code == 200, r.text
    p = r.json()["predictions"][0]
    assert p["churn_probability"] == pytest.approx(float(row["churn_probability"]), rel=1e-9)
    assert p["risk_tier"] in {"none", "low", "medium", "high"}
    assert p["reasons"]
    assert all(reason["phrase"] for reason in p["reasons"])
    assert 0 <= p["health"]["score"] <= 100


def test_bad_predict_bodies_name_the_field(client: httpx.Client, batch_scores: pd.DataFrame, server: Server) -> None:
    row = batch_scores.iloc[0]
    good = _features(server.world, row["customer_id"], pd.Timestamp(row["as_of"]))
    missing = {k: v for k, v in good.items() if k != "events_30d"}
    r = client.post("/v1/predict", json={"customers": [missing]})
    assert r.status_code == 422
    assert "customers.0.events_30d" in r.json()["detail"]
    negative = {**good, "events_30d": -1}
    r = client.post("/v1/predict", json={"customers": [negative]})
    assert r.status_code == 422
    assert "customers.0.events_30d" in r.json()["detail"]
    extra = {**good, "favourite_colour": "red"}
    r = client.post("/v1/predict", json={"customers": [extra]})
    assert r.status_code == 422
    assert "favourite_colour" in r.json()["detail"]
    nan = json.dumps({"customers": [{**good, "tenure_days": float("nan")}]})
    r = client.post("/v1/predict", content=nan, headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert "tenure_days" in r.json()["detail"]
    future = {**good, "as_of": "2999-01-01T00:00:00"}
    r = client.post("/v1/predict", json={"customers": [future]})
    assert r.status_code == 422
    assert "future" in r.json()["detail"]
    r = client.post("/v1/predict", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422
    r = client.post("/v1/predict", json={"customers": []})
    assert r.status_code == 422
    big = {"customers": [good] * 400}
    r = client.post("/v1/predict", json=big)
    assert r.status_code == 413


def test_contractual_clv_calculator_reproduces_the_article_examples(client: httpx.Client) -> None:
    simple = {"formula": "simple", "monthly_margin": 45, "monthly_cost": 20, "expected_lifetime_months": 36}
    assert client.post("/v1/clv/contractual", json=simple).json()["clv"] == pytest.approx(900)
    retention = {"formula": "retention", "revenue": 2000, "cost": 500, "retention": 0.8, "discount": 0.05}
    assert client.post("/v1/clv/contractual", json=retention).json()["clv"] == pytest.approx(6300)
    r = client.post("/v1/clv/contractual", json={"formula": "retention", "revenue": 2000})
    assert r.status_code == 422
    assert "cost" in r.json()["detail"]


def test_reload_swaps_and_a_bad_model_keeps_the_old_one(server: Server, client: httpx.Client) -> None:
    before = client.get("/v1/models").json()["churn"]["version"]
    r = client.post("/admin/reload")
    assert r.status_code == 200
    assert r.json()["versions"]["churn"] == before
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'churnltv_reloads_total{outcome="ok"}' in metrics


def test_server_without_models_is_alive_but_not_ready(trained_world: TrainedWorld) -> None:
    port = _free_port()
    env = {**os.environ, "CHURNLTV_CHURN_MODEL": "no-such-alias", "CHURNLTV_DATA": str(trained_world.data)}
    cmd = [sys.executable, "-m", "uvicorn", "service.asgi:app", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        ready = httpx.get(f"{url}/ready")
        assert ready.status_code == 503
        assert "no-such-alias" in ready.json()["checks"]["models"]
        r = httpx.post(f"{url}/admin/reload")
        assert r.status_code == 409
        assert "still serving the previous models" in r.json()["detail"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_openapi_publishes_the_feature_schema(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()
    props = schema["components"]["schemas"]["CustomerFeatures"]["properties"]
    assert {"core_trend_ratio", "btyd_T", "weeks_below_aha_bar"} <= set(props)
    assert schema["components"]["schemas"]["CustomerFeatures"]["additionalProperties"] is False
