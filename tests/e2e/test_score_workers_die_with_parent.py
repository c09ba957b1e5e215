"""SIGKILL `churnltv score` while its process pool works: no worker and no resource tracker may outlive it.

Before issue 19 item 4, 9 of 11 such kills left the pool's workers (~245 MB each) blocked on their task queue and
multiprocessing's resource tracker alive forever. The run is started in a session of its own, so every process it
starts (workers, resource tracker) carries that session id even after it is re-parented; only the parent is
killed, and within 10 s nothing of the session may be left. Linux only (reads /proc).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.world import TrainedWorld

pytestmark = [
    pytest.mark.slow,  # builds the trained world; the test itself takes ~3 s per moment
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc"),
]

LAUNCH = "from churnltv.cli import app\napp(prog_name='churnltv')\n"
WORKERS = 2
GRACE_SECONDS = 10.0


def _session(sid: int) -> dict[int, str]:
    """Live (not zombie) processes of session ``sid``: pid -> command line."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile
            continue
        if fields[0] != "Z" and int(fields[3]) == sid:
            found[int(entry.name)] = cmdline.strip()
    return found


def _workers(processes: dict[int, str]) -> list[int]:
    return [pid for pid, cmd in processes.items() if "spawn_main" in cmd]


def _parts_written(output: Path) -> int:
    staging = output / "_staging"
    return len(list(staging.glob("*/part-*.parquet"))) if staging.is_dir() else 0


@pytest.mark.parametrize("moment", ["starting", "scoring"])
def test_sigkill_of_score_leaves_no_worker_alive(trained_world: TrainedWorld, tmp_path: Path, moment: str) -> None:
    """``starting``: killed while the workers import and load the models (before the parent-death signal is set,
    the pid check catches it); ``scoring``: killed once parts are being written (the kernel signal)."""
    output = tmp_path / "scores"
    cmd = [sys.executable, "-c", LAUNCH, "score", "--data", str(trained_world.data), "--as-of", "2026-06-01"]
    cmd += ["--output", str(output), "--chunk-size", "20"]
    cmd += ["--churn-model", str(trained_world.churn_bundle), "--ltv-model", str(trained_world.ltv_bundle)]
    env = {**os.environ, "CHURNLTV_SCORE_WORKERS": str(WORKERS)}
    log = tmp_path / "score.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, start_new_session=True, stdout=out, stderr=out)
    sid = proc.pid
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if len(_workers(_session(sid))) >= WORKERS and (moment == "starting" or _parts_written(output) >= 2):
                break
            time.sleep(0.05)
        assert proc.poll() is None, f"the run ended before it could be killed: {log.read_text()[-2000:]}"
        before = _session(sid)
        assert len(_workers(before)) >= WORKERS, before
        os.kill(proc.pid, signal.SIGKILL)  # the parent only, not its process group
        killed = time.monotonic()
        proc.wait(timeout=10)
        survivors = _session(sid)
        while survivors and time.monotonic() < killed + GRACE_SECONDS:
            time.sleep(0.05)
            survivors = _session(sid)
        assert not survivors, f"alive {GRACE_SECONDS:.0f} s after the parent was killed: {survivors}"
        print(f"{moment}: {len(before) - 1} processes of the run gone {time.monotonic() - killed:.2f} s after the kill")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        for pid in _session(sid):  # never leave a stray worker to the rest of the suite, even when failing
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
