"""Write a dataset in contract form: a directory of Parquet/CSV files or a DuckDB database file.

Why atomic: a crash (or Ctrl-C) half-way through writing 50M events must never leave something that
looks like a complete dataset. Everything is written into a temporary sibling (same directory, so the
final ``rename`` is atomic on one filesystem) and renamed into place only when every table is done.

Why deterministic: the same generated base must give the same bytes (tests hash two runs), so Parquet
files carry no pandas metadata or timestamps, and rows keep the order they were given in.

Columns are written with the contract types (``features/contract.py``): ``ColumnType.duckdb_type`` in
DuckDB, the matching Arrow type in Parquet, and DuckDB's text rendering in CSV (``2024-03-01 10:00:00``,
empty for null), which is exactly what the loaders in ``features/sources.py`` read back.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from features.contract import TABLES, ColumnType, Table
from features.errors import UserInputError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

DatasetFormat = Literal["parquet", "csv", "duckdb"]
FORMATS: tuple[str, ...] = ("parquet", "csv", "duckdb")
DUCKDB_SUFFIXES = (".duckdb", ".db")
_TABLE_FILE_SUFFIXES = (".parquet", ".csv", ".csv.gz")


def infer_format(target: Path) -> DatasetFormat:
    """``*.duckdb`` / ``*.db`` -> a DuckDB file; anything else -> a directory of Parquet files."""
    return "duckdb" if target.suffix in DUCKDB_SUFFIXES else "parquet"


def _arrow_type(ctype: ColumnType) -> pa.DataType:
    import pyarrow as pa

    return {
        ColumnType.STRING: pa.string(),
        ColumnType.TIMESTAMP: pa.timestamp("us"),
        ColumnType.DATE: pa.date32(),
        ColumnType.FLOAT: pa.float64(),
        ColumnType.INTEGER: pa.int64(),
    }[ctype]


def _conform_column(table: Table, name: str, column: pa.ChunkedArray, ctype: ColumnType) -> pa.ChunkedArray:
    """Cast one column to its contract type; dictionary-encoded text stays dictionary-encoded (compact)."""
    import pyarrow as pa

    target = _arrow_type(ctype)
    if ctype is ColumnType.STRING and pa.types.is_dictionary(column.type):
        value_type = column.type.value_type
        if pa.types.is_string(value_type) or pa.types.is_large_string(value_type):
            return column.cast(pa.dictionary(pa.int32(), pa.string()))
    if ctype is ColumnType.TIMESTAMP and pa.types.is_timestamp(column.type) and column.type.tz is not None:
        column = column.cast(pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us"))
    if ctype is ColumnType.DATE and pa.types.is_timestamp(column.type):
        column = column.cast(pa.timestamp("us")).cast(pa.date32())
    try:
        return column.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
        raise UserInputError(
            f"table {table.name!r}, column {name!r}: cannot write {column.type} as contract type "
            f"{ctype.value}: {str(err).splitlines()[0]}"
        ) from None


def conform_table(name: str, frame: pd.DataFrame) -> pa.Table:
    """The frame as an Arrow table with the contract's columns, order and types (plus ``attr_*`` on customers).

    Raises ``UserInputError`` naming the table and column for an unknown table, a missing required
    column, an unknown extra column, or a value that cannot take the contract type.
    """
    import pyarrow as pa

    if name not in TABLES:
        raise UserInputError(f"unknown table {name!r}; the contract has {', '.join(TABLES)}")
    table = TABLES[name]
    given = [str(c) for c in frame.columns]
    missing = [c for c in table.required_columns if c not in given]
    if missing:
        raise UserInputError(
            f"table {name!r}: missing required column(s) {', '.join(missing)} (found: {', '.join(given)})"
        )
    attributes = [c for c in given if table.allows_attributes and c.startswith("attr_")]
    extra = [c for c in given if c not in table.column_names and c not in attributes]
    if extra:
        raise UserInputError(f"table {name!r}: column(s) {', '.join(extra)} are not in the data contract")
    arrow = pa.Table.from_pandas(frame, preserve_index=False)
    columns: list[pa.ChunkedArray] = []
    names: list[str] = []
    for col in table.columns:
        if col.name not in given:
            continue
        columns.append(_conform_column(table, col.name, arrow.column(col.name), col.type))
        names.append(col.name)
    for attribute in attributes:
        column = arrow.column(attribute)
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        columns.append(column)
        names.append(attribute)
    return pa.Table.from_arrays(columns, names=names)  # no schema metadata: deterministic bytes


def _duckdb_column_type(name: str, column_type: pa.DataType) -> str:
    import pyarrow as pa

    if pa.types.is_dictionary(column_type) or pa.types.is_string(column_type) or pa.types.is_large_string(column_type):
        return "VARCHAR"
    if pa.types.is_timestamp(column_type):
        return "TIMESTAMP"
    if pa.types.is_date(column_type):
        return "DATE"
    if pa.types.is_floating(column_type):
        return "DOUBLE"
    if pa.types.is_integer(column_type):
        return "BIGINT"
    if pa.types.is_boolean(column_type):
        return "BOOLEAN"
    raise UserInputError(f"column {name!r}: cannot store Arrow type {column_type}")


def _write_parquet(arrow: pa.Table, path: Path) -> None:
    import pyarrow.parquet as pq

    pq.write_table(arrow, path, compression="zstd", row_group_size=1 << 20, write_statistics=True)


def _write_csv(arrow: pa.Table, path: Path) -> None:
    import duckdb

    con = duckdb.connect()
    try:
        con.register("__frame", arrow)
        literal = "'" + str(path).replace("'", "''") + "'"
        con.execute(f"COPY (SELECT * FROM __frame) TO {literal} (FORMAT csv, HEADER true)")
    finally:
        con.close()


def _write_duckdb(arrows: Mapping[str, pa.Table], path: Path) -> None:
    import duckdb

    from features.raw_tables import quote_ident

    con = duckdb.connect(str(path))
    try:
        for name, arrow in arrows.items():
            con.register("__frame", arrow)
            table = TABLES[name]
            defs, selects = [], []
            for field in arrow.schema:
                sql_type = table.column(field.name).type.duckdb_type if field.name in table.column_names else None
                sql_type = sql_type or _duckdb_column_type(field.name, field.type)
                defs.append(f"{quote_ident(field.name)} {sql_type}")
                selects.append(f"CAST({quote_ident(field.name)} AS {sql_type})")
            con.execute(f"CREATE TABLE {quote_ident(name)} ({', '.join(defs)})")
            con.execute(f"INSERT INTO {quote_ident(name)} SELECT {', '.join(selects)} FROM __frame")
            con.unregister("__frame")
        con.execute("CHECKPOINT")
    finally:
        con.close()


def _temporary_sibling(target: Path, kind: str) -> Path:
    return target.with_name(f".{target.name}.{kind}-{uuid.uuid4().hex[:12]}")


def _check_replaceable_directory(target: Path) -> None:
    """Only replace a directory that holds nothing but contract table files (never a user's other files)."""
    if not target.exists():
        return
    if not target.is_dir():
        raise UserInputError(f"{target}: exists and is not a directory; choose another --out or remove it")
    known = {f"{t}{s}" for t in TABLES for s in _TABLE_FILE_SUFFIXES}
    foreign = sorted(p.name for p in target.iterdir() if p.name not in known)
    if foreign:
        raise UserInputError(
            f"{target}: already holds files that are not contract tables ({', '.join(foreign[:5])}); "
            "refusing to replace it; choose an empty or new directory"
        )


def write_dataset(
    tables: Mapping[str, pd.DataFrame],
    target: str | Path,
    fmt: DatasetFormat | None = None,
) -> Path:
    """Write ``tables`` (contract table name -> frame) to ``target`` atomically; returns the target path.

    ``fmt`` None infers it: ``*.duckdb``/``*.db`` -> one DuckDB file with one table per contract table,
    anything else -> a directory of ``<table>.parquet``. ``csv`` writes ``<table>.csv`` files. An existing
    target is replaced only once the new dataset is complete.
    """
    target = Path(target).expanduser()
    chosen: DatasetFormat = fmt if fmt is not None else infer_format(target)
    if chosen not in FORMATS:
        raise UserInputError(f"unknown format {chosen!r}; use one of {', '.join(FORMATS)}")
    if chosen == "duckdb" and target.suffix not in DUCKDB_SUFFIXES:
        raise UserInputError(f"{target}: a DuckDB dataset must be a file ending in .duckdb (so loaders recognise it)")
    if chosen != "duckdb" and target.suffix in DUCKDB_SUFFIXES:
        raise UserInputError(f"{target}: a {chosen} dataset is a directory; drop the {target.suffix} suffix")
    if "customers" not in tables or "events" not in tables:
        raise UserInputError("a dataset needs at least the customers and events tables")
    arrows = {name: conform_table(name, frame) for name, frame in tables.items()}
    target.parent.mkdir(parents=True, exist_ok=True)

    if chosen == "duckdb":
        if target.exists() and not target.is_file():
            raise UserInputError(f"{target}: exists and is not a file; choose another --out")
        tmp = _temporary_sibling(target, "tmp")
        try:
            _write_duckdb(arrows, tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
            Path(f"{tmp}.wal").unlink(missing_ok=True)
        return target

    _write_directory(arrows, target, chosen)
    return target


def _write_directory(arrows: Mapping[str, pa.Table], target: Path, fmt: DatasetFormat) -> None:
    """One file per table in a temporary sibling directory, renamed into place when complete."""
    _check_replaceable_directory(target)
    tmp = _temporary_sibling(target, "tmp")
    tmp.mkdir()
    try:
        for name, arrow in arrows.items():
            if fmt == "parquet":
                _write_parquet(arrow, tmp / f"{name}.parquet")
            else:
                _write_csv(arrow, tmp / f"{name}.csv")
        if target.exists():
            old = _temporary_sibling(target, "old")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_frame_parquet(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write any frame (e.g. the generator's ground truth) to one Parquet file, atomically and deterministically."""
    import pyarrow as pa

    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    arrow = pa.Table.from_pandas(frame, preserve_index=False)
    arrow = arrow.replace_schema_metadata(None)
    tmp = _temporary_sibling(path, "tmp")
    try:
        _write_parquet(arrow, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
