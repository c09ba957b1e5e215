"""Issue 9: sustained load with a reload every second and a PostgreSQL restart in the middle.

A private PostgreSQL instance (initdb + pg_ctl as the ``postgres`` OS user, its own port and socket directory,
always stopped and removed afterwards) holds the data and the score store; the shared server at 5432 is never
touched. While client threads load the real uvicorn server and another thread reloads the models every second,
PostgreSQL is stopped (``pg_ctl stop -m fast``) and started again. The test checks that:

* ``/ready`` turns 503 naming the data and score-store checks while PostgreSQL is down, and 200 again after it is
  back, without restarting the service;
* every request got a definite answer: 200, or (only for routes that read PostgreSQL, only around the outage) a
  503 whose ``detail`` names the score store; no other status, no connection reset, no hang;
* predictions from features (no database) and reloads keep working throughout, and lookups after the restart equal
  the batch scores.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pandas as pd
import pytest

from support.postgres import load_and_score
from support.server import KEY, features_of, free_port, start_server
from support.world import TrainedWorld

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(90)]

CLIENT_THREADS = 3
CLIENT_TIMEOUT = 15.0  # a request slower than this is a hang, and fails the test


def _pg_bin(tool: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"), key=lambda p: int(p.split("/")[4]))
    if not found:
        pytest.skip(f"no PostgreSQL server binaries ({tool}) under /usr/lib/postgresql/*/bin")
    return found[-1]


@dataclass
class PrivatePostgres:
    """A throw-away PostgreSQL server run as the ``postgres`` OS user (initdb refuses root)."""

    root: Path
    port: int

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *args: str, timeout: float = 60) -> None:
        cmd = [*(["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []), *args]
        done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            log = (self.root / "server.log").read_text() if (self.root / "server.log").is_file() else ""
            raise RuntimeError(f"{' '.join(args)} failed: {done.stdout}\n{done.stderr}\n{log[-2000:]}")

    def init(self) -> None:
        self._as_postgres(_pg_bin("initdb"), "-D", str(self.data_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off -c max_connections=200"
        self._as_postgres(
            _pg_bin("pg_ctl"),
            "-D",
            str(self.data_dir),
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-o",
            options,
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._as_postgres(_pg_bin("pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        return (self.data_dir / "postmaster.pid").exists()


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as the postgres user")
    root = Path(tempfile.mkdtemp(prefix="churnltv-pgfault-"))  # under /tmp: reachable by the postgres user
    pg = PrivatePostgres(root, free_port())
    try:
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        root.chmod(0o700)
        pg.init()
        pg.start()
        yield pg
    finally:
        if pg.running():
            try:
                pg.stop("immediate")
            except (RuntimeError, subprocess.TimeoutExpired):
                pid = (pg.data_dir / "postmaster.pid").read_text().split()[0]
                os.kill(int(pid), 9)
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class Outcome:
    started: float
    finished: float
    route: str
    status: int | None  # None: no answer (transport error or timeout)
    detail: str


@dataclass
class Recorder:
    lock: threading.Lock = field(default_factory=threading.Lock)
    outcomes: list[Outcome] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)

    def add(self, outcome: Outcome, wrong: str | None = None) -> None:
        with self.lock:
            self.outcomes.append(outcome)
            if wrong is not None:
                self.wrong.append(wrong)


NEEDS_DB = {"customer", "batch_get", "retention"}


def test_postgres_restart_under_load_recovers_without_losing_requests(
    trained_world: TrainedWorld, private_pg: PrivatePostgres
) -> None:
    t0 = time.monotonic()
    data_url, store_url = load_and_score(trained_world, private_pg.url, "crm")
    from service.score_store import open_score_store

    batch = open_score_store(store_url).read_scores()
    expected = dict(zip(batch["customer_id"], batch["churn_probability"].astype(float), strict=True))
    ids = batch["customer_id"].tolist()
    row = batch.iloc[11]
    predict_body = {"customers": [features_of(trained_world, row["customer_id"], pd.Timestamp(row["as_of"]))]}
    url, proc = start_server(trained_world, {"CHURNLTV_DATA": data_url, "CHURNLTV_SCORE_STORE": store_url})
    setup_seconds = time.monotonic() - t0

    recorder = Recorder()
    stop = threading.Event()
    reload_statuses: Counter[int] = Counter()

    def worker(k: int) -> None:
        with httpx.Client(base_url=url, headers={"X-API-Key": KEY}, timeout=CLIENT_TIMEOUT) as client:
            n = k
            while not stop.is_set():
                n += CLIENT_THREADS
                route = ("customer", "predict", "batch_get", "customer", "retention", "predict")[n % 6]
                customer_id = ids[(n * 7919) % len(ids)]
                started = time.monotonic()
                wrong = None
                try:
                    if route == "customer":
                        r = client.get(f"/v1/customers/{customer_id}")
                    elif route == "predict":
                        r = client.post("/v1/predict", json=predict_body)
                    elif route == "batch_get":
                        r = client.post("/v1/customers:batchGet", json={"customer_ids": [customer_id, "ghost"]})
                    else:
                        r = client.get("/v1/retention-list", params={"limit": 5})
                    status, detail = r.status_code, r.text[:300]
                    if status == 200:
                        body = r.json()
                        if route == "customer" and body["churn_probability"] != pytest.approx(expected[customer_id]):
                            wrong = f"{route} {customer_id}: {body['churn_probability']} != {expected[customer_id]}"
                        if route == "predict" and body["predictions"][0]["churn_probability"] != pytest.approx(
                            expected[row["customer_id"]]
                        ):
                            wrong = f"predict: {body['predictions'][0]['churn_probability']}"
                        if route == "batch_get" and [p["customer_id"] for p in body["predictions"]] != [customer_id]:
                            wrong = f"batch_get {customer_id}: {body}"
                        if route == "retention" and len(body["customers"]) != 5:
                            wrong = f"retention: {body}"
                except httpx.HTTPError as err:
                    status, detail = None, f"{type(err).__name__}: {err}"
                recorder.add(Outcome(started, time.monotonic(), route, status, detail), wrong)

    def reloader() -> None:
        with httpx.Client(base_url=url, headers={"X-API-Key": KEY}, timeout=CLIENT_TIMEOUT) as client:
            while not stop.wait(1.0):
                try:
                    reload_statuses[client.post("/admin/reload").status_code] += 1
                except httpx.HTTPError:
                    reload_statuses[0] += 1

    def ready() -> httpx.Response:
        return httpx.get(f"{url}/ready", timeout=CLIENT_TIMEOUT)

    def wait_ready(code: int, limit: float) -> tuple[float, httpx.Response]:
        start = time.monotonic()
        while True:
            r = ready()
            if r.status_code == code or time.monotonic() - start > limit:
                return time.monotonic() - start, r

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(CLIENT_THREADS)]
    threads.append(threading.Thread(target=reloader, daemon=True))
    load_start = time.monotonic()
    try:
        assert ready().status_code == 200
        for t in threads:
            t.start()
        time.sleep(4)  # steady state with PostgreSQL up

        outage_start = time.monotonic()
        private_pg.stop("fast")
        stopped_at = time.monotonic()
        to_503, down = wait_ready(503, 10)
        assert down.status_code == 503, f"/ready stayed {down.status_code} with PostgreSQL down: {down.text}"
        checks = down.json()["checks"]
        assert checks["models"] == "ok"
        assert checks["data"].startswith("unreachable:"), checks
        assert checks["score_store"].startswith("unreachable:"), checks
        assert "PostgreSQL" in checks["data"], checks
        assert "score store" in checks["score_store"], checks
        with httpx.Client(base_url=url, headers={"X-API-Key": KEY}, timeout=CLIENT_TIMEOUT) as client:
            lookup = client.get(f"/v1/customers/{ids[0]}")
            assert lookup.status_code == 503, lookup.text
            assert "score store" in lookup.json()["detail"], lookup.text
            assert lookup.headers.get("retry-after") == "1"
            assert client.post("/v1/predict", json=predict_body).status_code == 200, "predict needs no database"
        assert httpx.get(f"{url}/health", timeout=5).status_code == 200
        time.sleep(3)  # load keeps running against the outage

        private_pg.start()
        outage_end = time.monotonic()
        to_200, up = wait_ready(200, 20)
        back_at = time.monotonic()
        assert up.status_code == 200, f"/ready did not recover without a restart: {up.text}"
        assert up.json()["checks"] == {"models": "ok", "data": "ok", "score_store": "ok"}
        time.sleep(3)  # load after the recovery
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=CLIENT_TIMEOUT + 5)
        load_seconds = time.monotonic() - load_start
        proc.terminate()
        proc.wait(timeout=20)

    outcomes = recorder.outcomes
    statuses = Counter((o.route, o.status) for o in outcomes)
    no_answer = [o for o in outcomes if o.status is None]
    unexpected = [o for o in outcomes if o.status not in (200, 503)]
    bad_503 = [
        o
        for o in outcomes
        if o.status == 503
        and (
            o.route not in NEEDS_DB
            or "score store" not in o.detail
            or o.finished < outage_start
            or o.started > back_at  # once /ready said 200, every request must succeed
        )
    ]
    after = [o for o in outcomes if o.started > back_at]
    summary = (
        f"setup {setup_seconds:.1f} s; load {load_seconds:.1f} s, {len(outcomes)} requests = "
        f"{len(outcomes) / load_seconds:.0f} req/s; statuses {dict(statuses)}; no answer {len(no_answer)}; "
        f"unexpected {len(unexpected)}; misplaced 503 {len(bad_503)}; wrong bodies {len(recorder.wrong)}; "
        f"reloads {dict(reload_statuses)}; /ready 503 after {to_503:.2f} s (pg_ctl stop took "
        f"{stopped_at - outage_start:.2f} s), 200 after {to_200:.2f} s once PostgreSQL was up again "
        f"(outage {outage_end - outage_start:.1f} s); {len(after)} requests after recovery"
    )
    print(f"\npostgres fault: {summary}")
    examples = [o.detail for o in (no_answer + unexpected + bad_503)[:5]] + recorder.wrong[:5]
    assert not no_answer, f"requests without an answer (reset or hang): {summary}; {examples}"
    assert not unexpected, f"statuses other than 200/503: {summary}; {examples}"
    assert not bad_503, f"503 outside the outage or without naming the score store: {summary}; {examples}"
    assert not recorder.wrong, f"wrong answers: {summary}; {examples}"
    assert sum(n for (_, s), n in statuses.items() if s == 503) > 0, f"the outage was never observed: {summary}"
    assert len(after) > 20, f"no load after the recovery: {summary}"
    assert all(o.status == 200 for o in after), f"no recovery under load: {summary}"
    assert all(statuses[(r, 200)] > 0 for r in ("customer", "predict", "batch_get", "retention")), summary
    assert statuses[("predict", 503)] == 0, summary
    assert set(reload_statuses) == {200}, f"reloads failed: {summary}"
    assert reload_statuses[200] >= 5, f"too few reloads: {summary}"
    with httpx.Client(timeout=5) as probe, pytest.raises(httpx.TransportError):
        probe.get(f"{url}/health")  # the server is gone: nothing leaks into other tests
