"""One loader interface over every place customer data can live.

``open_source(url)`` picks the backend from the URL or path:

* a directory holding ``<table>.parquet``, ``<table>.csv`` or ``<table>.csv.gz`` files;
* a ``*.duckdb`` file (the embedded default);
* a ``postgresql://`` URL (optionally ``?schema=name``); tables are streamed out with
  ``COPY ... TO STDOUT`` into a private temporary directory and read by DuckDB, so the
  PostgreSQL path goes through exactly the same checks as a CSV export;
* a mapping of pandas frames (``FrameSource``; the tests build them with ``tests/support/frames.py``).

Every backend is presented the same way: ``connect()`` returns an in-memory DuckDB
connection where each present contract table is a view under its contract name with
contract types (timestamps naive UTC). The raw, untyped data stays reachable as
``__raw_<table>`` (with a 1-based ``__row`` column) so validation can point at the exact
row and value that is wrong. Validation runs by default and raises
``DataContractError``; nothing is dropped silently.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import duckdb

from features.contract import TABLES, Table
from features.duckdb_settings import DuckDBSettings
from features.errors import UserInputError
from features.postgres_io import connect_postgres, export_table_csv, list_tables, qualified
from features.raw_tables import RawTable, quote_ident, typed_select_list
from features.source_url import redact_url as redact_url  # noqa: PLC0414 - re-exported for older callers
from features.source_url import scrub_password
from features.validation import DataQualityReport, validate_connection

if TYPE_CHECKING:
    import pandas as pd

FILE_SUFFIXES = (".parquet", ".csv", ".csv.gz")


@dataclass
class DataSource:
    """Base class: subclasses register ``__raw_<table>`` views; this class builds typed views."""

    url: str
    extracted_at: pd.Timestamp | None = None
    raw_tables: dict[str, RawTable] = field(default_factory=dict)
    duckdb_settings: DuckDBSettings = field(default_factory=DuckDBSettings)
    """Limits of every DuckDB connection this source opens (built once, by whoever opens the source)."""

    # -- to implement -------------------------------------------------------------------------
    def _register_raw(self, con: duckdb.DuckDBPyConnection) -> None:
        raise NotImplementedError

    # -- shared -------------------------------------------------------------------------------
    def connect(self, *, validate: bool = True) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB connection with every present contract table as a typed view.

        With ``validate`` (the default) the data is checked against the contract first and a
        ``DataContractError`` lists every problem (table, row, column, value).
        """
        con = _new_connection(self.duckdb_settings)
        self.raw_tables = {}
        self._register_raw(con)
        missing = [t.name for t in TABLES.values() if t.required and t.name not in self.raw_tables]
        if missing:
            present = ", ".join(sorted(self.raw_tables)) or "none"
            raise UserInputError(
                f"{scrub_password(self.url)}: required table(s) {', '.join(missing)} not found (found: {present}); "
                f"a directory needs files named like customers.csv or customers.parquet"
            )
        if validate:
            report = validate_connection(con, self)
            report.raise_if_invalid()
            for warning in report.warnings:  # accepted data, but the user should know (e.g. no control group)
                for example in warning.examples:
                    logging.getLogger(__name__).warning("%s", example)
        for raw in self.raw_tables.values():
            _create_typed_view(con, TABLES[raw.name], raw)
        return con

    def validate(self) -> DataQualityReport:
        """Check the data against the contract without raising; the report lists every issue."""
        con = _new_connection(self.duckdb_settings)
        self.raw_tables = {}
        self._register_raw(con)
        try:
            return validate_connection(con, self)
        finally:
            con.close()

    def close(self) -> None:
        """Release temporary files (only PostgreSQL sources hold any)."""

    def ping(self) -> None:
        """Check that the source is still reachable; raises ``SourceUnreachableError`` when it is not.

        Files need no check beyond the open connection; a server-backed source (PostgreSQL) is asked every time.
        """


def _new_connection(settings: DuckDBSettings) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the source's memory limit and spill directory."""
    con = duckdb.connect()
    settings.apply(con)
    return con


def _create_typed_view(con: duckdb.DuckDBPyConnection, table: Table, raw: RawTable) -> None:
    con.execute(
        f"CREATE OR REPLACE VIEW {quote_ident(table.name)} AS "
        f"SELECT {typed_select_list(table, raw)} FROM {quote_ident('__raw_' + table.name)}"
    )


