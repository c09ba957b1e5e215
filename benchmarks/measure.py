"""Wall time and peak memory of a piece of work, measured the same way by every benchmark."""

from __future__ import annotations

import json
import multiprocessing as mp
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Measurement:
    label: str
    seconds: float
    peak_rss_mb: float | None = None

    def line(self, baseline: Measurement | None = None) -> str:
        text = f"{self.label:<48} {self.seconds:9.3f} s"
        if self.peak_rss_mb is not None:
            text += f"   peak RSS {self.peak_rss_mb:8.1f} MB"
        if baseline is not None and self.seconds > 0:
            text += f"   {baseline.seconds / self.seconds:7.2f}x faster than {baseline.label}"
        return text


def timed(label: str, fn: Callable[[], Any]) -> tuple[Measurement, Any]:
    """Run ``fn`` in this process; peak RSS is not isolated here, so it is left out."""
    start = time.perf_counter()
    result = fn()
    return Measurement(label, time.perf_counter() - start), result


def _child(fn: Callable[[], Any], queue: Any) -> None:
    start = time.perf_counter()
    fn()
    seconds = time.perf_counter() - start
    # ru_maxrss is in KiB on Linux and covers only this fresh child process
    queue.put((seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0))


def isolated(label: str, fn: Callable[[], Any]) -> Measurement:
    """Run ``fn`` in a fresh forked process so its peak RSS is its own (fn must be picklable by fork)."""
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, queue))
    proc.start()
    proc.join()
    if proc.exitcode != 0:
        raise RuntimeError(f"{label}: benchmark process failed with exit code {proc.exitcode}")
    seconds, rss = queue.get()
    return Measurement(label, seconds, rss)


def report(title: str, rows: list[str], numbers: dict[str, Any]) -> None:
    """Print a benchmark's result block and a machine-readable JSON line."""
    print(f"== {title}")
    for row in rows:
        print("  " + row)
    print("RESULT " + json.dumps({"benchmark": title, **numbers}, default=str))
