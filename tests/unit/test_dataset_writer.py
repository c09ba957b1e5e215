"""write_dataset: contract types, deterministic bytes, atomic replacement, round trips through the loaders."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from churnltv.generator import GeneratedBase, generate
from features import dataset_writer
from features.dataset_writer import write_dataset, write_frame_parquet
from features.errors import UserInputError
from features.sources import open_source


@pytest.fixture(scope="module")
def base() -> GeneratedBase:
    return generate(400, seed=21)


def _digests(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def test_same_seed_gives_the_same_parquet_bytes(tmp_path: Path) -> None:
    first = write_dataset(generate(300, seed=9).tables, tmp_path / "a")
    second = write_dataset(generate(300, seed=9).tables, tmp_path / "b")
    other = write_dataset(generate(300, seed=10).tables, tmp_path / "c")
    assert _digests(first) == _digests(second)
    assert len(_digests(first)) == 8
    assert _digests(first)["events.parquet"] != _digests(other)["events.parquet"]
    truth_a = write_frame_parquet(generate(300, seed=9).truth, tmp_path / "a.truth.parquet")
    truth_b = write_frame_parquet(generate(300, seed=9).truth, tmp_path / "b.truth.parquet")
    assert truth_a.read_bytes() == truth_b.read_bytes()


@pytest.mark.parametrize(("fmt", "name"), [("parquet", "pq"), ("csv", "csv"), ("duckdb", "base.duckdb")])
def test_round_trip_through_the_loader(base: GeneratedBase, tmp_path: Path, fmt: str, name: str) -> None:
    out = write_dataset(base.tables, tmp_path / name, fmt)  # type: ignore[arg-type]
    source = open_source(out, extracted_at=base.end)
    con = source.connect()  # validates: raises on any contract problem
    for table, frame in base.tables.items():
        assert con.execute(f"SELECT count(*) FROM {table}").fetchone() == (len(frame),), table
    customers = con.execute("SELECT * FROM customers ORDER BY customer_id").df()
    expected = base.tables["customers"].sort_values("customer_id").reset_index(drop=True)
    assert customers["customer_id"].tolist() == expected["customer_id"].tolist()
    assert (customers["signup_at"].to_numpy() == expected["signup_at"].to_numpy()).all()
    assert customers["account_id"].isna().sum() == expected["account_id"].isna().sum()
    got = con.execute("SELECT sum(amount), min(occurred_at), max(occurred_at) FROM transactions").fetchone()
    txn = base.tables["transactions"]
    assert got is not None
    assert got[0] == pytest.approx(txn["amount"].sum())
    assert pd.Timestamp(got[1]) == txn["occurred_at"].min()
    assert pd.Timestamp(got[2]) == txn["occurred_at"].max()
    nulls = con.execute("SELECT count(*) FROM support_tickets WHERE resolved_at IS NULL").fetchone()
    assert nulls == (int(base.tables["support_tickets"]["resolved_at"].isna().sum()),)
    months = con.execute("SELECT typeof(month) FROM acquisition_spend LIMIT 1").fetchone()
    assert months == ("DATE",)


def test_duckdb_file_has_contract_types(base: GeneratedBase, tmp_path: Path) -> None:
    import duckdb

    out = write_dataset(base.tables, tmp_path / "typed.duckdb")
    con = duckdb.connect(str(out), read_only=True)
    types = dict(
        con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name='events'"
        ).fetchall()
    )
    assert types == {
        "customer_id": "VARCHAR",
        "occurred_at": "TIMESTAMP",
        "event_type": "VARCHAR",
        "module": "VARCHAR",
        "value": "DOUBLE",
    }
    con.close()
    assert not list(tmp_path.glob(".typed.duckdb*")), "no temporary files left behind"


def _fail_on(monkeypatch: pytest.MonkeyPatch, name: str, after: int) -> None:
    """Make the Parquet/CSV writer crash on the ``after``-th table, having written the earlier ones."""
    real = dataset_writer._write_parquet
    calls = {"n": 0}

    def flaky(arrow: Any, path: Path) -> None:
        calls["n"] += 1
        if calls["n"] == after:
            path.write_bytes(b"half a file")
            raise OSError(28, "No space left on device")
        real(arrow, path)

    monkeypatch.setattr(dataset_writer, name, flaky)


def test_failed_write_leaves_no_target(base: GeneratedBase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fail_on(monkeypatch, "_write_parquet", after=3)
    with pytest.raises(OSError, match="No space"):
        write_dataset(base.tables, tmp_path / "broken")
    assert list(tmp_path.iterdir()) == []


def test_failed_rewrite_keeps_the_previous_dataset(
    base: GeneratedBase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = write_dataset(base.tables, tmp_path / "kept")
    before = _digests(out)
    _fail_on(monkeypatch, "_write_parquet", after=2)
    with pytest.raises(OSError, match="No space"):
        write_dataset(generate(50, seed=1).tables, out)
    assert _digests(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["kept"]


def test_failed_duckdb_write_leaves_no_target(
    base: GeneratedBase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(arrows: Any, path: Path) -> None:
        path.write_bytes(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(dataset_writer, "_write_duckdb", crash)
    with pytest.raises(KeyboardInterrupt):
        write_dataset(base.tables, tmp_path / "x.duckdb")
    assert list(tmp_path.iterdir()) == []


def test_rewrite_replaces_a_dataset(tmp_path: Path) -> None:
    out = write_dataset(generate(100, seed=1).tables, tmp_path / "d.duckdb")
    write_dataset(generate(200, seed=2).tables, out)
    con = open_source(out, extracted_at="2026-06-30").connect()
    assert con.execute("SELECT count(*) FROM customers").fetchone() == (200,)


def test_contract_problems_name_table_and_column(base: GeneratedBase, tmp_path: Path) -> None:
    tables = dict(base.tables)
    with pytest.raises(UserInputError, match="unknown table 'orders'"):
        write_dataset({**tables, "orders": tables["transactions"]}, tmp_path / "a")
    with pytest.raises(UserInputError, match=r"'transactions': missing required column\(s\) amount"):
        write_dataset({**tables, "transactions": tables["transactions"].drop(columns="amount")}, tmp_path / "a")
    with pytest.raises(UserInputError, match=r"'events': column\(s\) colour are not in the data contract"):
        write_dataset({**tables, "events": tables["events"].assign(colour="red")}, tmp_path / "a")
    bad_amount = tables["transactions"].assign(amount="lots")
    with pytest.raises(UserInputError, match=r"'transactions', column 'amount'"):
        write_dataset({**tables, "transactions": bad_amount}, tmp_path / "a")
    with pytest.raises(UserInputError, match=r"must be a file ending in \.duckdb"):
        write_dataset(tables, tmp_path / "a", "duckdb")
    with pytest.raises(UserInputError, match="is a directory"):
        write_dataset(tables, tmp_path / "a.duckdb", "csv")
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_replace_a_directory_with_other_files(base: GeneratedBase, tmp_path: Path) -> None:
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    with pytest.raises(UserInputError, match=r"notes\.txt"):
        write_dataset(base.tables, target)
    assert (target / "notes.txt").read_text() == "keep me"
