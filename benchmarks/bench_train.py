"""Churn training on a generated base (issue 4 targets, checked on 100k customers, seed 7, horizon 30 days):

* ``churnltv train`` end to end (features for 6 cutoffs, labels, tuning, calibration, evaluation with
  bootstrap intervals and baselines, MLflow logging, registration) <= 3 minutes on 2 cores;
* holdout ROC-AUC >= 0.9 x the oracle's, better than every baseline by a paired interval excluding zero;
* expected calibration error <= 0.02.

Baseline in the same process: building the stacked features and labels alone (the part every approach pays);
the ratio shows what modelling, evaluation and tracking add on top. The MLflow store is a temporary directory.

Each target is printed as PASS or FAIL with the number behind it (``target_checks``); the process exits 1 when
any target fails, so a scripted run notices. The targets are set for 100k customers; a smaller N is a smoke run.

Usage: ``python -m benchmarks.bench_train [N]`` (default 100,000 customers).
"""

from __future__ import annotations

import math
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.measure import report, timed

DEFAULT_CUSTOMERS = 100_000
ORACLE_RATIO_TARGET = 0.9
ECE_TARGET = 0.02
TRAIN_SECONDS_TARGET = 180.0
_SUFFIX = "_test_roc_auc"


@dataclass(frozen=True)
class TargetCheck:
    """One issue-4 target: met or not, and the numbers that decide it."""

    name: str
    passed: bool
    detail: str

    def line(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'}  {self.name}: {self.detail}"


def baseline_names(metrics: Mapping[str, float]) -> list[str]:
    """Baselines that were scored (``baseline_<name>_test_roc_auc`` present), in name order."""
    return sorted(
        k[len("baseline_") : -len(_SUFFIX)] for k in metrics if k.startswith("baseline_") and k.endswith(_SUFFIX)
    )


def target_checks(
    metrics: Mapping[str, float],
    train_seconds: float,
    expected_baselines: tuple[str, ...] = ("recency", "rfm_logistic", "btyd"),
) -> list[TargetCheck]:
    """The four targets of issue 4 on one run's metrics; a missing number is a FAIL, never a silent pass."""

    def get(name: str) -> float:
        return float(metrics.get(name, math.nan))

    checks: list[TargetCheck] = []
    auc, oracle, ratio = get("test_roc_auc"), get("oracle_test_roc_auc"), get("oracle_ratio_test_roc_auc")
    title = f"ROC-AUC >= {ORACLE_RATIO_TARGET} x oracle"
    if math.isfinite(ratio):
        detail = f"model {auc:.4f} / oracle {oracle:.4f} = {ratio:.3f} (same rows)"
        checks.append(TargetCheck(title, ratio >= ORACLE_RATIO_TARGET, detail))
    else:
        checks.append(TargetCheck(title, False, "no oracle AUC (was the truth passed to train_churn?)"))
    scored = baseline_names(metrics)
    for name in sorted(set(expected_baselines) | set(scored)):
        title = f"better than baseline {name} (AUC-diff 95% CI excludes zero)"
        low, high = get(f"baseline_{name}_auc_diff_ci_low"), get(f"baseline_{name}_auc_diff_ci_high")
        if name not in scored or not (math.isfinite(low) and math.isfinite(high)):
            checks.append(TargetCheck(title, False, "baseline not scored (evaluation.json says why)"))
            continue
        diff = get(f"baseline_{name}_auc_diff")
        checks.append(TargetCheck(title, low > 0, f"model - {name} = {diff:+.4f} [{low:+.4f}, {high:+.4f}]"))
    ece = get("test_ece")
    checks.append(TargetCheck(f"ECE <= {ECE_TARGET}", ece <= ECE_TARGET, f"{ece:.4f}"))  # NaN compares False
    checks.append(
        TargetCheck(
            f"train <= {TRAIN_SECONDS_TARGET:.0f} s", train_seconds <= TRAIN_SECONDS_TARGET, f"{train_seconds:.1f} s"
        )
    )
    return checks


def main() -> None:  # noqa: PLR0915 - one straight-line benchmark script
    import logging

    from models.churn_classifier import prefer_passive_openmp

    prefer_passive_openmp()  # before LightGBM/scikit-learn load OpenMP, as `churnltv train` does

    from churnltv.generator import TruthOracle, generate
    from features.dataset_writer import write_dataset
    from features.labels import default_cutoffs
    from features.settings import FeatureSettings
    from features.sources import open_source
    from training.churn_job import train_churn
    from training.churn_split import training_frame
    from training.settings import TrainingSettings

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("training").setLevel(logging.INFO)  # step timings
    n = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else DEFAULT_CUSTOMERS
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        root = Path(tmp)
        data = root / "demo.duckdb"
        gen, base = timed(f"generate {n:,} customers + write", lambda: generate(n, seed=7))
        write_dataset(base.tables, data)
        oracle = TruthOracle(base.truth)
        del base
        fs = FeatureSettings()

        def features_only() -> Any:
            con = open_source(str(data)).connect()
            return training_frame(con, default_cutoffs(con, fs, n=6), fs)

        feats, (frame, _) = timed("features + labels, 6 cutoffs (baseline)", features_only)
        settings = TrainingSettings(tracking_uri=f"sqlite:///{root}/mlflow.db", artifact_root=str(root / "art"))
        train, result = timed(
            "train_churn end to end", lambda: train_churn(str(data), settings, fs, n_cutoffs=6, oracle=oracle)
        )
        m = result.metrics
        nan = float("nan")
        suffix = "_test_roc_auc"
        names = baseline_names(m)
        rows = [gen.line(), feats.line(), train.line(feats)]
        rows.append(f"rows: {len(frame):,} labelled snapshots; test {int(m['test_rows']):,}")
        rows.append(f"test churn rate {m['test_churn_rate']:.3f}")
        auc, low, high = m["test_roc_auc"], m["test_roc_auc_ci_low"], m["test_roc_auc_ci_high"]
        rows.append(f"test ROC-AUC {auc:.4f} [{low:.4f}, {high:.4f}]")
        oracle, ratio = m.get("oracle_test_roc_auc", nan), m.get("oracle_ratio_test_roc_auc", nan)
        rows.append(f"oracle ROC-AUC {oracle:.4f}; model/oracle {ratio:.3f} (target >= {ORACLE_RATIO_TARGET})")
        rows.append(
            f"test ECE {m['test_ece']:.4f} (target <= {ECE_TARGET}); oracle ECE {m.get('oracle_test_ece', nan):.4f}"
        )
        rows.append(f"PR-AUC {m['test_pr_auc']:.4f}; lift@10% {m['test_lift_at_10pct']:.2f}")
        for name in names:
            b = f"baseline_{name}"
            rows.append(
                f"vs {name}: AUC {m[b + suffix]:.4f}, model - baseline {m[b + '_auc_diff']:+.4f} "
                f"[{m[b + '_auc_diff_ci_low']:+.4f}, {m[b + '_auc_diff_ci_high']:+.4f}]"
            )
        checks = target_checks(m, train.seconds)
        rows.append(f"targets (set for {DEFAULT_CUSTOMERS:,} customers; this run: {n:,}):")
        rows.extend("  " + check.line() for check in checks)
        failed = [c.name for c in checks if not c.passed]
        rows.append(
            f"{len(checks) - len(failed)} of {len(checks)} targets met" + (f"; FAILED: {failed}" if failed else "")
        )
        numbers = {
            "customers": n,
            "targets": {c.name: c.passed for c in checks},
            "train_seconds": round(train.seconds, 1),
            "features_seconds": round(feats.seconds, 1),
            "target_train_seconds": TRAIN_SECONDS_TARGET,
            **{k: round(v, 4) for k, v in m.items() if not k.endswith(("_ci_low", "_ci_high"))},
        }
        report("bench_train: churn model training", rows, numbers)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
