"""The PostgreSQL source against the real server at 127.0.0.1:5432 (database `test`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pandas as pd
import psycopg
import pytest

from features.errors import DataContractError, UserInputError
from features.sources import open_source
from support.postgres import PG, write_contract_tables

pytestmark = pytest.mark.postgres


@pytest.fixture
def schema() -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def _tables(amount: float = 12.5) -> dict[str, pd.DataFrame]:
    customers = pd.DataFrame(
        {
            "customer_id": ["c1", "c2"],
            "signup_at": pd.to_datetime(["2024-01-01 10:00", "2024-01-02 00:00"], format="ISO8601"),
            "acquisition_channel": ["ads", "seo"],
            "segment": ["b2c", "b2b"],
            "account_id": [None, "a1"],
        }
    )
    events = pd.DataFrame(
        {
            "customer_id": ["c1", "c2", "c2"],
            "occurred_at": pd.to_datetime(
                ["2024-02-01 10:00:00.25", "2024-02-02 00:00:00", "2024-02-03 00:00:00"], format="ISO8601"
            ),
            "event_type": ["core_action", "login", "core_action"],
            "module": ["reports", "app", "alerts"],
        }
    )
    tx = pd.DataFrame(
        {
            "customer_id": ["c1", "c2"],
            "occurred_at": pd.to_datetime(["2024-02-01", "2024-02-05"], format="ISO8601"),
            "amount": [amount, 3.0],
            "order_id": ["o1", "o2"],
        }
    )
    return {"customers": customers, "events": events, "transactions": tx}


def test_postgres_round_trip_matches_frames(schema: str) -> None:
    tables = _tables()
    write_contract_tables(PG, tables, schema=schema)
    source = open_source(f"{PG}?schema={schema}", extracted_at="2025-01-01")
    con = source.connect()
    events = con.execute("SELECT * FROM events ORDER BY occurred_at").df()
    source.close()
    assert events["occurred_at"].tolist() == sorted(tables["events"]["occurred_at"].tolist())
    assert events["module"].tolist() == ["reports", "app", "alerts"]
    tx = con.execute("SELECT amount FROM transactions ORDER BY order_id").fetchall()
    assert tx == [(12.5,), (3.0,)]


def test_postgres_bad_row_is_named(schema: str) -> None:
    write_contract_tables(PG, _tables(amount=-3.5), schema=schema)
    with pytest.raises(DataContractError) as info:
        open_source(f"{PG}?schema={schema}", extracted_at="2025-01-01").connect()
    assert "postgres " + schema + ".transactions, row 1, column 'amount', customer 'c1': negative amount" in str(
        info.value
    )


def test_unreachable_postgres_is_a_clear_error() -> None:
    with pytest.raises(UserInputError, match=r"cannot connect to PostgreSQL at postgresql://postgres@127.0.0.1:1/test"):
        open_source("postgresql://postgres@127.0.0.1:1/test").connect()
