"""The service on customer data shaped differently from the data the models were trained on.

* no B2B accounts (``customers.account_id`` empty): customers are served, ``GET /v1/accounts/{id}`` is a 422
  naming ``account_id``;
* no ``nps_responses`` table: the churn model needs NPS features this data cannot build, so the service does not
  serve it (``/ready`` 503 naming every missing feature and why) instead of scoring everyone with NPS unknown.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from support.world import TrainedWorld

pytestmark = pytest.mark.slow
KEY = "shapes-key"


@pytest.fixture(scope="module")
def world_tables(trained_world: TrainedWorld) -> dict[str, pd.DataFrame]:
    import duckdb

    from features.contract import TABLES

    con = duckdb.connect(str(trained_world.data), read_only=True)
    try:
        present = {str(r[0]) for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        return {name: con.execute(f'SELECT * FROM "{name}"').df() for name in TABLES if name in present}
    finally:
        con.close()


@pytest.fixture
def client_on(trained_world: TrainedWorld, tmp_path: Path) -> Callable[[dict[str, pd.DataFrame]], Any]:
    """A TestClient context for the API over ``tables`` written as a Parquet directory (champion models)."""
    from fastapi.testclient import TestClient

    from features.dataset_writer import write_dataset
    from service.api.app import create_app
    from service.settings import ServiceSettings

    def make(tables: dict[str, pd.DataFrame]) -> Any:
        data = write_dataset(tables, tmp_path / "data")
        settings = ServiceSettings(
            api_keys=(KEY,), data=str(data), score_store=None, tracking_uri=trained_world.tracking_uri
        )
        return TestClient(create_app(settings), headers={"X-API-Key": KEY})

    return make


def test_data_without_accounts_answers_the_account_route_with_a_422(
    world_tables: dict[str, pd.DataFrame], client_on: Callable[[dict[str, pd.DataFrame]], Any]
) -> None:
    tables = {**world_tables, "customers": world_tables["customers"].drop(columns="account_id")}
    customer_id = str(tables["customers"]["customer_id"].iloc[0])
    with client_on(tables) as client:
        assert client.get("/ready").status_code == 200, client.get("/ready").text
        r = client.get("/v1/accounts/A000001")
        assert r.status_code == 422, r.text
        assert r.json()["detail"] == "account_id: the customer data has no accounts (customers.account_id is empty)"
        assert client.get(f"/v1/customers/{customer_id}").status_code == 200


def test_a_model_needing_a_table_the_data_lacks_is_not_served(
    world_tables: dict[str, pd.DataFrame], client_on: Callable[[dict[str, pd.DataFrame]], Any]
) -> None:
    tables = {k: v for k, v in world_tables.items() if k != "nps_responses"}
    with client_on(tables) as client:
        ready = client.get("/ready")
        assert ready.status_code == 503
        why = ready.json()["checks"]["models"]
        assert "does not fit the features this service feeds it (4 difference(s))" in why, why
        for name in ("nps_last", "nps_mean", "nps_count", "days_since_last_nps"):
            assert f"data source: missing feature '{name}'" in why, why
        assert "(left out: no nps_responses table)" in why
        r = client.post("/v1/predict", json={"customers": [{"customer_id": "x"}]})
        assert r.status_code == 503
        assert "nps_last" in r.json()["detail"]
