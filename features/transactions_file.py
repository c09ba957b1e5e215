"""Read a purchase log in any column layout (CSV, CSV.gz, other delimited text or Parquet) into the contract's
transaction columns.

``churnltv ltv fit --transactions PATH --customer-col C --date-col D --amount-col A`` lets anyone repeat the
published BG/NBD results on their own export (or the CDNOW sample) without first converting it to the full data
contract. ``sep`` reads other delimited text: ``"whitespace"`` (runs of spaces/tabs, as in lifetimes'
``CDNOW_sample.txt``), ``"tab"``, ``"comma"`` or any single character; ``header=False`` names the columns by their
1-based position ("1", "2", ...), so the CDNOW sample reads with ``sep="whitespace", header=False, customer_col="2",
date_col="3", amount_col="5", date_format="%Y%m%d"``. Errors name the file, the column, the first bad row (1-based,
header excluded) and its value.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.errors import UserInputError
from features.value_repr import shown

SEPARATORS = {"whitespace": r"\s+", "tab": "\t", "comma": ",", "semicolon": ";"}
"""Named separators for ``sep`` (any other single character is used as it is)."""


def _separator(path: Path, sep: str | None) -> str | None:
    """The delimiter to read ``path`` with; None for Parquet."""
    name = path.name.lower()
    if name.endswith(".parquet"):
        if sep is not None:
            raise UserInputError(f"{path}: a Parquet file has no separator; leave out --sep")
        return None
    if sep is None:
        if name.endswith((".csv", ".csv.gz")):
            return ","
        if name.endswith((".tsv", ".tsv.gz")):
            return "\t"
        raise UserInputError(
            f"{path}: unsupported file type; use .csv, .csv.gz, .tsv or .parquet, or give the delimiter of a text "
            "file with --sep (whitespace, tab, comma, semicolon or one character; lifetimes' CDNOW_sample.txt needs "
            "--sep whitespace --no-header)"
        )
    if sep in SEPARATORS:
        return SEPARATORS[sep]
    if len(sep) == 1:
        return sep
    raise UserInputError(
        f"--sep {sep!r} is not a separator; use {', '.join(SEPARATORS)} or a single character such as '|'"
    )


def _read_raw(path: Path, delimiter: str | None, header: bool, text_cols: list[str]) -> pd.DataFrame:
    if delimiter is None:
        try:
            return pd.read_parquet(path)
        except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
            raise UserInputError(f"{path}: cannot be read as Parquet ({err})") from None
    names: list[str] | None = None
    if not header:
        try:
            width = len(pd.read_csv(path, sep=delimiter, nrows=1, header=None).columns)  # pandas' C engine reads \s+
        except pd.errors.EmptyDataError:
            raise UserInputError(f"{path}: the file is empty (no rows)") from None
        except (pd.errors.ParserError, UnicodeDecodeError) as err:
            raise UserInputError(f"{path}: cannot be read as delimited text ({err})") from None
        names = [str(i) for i in range(1, width + 1)]
    else:
        _check_unique_header(path, delimiter)
    try:
        frame: pd.DataFrame = pd.read_csv(
            path, sep=delimiter, header=None if names else "infer", names=names, dtype={c: str for c in text_cols}
        )
    except pd.errors.EmptyDataError:
        raise UserInputError(f"{path}: the file is empty (no header, no rows)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise UserInputError(
            f"{path}: cannot be read as delimited text ({err}); give the right delimiter with --sep"
        ) from None
    return frame


def _check_unique_header(path: Path, delimiter: str) -> None:
    """Name a column the header gives twice: pandas would rename the second ``amount`` to ``amount.1`` and read
    the first without a word, whichever the user meant."""
    try:
        first = pd.read_csv(path, sep=delimiter, nrows=1, header=None, dtype=str)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError):
        return  # the full read below names what is wrong with the file
    if first.empty:
        return
    seen: dict[str, int] = {}
    for position, name in enumerate(first.iloc[0].tolist(), start=1):
        key = str(name)
        if key in seen:
            raise UserInputError(
                f"{path}, column {key!r}: the header gives this column twice (fields {seen[key]} and {position}); "
                "keep one, or rename the other"
            )
        seen[key] = position


def read_transactions_file(
    path: str | Path,
    *,
    customer_col: str,
    date_col: str,
    amount_col: str,
    date_format: str | None = None,
    sep: str | None = None,
    header: bool = True,
) -> pd.DataFrame:
    """Columns ``customer_id`` (str), ``occurred_at`` (naive timestamp), ``amount`` (float) of the file."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"transactions file {path} does not exist")
    raw = _read_raw(path, _separator(path, sep), header, [customer_col, date_col])
    missing = [c for c in (customer_col, date_col, amount_col) if c not in raw.columns]
    if missing:
        hint = "" if header else " (without a header, columns are named by position: 1, 2, ...)"
        raise UserInputError(
            f"{path}: column(s) {', '.join(map(repr, missing))} not found "
            f"(columns: {', '.join(map(str, raw.columns))}){hint}"
        )
    if len(raw) == 0:
        raise UserInputError(f"{path}: no purchase rows (the file has only a header)")
    if date_format is None:
        # ISO 8601 row by row: pandas' default infers one format from the first value, so "2020-01-01" followed by
        # "2020-03-05 09:00" would make the second "not a date". Offsets convert to UTC, naive values are UTC.
        dates = pd.to_datetime(raw[date_col], format="ISO8601", errors="coerce", utc=True)
    else:
        try:
            dates = pd.to_datetime(raw[date_col], format=date_format, errors="coerce")
        except ValueError as err:  # a bad directive ("%Q") raises even with errors="coerce"
            raise UserInputError(
                f"--date-format {date_format!r} is not a valid strftime format ({err}); e.g. %Y%m%d or %d/%m/%Y"
            ) from None
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_convert("UTC").dt.tz_localize(None)
    bad = dates.isna() & raw[date_col].notna()
    bad |= raw[date_col].isna()
    if bool(bad.any()):
        pos = int(bad.to_numpy().nonzero()[0][0])
        hint = "" if date_format else " (not ISO 8601: pass --date-format, e.g. %d/%m/%Y)"
        raise UserInputError(
            f"{path}: row {pos + 1}, column {date_col!r}: not a date{hint} (value: {shown(raw[date_col].iloc[pos])})"
        )
    amounts = pd.to_numeric(raw[amount_col], errors="coerce").astype("float64")
    bad_amount = amounts.isna() | (amounts < 0) | (amounts == np.inf)  # inf is not an amount either
    if bool(bad_amount.any()):
        pos = int(bad_amount.to_numpy().nonzero()[0][0])
        raise UserInputError(
            f"{path}: row {pos + 1}, column {amount_col!r}: amount must be a number >= 0 "
            f"(value: {shown(raw[amount_col].iloc[pos])})"
        )
    customers = raw[customer_col]
    if bool(customers.isna().any()):
        pos = int(customers.isna().to_numpy().nonzero()[0][0])
        raise UserInputError(f"{path}: row {pos + 1}, column {customer_col!r}: missing customer id")
    return pd.DataFrame(
        {
            "customer_id": customers.astype(str).to_numpy(dtype=object),
            "occurred_at": dates.to_numpy(),
            "amount": amounts.to_numpy(dtype="float64"),
        }
    )
