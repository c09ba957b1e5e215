"""benchmarks/bench_train.py says PASS or FAIL per issue-4 target, from the run's own numbers (no timing here)."""

from __future__ import annotations

import math

from benchmarks.bench_train import target_checks


def _metrics(**overrides: float) -> dict[str, float]:
    m = {
        "test_roc_auc": 0.86,
        "oracle_test_roc_auc": 0.90,
        "oracle_ratio_test_roc_auc": 0.955,
        "test_ece": 0.012,
    }
    for name, diff, low, high in (
        ("recency", 0.04, 0.03, 0.05),
        ("rfm_logistic", 0.03, 0.02, 0.04),
        ("btyd", 0.2, 0.18, 0.22),
    ):
        m |= {
            f"baseline_{name}_test_roc_auc": 0.86 - diff,
            f"baseline_{name}_auc_diff": diff,
            f"baseline_{name}_auc_diff_ci_low": low,
            f"baseline_{name}_auc_diff_ci_high": high,
        }
    return m | overrides


def _verdicts(metrics: dict[str, float], seconds: float = 120.0) -> dict[str, bool]:
    return {c.name: c.passed for c in target_checks(metrics, seconds)}


def test_all_targets_met() -> None:
    checks = target_checks(_metrics(), 120.0)
    assert len(checks) == 6  # oracle ratio, three baselines, ECE, time
    assert all(c.passed for c in checks)
    assert all(c.line().startswith("PASS  ") for c in checks)


def test_each_target_can_fail() -> None:
    assert not _verdicts(_metrics(oracle_ratio_test_roc_auc=0.89))["ROC-AUC >= 0.9 x oracle"]
    v = _verdicts(_metrics(baseline_rfm_logistic_auc_diff_ci_low=-0.001))
    assert not v["better than baseline rfm_logistic (AUC-diff 95% CI excludes zero)"]
    assert v["better than baseline recency (AUC-diff 95% CI excludes zero)"]
    assert not _verdicts(_metrics(test_ece=0.021))["ECE <= 0.02"]
    assert not _verdicts(_metrics(), seconds=180.5)["train <= 180 s"]
    failing = target_checks(_metrics(test_ece=0.05), 120.0)
    assert [c.line()[:4] for c in failing].count("FAIL") == 1


def test_missing_numbers_fail_instead_of_passing() -> None:
    m = _metrics()
    for key in [k for k in m if k.startswith(("oracle_", "baseline_btyd_"))]:
        del m[key]
    v = _verdicts(m | {"test_ece": math.nan})
    assert not v["ROC-AUC >= 0.9 x oracle"]
    assert not v["better than baseline btyd (AUC-diff 95% CI excludes zero)"]
    assert not v["ECE <= 0.02"]
