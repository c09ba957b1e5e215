"""Every contract rule names the table, row, column and value; nothing is dropped silently."""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from churnltv.cli import app
from features.errors import DataContractError, UserInputError
from features.sources import open_source
from support.frames import open_frames

CUSTOMERS = "customer_id,signup_at,acquisition_channel,segment,account_id\nc1,2024-01-01 10:00:00,ads,b2c,\nc2,2024-01-02,seo,b2b,a1\n"
EVENTS = (
    "customer_id,occurred_at,event_type,module\nc1,2024-02-01 10:00:00,core_action,reports\nc2,2024-02-03,login,app\n"
)
TRANSACTIONS = "customer_id,occurred_at,amount,order_id\nc1,2024-02-01,12.5,o1\nc2,2024-02-02,0,o2\n"


def _write(tmp_path: Path, **tables: str) -> Path:
    base = {"customers": CUSTOMERS, "events": EVENTS, "transactions": TRANSACTIONS}
    base.update(tables)
    tmp_path.mkdir(parents=True, exist_ok=True)
    for name, text in base.items():
        if text is not None:
            (tmp_path / f"{name}.csv").write_text(text)
    return tmp_path


def _messages(path: Path) -> list[str]:
    report = open_source(path, extracted_at="2025-01-01").validate()
    return [str(ex) for p in report.problems for ex in p.examples]


def test_clean_csv_directory_loads_with_contract_types(tmp_path: Path) -> None:
    con = open_source(_write(tmp_path), extracted_at="2025-01-01").connect()
    types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE transactions)").fetchall())
    assert types["amount"] == "DOUBLE"
    assert types["occurred_at"] == "TIMESTAMP"
    assert con.execute("SELECT count(*) FROM events").fetchone() == (2,)


@pytest.mark.parametrize(
    ("table", "text", "expected"),
    [
        (
            "transactions",
            "customer_id,occurred_at,amount,order_id\nc1,2024-02-01,-3.5,o1\n",
            "transactions.csv, row 1, column 'amount', customer 'c1': negative amount (value: '-3.5')",
        ),
        (
            "transactions",
            "customer_id,occurred_at,amount,order_id\nc1,2024-02-01,12,o1\nc1,2024-02-01,abc,o2\n",
            "transactions.csv, row 2, column 'amount', customer 'c1': not a number (value: 'abc')",
        ),
        (
            "transactions",
            "customer_id,occurred_at,amount,order_id\nc1,2024-02-01,NaN,o1\n",
            "transactions.csv, row 1, column 'amount', customer 'c1': not a number (NaN/inf) (value: 'NaN')",
        ),
        (
            "events",
            "customer_id,occurred_at,event_type,module\nc1,2024-02-30,login,app\n",
            "events.csv, row 1, column 'occurred_at', customer 'c1': not a valid date/time",
        ),
        (
            "events",
            "customer_id,occurred_at,event_type,module\nc9,2024-02-03,login,app\n",
            "events.csv, row 1, column 'customer_id': unknown customer (not in customers) (value: 'c9')",
        ),
        (
            "transactions",
            "customer_id,occurred_at,amount,order_id\nc1,2024-02-01,1,o1\nc2,2024-02-01,2,o1\n",
            "transactions.csv, row 2, column 'order_id': duplicate id",
        ),
        (
            "events",
            "customer_id,occurred_at,event_type,module\nc1,2026-02-03,login,app\n",
            "events.csv, row 1, column 'occurred_at', customer 'c1': dated in the future",
        ),
        (
            "nps_responses",
            "customer_id,answered_at,score\nc1,2024-03-01,11\n",
            "nps_responses.csv, row 1, column 'score', customer 'c1': outside 0-10 (value: '11')",
        ),
        (
            "customers",
            "customer_id,signup_at,acquisition_channel,segment,account_id\nc1,2024-01-01,ads,b2x,\nc2,2024-01-01,ads,b2c,\n",
            "customers.csv, row 1, column 'segment', customer 'c1': not one of b2c, b2b (value: 'b2x')",
        ),
        (
            "events",
            "customer_id,occurred_at,event_type,module\nc1,2024-02-01T10:00:00+02:00,login,app\nc2,2024-02-01 09:00:00,login,app\n",
            "mixed time zones",
        ),
        (
            "events",
            "customer_id,occurred_at,event_type,module,colour\nc1,2024-02-01,login,app,red\n",
            "unexpected column 'colour'",
        ),
        (
            "events",
            "customer_id,occurred_at,module\nc1,2024-02-01,app\n",
            "missing required column 'event_type'",
        ),
        (
            "events",
            "customer_id,occurred_at,event_type,module\nc1,,login,app\n",
            "events.csv, row 1, column 'occurred_at', customer 'c1': missing value",
        ),
    ],
)
def test_each_rule_names_where_and_what(tmp_path: Path, table: str, text: str, expected: str) -> None:
    messages = _messages(_write(tmp_path, **{table: text}))
    assert any(expected in m for m in messages), messages


def test_offsets_are_converted_to_naive_utc(tmp_path: Path) -> None:
    events = "customer_id,occurred_at,event_type,module\nc1,2024-02-01T10:00:00+02:00,login,app\nc2,2024-02-01T00:30:00Z,login,app\n"
    con = open_source(_write(tmp_path, events=events), extracted_at="2025-01-01").connect()
    got = [r[0] for r in con.execute("SELECT occurred_at FROM events ORDER BY customer_id").fetchall()]
    assert got == [pd.Timestamp("2024-02-01 08:00:00"), pd.Timestamp("2024-02-01 00:30:00")]


