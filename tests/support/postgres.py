"""PostgreSQL for tests: contract tables written with COPY, and the world's tables copied into a schema and scored.

The server is the real one at 127.0.0.1:5432 (database ``test``); every test uses its own uniquely named schema and
drops it afterwards, since parallel runs share the server.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from features.postgres_io import connect_postgres, copy_frame, qualified
from support.world import TrainedWorld

PG = "postgresql://postgres@127.0.0.1:5432/test"


_PG_TYPES = {
    "string": "TEXT",
    "timestamp": "TIMESTAMP",
    "date": "DATE",
    "float": "DOUBLE PRECISION",
    "integer": "BIGINT",
}


def write_contract_tables(
    url: str, tables: dict[str, pd.DataFrame], *, schema: str = "public", replace: bool = True
) -> None:
    """Create contract tables in PostgreSQL and COPY the frames in, in one transaction."""
    from features.contract import table as contract_table

    with connect_postgres(url) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        for name, frame in tables.items():
            spec = contract_table(name)
            cols = [c for c in spec.columns if c.name in frame.columns]
            extra = [c for c in frame.columns if c.startswith("attr_")]
            ddl = ", ".join([f'"{c.name}" {_PG_TYPES[c.type.value]}' for c in cols] + [f'"{c}" TEXT' for c in extra])
            if replace:
                conn.execute(f"DROP TABLE IF EXISTS {qualified(schema, name)}")
            conn.execute(f"CREATE TABLE {qualified(schema, name)} ({ddl})")
            copy_frame(conn, frame[[c.name for c in cols] + extra], schema, name)
        conn.commit()


def world_tables(world: TrainedWorld) -> dict[str, pd.DataFrame]:
    """Every contract table of the world's DuckDB file, as frames (read-only: the file stays untouched)."""
    import duckdb

    from features.contract import TABLES

    con = duckdb.connect(str(world.data), read_only=True)
    try:
        present = {str(r[0]) for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        return {name: con.execute(f'SELECT * FROM "{name}"').df() for name in TABLES if name in present}
    finally:
        con.close()


def world_as_of(world: TrainedWorld) -> pd.Timestamp:
    """The cutoff of the world's own batch run, so PostgreSQL scores can be compared with it."""
    from service.score_store import open_score_store

    store = open_score_store(str(world.scores))
    try:
        run = store.latest_run()
    finally:
        store.close()
    assert run is not None
    return pd.Timestamp(run["as_of"])


def load_and_score(world: TrainedWorld, base_url: str, schema: str) -> tuple[str, str]:
    """Copy the world's tables into ``schema`` and batch-score them with the real CLI into ``schema.scores``.

    Returns (data URL, score store URL).
    """
    data_url = f"{base_url}?schema={schema}"
    store_url = f"{base_url}?table=scores&schema={schema}"
    write_contract_tables(base_url, world_tables(world), schema=schema)
    cmd = [
        str(Path(sys.executable).with_name("churnltv")),
        "score",
        "--data",
        data_url,
        "--output",
        store_url,
        "--as-of",
        world_as_of(world).date().isoformat(),
    ]
    env = {**os.environ, **world.env}
    done = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"churnltv score failed:\n{done.stdout}\n{done.stderr}"
    assert "complete" in done.stdout, done.stdout
    return data_url, store_url
