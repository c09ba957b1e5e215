"""The real server: train (shared world), start uvicorn on a free port, call every endpoint with a real HTTP client.

The server runs the way `churnltv serve` runs it: uvicorn in factory mode on ``service.api.app:create_app``.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from features.event_vocabulary import NAME_PATTERN
from support.server import KEY, SERVER_CMD, features_of, free_port, metric, start_server
from support.world import TrainedWorld

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Server:
    url: str
    world: TrainedWorld
    process: subprocess.Popen[bytes]


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


def test_metrics_move_with_requests_by_route_and_tier(
    server: Server, client: httpx.Client, batch_scores: pd.DataFrame
) -> None:
    """The latency histogram is labelled by route template and the prediction counter by tier; both move."""
    row = batch_scores.sort_values("value_at_risk", ascending=False).iloc[0]
    tier = str(row["risk_tier"])
    route = "/v1/customers/{customer_id}"
    before = httpx.get(f"{server.url}/metrics").text
    for _ in range(3):
        assert client.get(f"/v1/customers/{row['customer_id']}").status_code == 200
    after = httpx.get(f"{server.url}/metrics").text
    count = "churnltv_request_seconds_count"
    assert metric(after, count, route=route) - metric(before, count, route=route) == 3
    # every request falls in the +Inf bucket; the finite buckets are cumulative and at most the count
    assert metric(after, "churnltv_request_seconds_bucket", route=route, le="+Inf") == metric(after, count, route=route)
    assert metric(after, "churnltv_request_seconds_sum", route=route) > metric(
        before, "churnltv_request_seconds_sum", route=route
    )
    ok = {"route": route, "method": "GET", "status": "200"}
    assert metric(after, "churnltv_requests_total", **ok) - metric(before, "churnltv_requests_total", **ok) == 3
    predicted = "churnltv_predictions_total"
    assert metric(after, predicted, tier=tier) - metric(before, predicted, tier=tier) == 3
    others = [t for t in ("none", "low", "medium", "high") if t != tier]
    assert all(metric(after, predicted, tier=t) == metric(before, predicted, tier=t) for t in others)
    # a path that matches no route is counted as unmatched, not as one series per random path
    httpx.get(f"{server.url}/no/such/route/x1")
    assert metric(httpx.get(f"{server.url}/metrics").text, count, route="unmatched") >= 1


def test_auth_missing_and_wrong_key(server: Server) -> None:
    missing = httpx.get(f"{server.url}/v1/models")
    assert missing.status_code == 401
    assert "X-API-Key" in missing.json()["detail"]
    wrong = httpx.get(f"{server.url}/v1/models", headers={"X-API-Key": "nope"})
    assert wrong.status_code == 403


def test_models_reports_versions_data_range_created_time_and_holdout_metrics(
    client: httpx.Client, server: Server
) -> None:
    from churnltv import __version__
    from service.model_set import load_model_set

    body = client.get("/v1/models").json()
    assert body["service_version"] == __version__
    assert body["loaded"] is True
    loaded = load_model_set(churn_ref="champion", ltv_ref="champion", tracking_uri=server.world.tracking_uri)
    churn_meta, ltv_meta = loaded.churn_info.metadata, loaded.ltv_info.metadata  # type: ignore[union-attr]
    for kind in ("churn", "ltv"):
        info = body[kind]
        assert info["version"] is not None, kind
        assert "champion" in info["aliases"], kind
        assert info["created_at"] is not None, kind
        assert pd.Timestamp(info["data_range"]["start"]) < pd.Timestamp(info["data_range"]["end"]), kind
        assert pd.Timestamp(info["holdout"]["start"]) < pd.Timestamp(info["holdout"]["end"]), kind
        assert info["holdout_metrics"], kind
    churn, ltv = body["churn"], body["ltv"]
    assert pd.Timestamp(churn["created_at"]) == pd.Timestamp(churn_meta["created_at"])
    assert pd.Timestamp(churn["data_range"]["end"]) == pd.Timestamp(churn_meta["data_range"]["end"])
    assert pd.Timestamp(churn["holdout"]["start"]) == pd.Timestamp(churn_meta["cutoffs"]["test"])
    assert churn["holdout_metrics"]["test_roc_auc"] == pytest.approx(churn_meta["metrics"]["test_roc_auc"])
    assert pd.Timestamp(ltv["data_range"]["end"]) == pd.Timestamp(ltv_meta["as_of"])
    assert pd.Timestamp(ltv["holdout"]["start"]) == pd.Timestamp(ltv_meta["calibration_end"])
    assert ltv["holdout_metrics"]["ltv_holdout_mae"] == pytest.approx(ltv_meta["holdout_metrics"]["ltv_holdout_mae"])
    # the LTV bundle records no training time: the registry version's creation time, after the churn bundle's
    assert pd.Timestamp(ltv["created_at"]) >= pd.Timestamp(churn["created_at"]).floor("s")


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


def _predictive_fields_agree(body: dict[str, Any], row: pd.Series) -> None:
    """The predictive interval and next-purchase fields, as served, equal the batch run's columns."""
    ltv = body["ltv"]
    for field in ("p10", "p50", "p90"):
        assert ltv[field] == pytest.approx(row[f"ltv_{field}"], rel=1e-9, nan_ok=True)
    assert ltv["interval_80"]["low"] == pytest.approx(row["ltv_interval_80_low"], rel=1e-9, nan_ok=True)
    assert ltv["interval_80"]["high"] == pytest.approx(row["ltv_interval_80_high"], rel=1e-9, nan_ok=True)
    assert body["next_purchase_days"] == pytest.approx(row["next_purchase_days"], rel=1e-9, nan_ok=True)
    assert body["p_purchase_30d"] == pytest.approx(row["p_purchase_30d"], rel=1e-9, nan_ok=True)


