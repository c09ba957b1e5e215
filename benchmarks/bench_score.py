"""Batch scoring benchmark (issue 8): local engine end to end, pyfunc baseline, Spark local mode, PostgreSQL COPY.

    python -m benchmarks.bench_score [--customers 1000000] [--train-customers 20000] [--no-spark] [--no-postgres]

1. Generates ``--customers`` customers (~50 events each at 1M) into a DuckDB file and trains churn + LTV models on a
   smaller base from the same generator (into a temporary MLflow store).
2. Local engine: a real ``churnltv score`` subprocess (features + churn + reasons + LTV + policy + Parquet store),
   wall time and the peak RSS of its whole process tree (it and its worker processes, sampled every 0.2 s from
   /proc) (targets: <= 60 s, <= 4 GB on 2 cores at 1M).
3. Baseline in this process, on the same customers' features: the registered MLflow pyfunc models (churn, LTV)
   one 100k chunk at a time with pandas + the policy, vs ``score_frame`` on the same chunks (which also computes
   reason codes).
4. Spark engine (``local[*]``) on the same data: wall and the ratio to the local engine.
5. Spark on a standalone cluster on loopback (one master, two 1-core workers: service.spark_standalone), scored with
   ``--spark-master spark://127.0.0.1:PORT`` on the same 2 cores: wall, the ratio to the local engine (target
   <= 1.3x), and the throughput per executor core that docs/BATCH.md's capacity model is built from.
6. Writing the scores to PostgreSQL with COPY (part writes + the publishing transaction): rows/s.

Every target prints PASS or FAIL (issue 18: local end to end <= 30 s and <= 3 GB at 1M; cluster <= 1.3x local).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.measure import Measurement, isolated, report, timed

PG = "postgresql://postgres@127.0.0.1:5432/test"
CHUNK = 100_000
LOCAL_TARGET_S, LOCAL_TARGET_MB, CLUSTER_OVER_LOCAL = 30.0, 3 * 1024, 1.3


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _generate(n: int, seed: int, path: Path) -> None:
    from churnltv.generator import generate
    from features.dataset_writer import write_dataset

    write_dataset(generate(n, seed=seed).tables, path)


def _train(data: Path) -> tuple[str, str]:
    from features.settings import FeatureSettings
    from models.ltv_settings import LtvSettings
    from training import registry
    from training.churn_job import train_churn
    from training.ltv_job import train_ltv
    from training.settings import TrainingSettings
    from training.tracking import use_tracking

    settings = TrainingSettings()
    use_tracking(settings)
    churn = train_churn(str(data), settings, FeatureSettings(), n_cutoffs=4, time_budget=20)
    ltv = train_ltv(str(data), as_of=None, holdout_days=None, settings=LtvSettings(penalizer_coef=0.001))
    return f"models:/{registry.CHURN_MODEL}/{churn.version}", f"models:/{registry.LTV_MODEL}/{ltv.version}"


def _cli(args: list[str], label: str) -> Measurement:
    """Run `churnltv ...` in a child process: wall time and the child's own peak RSS."""
    launch = (
        "from churnltv.cli import app\nfrom service import cli_score\n"
        "if 'score' not in {c.name for c in app.registered_commands}:\n    cli_score.register(app)\n"
        "app(prog_name='churnltv')\n"
    )
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", launch, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    peak = {"kb": 0}
    watcher = threading.Thread(target=_watch_tree_rss, args=(proc, peak), daemon=True)
    watcher.start()
    stdout, stderr = proc.communicate()
    seconds = time.perf_counter() - start
    watcher.join()
    done = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    if done.returncode != 0:
        # the CLI's one-line error is the last "error:" line; JVM stack frames after it say nothing more
        lines = [ln for ln in done.stderr.splitlines() if not ln.lstrip().startswith("at ")]
        raise RuntimeError(f"{label} failed ({done.returncode}):\n" + "\n".join(lines[-40:]))
    # the whole process tree (the command, its scoring workers, a JVM): the most it held at once
    return Measurement(label, seconds, peak["kb"] / 1024.0 if peak["kb"] else None)


