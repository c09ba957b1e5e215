"""Make a worker process die with its parent, so a SIGKILLed ``churnltv score`` leaves no orphan behind.

A process-pool worker blocks on its task queue, and a SIGKILLed parent never tells it to stop: the workers
(~245 MB each) and multiprocessing's resource tracker (which exits once the last worker holding its pipe is
gone) lived on forever. ``die_with_parent`` runs in the worker at start:

* Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the kernel kills the worker the moment the parent dies (strictly,
  when the parent thread that started it exits; the pool's processes are started by the thread that runs the
  pool and lives as long as it);
* everywhere: a daemon thread that exits the process once ``os.getppid()`` changes (the worker was re-parented),
  checked every ``interval`` seconds;
* a parent that died before either was in place is caught by comparing the parent pid the pool recorded.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>
_EXIT_ORPHANED = 70  # EX_SOFTWARE: the worker stopped on its own because its parent is gone


def die_with_parent(parent_pid: int | None = None, *, interval: float = 1.0) -> None:
    """Arrange for this process to end when its parent does; ``parent_pid`` is the pid the parent saw itself as.

    ``parent_pid`` defaults to the current parent: pass ``os.getpid()`` from the parent to also catch a parent
    that died between starting this process and this call.
    """
    expected = os.getppid() if parent_pid is None else parent_pid
    _kernel_parent_death_signal()
    if os.getppid() != expected:  # the parent is already gone (this process was re-parented)
        os._exit(_EXIT_ORPHANED)
    watch = threading.Thread(target=_watch_parent, args=(expected, interval), name="churnltv-parent-watch", daemon=True)
    watch.start()


def _kernel_parent_death_signal() -> bool:
    """``PR_SET_PDEATHSIG`` = SIGKILL on Linux; False where it is not available (the watchdog still runs)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        done = libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError) as err:
        log.debug("prctl(PR_SET_PDEATHSIG) unavailable: %s", err)
        return False
    return bool(done == 0)


def _watch_parent(expected: int, interval: float) -> None:
    while True:
        time.sleep(interval)
        if os.getppid() != expected:
            os._exit(_EXIT_ORPHANED)  # no cleanup to wait for: the parent that would collect the results is gone
