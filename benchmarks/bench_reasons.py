"""Reason codes: decision-path credit (the default, ``models.tree_path_contributions``) vs LightGBM's exact TreeSHAP
(``pred_contrib``), on the churn model ``churnltv train`` fits and that base's own features, in the same run.

1. Generates ``N`` customers (default 100,000, seed 7: the issue-4 target base) and trains the churn model as
   ``churnltv train`` does (6 cutoffs) into a temporary MLflow store.
2. Builds the features of every customer at the latest cutoff and explains ``--rows`` of them both ways, each with
   both cores and one row at a time (the API's path); prints microseconds a row, what a 1M-customer nightly run
   would spend, and how often the two methods name the same top reason.

Usage: ``python -m benchmarks.bench_reasons [N] [--rows 20000]``.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.measure import report, timed

DEFAULT_CUSTOMERS = 100_000


def _per_row(fn: object, rows: np.ndarray, repeats: int) -> float:
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        fn(rows[i : i + 1])  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    from models.churn_classifier import prefer_passive_openmp

    prefer_passive_openmp()
    import pandas as pd

    from churnltv.generator import generate
    from features.dataset_writer import write_dataset
    from features.point_in_time import build_features
    from features.settings import FeatureSettings
    from features.sources import open_source
    from models.churn_bundle import ChurnBundle
    from training.churn_job import train_churn
    from training.settings import TrainingSettings

    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else DEFAULT_CUSTOMERS
    n_rows = int(sys.argv[sys.argv.index("--rows") + 1]) if "--rows" in sys.argv else 20_000
    with tempfile.TemporaryDirectory(prefix="bench-reasons-") as tmp:
        root = Path(tmp)
        data = write_dataset(generate(n, seed=7).tables, root / "base.duckdb")
        settings = TrainingSettings(tracking_uri=f"sqlite:///{root}/mlflow.db", artifact_root=str(root / "art"))
        train, result = timed("train the churn model", lambda: train_churn(str(data), settings, FeatureSettings()))
        path_bundle = ChurnBundle.load(result.bundle_dir, reason_method="path")
        shap_bundle = ChurnBundle.load(result.bundle_dir, reason_method="treeshap")
        con = open_source(str(data)).connect(validate=False)
        cutoff = pd.Timestamp(path_bundle.metadata["cutoffs"]["test"])
        recorded = {k: v for k, v in path_bundle.spec.settings.items() if k in FeatureSettings.model_fields}
        features, _ = build_features(con, [cutoff], FeatureSettings(**{k: v for k, v in recorded.items() if v}))
        con.close()
        matrix = path_bundle.matrix(features.iloc[:n_rows])
        path_m, path_c = timed("path (Saabas) contributions", lambda: path_bundle.contributions_from_matrix(matrix))
        shap_m, shap_c = timed("TreeSHAP (pred_contrib)", lambda: shap_bundle.contributions_from_matrix(matrix))
        one_path = _per_row(path_bundle.contributions_from_matrix, matrix, 500)
        one_shap = _per_row(shap_bundle.contributions_from_matrix, matrix, 200)
    dump = path_bundle.booster.dump_model()["tree_info"]
    leaves = max(t["num_leaves"] for t in dump)
    rows = len(matrix)
    same_top = float(np.mean(np.argmax(path_c[:, :-1], axis=1) == np.argmax(shap_c[:, :-1], axis=1)))
    sum_error = float(np.abs(path_c.sum(axis=1) - shap_c.sum(axis=1)).max())
    per_path, per_shap = path_m.seconds / rows * 1e6, shap_m.seconds / rows * 1e6
    lines = [
        train.line(),
        f"model: {len(dump)} trees, up to {leaves} leaves; {rows:,} customers explained",
        f"{path_m.line()}   {per_path:7.1f} us a row -> {per_path:.0f} s per 1M customers",
        f"{shap_m.line()}   {per_shap:7.1f} us a row -> {per_shap:.0f} s per 1M customers",
        f"path is {shap_m.seconds / path_m.seconds:.1f}x faster than TreeSHAP on the same rows",
        f"one customer (API path): path {one_path * 1e6:.0f} us, TreeSHAP {one_shap * 1e6:.0f} us (median)",
        f"same top reason for {same_top:.1%} of customers; totals agree to {sum_error:.1e} (both add up to the score)",
    ]
    report(
        "bench_reasons: decision-path credit vs TreeSHAP",
        lines,
        {
            "customers": n,
            "rows": rows,
            "trees": len(dump),
            "path_us_per_row": round(per_path, 2),
            "treeshap_us_per_row": round(per_shap, 2),
            "speedup": round(shap_m.seconds / path_m.seconds, 1),
            "one_row_path_us": round(one_path * 1e6, 1),
            "one_row_treeshap_us": round(one_shap * 1e6, 1),
            "same_top_reason": round(same_top, 4),
        },
    )


if __name__ == "__main__":
    main()
