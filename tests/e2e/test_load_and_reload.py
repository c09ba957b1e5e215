"""10,000 requests against the real server with hot reloads in the middle: 0 failed requests.

Four client threads (one keep-alive httpx client each) send a mix of ``POST /v1/predict`` (real point-in-time
features) and ``GET /v1/customers/{id}`` (the latest batch run) while another thread fires ``POST /admin/reload``
six times. The churn model is served from a bundle directory that is a symlink: before each reload it is pointed
at a new copy of the champion whose metadata carries a generation number, so ``/v1/models`` proves each reload
really swapped the loaded set (and the answers prove the swap never broke or mixed a request).

Then the link is pointed at a copy whose ``feature_spec.json`` was edited (a feature the request schema cannot carry
and another Aha rule): the reload is refused with a 409 naming both, and the previous generation keeps serving.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from support.server import KEY, features_of, metric, start_server
from support.world import TrainedWorld

pytestmark = pytest.mark.slow

TOTAL_REQUESTS = 10_000
CLIENT_THREADS = 4
RELOAD_AT = (0.15, 0.30, 0.45, 0.60, 0.75, 0.90)  # fractions of the requests done when a reload is fired


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: int = 0
    ok: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    max_latency: float = 0.0

    def record(self, problem: str | None, latency: float) -> None:
        with self.lock:
            self.done += 1
            self.max_latency = max(self.max_latency, latency)
            if problem is None:
                self.ok += 1
            else:
                self.failures[problem.split(":")[0]] += 1
                if len(self.examples) < 5:
                    self.examples.append(problem)


def _generation(source: Path, root: Path, n: int) -> Path:
    """A copy of the churn bundle whose metadata says which generation it is."""
    target = root / f"churn-gen-{n}"
    shutil.copytree(source, target)
    meta_file = target / "metadata.json"
    meta = json.loads(meta_file.read_text())
    meta["metrics"] = {**meta.get("metrics", {}), "reload_generation": n}
    meta_file.write_text(json.dumps(meta))
    return target


def _point(link: Path, target: Path) -> None:
    """Atomically repoint ``link`` at ``target`` (a new symlink renamed over the old one)."""
    tmp = link.with_name(link.name + ".tmp")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target, target_is_directory=True)
    os.replace(tmp, link)


@pytest.fixture(scope="module")
def bundles(trained_world: TrainedWorld, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from models.bundle_source import resolve_bundle

    root = tmp_path_factory.mktemp("reload_bundles")
    champion = resolve_bundle(
        "champion", default_name="churnltv-churn", tracking_uri=trained_world.tracking_uri, dst_dir=root / "champion"
    )
    link = root / "churn-live"
    _point(link, _generation(champion, root, 0))
    return champion, link


@pytest.fixture(scope="module")
def server(trained_world: TrainedWorld, bundles: tuple[Path, Path]) -> Iterator[str]:
    _, link = bundles
    url, proc = start_server(trained_world, {"CHURNLTV_CHURN_MODEL": str(link)})
    yield url
    proc.terminate()
    proc.wait(timeout=20)


def _generation_served(client: httpx.Client) -> int:
    body = client.get("/v1/models").json()
    return int(body["churn"]["holdout_metrics"]["reload_generation"])


def test_ten_thousand_requests_with_hot_reloads_fail_none(
    server: str, trained_world: TrainedWorld, bundles: tuple[Path, Path]
) -> None:
    from service.score_store import open_score_store

    champion, link = bundles
    batch = open_score_store(str(trained_world.scores)).read_scores()
    expected = dict(zip(batch["customer_id"], batch["churn_probability"].astype(float), strict=True))
    ids = batch["customer_id"].tolist()
    picked = batch.iloc[::150].head(16)
    # bodies encoded once: the client threads share the test process's GIL with nothing else to do
    bodies = [
        (
            str(row["customer_id"]),
            json.dumps(
                {"customers": [features_of(trained_world, row["customer_id"], pd.Timestamp(row["as_of"]))]}
            ).encode(),
        )
        for _, row in picked.iterrows()
    ]
    json_header = {"content-type": "application/json"}
    with httpx.Client(base_url=server, headers={"X-API-Key": KEY}, timeout=30) as admin:
        assert _generation_served(admin) == 0

    tally = Tally()
    per_thread = TOTAL_REQUESTS // CLIENT_THREADS
    reloads: list[dict[str, Any]] = []

    def check(response: httpx.Response, customer_id: str, predict: bool) -> str | None:
        if response.status_code != 200:
            return f"HTTP {response.status_code}: {response.text[:200]}"
        try:
            body = response.json()
            answer = body["predictions"][0] if predict else body
            if answer["customer_id"] != customer_id:
                return f"wrong customer: {answer['customer_id']} for {customer_id}"
            if not math.isclose(answer["churn_probability"], expected[customer_id], rel_tol=1e-9):
                return f"wrong score: {answer['churn_probability']} for {customer_id} ({expected[customer_id]})"
            if not answer["model_versions"]["churn"]:
                return "no model version"
        except (ValueError, KeyError, IndexError, TypeError) as err:
            return f"malformed: {type(err).__name__} {err}: {response.text[:200]}"
        return None

    def worker(k: int) -> None:
        with httpx.Client(base_url=server, headers={"X-API-Key": KEY}, timeout=30) as client:
            for i in range(per_thread):
                n = k * per_thread + i
                predict = n % 4 != 0  # three predictions for every batch lookup
                start = time.perf_counter()
                problem: str | None
                try:
                    if predict:
                        customer_id, body = bodies[n % len(bodies)]
                        response = client.post("/v1/predict", content=body, headers=json_header)
                    else:
                        customer_id = ids[(n * 7919) % len(ids)]
                        response = client.get(f"/v1/customers/{customer_id}")
                    problem = check(response, customer_id, predict)
                except httpx.HTTPError as err:
                    problem = f"transport: {type(err).__name__} {err}"
                tally.record(problem, time.perf_counter() - start)

    def reloader() -> None:
        with httpx.Client(base_url=server, headers={"X-API-Key": KEY}, timeout=60) as client:
            for gen, fraction in enumerate(RELOAD_AT, start=1):
                fresh = _generation(champion, link.parent, gen)
                while tally.done < fraction * TOTAL_REQUESTS:
                    if not any(t.is_alive() for t in threads):
                        return
                    time.sleep(0.01)
                _point(link, fresh)
                r = client.post("/admin/reload")
                reloads.append(
                    {
                        "generation": gen,
                        "at_request": tally.done,
                        "status": r.status_code,
                        "served": _generation_served(client) if r.status_code == 200 else None,
                    }
                )

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(CLIENT_THREADS)]
    admin_thread = threading.Thread(target=reloader, daemon=True)
    started = time.perf_counter()
    for t in threads:
        t.start()
    admin_thread.start()
    for t in threads:
        t.join(timeout=120)
    admin_thread.join(timeout=60)
    seconds = time.perf_counter() - started

    summary = (
        f"{tally.done} requests in {seconds:.1f} s = {tally.done / seconds:.0f} req/s, {tally.ok} ok, "
        f"failures {dict(tally.failures)}, max latency {tally.max_latency * 1000:.0f} ms, {len(reloads)} reloads "
        f"{reloads}; examples: {tally.examples}"
    )
    print(f"\nload + reload: {summary}")
    assert not any(t.is_alive() for t in threads), f"a client thread hung: {summary}"
    assert tally.done == per_thread * CLIENT_THREADS, summary
    assert sum(tally.failures.values()) == 0, summary
    assert tally.ok == TOTAL_REQUESTS, summary
    assert [r["status"] for r in reloads] == [200] * len(RELOAD_AT), summary
    # every reload really swapped: the served set is the generation the link pointed at when it was fired
    assert [r["served"] for r in reloads] == list(range(1, len(RELOAD_AT) + 1)), summary
    assert all(0 < r["at_request"] < TOTAL_REQUESTS for r in reloads), f"reloads were not in the middle: {summary}"
    metrics = httpx.get(f"{server}/metrics").text
    assert f'churnltv_reloads_total{{outcome="ok"}} {float(len(RELOAD_AT))}' in metrics, summary


def _different_spec(source: Path, root: Path) -> Path:
    """A copy of the churn bundle whose feature specification says it needs another feature and another Aha rule."""
    target = root / "churn-other-spec"
    shutil.copytree(source, target)
    spec_file = target / "feature_spec.json"
    spec = json.loads(spec_file.read_text())
    spec["features"].append({**spec["features"][-1], "name": "favourite_colour", "description": "Not a real feature."})
    spec["settings"]["aha"] = {**spec["settings"]["aha"], "count": spec["settings"]["aha"]["count"] + 2}
    spec_file.write_text(json.dumps(spec))
    return target


def test_reload_onto_a_bundle_with_another_feature_spec_is_refused(
    server: str, trained_world: TrainedWorld, bundles: tuple[Path, Path]
) -> None:
    champion, link = bundles
    with httpx.Client(base_url=server, headers={"X-API-Key": KEY}, timeout=60) as client:
        before = client.get("/v1/models").json()["churn"]
        serving = Path(os.readlink(link))
        failed_before = metric(client.get("/metrics").text, "churnltv_reloads_total", outcome="failed")
        _point(link, _different_spec(champion, link.parent))
        try:
            r = client.post("/admin/reload")
            assert r.status_code == 409, r.text
            detail = r.json()["detail"]
            assert detail.startswith("reload failed, still serving the previous models: churn bundle ")
            # every difference is named, with the reference it differs from
            assert "request schema: feature 'favourite_colour' is not in the feature catalog" in detail
            assert "serving model: missing feature 'favourite_colour'" in detail
            assert "serving model: setting 'aha'" in detail
            assert "data source: missing feature 'favourite_colour'" in detail
            assert client.get("/v1/models").json()["churn"] == before
            scores = open_score_store_scores(trained_world)
            customer_id = str(scores["customer_id"].iloc[0])
            answer = client.get(f"/v1/customers/{customer_id}")
            assert answer.status_code == 200, answer.text
            assert answer.json()["churn_probability"] == pytest.approx(float(scores["churn_probability"].iloc[0]))
            failed = metric(client.get("/metrics").text, "churnltv_reloads_total", outcome="failed")
            assert failed == failed_before + 1
            assert client.get("/ready").status_code == 200
        finally:
            _point(link, serving)
        # the same bundle it served before is accepted again
        back = client.post("/admin/reload")
        assert back.status_code == 200, back.text
        assert client.get("/v1/models").json()["churn"]["holdout_metrics"] == before["holdout_metrics"]


def open_score_store_scores(world: TrainedWorld) -> pd.DataFrame:
    from service.score_store import open_score_store

    store = open_score_store(str(world.scores))
    try:
        return store.read_scores()
    finally:
        store.close()