def _describe(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    rows = con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    return {str(r[0]): str(r[1]) for r in rows if str(r[0]) != "__row"}


@dataclass
class DirectorySource(DataSource):
    """A directory of ``<table>.parquet`` / ``<table>.csv`` / ``<table>.csv.gz`` files."""

    path: Path = Path()

    def _register_raw(self, con: duckdb.DuckDBPyConnection) -> None:
        for name in TABLES:
            found = [
                self.path / f"{name}{suffix}" for suffix in FILE_SUFFIXES if (self.path / f"{name}{suffix}").exists()
            ]
            if len(found) > 1:
                raise UserInputError(
                    f"{self.path}: table {name!r} is given twice ({', '.join(p.name for p in found)}); keep one file"
                )
            if not found:
                continue
            file = found[0]
            literal = "'" + str(file).replace("'", "''") + "'"
            if file.name.endswith(".parquet"):
                reader = f"read_parquet({literal})"
            else:
                if file.stat().st_size == 0:
                    raise UserInputError(f"{file}: the file is empty (expected a header line with the column names)")
                _check_utf8(file)
                _check_unique_header(file)
                reader = (
                    f"read_csv({literal}, header=true, all_varchar=true, auto_detect=true, "
                    f"parallel=false, strict_mode=true, null_padding=false)"
                )
            try:
                con.execute(
                    f"CREATE VIEW {quote_ident('__raw_' + name)} AS "
                    f"SELECT row_number() OVER () AS __row, * FROM {reader}"
                )
                columns = _describe(con, quote_ident("__raw_" + name))
            except duckdb.Error as err:
                if not file.name.endswith(".parquet"):
                    _check_field_counts(file)
                raise UserInputError(
                    f"{file}: cannot be read as {file.suffix.lstrip('.')}: {_first_line(err)}"
                ) from None
            if not file.name.endswith(".parquet") and len(columns) != _header_width(file):
                _check_field_counts(file)
            self.raw_tables[name] = RawTable(name, file.name, columns)


def _check_utf8(file: Path) -> None:
    """Reject a CSV that is not UTF-8 with the line where decoding fails (DuckDB's message is vaguer)."""
    import gzip
    import io

    opener = gzip.open if file.name.endswith(".gz") else open
    with opener(file, "rb") as raw:
        stream = io.BufferedReader(raw)
        for line_no, line in enumerate(stream, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as err:
                data_row = line_no - 1
                raise UserInputError(
                    f"{file.name}, row {data_row} (line {line_no}): not UTF-8 text ({err.reason} at byte "
                    f"{err.start}); save the file as UTF-8"
                ) from None


def _open_text(file: Path) -> Any:
    import gzip

    if file.name.endswith(".gz"):
        return gzip.open(file, "rt", encoding="utf-8", newline="")
    return file.open(encoding="utf-8", newline="")


def _header_width(file: Path) -> int:
    """Fields in the header line when split on commas (the common layout); cheap: reads one line."""
    import csv

    with _open_text(file) as fh:
        return len(next(csv.reader(fh), []))


def _check_unique_header(file: Path) -> None:
    """Name a column the header line gives twice.

    DuckDB renames the second one (``event_type`` becomes ``event_type_1``), and the contract check would then
    report an "unexpected column 'event_type_1'" that is in no file. Names are compared as DuckDB does,
    ignoring case.
    """
    import csv

    with _open_text(file) as fh:
        header = next(csv.reader(fh), [])
    first_at: dict[str, int] = {}
    for position, name in enumerate(header, start=1):
        key = name.strip().casefold()
        if key in first_at:
            first = header[first_at[key] - 1]
            raise UserInputError(
                f"{file.name}, column {name.strip()!r}: the header gives this column twice (fields {first_at[key]} "
                f"and {position}{'' if first == name else f', as {first.strip()!r} and {name.strip()!r}'}); "
                "keep one, or rename the other"
            )
        first_at[key] = position


def _check_field_counts(file: Path) -> None:
    """Name the first row whose field count differs from the header's.

    DuckDB's sniffer copes with a ragged row by guessing another layout (one wide column, or no
    data rows), which turns a one-line typo into misleading "missing column" or "no rows" reports.
    Only called when the detected layout disagrees with the comma-split header, so the happy path
    reads one line.
    """
    import csv

    with _open_text(file) as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        if len(header) < 2:  # not comma-separated: leave it to DuckDB's own detection
            return
        for row_no, row in enumerate(reader, start=1):
            if row and len(row) != len(header):
                raise UserInputError(
                    f"{file.name}, row {row_no} (line {reader.line_num}): {len(row)} field(s), but the header has "
                    f"{len(header)} ({', '.join(header)}); check for a missing or extra comma or an unquoted value"
                )


def _first_line(err: BaseException) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


@dataclass
class DuckDBSource(DataSource):
    """A DuckDB database file with one table per contract table (the embedded default)."""

    path: Path = Path()

    def _register_raw(self, con: duckdb.DuckDBPyConnection) -> None:
        if not self.path.exists():
            raise UserInputError(f"{self.path}: no such DuckDB file (create one with `churnltv generate`)")
        literal = "'" + str(self.path).replace("'", "''") + "'"
        try:
            con.execute(f"ATTACH {literal} AS src (READ_ONLY)")
        except duckdb.Error as err:
            raise UserInputError(f"{self.path}: not a readable DuckDB database: {_first_line(err)}") from None
        present = {
            str(r[0])
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = 'src' "
                "UNION SELECT view_name FROM duckdb_views() WHERE database_name = 'src'"
            ).fetchall()
        }
        for name in TABLES:
            if name not in present:
                continue
            con.execute(
                f"CREATE VIEW {quote_ident('__raw_' + name)} AS "
                f"SELECT row_number() OVER () AS __row, * FROM src.{quote_ident(name)}"
            )
            self.raw_tables[name] = RawTable(
                name, f"{self.path.name}:{name}", _describe(con, quote_ident("__raw_" + name))
            )


@dataclass
class PostgresSource(DataSource):
    """PostgreSQL tables named like the contract tables, in ``?schema=`` (default ``public``)."""

    schema: str = "public"
    _tmp: Path | None = None

    def _register_raw(self, con: duckdb.DuckDBPyConnection) -> None:
        self.close()
        self._tmp = Path(tempfile.mkdtemp(prefix="churnltv-pg-"))
        with connect_postgres(self.url) as pg:
            present = list_tables(pg, self.schema)
            for name in TABLES:
                if name not in present:
                    continue
                file = self._tmp / f"{name}.csv"
                export_table_csv(pg, self.schema, name, file)
                literal = "'" + str(file).replace("'", "''") + "'"
                con.execute(
                    f"CREATE TABLE {quote_ident('__raw_' + name)} AS SELECT row_number() OVER () AS __row, * "
                    f"FROM read_csv({literal}, header=true, all_varchar=true, parallel=false)"
                )
                file.unlink()
                self.raw_tables[name] = RawTable(
                    name, f"postgres {self.schema}.{name}", _describe(con, quote_ident("__raw_" + name))
                )

    def close(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def ping(self) -> None:
        # ``connect()`` copies the tables into DuckDB, so that copy answers queries even while the server is
        # down: readiness must ask the server itself (a fresh connection each time, so a restart is picked up)
        import psycopg

        from features.errors import SourceUnreachableError

        try:
            with connect_postgres(self.url, connect_timeout=2) as pg:
                pg.execute(f"SELECT 1 FROM {qualified(self.schema, 'customers')} LIMIT 1").fetchall()
        except psycopg.OperationalError as err:  # lost mid-query (server shutting down)
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise SourceUnreachableError(f"PostgreSQL at {scrub_password(self.url)}: {scrub_password(first)}") from None


@dataclass
class FrameSource(DataSource):
    """In-memory pandas frames keyed by contract table name (tests, API requests)."""

    frames: Mapping[str, Any] = field(default_factory=dict)

    def _register_raw(self, con: duckdb.DuckDBPyConnection) -> None:
        for name, frame in self.frames.items():
            if name not in TABLES:
                raise UserInputError(f"unknown table {name!r}; the contract has {', '.join(TABLES)}")
            con.register(f"__frame_{name}", frame)
            con.execute(
                f"CREATE VIEW {quote_ident('__raw_' + name)} AS "
                f"SELECT row_number() OVER () AS __row, * FROM {quote_ident('__frame_' + name)}"
            )
            self.raw_tables[name] = RawTable(name, name, _describe(con, quote_ident("__raw_" + name)))


def open_source(
    url: str | Path,
    *,
    extracted_at: pd.Timestamp | str | None = None,
    duckdb_settings: DuckDBSettings | None = None,
) -> DataSource:
    """Choose the backend from ``url``: directory, ``*.duckdb`` file, or ``postgresql://`` URL.

    ``extracted_at`` is when the data was exported; rows dated after it are errors
    (default: now, UTC). ``duckdb_settings`` are the limits of every connection the source opens; the commands
    build them once with the rest of their settings (default: read from ``CHURNLTV_DUCKDB_*`` now, once).
    """
    import pandas as pd

    when = pd.Timestamp(extracted_at) if extracted_at is not None else None
    limits = duckdb_settings if duckdb_settings is not None else DuckDBSettings()
    text = str(url)
    if re.match(r"^postgres(ql)?(\+\w+)?://", text):
        query = parse_qs(urlsplit(text).query)
        schema = query.get("schema", ["public"])[0]
        return PostgresSource(url=text, extracted_at=when, duckdb_settings=limits, schema=schema)
    path = Path(text).expanduser()
    if path.is_dir():
        return DirectorySource(url=text, extracted_at=when, duckdb_settings=limits, path=path)
    if path.suffix in (".duckdb", ".db"):
        return DuckDBSource(url=text, extracted_at=when, duckdb_settings=limits, path=path)
    if not path.exists():
        raise UserInputError(
            f"{text}: no such file or directory (expected a directory of CSV/Parquet files, "
            f"a .duckdb file or a postgresql:// URL)"
        )
    raise UserInputError(
        f"{text}: cannot tell what kind of source this is (expected a directory of CSV/Parquet files, "
        f"a .duckdb file or a postgresql:// URL)"
    )
