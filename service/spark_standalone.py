"""A Spark standalone cluster on loopback, started with the pyspark distribution's own launcher.

``churnltv score --engine spark --spark-master spark://HOST:PORT`` talks to any standalone, YARN or Kubernetes
master. To try that path on one machine (and for the cluster tests and ``benchmarks/bench_spark_cluster.py``),
:class:`StandaloneCluster` starts one master and N workers as real JVM processes with
``$SPARK_HOME/bin/spark-class org.apache.spark.deploy.master.Master`` / ``...worker.Worker`` — the same classes
``sbin/start-master.sh`` and ``start-worker.sh`` launch (the pip-installed pyspark ships ``bin/spark-class`` but not
those two wrappers). Nothing is simulated: executors are separate JVMs with their own Python workers, and a worker
can be killed (:meth:`StandaloneCluster.kill_worker`) to watch the driver reschedule its tasks.

Ports are picked free on 127.0.0.1, web UIs are off, and every process lives in its own process group so that
:meth:`stop` (or leaving the ``with`` block) leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

HOST = "127.0.0.1"


class ClusterStartError(RuntimeError):
    """The master or a worker did not come up; the message carries the tail of its log."""


def spark_home() -> Path:
    """The pyspark distribution's directory (it holds ``bin/spark-class`` and the jars)."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class StandaloneCluster:
    """One master and ``workers`` workers of ``cores`` cores and ``memory`` each, on 127.0.0.1."""

    workers: int = 2
    cores: int = 1
    memory: str = "2g"
    work_dir: Path | None = None
    # a lost worker is declared dead after this many seconds without a heartbeat (Spark's default is 60)
    worker_timeout_s: int = 30
    port: int = 0
    _master: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _workers: list[subprocess.Popen[bytes]] = field(default_factory=list, init=False, repr=False)
    _tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"spark://{HOST}:{self.port}"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            SPARK_HOME=str(spark_home()),
            SPARK_LOCAL_IP=HOST,
            SPARK_MASTER_OPTS=f"-Dspark.worker.timeout={self.worker_timeout_s}",
        )
        return env

    def _launch(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        assert self.work_dir is not None
        log = (self.work_dir / f"{name}.log").open("wb")
        cmd = [str(spark_home() / "bin" / "spark-class"), *args]
        # a process group per daemon: killing a worker takes its executors (children) with it
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self._env(), start_new_session=True)

    def _wait_for(self, name: str, proc: subprocess.Popen[bytes], marker: str, timeout_s: float) -> None:
        assert self.work_dir is not None
        path = self.work_dir / f"{name}.log"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise ClusterStartError(f"spark {name} exited with {proc.returncode}:\n{_tail(path)}")
            if path.exists() and marker in path.read_text(errors="replace"):
                return
            time.sleep(0.2)
        raise ClusterStartError(f"spark {name} not up after {timeout_s:.0f} s:\n{_tail(path)}")

    def start(self, timeout_s: float = 90.0) -> StandaloneCluster:
        if self.work_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="churnltv-spark-cluster-")
            self.work_dir = Path(self._tmp.name)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or _free_port()
        try:
            master_args = ["--host", HOST, "--port", str(self.port), "--webui-port", "0"]
            self._master = self._launch("master", ["org.apache.spark.deploy.master.Master", *master_args])
            self._wait_for("master", self._master, "I have been elected leader", timeout_s)
            for i in range(self.workers):
                self._workers.append(self._start_worker(i))
            for i, proc in enumerate(self._workers):
                self._wait_for(f"worker-{i}", proc, "Successfully registered with master", timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_worker(self, i: int) -> subprocess.Popen[bytes]:
        assert self.work_dir is not None
        args = ["org.apache.spark.deploy.worker.Worker", self.url, "--host", HOST, "--webui-port", "0"]
        args += ["--cores", str(self.cores), "--memory", self.memory, "--work-dir", str(self.work_dir / f"w{i}")]
        return self._launch(f"worker-{i}", args)

    def worker_pids(self) -> list[int]:
        return [p.pid for p in self._workers if p.poll() is None]

    def kill_worker(self, i: int = 0) -> None:
        """SIGKILL worker ``i`` and its executors, as a machine failure would."""
        proc = self._workers[i]
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def stop(self) -> None:
        for proc in [*self._workers, *([self._master] if self._master else [])]:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=15)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)
        self._workers.clear()
        self._master = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> StandaloneCluster:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
