"""The data-quality rules of issue 19 item 8, each named, located and documented, on CSV and DuckDB sources.

Before them an event before the customer's signup, ids that differ only by surrounding spaces or letter case
(``C2``, `` c2 ``, ``c2``) and a NUL byte in ``event_type`` were all accepted silently. The rules run in SQL over the
raw rows, so each is checked on a CSV directory and on a DuckDB file with typed tables.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import duckdb
import pytest

from features.errors import DataContractError
from features.sources import open_source
from features.validation import DATA_RULES, DataQualityReport, rejected_rows, validate_connection

REPO = Path(__file__).resolve().parents[2]

CUSTOMERS = "customer_id,signup_at,acquisition_channel,segment\nc1,2024-01-01 10:00:00,ads,b2c\nc2,2024-01-02,seo,b2b\n"
EVENTS = (
    "customer_id,occurred_at,event_type,module\nc1,2024-02-01 10:00:00,core_action,reports\nc2,2024-02-03,login,app\n"
)
TRANSACTIONS = "customer_id,occurred_at,amount\nc1,2024-02-01,12.5\nc2,2024-02-02,0\n"


def _source(tmp_path: Path, backend: str, **tables: str) -> Path:
    """The three-table base with ``tables`` replaced, as a CSV directory or as a DuckDB file of typed tables."""
    texts = {"customers": CUSTOMERS, "events": EVENTS, "transactions": TRANSACTIONS, **tables}
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir(parents=True)
    for name, text in texts.items():
        (csv_dir / f"{name}.csv").write_bytes(text.encode())
    if backend == "csv":
        return csv_dir
    path = tmp_path / "base.duckdb"
    with duckdb.connect(str(path)) as con:
        for name in texts:
            literal = str(csv_dir / f"{name}.csv").replace("'", "''")
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_csv('{literal}', header=true)")
    return path


def _report(path: Path) -> tuple[DataQualityReport, list[str]]:
    """The validation report and the located reasons of the rows it sets aside."""
    source = open_source(path, extracted_at="2025-01-01")
    con = source.connect(validate=False)
    report = validate_connection(con, source)
    return report, rejected_rows(con, source, report)["reason"].tolist()


def _where(backend: str, table: str) -> str:
    return f"{table}.csv" if backend == "csv" else f"base.duckdb:{table}"


BACKENDS = pytest.mark.parametrize("backend", ["csv", "duckdb"])


@BACKENDS
def test_an_event_before_the_customers_signup_is_set_aside_and_named(tmp_path: Path, backend: str) -> None:
    events = EVENTS + "c1,2024-01-01 09:59:00,login,app\nc2,2024-01-02 00:00:00,login,app\n"  # 1 min early; on time
    report, rejected = _report(_source(tmp_path, backend, events=events))
    (problem,) = report.problems
    assert problem.rule == "before_signup"
    assert problem.count == 1
    where = _where(backend, "events")
    assert rejected == [
        f"{where}, row 3, column 'occurred_at', customer 'c1': dated before the customer's signup "
        "(customers.signup_at) (value: '2024-01-01 09:59:00')"
    ]
    assert report.to_dict()["problems"][0]["rule"] == "before_signup"


@BACKENDS
def test_a_purchase_before_the_customers_signup_is_set_aside_too(tmp_path: Path, backend: str) -> None:
    report, rejected = _report(_source(tmp_path, backend, transactions=TRANSACTIONS + "c2,2023-12-24,5\n"))
    assert [p.rule for p in report.problems] == ["before_signup"]
    assert len(rejected) == 1
    assert rejected[0].startswith(f"{_where(backend, 'transactions')}, row 3, column 'occurred_at', customer 'c2': ")


@BACKENDS
def test_ids_that_differ_only_by_surrounding_spaces_are_an_error(tmp_path: Path, backend: str) -> None:
    customers = CUSTOMERS + " c2 ,2024-01-05,ads,b2c\n"
    report, rejected = _report(_source(tmp_path, backend, customers=customers))
    assert [p.rule for p in report.problems] == ["id_surrounding_spaces"]
    assert rejected == [
        f"{_where(backend, 'customers')}, row 3, column 'customer_id': differs from another customer id only by "
        "surrounding spaces (ids are matched exactly) (value: ' c2 ')"
    ]
    with pytest.raises(DataContractError, match="only by surrounding spaces"):
        open_source(_source(tmp_path / "again", backend, customers=customers), extracted_at="2025-01-01").connect()


@BACKENDS
def test_a_lone_id_with_spaces_is_no_collision(tmp_path: Path, backend: str) -> None:
    customers = CUSTOMERS + " c3 ,2024-01-05,ads,b2c\n"
    report, _ = _report(_source(tmp_path, backend, customers=customers))
    assert report.ok, report.render_text()


@BACKENDS
def test_ids_that_differ_only_in_case_are_a_warning(
    tmp_path: Path, backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    customers = CUSTOMERS + "C2,2024-01-05,ads,b2c\n"
    path = _source(tmp_path, backend, customers=customers)
    report, rejected = _report(path)
    assert report.ok  # accepted: C2 and c2 may really be two customers
    assert rejected == []
    (warning,) = report.warnings
    assert warning.rule == "id_case_only"
    assert [str(e) for e in warning.examples] == [
        f"{_where(backend, 'customers')}, row 3, column 'customer_id': differs from another customer id only in "
        "letter case (counted as two customers) (value: 'C2')"
    ]
    assert report.to_dict()["warnings"][0]["rule"] == "id_case_only"
    with caplog.at_level(logging.WARNING):
        open_source(path, extracted_at="2025-01-01").connect()  # loads, and says so in the log
    assert "only in letter case" in caplog.text


@BACKENDS
def test_the_issues_three_spellings_give_one_error_and_case_warnings(tmp_path: Path, backend: str) -> None:
    customers = "customer_id,signup_at,acquisition_channel,segment\nC2,2024-01-01,ads,b2c\n c2 ,2024-01-01,ads,b2c\n"
    customers += "c2,2024-01-01,ads,b2c\n"
    report, rejected = _report(
        _source(
            tmp_path,
            backend,
            customers=customers,
            events=EVENTS.replace("c1", "C2"),
            transactions=TRANSACTIONS.replace("c1", "C2"),
        )
    )
    assert [p.rule for p in report.problems] == ["id_surrounding_spaces"]
    assert len(rejected) == 1
    assert rejected[0].startswith(f"{_where(backend, 'customers')}, row 2, column 'customer_id': ")  # ' c2 '
    assert [w.rule for w in report.warnings] == ["id_case_only"]
    assert sorted(e.row for e in report.warnings[0].examples if e.row is not None) == [2, 3]


@BACKENDS
def test_a_nul_byte_in_a_text_column_is_an_error(tmp_path: Path, backend: str) -> None:
    events = EVENTS + "c2,2024-02-04,core\0action,app\n"
    report, rejected = _report(_source(tmp_path, backend, events=events))
    assert [(p.rule, p.column) for p in report.problems] == [("nul_byte", "event_type")]
    assert rejected == [
        f"{_where(backend, 'events')}, row 3, column 'event_type', customer 'c2': contains a NUL byte (\\x00) "
        "(value: 'core\\x00action')"
    ]


def test_every_rule_is_documented_with_its_message() -> None:
    """docs/BAD_INPUTS.md's "Data rules" table and docs/DATA_CONTRACT.md name every rule of DATA_RULES."""
    doc = (REPO / "docs" / "BAD_INPUTS.md").read_text()
    section = doc.split("## Data rules", 1)[1].split("\n## ", 1)[0]
    listed = {m.group(1): m.group(2) for m in re.finditer(r"^\| `([a-z_]+)` \| [a-z]+ \| `(.+)` \|$", section, re.M)}
    assert set(listed) == set(DATA_RULES)
    for name, spec in DATA_RULES.items():
        assert listed[name] == spec.message.replace("|", "\\|"), name
    contract = (REPO / "docs" / "DATA_CONTRACT.md").read_text()
    for name in ("before_signup", "id_surrounding_spaces", "id_case_only", "nul_byte"):
        assert f"`{name}`" in contract, name
