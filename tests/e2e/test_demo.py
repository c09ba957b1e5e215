"""`churnltv demo`, the newcomer's first command, end to end on a small base (the README promises its summary).

The real demo defaults to 20,000 customers (about a minute); here 3,000 keep it under half a minute. The MLflow
store is the session's temporary one (tests/conftest.py), never the repository's mlruns/.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from churnltv.cli import app

pytestmark = pytest.mark.slow


def test_demo_runs_every_step_and_prints_the_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the demo writes data/ and reports/ relative to the working directory
    result = CliRunner().invoke(app, ["demo", "--customers", "3000", "--seed", "5"])
    out = result.output
    assert result.exit_code == 0, out
    for step in (
        "==> generate a demo base of 3,000 customers",
        "==> validate against the data contract",
        "==> train, evaluate and register the churn model",
        "==> fit, evaluate and register the LTV models",
        "==> promote the challengers to champion",
        "==> batch-score the whole base with the champions",
        "==> check drift: the scored base against the champion's training snapshot",
        "==> write the HTML report",
    ):
        assert step in out, f"missing step {step!r}"
    summary = out[out.index("Summary") :]
    assert "churn holdout ROC-AUC 0." in summary
    assert "baselines: " in summary
    assert "recency " in summary
    assert "BTYD holdout: MAE of repeat purchases per customer" in summary
    assert "calibration purchases   customers   actual   BG/NBD   naive" in summary
    assert "drift: " in summary
    assert "risk tiers: " in summary
    assert "top value at risk: " in summary
    assert f"report: {Path('reports') / 'report.html'}" in summary
    assert "ui --backend-store-uri sqlite:///" in summary

    report = tmp_path / "reports" / "report.html"
    assert report.stat().st_size > 10_000
    assert (tmp_path / "data" / "demo.duckdb").is_file()
    assert (tmp_path / "data" / "data_quality.json").is_file()
    assert (tmp_path / "data" / "scores" / "LATEST").is_file()
    assert not (tmp_path / "mlruns").exists(), "the demo must use CHURNLTV_TRACKING_URI, here the test store"
