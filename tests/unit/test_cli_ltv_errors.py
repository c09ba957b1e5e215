"""`churnltv ltv fit/train`: every bad flag value or unreadable file is exit 2 naming the flag or file, never exit 1."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from churnltv.cli import app

COLUMNS = ["--customer-col", "customer_id", "--date-col", "date", "--amount-col", "amount"]


@pytest.fixture
def good_csv(tmp_path: Path) -> Path:
    path = tmp_path / "tx.csv"
    path.write_text("customer_id,date,amount\n1,19970101,5.0\n1,19970301,3.5\n2,19970105,7.25\n")
    return path


def _fit(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["ltv", "fit", *args])
    assert "Traceback" not in result.output
    assert "unexpected" not in result.output, result.output
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--freq", "Q"], "--freq/--time-unit: 'Q' is not a time unit; use D, W or M"),
        (["--time-unit", "fortnight"], "'fortnight' is not a time unit"),
        (["--calibration-end", "1997-13-45"], "--calibration-end: '1997-13-45' is not a date"),
        (["--calibration-end", ""], "--calibration-end: '' is not a date"),
        (["--as-of", "now"], "--as-of: 'now' is not a date"),
        (["--holdout-end", "99999-01-01"], "--holdout-end: '99999-01-01' is not a date"),
    ],
)
def test_bad_flag_values_exit_2_naming_the_flag(tmp_path: Path, flags: list[str], message: str) -> None:
    # the file does not exist: flags are checked first, so the flag's error is the one reported
    code, output = _fit("--transactions", str(tmp_path / "missing.csv"), *COLUMNS, *flags)
    assert code == 2, output
    assert message in " ".join(output.split()), output


def test_bad_separator_exits_2_naming_the_flag(tmp_path: Path) -> None:
    code, output = _fit("--transactions", str(_write(tmp_path)), *COLUMNS, "--sep", "ab")
    assert code == 2
    assert "--sep 'ab' is not a separator" in " ".join(output.split())


def _write(tmp_path: Path) -> Path:
    path = tmp_path / "tx.txt"
    path.write_text("1 19970101 5.0\n")
    return path


def test_bad_date_format_exits_2_naming_the_flag(good_csv: Path) -> None:
    code, output = _fit("--transactions", str(good_csv), *COLUMNS, "--date-format", "%Q")
    assert code == 2
    assert "--date-format '%Q' is not a valid strftime format" in " ".join(output.split())


def test_unreadable_files_exit_2_naming_the_file(tmp_path: Path, good_csv: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    code, output = _fit("--transactions", str(empty), *COLUMNS)
    assert code == 2
    assert "the file is empty" in output
    header_only = tmp_path / "header.csv"
    header_only.write_text("customer_id,date,amount\n")
    code, output = _fit("--transactions", str(header_only), *COLUMNS)
    assert code == 2
    assert "no purchase rows" in output
    code, output = _fit("--transactions", str(good_csv), "--customer-col", "cust", "--date-col", "date")
    joined = " ".join(output.split())
    assert code == 2
    assert "column(s) 'cust' not found (columns: customer_id, date, amount)" in joined
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet at all")
    code, output = _fit("--transactions", str(broken), *COLUMNS)
    assert code == 2
    assert "cannot be read as Parquet" in output
    text = _write(tmp_path)
    code, output = _fit("--transactions", str(text), *COLUMNS)
    assert code == 2
    assert "--sep whitespace --no-header" in " ".join(output.split())
    code, output = _fit("--transactions", str(text), "--sep", "whitespace", "--no-header", *COLUMNS)
    assert code == 2
    assert "columns are named by position: 1, 2" in " ".join(output.split())


def test_bad_values_in_the_file_are_quoted_plainly(tmp_path: Path) -> None:
    path = tmp_path / "neg.csv"
    path.write_text("customer_id,date,amount\n1,1997-01-01,5.0\n1,1997-02-01,-3\n")
    code, output = _fit("--transactions", str(path), *COLUMNS)
    assert code == 2
    assert "row 2, column 'amount': amount must be a number >= 0 (value: -3.0)" in " ".join(output.split())
    assert "np." not in output
    path.write_text("customer_id,date,amount\n1,1997-01-01,5.0\n1,1997-02-01,inf\n")
    code, output = _fit("--transactions", str(path), *COLUMNS)
    assert code == 2
    assert "row 2, column 'amount': amount must be a number >= 0 (value: inf)" in " ".join(output.split())


def test_sep_and_no_header_belong_to_transactions_files(tmp_path: Path) -> None:
    code, output = _fit("--data", str(tmp_path), "--sep", "tab")
    assert code == 2
    assert "--sep and --no-header apply to --transactions files" in output


def test_train_rejects_a_bad_time_unit_before_reading_data(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["ltv", "train", "--data", str(tmp_path / "nothing"), "--time-unit", "Q"])
    assert result.exit_code == 2
    assert "--time-unit: 'Q' is not a time unit; use D, W or M" in result.output


def test_iso_dates_of_mixed_precision_parse_without_a_format(tmp_path: Path) -> None:
    """ISO dates need no --date-format, even when some rows carry a time or an offset and others do not."""
    from features.transactions_file import read_transactions_file

    path = tmp_path / "mixed.csv"
    path.write_text(
        "customer_id,date,amount\n1,2020-01-01,5\n1,2020-03-05 09:00,3\n2,2020-03-05T17:00:00+02:00,4\n3,19970101,1\n"
    )
    frame = read_transactions_file(path, customer_col="customer_id", date_col="date", amount_col="amount")
    assert [str(t) for t in frame["occurred_at"]] == [
        "2020-01-01 00:00:00",
        "2020-03-05 09:00:00",
        "2020-03-05 15:00:00",
        "1997-01-01 00:00:00",
    ]
    path.write_text("customer_id,date,amount\n1,2020-01-01,5\n1,05/03/2020,3\n")
    code, output = _fit("--transactions", str(path), *COLUMNS)
    assert code == 2
    assert "row 2, column 'date': not a date (not ISO 8601: pass --date-format" in " ".join(output.split())


def test_a_column_given_twice_in_the_header_is_named(tmp_path: Path) -> None:
    """pandas renames the second `amount` to `amount.1` and reads the first one silently."""
    path = tmp_path / "twice.csv"
    path.write_text("customer_id,date,amount,amount\n1,1997-01-01,5.0,6.0\n")
    code, output = _fit("--transactions", str(path), *COLUMNS)
    assert code == 2, output
    assert "column 'amount': the header gives this column twice (fields 3 and 4)" in " ".join(output.split())
