"""Read a purchase log in any column layout (CSV, CSV.gz or Parquet) into the contract's transaction columns.

``churnltv ltv fit --transactions PATH --customer-col C --date-col D --amount-col A`` lets anyone repeat the
published BG/NBD results on their own export (or the CDNOW sample) without first converting it to the full data
contract. Errors name the file, the column, the first bad row (1-based, header excluded) and its value.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.errors import UserInputError


def read_transactions_file(
    path: str | Path,
    *,
    customer_col: str,
    date_col: str,
    amount_col: str,
    date_format: str | None = None,
) -> pd.DataFrame:
    """Columns ``customer_id`` (str), ``occurred_at`` (naive timestamp), ``amount`` (float) of the file."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"transactions file {path} does not exist")
    name = path.name.lower()
    if name.endswith(".parquet"):
        raw = pd.read_parquet(path)
    elif name.endswith((".csv", ".csv.gz")):
        raw = pd.read_csv(path, dtype={customer_col: str, date_col: str})
    else:
        raise UserInputError(f"{path}: unsupported file type; use .csv, .csv.gz or .parquet")
    missing = [c for c in (customer_col, date_col, amount_col) if c not in raw.columns]
    if missing:
        raise UserInputError(
            f"{path}: column(s) {', '.join(map(repr, missing))} not found (columns: {', '.join(map(str, raw.columns))})"
        )
    dates = pd.to_datetime(raw[date_col], format=date_format, errors="coerce")
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_convert("UTC").dt.tz_localize(None)
    bad = dates.isna() & raw[date_col].notna()
    bad |= raw[date_col].isna()
    if bool(bad.any()):
        pos = int(bad.to_numpy().nonzero()[0][0])
        hint = "" if date_format else " (pass --date-format, e.g. %Y%m%d)"
        raise UserInputError(
            f"{path}: row {pos + 1}, column {date_col!r}: not a date{hint} (value: {raw[date_col].iloc[pos]!r})"
        )
    amounts = pd.to_numeric(raw[amount_col], errors="coerce")
    bad_amount = amounts.isna() | (amounts < 0)
    if bool(bad_amount.any()):
        pos = int(bad_amount.to_numpy().nonzero()[0][0])
        raise UserInputError(
            f"{path}: row {pos + 1}, column {amount_col!r}: amount must be a number >= 0 "
            f"(value: {raw[amount_col].iloc[pos]!r})"
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
