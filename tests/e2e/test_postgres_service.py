"""PostgreSQL end to end: the shared world's data in PostgreSQL, `churnltv score` into a PostgreSQL score store, the
real uvicorn server reading both, called with a real HTTP client. No mocks: the server at 127.0.0.1:5432.

Every run uses its own schema (data tables and score tables both live in it) and drops it afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pandas as pd
import psycopg
import pytest

from support.postgres import PG, load_and_score
from support.server import KEY, start_server
from support.world import TrainedWorld

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@dataclass(frozen=True)
class PgServer:
    url: str
    schema: str
    data_url: str
    store_url: str
    world: TrainedWorld


@pytest.fixture(scope="module")
def pg_server(trained_world: TrainedWorld) -> Iterator[PgServer]:
    schema = f"e2e_{uuid.uuid4().hex[:10]}"
    proc = None
    try:
        data_url, store_url = load_and_score(trained_world, PG, schema)
        url, proc = start_server(trained_world, {"CHURNLTV_DATA": data_url, "CHURNLTV_SCORE_STORE": store_url})
        yield PgServer(url, schema, data_url, store_url, trained_world)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=20)
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(scope="module")
def client(pg_server: PgServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=pg_server.url, headers={"X-API-Key": KEY}, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def pg_scores(pg_server: PgServer) -> pd.DataFrame:
    from service.score_store import open_score_store

    return open_score_store(pg_server.store_url).read_scores()


def test_the_batch_run_lives_in_postgres_and_equals_the_duckdb_run(
    pg_server: PgServer, pg_scores: pd.DataFrame
) -> None:
    from service.score_store import open_score_store

    with psycopg.connect(PG) as conn:
        rows = conn.execute(f'SELECT count(*), count(DISTINCT customer_id) FROM "{pg_server.schema}".scores').fetchone()
        customers = conn.execute(f'SELECT count(*) FROM "{pg_server.schema}".customers').fetchone()
    assert rows is not None
    assert customers is not None
    assert rows[0] == rows[1] == len(pg_scores) > 0
    # the same data through PostgreSQL and through DuckDB gives the same scores
    local = open_score_store(str(pg_server.world.scores)).read_scores().set_index("customer_id")
    theirs = pg_scores.set_index("customer_id")
    assert sorted(theirs.index) == sorted(local.index)
    pd.testing.assert_series_equal(
        theirs["churn_probability"], local.loc[theirs.index, "churn_probability"], rtol=1e-9, check_names=False
    )
    assert (theirs["risk_tier"] == local.loc[theirs.index, "risk_tier"]).all()


def test_ready_checks_postgres(pg_server: PgServer) -> None:
    r = httpx.get(f"{pg_server.url}/ready", timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["checks"] == {"models": "ok", "data": "ok", "score_store": "ok"}


def test_customer_answers_equal_the_batch_scores(client: httpx.Client, pg_scores: pd.DataFrame) -> None:
    ranked = pg_scores.sort_values("value_at_risk", ascending=False)
    for _, row in ranked.head(5).iterrows():
        r = client.get(f"/v1/customers/{row['customer_id']}")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["source"] == "batch"
        assert body["run_id"] == row["run_id"]
        assert body["churn_probability"] == pytest.approx(float(row["churn_probability"]), rel=1e-12)
        assert body["risk_tier"] == row["risk_tier"]
        assert body["value_at_risk"] == pytest.approx(float(row["value_at_risk"]), rel=1e-12, nan_ok=True)
        assert body["ltv"]["predicted"] == pytest.approx(float(row["predicted_ltv"]), rel=1e-12, nan_ok=True)
        assert [t["trigger"] for t in body["triggers"]] == [t["trigger"] for t in row["triggers"]]


def test_batch_get_equals_the_batch_scores_and_names_unknown_ids(client: httpx.Client, pg_scores: pd.DataFrame) -> None:
    rows = pg_scores.iloc[[0, 7, 42]]
    ids = rows["customer_id"].tolist()
    r = client.post("/v1/customers:batchGet", json={"customer_ids": [*ids, "ghost-42"]})
    assert r.status_code == 200, r.text
    body = r.json()
    got = {p["customer_id"]: p for p in body["predictions"]}
    assert sorted(got) == sorted(ids)
    for _, row in rows.iterrows():
        assert got[row["customer_id"]]["churn_probability"] == pytest.approx(float(row["churn_probability"]), rel=1e-12)
        assert got[row["customer_id"]]["source"] == "batch"
    assert body["not_found"] == [{"customer_id": "ghost-42", "error": "unknown customer"}]


def test_retention_list_equals_the_store_ranking(client: httpx.Client, pg_scores: pd.DataFrame) -> None:
    body = client.get("/v1/retention-list", params={"limit": 25}).json()
    assert body["run_id"] == pg_scores["run_id"].iloc[0]
    expected = pg_scores.sort_values(["value_at_risk", "customer_id"], ascending=[False, True]).head(25)
    assert [c["customer_id"] for c in body["customers"]] == expected["customer_id"].tolist()
    got = [c["value_at_risk"] for c in body["customers"]]
    assert got == pytest.approx(expected["value_at_risk"].tolist(), rel=1e-12)
    high = client.get("/v1/retention-list", params={"tier": "high", "limit": 10_000}).json()["customers"]
    assert len(high) == int((pg_scores["risk_tier"] == "high").sum())


def test_live_score_from_postgres_data_matches_the_batch(client: httpx.Client, pg_scores: pd.DataFrame) -> None:
    row = pg_scores.iloc[3]
    as_of = pd.Timestamp(row["as_of"]).isoformat()
    r = client.get(f"/v1/customers/{row['customer_id']}", params={"as_of": as_of})
    assert r.status_code == 200, r.text
    assert r.json()["source"] == "live"
    assert r.json()["churn_probability"] == pytest.approx(float(row["churn_probability"]), rel=1e-9)


def test_unknown_customer_is_404_naming_it(client: httpx.Client) -> None:
    r = client.get("/v1/customers/nobody-here-7")
    assert r.status_code == 404
    assert "nobody-here-7" in r.json()["detail"]


def test_account_is_rolled_up_from_its_users_in_postgres(client: httpx.Client, pg_server: PgServer) -> None:
    with psycopg.connect(PG) as conn:
        row = conn.execute(
            f'SELECT account_id, count(*) FROM "{pg_server.schema}".customers WHERE account_id IS NOT NULL '
            "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1"
        ).fetchone()
        assert row is not None
        account_id, users = str(row[0]), int(row[1])
        members = sorted(
            str(r[0])
            for r in conn.execute(
                f'SELECT customer_id FROM "{pg_server.schema}".customers WHERE account_id = %s', [account_id]
            ).fetchall()
        )
    r = client.get(f"/v1/accounts/{account_id}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["users"] == users
    assert sorted(m["customer_id"] for m in body["members"]) == members
    mean = sum(m["churn_probability"] for m in body["members"]) / users
    assert body["churn_probability"] == pytest.approx(mean)
    assert client.get("/v1/accounts/nobody-7").status_code == 404
