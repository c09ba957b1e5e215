"""DuckDB score store: readers never break a run, a full disk fails the run cleanly, a failed resume is not counted.

DuckDB locks a file per process, so a reader in another process (the API, a ``duckdb -readonly`` shell) used to
make ``churnltv score`` fail after part 1 with "Conflicting lock". A run now writes a work file beside the store and
publishes by replacing the store file (service/score_store.py, ``DuckDBScoreStore``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from service import score_store
from service.batch_scoring import RunResult, run_batch
from service.model_set import ModelSet
from service.score_store import ScoreStoreWriteError, open_score_store
from support.world import AS_OF, TrainedWorld

pytestmark = pytest.mark.slow

# a reader in its own process: one read-only connection held for its whole life, asked on each stdin line which
# run it serves
READER = (
    "import duckdb, json, sys\n"
    "con = duckdb.connect(sys.argv[1], read_only=True)\n"
    "print('ready', flush=True)\n"
    "for _ in sys.stdin:\n"
    "    rows = con.execute(\"SELECT run_id FROM scores_runs WHERE status = 'complete' \"\n"
    "                       'ORDER BY finished_at DESC, run_id DESC LIMIT 1').fetchall()\n"
    "    n = con.execute('SELECT count(*) FROM scores WHERE run_id = ?', [rows[0][0]]).fetchall()[0][0]\n"
    "    print(json.dumps([rows[0][0], n]), flush=True)\n"
)
DISK_FULL = 'IO Error: Could not write file "scores.duckdb.wal": No space left on device'


@pytest.fixture(scope="module")
def models(trained_world: TrainedWorld) -> ModelSet:
    return trained_world.models()


@pytest.fixture(scope="module")
def published(trained_world: TrainedWorld, models: ModelSet, tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    """A store with one complete run (the run every test's store starts from)."""
    path = tmp_path_factory.mktemp("published") / "scores.duckdb"
    return run_batch(str(trained_world.data), AS_OF, str(path), models=models, chunk_size=1000)


@pytest.fixture
def store_path(published: RunResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CHURNLTV_SCORE_WORKERS", "1")  # patched store methods live in this process; saves CPU
    path = tmp_path / "scores.duckdb"
    shutil.copyfile(published.target.partition("?")[0], path)
    return path


class Reader:
    """A process holding a read-only connection on the store file until it is closed."""

    def __init__(self, path: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", READER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "ready"

    def served(self) -> tuple[str, int]:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write("?\n")
        self.proc.stdin.flush()
        run_id, n = json.loads(self.proc.stdout.readline())
        return str(run_id), int(n)

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture
def reader(store_path: Path) -> Iterator[Reader]:
    held = Reader(store_path)
    try:
        yield held
    finally:
        held.close()


def _fail_staging_insert_at(monkeypatch: pytest.MonkeyPatch, calls: set[int]) -> dict[str, int]:
    """The store's row inserts into the staging table raise DuckDB's disk-full error on the given (1-based) calls."""
    real = score_store._DuckDBFile._insert_frame
    seen = {"n": 0}

    def insert(self: Any, con: Any, frame: pd.DataFrame, table_suffix: str) -> None:
        if table_suffix == "_staging":
            seen["n"] += 1
            if seen["n"] in calls:
                raise duckdb.IOException(DISK_FULL)
        real(self, con, frame, table_suffix)

    monkeypatch.setattr(score_store._DuckDBFile, "_insert_frame", insert)
    return seen


def _leftovers(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name != path.name and not p.name.endswith(".lock"))


def test_a_reader_holding_the_store_open_never_breaks_a_run(  # noqa: PLR0917 (pytest fixtures)
    trained_world: TrainedWorld,
    models: ModelSet,
    published: RunResult,
    store_path: Path,
    reader: Reader,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert reader.served() == (published.run_id, published.rows_written)
    # ask the reader after every part: while the run writes, it keeps serving the previous run
    real_write = score_store.DuckDBScoreStore.write_part
    answers: list[tuple[str, int]] = []

    def write_and_ask(self: Any, run_id: str, part: int, scored: pd.DataFrame, bad: pd.DataFrame) -> None:
        real_write(self, run_id, part, scored, bad)
        answers.append(reader.served())

    monkeypatch.setattr(score_store.DuckDBScoreStore, "write_part", write_and_ask)
    result = run_batch(str(trained_world.data), AS_OF, str(store_path), models=models, chunk_size=700)

    assert result.status == "complete"
    assert result.parts_total == len(answers) >= 4
    assert set(answers) == {(published.run_id, published.rows_written)}
    # the reader's connection still reads the file it opened; every new connection sees the new run
    assert reader.served() == (published.run_id, published.rows_written)
    store = open_score_store(store_path)
    latest = store.latest_run()
    assert latest is not None
    assert latest["run_id"] == result.run_id
    scores = store.read_scores()
    assert (scores["run_id"] == result.run_id).all()
    assert len(scores) == scores["customer_id"].nunique() == result.n_customers
    assert {r["run_id"]: r["status"] for r in store.list_runs()} == {
        published.run_id: "complete",
        result.run_id: "complete",
    }
    assert len(store.read_scores(run_id=published.run_id)) == published.rows_written
    assert _leftovers(store_path) == [], "the run's work file and record must be gone once it is published"


def test_a_full_disk_mid_run_exits_2_naming_the_file_and_leaves_the_run_failed(
    trained_world: TrainedWorld,
    published: RunResult,
    store_path: Path,
    reader: Reader,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from churnltv.cli import app
    from service import cli_score

    if "score" not in {c.name for c in app.registered_commands}:
        cli_score.register(app)
    _fail_staging_insert_at(monkeypatch, {2})
    args = ["score", "--data", str(trained_world.data), "--as-of", str(AS_OF.date()), "--output", str(store_path)]
    args += ["--churn-model", str(trained_world.churn_bundle), "--ltv-model", str(trained_world.ltv_bundle)]
    args += ["--chunk-size", "1000"]
    result = CliRunner().invoke(app, args)

    assert result.exit_code == 2, result.output
    store = open_score_store(store_path)
    (failed,) = [r for r in store.list_runs() if r["run_id"] != published.run_id]
    run_id = failed["run_id"]
    assert f"error: {store_path}: could not write part 1 of run {run_id}: disk full ({DISK_FULL})" in result.output
    assert "Traceback" not in result.output
    assert failed["status"] == "failed"
    assert "disk full" in failed["error"]
    assert store.get_run(run_id) == failed
    assert store.durable_parts(run_id) == {0}
    latest = store.latest_run()
    assert latest is not None
    assert latest["run_id"] == published.run_id
    assert reader.served() == (published.run_id, published.rows_written)


def test_a_full_disk_while_publishing_leaves_the_store_as_it_was_and_the_run_resumable(
    trained_world: TrainedWorld,
    models: ModelSet,
    published: RunResult,
    store_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = store_path.read_bytes()

    def no_space(path: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(score_store, "_fsync_file", no_space)
    with pytest.raises(ScoreStoreWriteError, match=r"could not publish run \S+: disk full") as failure:
        run_batch(str(trained_world.data), AS_OF, str(store_path), models=models, chunk_size=1000)
    assert str(failure.value).startswith(f"{store_path}: ")
    assert store_path.read_bytes() == before
    store = open_score_store(store_path)
    (failed,) = [r for r in store.list_runs() if r["run_id"] != published.run_id]
    assert failed["status"] == "failed"
    assert failed["error"].startswith("publish failed: ")
    assert not [n for n in _leftovers(store_path) if ".publish-" in n], "the half-built store copy must be removed"

    monkeypatch.undo()
    resumed = run_batch(str(trained_world.data), None, str(store_path), models=models, resume=failed["run_id"])
    assert resumed.status == "complete"
    assert resumed.parts_skipped == resumed.parts_total
    assert store.latest_run()["resumed"] == 1  # type: ignore[index]


def test_a_failed_resume_does_not_count_as_a_resume(
    trained_world: TrainedWorld, models: ModelSet, store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, target = str(trained_world.data), str(store_path)
    _fail_staging_insert_at(monkeypatch, {2, 3})  # the run's part 1, then the first part its resume writes
    with pytest.raises(ScoreStoreWriteError, match="disk full"):
        run_batch(data, AS_OF, target, models=models, chunk_size=1000)
    store = open_score_store(store_path)
    run_id = next(r["run_id"] for r in store.list_runs() if r["status"] == "failed")
    assert store.get_run(run_id)["resumed"] == 0  # type: ignore[index]

    with pytest.raises(ScoreStoreWriteError):  # its message is checked above
        run_batch(data, None, target, models=models, resume=run_id)
    again = store.get_run(run_id)
    assert again is not None
    assert again["status"] == "failed"
    assert again["resumed"] == 0, "a resume that wrote nothing must not be counted"

    monkeypatch.undo()
    monkeypatch.setenv("CHURNLTV_SCORE_WORKERS", "1")
    done = run_batch(data, None, target, models=models, resume=run_id)
    assert done.status == "complete"
    assert done.parts_skipped == 1
    assert store.latest_run()["resumed"] == 1  # type: ignore[index]
