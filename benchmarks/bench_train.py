"""Churn training on a generated base (issue 4 targets, checked on 100k customers, seed 7, horizon 30 days):

* ``churnltv train`` end to end (features for 6 cutoffs, labels, tuning, calibration, evaluation with
  bootstrap intervals and baselines, MLflow logging, registration) <= 3 minutes on 2 cores;
* holdout ROC-AUC >= 0.9 x the oracle's, better than every baseline by a paired interval excluding zero;
* expected calibration error <= 0.02.

Baseline in the same process: building the stacked features and labels alone (the part every approach pays);
the ratio shows what modelling, evaluation and tracking add on top. The MLflow store is a temporary directory.

Usage: ``python -m benchmarks.bench_train [N]`` (default 100,000 customers).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.measure import report, timed

DEFAULT_CUSTOMERS = 100_000


def main() -> None:
    import logging

    from models.churn_classifier import prefer_passive_openmp

    prefer_passive_openmp()  # before LightGBM/scikit-learn load OpenMP, as `churnltv train` does

    from features.dataset_writer import write_dataset
    from features.demo_generator import generate, truth_path_for
    from features.labels import default_cutoffs
    from features.settings import FeatureSettings
    from features.sources import open_source
    from training.churn_job import train_churn, training_frame
    from training.settings import TrainingSettings

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("training").setLevel(logging.INFO)  # step timings
    n = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else DEFAULT_CUSTOMERS
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        root = Path(tmp)
        data = root / "demo.duckdb"
        gen, base = timed(f"generate {n:,} customers + write", lambda: generate(n, seed=7))
        write_dataset(base.tables, data)
        base.truth.to_parquet(truth_path_for(data))
        del base
        fs = FeatureSettings()

        def features_only() -> Any:
            con = open_source(str(data)).connect()
            return training_frame(con, default_cutoffs(con, fs, n=6), fs)

        feats, (frame, _) = timed("features + labels, 6 cutoffs (baseline)", features_only)
        settings = TrainingSettings(tracking_uri=f"sqlite:///{root}/mlflow.db", artifact_root=str(root / "art"))
        train, result = timed("train_churn end to end", lambda: train_churn(str(data), settings, fs, n_cutoffs=6))
        m = result.metrics
        nan = float("nan")
        suffix = "_test_roc_auc"
        names = [k[len("baseline_") : -len(suffix)] for k in m if k.startswith("baseline_") and k.endswith(suffix)]
        rows = [gen.line(), feats.line(), train.line(feats)]
        rows.append(f"rows: {len(frame):,} labelled snapshots; test {int(m['test_rows']):,}")
        rows.append(f"test churn rate {m['test_churn_rate']:.3f}")
        auc, low, high = m["test_roc_auc"], m["test_roc_auc_ci_low"], m["test_roc_auc_ci_high"]
        rows.append(f"test ROC-AUC {auc:.4f} [{low:.4f}, {high:.4f}]")
        oracle, ratio = m.get("oracle_test_roc_auc", nan), m.get("oracle_ratio_test_roc_auc", nan)
        rows.append(f"oracle ROC-AUC {oracle:.4f}; model/oracle {ratio:.3f} (target >= 0.9)")
        rows.append(f"test ECE {m['test_ece']:.4f} (target <= 0.02); oracle ECE {m.get('oracle_test_ece', nan):.4f}")
        rows.append(f"PR-AUC {m['test_pr_auc']:.4f}; lift@10% {m['test_lift_at_10pct']:.2f}")
        for name in names:
            b = f"baseline_{name}"
            rows.append(
                f"vs {name}: AUC {m[b + suffix]:.4f}, model - baseline {m[b + '_auc_diff']:+.4f} "
                f"[{m[b + '_auc_diff_ci_low']:+.4f}, {m[b + '_auc_diff_ci_high']:+.4f}]"
            )
        numbers = {
            "customers": n,
            "train_seconds": round(train.seconds, 1),
            "features_seconds": round(feats.seconds, 1),
            "target_train_seconds": 180,
            **{k: round(v, 4) for k, v in m.items() if not k.endswith(("_ci_low", "_ci_high"))},
        }
        report("bench_train: churn model training", rows, numbers)


if __name__ == "__main__":
    main()