def test_predictive_interval_and_next_purchase_are_served(client: httpx.Client, batch_scores: pd.DataFrame) -> None:
    buyers = batch_scores[batch_scores["ltv_method"].str.contains("gamma_gamma", na=False)]
    assert len(buyers) > 0
    p10, p50, p90 = (buyers[f"ltv_{q}"].to_numpy(float) for q in ("p10", "p50", "p90"))
    assert np.all((p10 <= p50) & (p50 <= p90))
    assert np.all(p10 >= 0.0)
    assert np.nanmax(p90) > 0.0  # not a column of zeros
    low80, high80 = (buyers[f"ltv_interval_80_{b}"].to_numpy(float) for b in ("low", "high"))
    assert np.all((low80 >= 0.0) & (low80 <= high80))
    assert np.all(high80 <= p90 + 1e-9)  # never wider on top than the central band
    assert np.any(high80 < p90)  # and narrower for customers likely to buy nothing
    p30 = buyers["p_purchase_30d"].to_numpy(float)
    assert np.all((p30 >= 0.0) & (p30 <= 1.0))
    assert np.all(buyers["next_purchase_days"].to_numpy(float) > 0.0)
    subscribers = batch_scores[batch_scores["ltv_method"].str.startswith("contractual", na=False)]
    assert subscribers["ltv_p90"].isna().all()  # contractual CLV has no predictive interval
    row = buyers.sort_values("predicted_ltv").iloc[len(buyers) // 2]
    stored = client.get(f"/v1/customers/{row['customer_id']}").json()
    _predictive_fields_agree(stored, row)
    live = client.get(
        f"/v1/customers/{row['customer_id']}", params={"as_of": pd.Timestamp(row["as_of"]).isoformat()}
    ).json()
    assert live["source"] == "live"
    _predictive_fields_agree(live, row)


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
    assert budget["customers"]
    assert sum(c["cost"] for c in budget["customers"]) <= 100
    assert client.get("/v1/retention-list", params={"tier": "extreme"}).status_code == 422


def test_budget_mode_keeps_tier_and_action(client: httpx.Client, batch_scores: pd.DataFrame) -> None:
    """Budget mode lists the same per-customer fields as the ranked list, plus the money columns."""
    ranked = {
        c["customer_id"]: c for c in client.get("/v1/retention-list", params={"limit": 10_000}).json()["customers"]
    }
    params = {"budget": 200, "cost_per_action": 10, "save_rate": 0.3, "limit": 50}
    chosen = client.get("/v1/retention-list", params=params).json()["customers"]
    assert len(chosen) == 20  # 200 / 10: every top customer is worth contacting at this cost
    by_id = batch_scores.set_index("customer_id")
    for c in chosen:
        same = ranked[c["customer_id"]]
        for key in ("risk_tier", "action_key", "action_text", "segment", "churn_probability", "predicted_ltv"):
            assert c[key] == same[key], (key, c)
        assert c["risk_tier"] == by_id.loc[c["customer_id"], "risk_tier"]
        assert c["action_text"]
        assert c["expected_saved_value"] == pytest.approx(0.3 * c["value_at_risk"])
        assert c["expected_net_gain"] == pytest.approx(c["expected_saved_value"] - 10)
    assert [c["cumulative_cost"] for c in chosen] == pytest.approx([10.0 * (i + 1) for i in range(len(chosen))])


def test_predict_from_features_matches_the_batch(
    client: httpx.Client, batch_scores: pd.DataFrame, server: Server
) -> None:
    row = batch_scores.iloc[5]
    features = features_of(server.world, row["customer_id"], pd.Timestamp(row["as_of"]))
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
    good = features_of(server.world, row["customer_id"], pd.Timestamp(row["as_of"]))
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
    r = client.post("/v1/predict", json={"customers": [good, good, future]})
    assert r.status_code == 422
    assert r.json()["detail"] == "customers.2.as_of: 2999-01-01T00:00:00 is in the future"
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
    port = free_port()
    env = {
        **os.environ,
        "CHURNLTV_API_KEYS": KEY,
        "CHURNLTV_CHURN_MODEL": "no-such-alias",
        "CHURNLTV_DATA": str(trained_world.data),
    }
    proc = subprocess.Popen(
        [*SERVER_CMD, "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
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
        r = httpx.post(f"{url}/admin/reload", headers={"X-API-Key": KEY})
        assert r.status_code == 409
        assert "still serving the previous models" in r.json()["detail"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_openapi_publishes_the_feature_schema(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()
    props = schema["components"]["schemas"]["CustomerFeatures"]["properties"]
    assert {"core_trend_ratio", "btyd_T", "weeks_below_aha_bar"} <= set(props)
    # extra fields only as the event-vocabulary columns a model may have learned (ev_*/mod_*), numbers or null
    features = schema["components"]["schemas"]["CustomerFeatures"]
    assert set(features["patternProperties"]) == {NAME_PATTERN}
    assert features["additionalProperties"] == {"anyOf": [{"type": "number"}, {"type": "null"}]}


def test_openapi_is_precise_enough_to_integrate_from(client: httpx.Client) -> None:
    """Every route has a documented response body; enums are enums; the API key is a security scheme."""
    schema = client.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    for path, methods in schema["paths"].items():
        for method, op in methods.items():
            ok = op["responses"]["200"]["content"]
            body = ok.get("application/json", ok.get("text/plain"))
            assert body is not None, f"{method.upper()} {path} has no documented 200 body"
            assert body["schema"], f"{method.upper()} {path} has an empty 200 schema"
            if path != "/metrics":
                assert "$ref" in body["schema"], f"{method.upper()} {path} answers an untyped body"
            public = path in {"/health", "/ready", "/metrics"}
            assert ("security" in op) is not public, f"{method.upper()} {path}: security {op.get('security')}"
            if not public:  # /admin takes an admin key when CHURNLTV_ADMIN_API_KEYS is set (its own scheme)
                assert op["security"] == [{"AdminApiKey" if path.startswith("/admin/") else "ApiKey": []}]
                assert all(p["name"] != "x-api-key" for p in op.get("parameters", []))
    assert schema["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "One of the keys in CHURNLTV_API_KEYS.",
    }
    trigger = components["Trigger"]["properties"]
    assert set(trigger) == {"trigger", "tier", "column", "value", "operator", "threshold"}
    prediction = components["Prediction"]["properties"]
    assert prediction["triggers"]["items"] == {"$ref": "#/components/schemas/Trigger"}
    assert components["Prediction"]["properties"]["risk_tier"]["enum"] == ["none", "low", "medium", "high"]
    assert set(components["Stage"]["properties"]["b2b"]["enum"]) == {
        "acquisition", "growth", "maturity", "maintenance", "churn", "reactivated"
    }  # fmt: skip
    nps = prediction["nps_segment"]["anyOf"]
    assert {"enum": ["promoter", "passive", "detractor"], "type": "string"} in nps
    assert prediction["model_versions"] == {"$ref": "#/components/schemas/ModelVersions"}
    assert schema["paths"]["/ready"]["get"]["responses"]["503"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ReadyResponse"
    }


def test_predict_answers_match_the_documented_trigger_shape(
    client: httpx.Client, batch_scores: pd.DataFrame, server: Server
) -> None:
    """The keys a trigger really has are the schema's (the old schema said ``name``; the answer says ``trigger``)."""
    fired = batch_scores[batch_scores["triggers"].map(len) > 0].iloc[0]
    features = features_of(server.world, fired["customer_id"], pd.Timestamp(fired["as_of"]))
    p = client.post("/v1/predict", json={"customers": [features]}).json()["predictions"][0]
    assert p["triggers"]
    schema = client.get("/openapi.json").json()["components"]["schemas"]["Trigger"]
    for t in p["triggers"]:
        assert set(t) == set(schema["properties"])
        assert t["tier"] in {"low", "medium", "high"}


def _account_members(world: TrainedWorld, account_id: str, as_of: pd.Timestamp) -> list[str]:
    import duckdb

    con = duckdb.connect(str(world.data), read_only=True)
    try:
        rows = con.execute(
            "SELECT customer_id FROM customers WHERE account_id = ? AND signup_at < ? ORDER BY customer_id",
            [account_id, as_of],
        ).fetchall()
    finally:
        con.close()
    return [str(r[0]) for r in rows]


def test_account_is_rolled_up_from_its_users(client: httpx.Client, server: Server, batch_scores: pd.DataFrame) -> None:
    import duckdb

    con = duckdb.connect(str(server.world.data), read_only=True)
    try:
        # the generator's largest B2B account (ids like A000023)
        account_id = str(
            con.execute(
                "SELECT account_id FROM customers WHERE account_id IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1 "
                "LIMIT 1"
            ).fetchall()[0][0]
        )
    finally:
        con.close()
    as_of = pd.Timestamp(batch_scores["as_of"].iloc[0])
    r = client.get(f"/v1/accounts/{account_id}", params={"as_of": as_of.isoformat()})
    assert r.status_code == 200, r.text
    body = r.json()
    members = _account_members(server.world, account_id, as_of)
    assert len(members) > 1
    assert body["account_id"] == account_id
    assert body["users"] == len(members)
    assert sorted(m["customer_id"] for m in body["members"]) == members
    # each user's score is the one the per-customer path gives at the same cutoff (and the batch run's)
    batch = batch_scores.set_index("customer_id")
    for m in body["members"]:
        assert m["churn_probability"] == pytest.approx(
            float(batch.loc[m["customer_id"], "churn_probability"]), rel=1e-9
        )
        assert m["risk_tier"] == batch.loc[m["customer_id"], "risk_tier"]
    probabilities = [m["churn_probability"] for m in body["members"]]
    assert body["churn_probability"] == pytest.approx(sum(probabilities) / len(probabilities))
    ltvs = [m["predicted_ltv"] for m in body["members"] if m["predicted_ltv"] is not None]
    assert body["predicted_ltv"] == pytest.approx(sum(ltvs))
    assert body["value_at_risk"] == pytest.approx(body["churn_probability"] * body["predicted_ltv"])
    assert body["risk_tier"] in {"none", "low", "medium", "high"}
    assert body["recommended_action"]["key"]
    assert 0 <= body["health"]["score"] <= 100
    assert set(body["health"]) == {"score", "activity", "penetration", "service", "feedback"}
    assert body["model_versions"]["churn"] is not None
    assert body["model_versions"]["ltv"] is not None
    # the tier is the account's own: the highest tier the policy gives to its rolled-up signals, with the triggers
    levels = {"none": 0, "low": 1, "medium": 2, "high": 3}
    if body["triggers"]:
        assert levels[body["risk_tier"]] == max(levels[t["tier"]] for t in body["triggers"])
    else:
        assert body["risk_tier"] == "none"


def test_unknown_account_is_404_naming_it(client: httpx.Client) -> None:
    r = client.get("/v1/accounts/no-such-account")
    assert r.status_code == 404
    assert r.json()["detail"] == "account_id: unknown account 'no-such-account' (or no user signed up before as_of)"
    future = client.get("/v1/accounts/A000001", params={"as_of": "2999-01-01T00:00:00"})
    assert future.status_code == 422
    assert future.json()["detail"] == "as_of: 2999-01-01T00:00:00 is in the future"
