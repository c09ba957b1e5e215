"""Limits of the embedded DuckDB engine that every data source opens (env prefix ``CHURNLTV_DUCKDB_``).

DuckDB's own default lets a query use 80% of the machine's memory: building the features of 1M customers / 53M
events took 4.7 GB of the process's peak RSS that way, over the 4 GB a nightly scoring job is allowed. With a
limit DuckDB spills its hash tables to ``temp_directory`` instead: at 2 GB (the default) the 1M-customer feature
build takes ~15 s and the whole `churnltv score` process peaks at ~3.3 GB; at 3 GB it is ~1 s faster and peaks
between 3.5 and 4.2 GB. An in-memory DuckDB would spill into ``./.tmp`` of whatever directory
the command runs in, so the default is a directory of this process under the system's temporary directory.
"""

from __future__ import annotations

import os
import re
import tempfile
from typing import TYPE_CHECKING

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    import duckdb

_SIZE = re.compile(r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)\s*$", re.IGNORECASE)


class DuckDBSettings(BaseSettings):
    """Memory limit, threads and spill directory applied to each DuckDB connection of a data source."""

    model_config = SettingsConfigDict(env_prefix="CHURNLTV_DUCKDB_", extra="ignore", frozen=True)

    memory_limit: str = Field("2GB", description="DuckDB's memory limit, e.g. 2GB or 1500MB; beyond it DuckDB spills.")
    threads: int | None = Field(None, ge=1, description="Worker threads (default: DuckDB's, one per core).")
    temp_directory: str | None = Field(
        None, description="Where DuckDB spills (default: <system temp>/churnltv-duckdb-<pid>)."
    )

    @field_validator("memory_limit")
    @classmethod
    def _size(cls, value: str) -> str:
        if not _SIZE.match(value):
            raise ValueError(f"{value!r} is not a size like 3GB, 1500MB or 2.5GiB")
        return value.strip()

    def apply(self, con: duckdb.DuckDBPyConnection) -> None:
        """Set the limits on ``con`` (a fresh connection, before any query)."""
        spill = self.temp_directory or os.path.join(tempfile.gettempdir(), f"churnltv-duckdb-{os.getpid()}")
        con.execute(f"SET memory_limit = '{self.memory_limit}'")
        con.execute("SET temp_directory = '" + spill.replace("'", "''") + "'")
        if self.threads is not None:
            con.execute(f"SET threads = {int(self.threads)}")
