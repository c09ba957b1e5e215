"""API latency benchmark (issue 7): our uvicorn server vs ``mlflow models serve`` on the same churn model.

    python -m benchmarks.bench_api [--customers 3000] [--requests 3000] [--warmup 300]

1. Generates a small demo base and trains + promotes the churn and LTV models into a temporary MLflow store
   (the same steps as tests/conftest.py's ``build_trained_world``).
2. Starts the real service (``uvicorn --factory service.api.app:create_app``, as `churnltv serve` runs it) on a
   free loopback port and, side by side,
   ``mlflow models serve -m models:/churnltv-churn/<N> --env-manager local`` on another.
3. With one keep-alive ``httpx.Client`` per server, sends single-customer requests one after another and times
   each full round trip (request out, whole response body read):
   * ours: ``POST /v1/predict`` with one customer's features -> the full response (churn probability, reasons,
     LTV + interval, tier, triggers, action, health, lifecycle stage, NPS segment, model versions);
   * baseline: ``POST /invocations`` with the same features as ``dataframe_records`` -> churn probability only.
   Targets: ours p50 <= 2 ms, p99 <= 5 ms; ours p99 at least 2x lower than the baseline's (issue 7); issue 18:
   p99 <= 2 ms and at least 3x lower than the baseline's.
4. Customer lookups (issues 18 and 19): the base is batch-scored into a Parquet store and the server restarted on
   it; ``GET /v1/customers/{id}`` from the latest run (target p99 <= 3 ms) and live, ``?as_of=`` scored from the
   data (target p99 <= 20 ms), each over distinct customers, then all three request kinds again while another
   thread calls ``POST /admin/reload`` every second (target: p99 within 2x of the same kind without reloads).

Requests alternate between the two servers in blocks, so a slow phase of the machine hits both alike. Every target
prints PASS or FAIL with the number behind it.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.measure import report

KEY = "bench-key"
REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _build_world(root: Path, n_customers: int, seed: int) -> tuple[Path, str, str, str]:
    """Generate, train and promote both models; returns (data path, churn model URI, a customer's id, end)."""
    from churnltv.generator import generate
    from features.dataset_writer import write_dataset
    from features.settings import FeatureSettings
    from models.ltv_settings import LtvSettings
    from training import registry
    from training.churn_job import train_churn
    from training.ltv_job import train_ltv
    from training.settings import TrainingSettings
    from training.tracking import use_tracking

    base = generate(n_customers, seed=seed)
    data = Path(write_dataset(base.tables, root / "demo.duckdb"))
    settings = TrainingSettings()
    use_tracking(settings)
    churn = train_churn(str(data), settings, FeatureSettings(), n_cutoffs=4, time_budget=5)
    train_ltv(str(data), as_of=None, holdout_days=None, settings=LtvSettings(penalizer_coef=0.001))

    def accept(challenger: Any, champion: Any) -> registry.PromotionDecision:
        return registry.PromotionDecision(promote=True, reason="benchmark setup")

    registry.promote(registry.CHURN_MODEL, decide=accept, force=True)
    registry.promote(registry.LTV_MODEL, decide=accept, force=True)
    customer = str(base.tables["customers"]["customer_id"].iloc[len(base.tables["customers"]) // 2])
    return data, f"models:/{registry.CHURN_MODEL}/{churn.version}", customer, str(base.end)


def feature_payload(data: Path, customer_id: str, as_of: str) -> dict[str, Any]:
    """One customer's point-in-time features as JSON-ready values (NaN -> null), as the CRM would send them."""
    import pandas as pd

    from features.point_in_time import build_features
    from features.sources import open_source

    con = open_source(data).connect(validate=False)
    try:
        frame, _ = build_features(con, [pd.Timestamp(as_of)], customer_ids=[customer_id])
    finally:
        con.close()
    out: dict[str, Any] = {}
    for k, v in frame.iloc[0].to_dict().items():
        if k == "as_of":
            out[k] = pd.Timestamp(v).isoformat()
        elif isinstance(v, float) and math.isnan(v):
            out[k] = None
        elif hasattr(v, "item"):
            out[k] = v.item()
        else:
            out[k] = v
    return out


def _wait(url: str, proc: subprocess.Popen[bytes], path: str, seconds: float) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace")[-2000:] if proc.stderr else ""
            raise RuntimeError(f"server {url} exited with {proc.returncode}: {err}")
        try:
            if httpx.get(url + path, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"server {url} did not answer {path} within {seconds:.0f} s")


def start_service(env: dict[str, str], data: Path, store: Path | None = None) -> tuple[str, subprocess.Popen[bytes]]:
    """Our API under uvicorn (one worker, as `churnltv serve` runs it) on a free loopback port."""
    port = _free_port()
    env = {**env, "CHURNLTV_API_KEYS": KEY, "CHURNLTV_DATA": str(data), "CHURNLTV_SCORE_STORE": str(store or "")}
    env["CHURNLTV_ADMIN_API_KEYS"] = KEY  # the reload thread's key (ignored by a release without admin keys)
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "service.api.app:create_app", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--log-level", "warning", "--no-access-log"]
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    _wait(url, proc, "/ready", 120)
    return url, proc


def start_mlflow_serve(env: dict[str, str], model_uri: str) -> tuple[str, subprocess.Popen[bytes]]:
    """``mlflow models serve`` of the churn pyfunc, local env manager, one worker."""
    port = _free_port()
    mlflow_bin = str(Path(sys.executable).with_name("mlflow"))
    cmd = [mlflow_bin, "models", "serve", "-m", model_uri, "--env-manager", "local", "-h", "127.0.0.1"]
    cmd += ["-p", str(port), "-w", "1"]
    # mlflow execs `uvicorn` by name: the venv's bin must be on PATH
    path = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env = {**env, "PATH": path, "PYTHONPATH": str(REPO) + os.pathsep + env.get("PYTHONPATH", "")}
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    _wait(url, proc, "/ping", 180)
    return url, proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def time_requests(client: Any, path: str, body: bytes, n: int, check: str) -> list[float]:
    """``n`` sequential POSTs on one keep-alive connection; seconds per full round trip (body read)."""
    headers = {"content-type": "application/json"}
    out = []
    for _ in range(n):
        start = time.perf_counter()
        r = client.post(path, content=body, headers=headers)
        payload = r.content
        out.append(time.perf_counter() - start)
        if r.status_code != 200 or check.encode() not in payload:
            raise RuntimeError(f"{path}: HTTP {r.status_code}: {payload[:500]!r}")
    return out


def time_gets(client: Any, paths: list[str], n: int, check: str) -> list[float]:
    """``n`` sequential GETs cycling over ``paths`` on one keep-alive connection; seconds per round trip."""
    out = []
    for i in range(n):
        path = paths[i % len(paths)]
        start = time.perf_counter()
        r = client.get(path)
        payload = r.content
        out.append(time.perf_counter() - start)
        if r.status_code != 200 or check.encode() not in payload:
            raise RuntimeError(f"{path}: HTTP {r.status_code}: {payload[:500]!r}")
    return out


class Reloader:
    """``POST /admin/reload`` every ``every`` seconds from its own thread and connection while the block runs."""

    def __init__(self, url: str, every: float = 1.0) -> None:
        self.url, self.every = url, every
        self.count, self.failures = 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import httpx

        with httpx.Client(base_url=self.url, headers={"X-API-Key": KEY}, timeout=60) as client:
            while not self._stop.wait(self.every):
                r = client.post("/admin/reload")
                self.count += 1
                self.failures += r.status_code != 200

    def __enter__(self) -> Reloader:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _score_base(data: Path, store: Path, as_of: str) -> None:
    """Batch-score the world's base into a Parquet store with the champions (what the nightly job publishes)."""
    from service.batch_scoring import run_batch
    from service.model_set import load_model_set
    from service.settings import ServiceSettings

    models = load_model_set(churn_ref="champion", ltv_ref="champion", tracking_uri=ServiceSettings().tracking_uri)
    run_batch(str(data), as_of, str(store), models=models)


def _lookups(  # noqa: PLR0917 - the server's inputs and the requests' inputs
    env: dict[str, str], data: Path, store: Path, ids: list[str], as_of: str, body: bytes, args: argparse.Namespace
) -> dict[str, list[float]]:
    """Store lookups, live lookups and predictions, each without and with a reload every second."""
    import httpx

    url, proc = start_service(env, data, store)
    stored = [f"/v1/customers/{i}" for i in ids]
    live = [f"/v1/customers/{i}?as_of={as_of}" for i in ids]
    out: dict[str, list[float]] = {}
    try:
        with httpx.Client(base_url=url, headers={"X-API-Key": KEY}, timeout=60) as client:
            time_gets(client, stored, args.warmup, '"source":"batch"')
            time_gets(client, live, max(args.warmup // 10, 10), "churn_probability")
            for label, reloading in (("", False), ("_reloads", True)):
                with Reloader(url) if reloading else contextlib.nullcontext() as reloader:
                    out["store" + label] = time_gets(client, stored, args.requests, '"source":"batch"')
                    out["live" + label] = time_gets(client, live, args.live_requests, "churn_probability")
                    out["predict" + label] = time_requests(
                        client, "/v1/predict", body, args.requests, "churn_probability"
                    )
                if reloader is not None and reloader.failures:
                    raise RuntimeError(f"{reloader.failures} of {reloader.count} reloads failed")
                if reloader is not None:
                    out["reload_count"] = [float(reloader.count)]
    finally:
        _stop(proc)
    return out


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000.0
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p90_ms": float(np.percentile(ms, 90)),
        "p99_ms": float(np.percentile(ms, 99)),
        "mean_ms": float(ms.mean()),
        "n": len(seconds),
    }


def _run_servers(
    env: dict[str, str], data: Path, churn_uri: str, bodies: tuple[bytes, bytes], args: argparse.Namespace
) -> tuple[list[float], list[float]]:
    """Start both servers, warm them up, and time requests in alternating blocks: (ours, baseline) seconds."""
    import httpx

    ours_body, mlflow_body = bodies
    procs: list[subprocess.Popen[bytes]] = []
    try:
        ours_url, ours_proc = start_service(env, data)
        procs.append(ours_proc)
        base_url = None
        if not args.no_mlflow:
            base_url, base_proc = start_mlflow_serve(env, churn_uri)
            procs.append(base_proc)
        ours_c = httpx.Client(base_url=ours_url, headers={"X-API-Key": KEY}, timeout=30)
        base_c = httpx.Client(base_url=base_url, timeout=30) if base_url else None
        time_requests(ours_c, "/v1/predict", ours_body, args.warmup, "churn_probability")
        if base_c is not None:
            time_requests(base_c, "/invocations", mlflow_body, args.warmup, "churn_probability")
        ours: list[float] = []
        base: list[float] = []
        while len(ours) < args.requests:
            n = min(args.block, args.requests - len(ours))
            ours += time_requests(ours_c, "/v1/predict", ours_body, n, "churn_probability")
            if base_c is not None:
                base += time_requests(base_c, "/invocations", mlflow_body, n, "churn_probability")
        ours_c.close()
        if base_c is not None:
            base_c.close()
    finally:
        for p in procs:
            _stop(p)
    return ours, base


def main() -> None:
    import json

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=3000, help="customers in the generated training base")
    parser.add_argument("--requests", type=int, default=3000, help="timed requests per server")
    parser.add_argument("--warmup", type=int, default=300, help="untimed requests per server first")
    parser.add_argument("--block", type=int, default=250, help="requests per server before switching")
    parser.add_argument("--no-mlflow", action="store_true", help="skip the mlflow models serve baseline")
    parser.add_argument("--live-requests", type=int, default=600, help="timed live (?as_of=) lookups per block")
    parser.add_argument("--no-lookups", action="store_true", help="skip the customer lookup and reload blocks")
    args, _ = parser.parse_known_args()

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    with tempfile.TemporaryDirectory(prefix="churnltv-bench-api-") as tmp:
        root = Path(tmp)
        uri = f"sqlite:///{root}/mlflow.db"
        env_vars = {
            "MLFLOW_TRACKING_URI": uri,
            "CHURNLTV_TRACKING_URI": uri,
            "CHURNLTV_ARTIFACT_ROOT": str(root / "artifacts"),
        }
        os.environ.update(env_vars)
        t0 = time.perf_counter()
        data, churn_uri, customer, end = _build_world(root, args.customers, seed=11)
        setup_s = time.perf_counter() - t0
        features = feature_payload(data, customer, end)
        ours_body = json.dumps({"customers": [features]}).encode()
        mlflow_body = json.dumps({"dataframe_records": [features]}).encode()
        env = {**os.environ, **env_vars}

        ours, base = _run_servers(env, data, churn_uri, (ours_body, mlflow_body), args)
        lookups: dict[str, list[float]] = {}
        if not args.no_lookups:
            store = root / "scores"
            _score_base(data, store, end)
            ids = _customer_ids(data, 500)
            lookups = _lookups(env, data, store, ids, pd_date(end), ours_body, args)

    o = _percentiles(ours)
    rows = [
        f"setup (generate {args.customers} customers, train + promote churn and LTV): {setup_s:.1f} s",
        _line("ours   POST /v1/predict (1 customer, full response)", o),
        f"{_verdict(o['p50_ms'] <= 2)}  predict p50 <= 2 ms: {o['p50_ms']:.2f} ms",
        f"{_verdict(o['p99_ms'] <= 5)}  predict p99 <= 5 ms: {o['p99_ms']:.2f} ms",
        f"{_verdict(o['p99_ms'] <= 2)}  predict p99 <= 2 ms (issue 18): {o['p99_ms']:.2f} ms",
    ]
    numbers: dict[str, Any] = {"ours": o, "setup_s": setup_s}
    if base:
        b = _percentiles(base)
        ratio = b["p99_ms"] / o["p99_ms"]
        rows += [
            _line("mlflow models serve /invocations (churn probability only)", b),
            f"{_verdict(ratio >= 2)}  p99 mlflow / ours >= 2x: {ratio:.2f}x "
            f"(p50 ratio {b['p50_ms'] / o['p50_ms']:.2f}x)",
            f"{_verdict(ratio >= 3)}  p99 mlflow / ours >= 3x (issue 18): {ratio:.2f}x",
        ]
        numbers.update({"mlflow": b, "p99_ratio": ratio})
    if lookups:
        rows += _lookup_rows(lookups, numbers)
    report("API single-customer latency (uvicorn, loopback, keep-alive httpx)", rows, numbers)


def _line(label: str, p: dict[str, float]) -> str:
    return (
        f"{label}: p50 {p['p50_ms']:.2f} ms  p90 {p['p90_ms']:.2f} ms  p99 {p['p99_ms']:.2f} ms  "
        f"mean {p['mean_ms']:.2f} ms  (n={p['n']})"
    )


def _lookup_rows(lookups: dict[str, list[float]], numbers: dict[str, Any]) -> list[str]:
    """Lines and PASS/FAIL per lookup target; adds the percentiles to ``numbers``."""
    p = {kind: _percentiles(values) for kind, values in lookups.items() if kind != "reload_count"}
    reloads = int(lookups.get("reload_count", [0.0])[0])
    numbers.update({f"lookup_{kind}": value for kind, value in p.items()})
    rows = [
        _line("GET /v1/customers/{id} from the latest batch run", p["store"]),
        _line("GET /v1/customers/{id}?as_of= (live, from the data)", p["live"]),
        f"{_verdict(p['store']['p99_ms'] <= 3)}  store lookup p99 <= 3 ms: {p['store']['p99_ms']:.2f} ms",
        f"{_verdict(p['live']['p99_ms'] <= 20)}  live lookup p99 <= 20 ms: {p['live']['p99_ms']:.2f} ms",
        f"-- the same with POST /admin/reload every second ({reloads} reloads):",
    ]
    for kind in ("store", "live", "predict"):
        quiet, busy = p[kind]["p99_ms"], p[f"{kind}_reloads"]["p99_ms"]
        rows.append(_line(f"{kind} with reloads", p[f"{kind}_reloads"]))
        rows.append(
            f"{_verdict(busy <= 2 * quiet)}  {kind} p99 with reloads <= 2x without: {busy:.2f} vs {quiet:.2f} ms"
        )
    return rows


def _customer_ids(data: Path, n: int) -> list[str]:
    """Up to ``n`` customer ids spread over the base (distinct lookups: no cache can answer them all)."""
    from features.sources import open_source

    con = open_source(data).connect(validate=False)
    try:
        rows = con.execute("SELECT customer_id FROM customers ORDER BY hash(customer_id) LIMIT ?", [n]).fetchall()
    finally:
        con.close()
    return [str(r[0]) for r in rows]


def pd_date(end: str) -> str:
    """The world's end as the ``as_of`` query value (ISO date and time)."""
    import pandas as pd

    return pd.Timestamp(end).isoformat()


if __name__ == "__main__":
    main()
