"""The raw tables a data source registers, and the SQL that turns them into contract types.

Every backend of ``sources`` registers each present contract table as a raw, untyped DuckDB relation
``__raw_<table>`` (with a 1-based ``__row`` column) and records where it came from in a ``RawTable``. Validation
checks those raw rows and sources build the typed views from them; both use the same typing rules from here
(``typed_expr``), so a value validation accepts is exactly a value the typed view can hold. This module sits below
both, so neither needs the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from features.contract import ColumnType, Table

if TYPE_CHECKING:
    import pandas as pd

# A timestamp text that carries a UTC offset ("...10:00:00+02:00", "...10:00Z", Postgres' "...+00").
OFFSET_PATTERN = r"\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)$"


def quote_ident(name: str) -> str:
    """Quote an SQL identifier for DuckDB/PostgreSQL."""
    return '"' + name.replace('"', '""') + '"'


@dataclass
class RawTable:
    """Where one contract table's raw rows came from, and how DuckDB typed them."""

    name: str
    origin: str  # file name or "postgres schema.table": what error messages call the source
    columns: dict[str, str]  # raw column name -> DuckDB type as read (VARCHAR for text files)


class RawTableSource(Protocol):
    """What validation needs of a data source: its URL, extraction time and the raw tables it registered."""

    @property
    def url(self) -> str: ...

    @property
    def extracted_at(self) -> pd.Timestamp | None: ...

    @property
    def raw_tables(self) -> dict[str, RawTable]: ...


def typed_expr(col_name: str, ctype: ColumnType, raw_type: str | None) -> str:  # noqa: PLR0911
    """SQL that turns a raw column into its contract type; NULL where it cannot (validation reports those)."""
    if raw_type is None:  # optional column absent from the input
        return f"CAST(NULL AS {ctype.duckdb_type})"
    c = quote_ident(col_name)
    text = raw_type.upper() in ("VARCHAR", "TEXT") or raw_type.upper().startswith("VARCHAR")
    if ctype is ColumnType.STRING:
        return f"NULLIF(CAST({c} AS VARCHAR), '')" if text else f"CAST({c} AS VARCHAR)"
    if ctype is ColumnType.TIMESTAMP:
        if text:
            v = f"NULLIF(TRIM({c}), '')"
            return (
                f"CASE WHEN regexp_matches({v}, '{OFFSET_PATTERN}') "
                f"THEN CAST(TRY_CAST({v} AS TIMESTAMPTZ) AT TIME ZONE 'UTC' AS TIMESTAMP) "
                f"ELSE TRY_CAST({v} AS TIMESTAMP) END"
            )
        if "WITH TIME ZONE" in raw_type.upper() or raw_type.upper() == "TIMESTAMPTZ":
            return f"CAST({c} AT TIME ZONE 'UTC' AS TIMESTAMP)"
        return f"TRY_CAST({c} AS TIMESTAMP)"
    target = ctype.duckdb_type
    value = f"NULLIF(TRIM({c}), '')" if text else c
    if ctype is ColumnType.INTEGER and not _is_integer_type(raw_type):
        # a plain cast to BIGINT rounds 7.5 to 8: a non-whole value is a wrong type, so it becomes NULL here and
        # validation reports it as "not a whole number"
        x = f"TRY_CAST({value} AS DOUBLE)"
        return f"CASE WHEN isfinite({x}) AND {x} = trunc({x}) THEN TRY_CAST({x} AS {target}) END"
    return f"TRY_CAST({value} AS {target})"


def _is_integer_type(raw_type: str) -> bool:
    return raw_type.upper() in {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                                "UINTEGER", "UBIGINT", "UHUGEINT"}  # fmt: skip


def typed_select_list(table: Table, raw: RawTable) -> str:
    """The SELECT list that maps a raw table to the contract's columns and types."""
    parts = [
        f"{typed_expr(col.name, col.type, raw.columns.get(col.name))} AS {quote_ident(col.name)}"
        for col in table.columns
    ]
    if table.allows_attributes:
        parts += [f"{quote_ident(name)}" for name in raw.columns if name.startswith("attr_")]
    return ", ".join(parts)
