"""SIGKILL a real `churnltv score` process mid-run, resume it, and check exactly one row per customer."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from service.score_store import open_score_store
from support.world import TrainedWorld

# The real root command; registers `score` itself only if service/cli.py does not (yet).
LAUNCH = (
    "import sys\n"
    "from churnltv.cli import app\n"
    "from service import cli_score\n"
    "if 'score' not in {c.name for c in app.registered_commands}:\n"
    "    cli_score.register(app)\n"
    "app(prog_name='churnltv')\n"
)


@pytest.fixture(scope="module")
def world(trained_world: TrainedWorld) -> TrainedWorld:
    return trained_world


def _score_cmd(world: TrainedWorld, output: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-c",
        LAUNCH,
        "score",
        "--data",
        str(world.data),
        "--as-of",
        "2026-06-01",
        "--output",
        str(output),
        "--churn-model",
        str(world.churn_bundle),
        "--ltv-model",
        str(world.ltv_bundle),
        *extra,
    ]


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_gives_exactly_one_row_per_customer(world: TrainedWorld, tmp_path: Path) -> None:
    output = tmp_path / "scores"
    env = {**os.environ, "CHURNLTV_DEBUG": "1"}
    proc = subprocess.Popen(
        _score_cmd(world, output, "--chunk-size", "5"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=tmp_path,
    )
    staging = output / "_staging"
    deadline = time.monotonic() + 120
    parts: list[Path] = []
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            parts = list(staging.glob("*/part-*.parquet")) if staging.is_dir() else []
            if len(parts) >= 20:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not (output / "LATEST").exists(), "a killed run must not be visible to readers"
    store = open_score_store(output)
    assert store.latest_run() is None
    (record,) = store.list_runs()
    assert record["status"] == "running"
    run_id = record["run_id"]
    durable = store.durable_parts(run_id)
    assert len(durable) >= 20
    assert len(durable) < record["parts_total"]

    done = subprocess.run(
        _score_cmd(world, output, "--resume", run_id),
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"run {run_id} complete" in done.stdout
    latest = store.latest_run()
    assert latest is not None
    assert latest["run_id"] == run_id
    assert latest["resumed"] == 1
    assert latest["parts_skipped_on_last_start"] == len(durable)
    scores = store.read_scores()
    assert scores["customer_id"].is_unique
    assert len(scores) == record["n_customers"] == latest["rows_written"]
    assert json.loads((output / "LATEST").read_text())["run_id"] == run_id
    assert not list((output / "runs" / run_id).glob(".part-*")), "temporary files must not be published"


@pytest.mark.slow
def test_sigkill_mid_run_to_a_duckdb_store_then_resume_gives_exactly_one_row_per_customer(
    world: TrainedWorld, tmp_path: Path
) -> None:
    # the run writes its work file beside the store; a kill leaves it (and the run "running"), a resume finishes it
    output = tmp_path / "scores.duckdb"
    env = {**os.environ, "CHURNLTV_DEBUG": "1", "CHURNLTV_SCORE_WORKERS": "1"}
    log_path = tmp_path / "score.log"
    with log_path.open("w") as log_file:
        proc = subprocess.Popen(
            _score_cmd(world, output, "--chunk-size", "5"),
            stdout=subprocess.DEVNULL,
            stderr=log_file,
            env=env,
            cwd=tmp_path,
        )
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            # the progress log line comes after each part was written: kill once 20 parts are durable
            done = [int(m) for m in re.findall(r": (\d+)/\d+ rows", log_path.read_text())]
            if done and max(done) >= 100:
                break
            time.sleep(0.005)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    store = open_score_store(output)
    assert store.latest_run() is None
    (record,) = store.list_runs()
    assert record["status"] == "running"
    run_id = record["run_id"]
    durable = store.durable_parts(run_id)
    assert 0 < len(durable) < record["parts_total"]

    done = subprocess.run(
        _score_cmd(world, output, "--resume", run_id),
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    latest = store.latest_run()
    assert latest is not None
    assert latest["run_id"] == run_id
    assert latest["resumed"] == 1
    assert latest["parts_skipped_on_last_start"] == len(durable)
    scores = store.read_scores()
    assert scores["customer_id"].is_unique
    assert len(scores) == record["n_customers"] == latest["rows_written"]
    assert sorted(p.name for p in tmp_path.glob("scores.duckdb*")) == ["scores.duckdb", "scores.duckdb.lock"]
