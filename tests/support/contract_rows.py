"""Tiny contract tables written by hand, for tests whose every expected number is worked out by hand."""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd

from features.contract import TABLES

CUTOFF = pd.Timestamp("2024-03-10")
T = pd.Timestamp


def contract_con(**tables: list[dict[str, Any]]) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with each given table created with its contract types."""
    con = duckdb.connect()
    for name, rows in tables.items():
        table = TABLES[name]
        cols = [c for c in table.columns if not rows or c.name in rows[0]]
        con.execute(f"CREATE TABLE {name} ({', '.join(f'{c.name} {c.type.duckdb_type}' for c in cols)})")
        if rows:
            frame = pd.DataFrame(rows, columns=[c.name for c in cols])
            con.register("_rows", frame)
            casts = ", ".join(f"CAST({c.name} AS {c.type.duckdb_type})" for c in cols)
            con.execute(f"INSERT INTO {name} SELECT {casts} FROM _rows")
            con.unregister("_rows")
    return con


def customer(cid: str, signup: str, segment: str = "b2c", account: str | None = None) -> dict[str, Any]:
    return {
        "customer_id": cid,
        "signup_at": T(signup),
        "acquisition_channel": "ads",
        "segment": segment,
        "account_id": account,
    }


def event(cid: str, at: str, event_type: str = "core_action", module: str = "m1") -> dict[str, Any]:
    return {"customer_id": cid, "occurred_at": T(at), "event_type": event_type, "module": module, "value": None}


CUSTOMERS = [
    customer("a", "2024-01-01", "b2b", "X"),
    customer("b", "2024-01-01", "b2b", "X"),
    customer("c", "2024-03-01"),
    customer("d", "2024-03-20"),  # signs up after the cutoff: not in the population
    customer("e", "2024-03-10"),  # signs up exactly at the cutoff: not in the population (exclusive)
]
EVENTS = [
    event("a", "2024-01-02 00:00", module="m1"),
    event("a", "2024-01-03 10:00", module="m2"),
    event("a", "2024-01-03 12:00", module="m2"),
    event("a", "2024-03-05 00:00", "login", "m3"),
    event("a", "2024-03-10 00:00", module="m4"),  # exactly at the cutoff: excluded
    event("a", "2024-04-01 00:00", module="m4"),  # after the cutoff: excluded
    event("b", "2024-01-20 00:00"),
    event("b", "2024-01-25 00:00"),
    event("b", "2024-02-20 00:00"),
]


def row(frame: pd.DataFrame, cid: str, as_of: pd.Timestamp = CUTOFF) -> pd.Series:
    hit = frame[(frame["customer_id"] == cid) & (frame["as_of"] == as_of)]
    assert len(hit) == 1, f"expected one row for {cid} at {as_of}, got {len(hit)}"
    return hit.iloc[0]