def _tree_rss_kb(root: int) -> int:
    """Resident memory of ``root`` and all its descendants, from /proc (Linux)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/statm") as fh:
                pages = int(fh.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents[int(entry)] = int(fields[1])
        rss[int(entry)] = pages * (os.sysconf("SC_PAGE_SIZE") // 1024)
    tree, changed = {root}, True
    while changed:
        grown = tree | {pid for pid, ppid in parents.items() if ppid in tree}
        changed, tree = grown != tree, grown
    return sum(rss.get(pid, 0) for pid in tree)


def _watch_tree_rss(proc: subprocess.Popen[str], peak: dict[str, int]) -> None:
    while proc.poll() is None:
        peak["kb"] = max(peak["kb"], _tree_rss_kb(proc.pid))
        time.sleep(0.2)


def _pyfunc_vs_score_frame(data: Path, churn_uri: str, ltv_uri: str, n_max: int) -> tuple[Measurement, Measurement]:
    import mlflow
    import pandas as pd

    from features.point_in_time import build_features
    from features.sources import open_source
    from models.customer_policy import apply_policy
    from service.batch_scoring import default_as_of, feature_settings_for
    from service.model_set import load_model_set
    from service.prediction import score_frame

    models = load_model_set(churn_ref=churn_uri, ltv_ref=ltv_uri, tracking_uri=os.environ["CHURNLTV_TRACKING_URI"])
    con = open_source(data).connect()
    features, _ = build_features(con, [default_as_of(con)], feature_settings_for(models))
    con.close()
    features = features.iloc[:n_max].reset_index(drop=True)
    churn_model = mlflow.pyfunc.load_model(churn_uri)
    ltv_model = mlflow.pyfunc.load_model(ltv_uri)

    def baseline() -> None:
        for start in range(0, len(features), CHUNK):
            chunk = features.iloc[start : start + CHUNK]
            scored = chunk.copy()
            scored["churn_probability"] = churn_model.predict(chunk)["churn_probability"].to_numpy()
            btyd = pd.DataFrame(
                {
                    "frequency": chunk["btyd_frequency"].fillna(0.0),
                    "recency": chunk["btyd_recency"].fillna(0.0),
                    "T": chunk["btyd_T"].fillna(0.0),
                    "monetary_value": chunk["btyd_monetary"],
                }
            )
            ltv = ltv_model.predict(btyd)
            for col in ("p_alive", "predicted_ltv"):
                scored[col] = ltv[col].to_numpy()
            apply_policy(scored, models.policy)

    def ours() -> None:
        for start in range(0, len(features), CHUNK):
            score_frame(models, features.iloc[start : start + CHUNK])

    base, _ = timed(f"pyfunc churn+ltv + policy (no reasons), {len(features):,} rows", baseline)
    mine, _ = timed(f"score_frame (+ reason codes), {len(features):,} rows", ours)
    return base, mine


def _postgres_copy(scores_dir: Path) -> tuple[Measurement, int]:
    import psycopg

    from service.score_store import open_score_store

    scores = open_score_store(scores_dir).read_scores().drop(columns=["run_id"])
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    store = open_score_store(f"{PG}?table=scores&schema={schema}")
    empty = scores.iloc[:0][["customer_id"]].assign(reason="")

    def write() -> None:
        record = {"run_id": "bench", "status": "running", "started_at": "2026-01-01T00:00:00"}
        store.begin_run(record)
        for part, start in enumerate(range(0, len(scores), CHUNK)):
            store.write_part("bench", part, scores.iloc[start : start + CHUNK], empty)
        store.publish("bench", {**record, "status": "complete", "finished_at": "2026-01-01T00:01:00"})

    try:
        measured, _ = timed(f"PostgreSQL COPY + publish, {len(scores):,} rows", write)
    finally:
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    return measured, len(scores)


def _cluster_stage(
    n: int, data: Path, work: Path, models: list[str], *, local: Measurement, numbers: dict[str, Any]
) -> list[str]:
    """Score on a real standalone cluster (master + 2 workers x 1 core) on this machine's two cores."""
    from service.spark_standalone import StandaloneCluster

    rows: list[str] = []
    with StandaloneCluster(workers=2, cores=1, memory="3g") as cluster:
        try:
            measured = _cli(
                [
                    "score",
                    "--engine",
                    "spark",
                    "--spark-master",
                    cluster.url,
                    "--data",
                    str(data),
                    "--output",
                    str(work / "cluster"),
                    *models,
                ],
                f"spark standalone cluster (2 workers x 1 core), {n:,} customers",
            )
        except RuntimeError as err:
            numbers["cluster_seconds"] = None
            return [f"cluster: FAILED {err}"]
    ratio = measured.seconds / local.seconds
    per_core = n / measured.seconds / 2  # customers per second per executor core, driver overhead included
    numbers.update(
        cluster_seconds=round(measured.seconds, 2),
        cluster_over_local=round(ratio, 2),
        cluster_customers_per_core_s=round(per_core),
    )
    rows.append(measured.line(local))
    rows.append(f"{_verdict(ratio <= CLUSTER_OVER_LOCAL)} cluster / local = {ratio:.2f} (target <= 1.3)")
    rows.append(f"  throughput {per_core:,.0f} customers/s per executor core")
    for base in (10_000_000, 100_000_000):
        for minutes in (10, 30):
            cores = base / (per_core * minutes * 60)
            rows.append(f"  capacity: {base:,} customers in {minutes} min needs ~{cores:,.0f} executor cores")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--train-customers", type=int, default=20_000)
    parser.add_argument("--baseline-customers", type=int, default=200_000)
    parser.add_argument("--no-spark", action="store_true")
    parser.add_argument("--no-cluster", action="store_true", help="skip the standalone-cluster stage")
    parser.add_argument("--no-postgres", action="store_true")
    args, _ = parser.parse_known_args(sys.argv[1:] if __name__ == "__main__" else [])
    work = Path(tempfile.mkdtemp(prefix="bench-score-"))
    os.environ["CHURNLTV_TRACKING_URI"] = f"sqlite:///{work}/mlflow.db"
    os.environ["MLFLOW_TRACKING_URI"] = os.environ["CHURNLTV_TRACKING_URI"]
    os.environ["CHURNLTV_ARTIFACT_ROOT"] = str(work / "artifacts")

    data, train_data = work / "base.duckdb", work / "train.duckdb"
    gen = isolated(f"generate {args.customers:,} customers", lambda: _generate(args.customers, 7, data))
    isolated(f"generate {args.train_customers:,} (training)", lambda: _generate(args.train_customers, 8, train_data))
    (train_s, (churn_uri, ltv_uri)) = timed("train churn + LTV", lambda: _train(train_data))
    models = ["--churn-model", churn_uri, "--ltv-model", ltv_uri]
    local = _cli(
        ["score", "--data", str(data), "--output", str(work / "scores"), *models],
        f"local engine end to end, {args.customers:,} customers",
    )
    rows: list[str] = [gen.line(), train_s.line(), local.line()]
    print("  " + local.line(), flush=True)  # a later stage failing must not lose this number
    numbers: dict[str, Any] = {
        "customers": args.customers,
        "local_seconds": round(local.seconds, 2),
        "local_peak_rss_mb": local.peak_rss_mb,
        "local_rows_per_s": round(args.customers / local.seconds),
    }
    base, mine = _pyfunc_vs_score_frame(data, churn_uri, ltv_uri, args.baseline_customers)
    rows += [base.line(), mine.line(base)]
    rows.append(
        "  (the pyfunc baseline gives no reason codes, which are most of score_frame's cost; "
        "benchmarks/bench_reasons.py compares the reason methods)"
    )
    numbers["score_frame_vs_pyfunc_ratio"] = round(base.seconds / mine.seconds, 2)
    if not args.no_spark:
        try:
            spark = _cli(
                ["score", "--engine", "spark", "--data", str(data), "--output", str(work / "spark"), *models],
                f"spark local[*] end to end, {args.customers:,} customers",
            )
        except RuntimeError as err:
            rows.append(f"spark: FAILED {err}")
            numbers["spark_seconds"] = None
        else:
            rows.append(spark.line(local))
            numbers["spark_seconds"] = round(spark.seconds, 2)
            numbers["spark_over_local"] = round(spark.seconds / local.seconds, 2)
    if not args.no_cluster:
        rows += _cluster_stage(args.customers, data, work, models, local=local, numbers=numbers)
    if not args.no_postgres:
        pg, n = _postgres_copy(work / "scores")
        rows.append(pg.line())
        numbers["postgres_copy_rows_per_s"] = round(n / pg.seconds)
    at_scale = args.customers >= 1_000_000
    scale_note = "" if at_scale else f" (targets are for 1M; this run has {args.customers:,})"
    rows.append(f"{_verdict(local.seconds <= LOCAL_TARGET_S)} local end to end <= {LOCAL_TARGET_S:.0f} s{scale_note}")
    rss_ok = local.peak_rss_mb is not None and local.peak_rss_mb <= LOCAL_TARGET_MB
    rows.append(f"{_verdict(rss_ok)} local peak RSS of the process tree <= 3 GB{scale_note}")
    report("batch scoring", rows, numbers)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