def test_connect_raises_with_every_problem_counted(tmp_path: Path) -> None:
    tx = "customer_id,occurred_at,amount,order_id\n" + "".join(f"c1,2024-02-01,-{i},o{i}\n" for i in range(1, 31))
    with pytest.raises(DataContractError) as info:
        open_source(_write(tmp_path, transactions=tx), extracted_at="2025-01-01").connect()
    assert info.value.total == 30
    assert "and 25 more" in str(info.value)


def test_rows_after_a_cutoff_are_not_errors_but_after_extraction_are(tmp_path: Path) -> None:
    path = _write(tmp_path)
    assert open_source(path, extracted_at="2024-12-31").validate().ok
    assert not open_source(path, extracted_at="2024-02-01 12:00").validate().ok


def test_empty_file_and_non_utf8_are_named(tmp_path: Path) -> None:
    (tmp_path / "events.csv").write_text("")
    _write(tmp_path, events=None)  # type: ignore[arg-type]
    (tmp_path / "events.csv").write_text("")
    with pytest.raises(UserInputError, match=r"events.csv: the file is empty"):
        open_source(tmp_path).connect()
    (tmp_path / "events.csv").write_bytes(b"customer_id,occurred_at,event_type,module\nc1,2024-02-01,caf\xe9,app\n")
    with pytest.raises(UserInputError, match=r"events.csv, row 1 \(line 2\): not UTF-8"):
        open_source(tmp_path).connect()


def test_gzip_and_parquet_and_duckdb_sources_agree(tmp_path: Path) -> None:
    csv_dir = _write(tmp_path / "csv")
    pq_dir = tmp_path / "pq"
    pq_dir.mkdir()
    gz_dir = tmp_path / "gz"
    gz_dir.mkdir()
    db = tmp_path / "base.duckdb"
    con = open_source(csv_dir, extracted_at="2025-01-01").connect()
    out = duckdb.connect(str(db))
    for name in ("customers", "events", "transactions"):
        frame = con.execute(f"SELECT * FROM {name}").df()
        frame.to_parquet(pq_dir / f"{name}.parquet")
        with gzip.open(gz_dir / f"{name}.csv.gz", "wt") as fh:
            fh.write((csv_dir / f"{name}.csv").read_text())
        out.register("frame", frame)
        out.execute(f"CREATE TABLE {name} AS SELECT * FROM frame")
        out.unregister("frame")
    out.close()
    want = con.execute("SELECT * FROM transactions ORDER BY order_id").fetchall()
    for path in (pq_dir, gz_dir, db):
        got = (
            open_source(path, extracted_at="2025-01-01")
            .connect()
            .execute("SELECT * FROM transactions ORDER BY order_id")
        )
        assert got.fetchall() == want


def test_missing_required_table_and_unknown_path(tmp_path: Path) -> None:
    (tmp_path / "customers.csv").write_text(CUSTOMERS)
    with pytest.raises(UserInputError, match=r"required table\(s\) events not found"):
        open_source(tmp_path).connect()
    with pytest.raises(UserInputError, match="no such file or directory"):
        open_source(tmp_path / "nope")
    with pytest.raises(UserInputError, match="no such DuckDB file"):
        open_source(tmp_path / "nope.duckdb").connect()


def test_frames_source_validates_like_files() -> None:
    customers = pd.DataFrame(
        {
            "customer_id": ["a"],
            "signup_at": [pd.Timestamp("2024-01-01")],
            "acquisition_channel": ["x"],
            "segment": ["b2c"],
        }
    )
    events = pd.DataFrame(
        {"customer_id": ["a"], "occurred_at": [pd.Timestamp("2024-01-02")], "event_type": ["e"], "module": ["m"]}
    )
    tx = pd.DataFrame({"customer_id": ["a"], "occurred_at": [pd.Timestamp("2024-01-02")], "amount": [-1.0]})
    report = open_frames(
        {"customers": customers, "events": events, "transactions": tx}, extracted_at="2025-01-01"
    ).validate()
    assert [p.message for p in report.problems] == ["negative amount"]


def test_validate_command_exits_2_and_saves_summary(tmp_path: Path) -> None:
    data = _write(tmp_path / "d", transactions="customer_id,occurred_at,amount,order_id\nc1,2024-02-01,-3.5,o1\n")
    summary = tmp_path / "dq.json"
    result = CliRunner().invoke(
        app, ["validate", "--data", str(data), "--report", str(summary), "--extracted-at", "2025-01-01"]
    )
    assert result.exit_code == 2
    assert "negative amount" in result.output
    assert "Traceback" not in result.output
    assert '"rows_rejected": 1' in summary.read_text()
    ok = CliRunner().invoke(app, ["validate", "--data", str(_write(tmp_path / "ok")), "--report", str(summary)])
    assert ok.exit_code == 0, ok.output
    assert "no problems found" in ok.output


def test_contract_doc_is_in_sync() -> None:
    from features.contract import render_markdown

    doc = Path(__file__).resolve().parents[2] / "docs" / "DATA_CONTRACT.md"
    assert doc.read_text() == render_markdown() + "\n", "run `churnltv contract --out docs/DATA_CONTRACT.md`"
