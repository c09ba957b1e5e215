"""``btyd``: BG/NBD predicted vs actual repeat purchases per frequency bucket, and the P(alive) heatmap.

The buckets are the LTV champion's holdout (logged as ``holdout_buckets.json`` with its run); the heatmap is drawn
from its fitted parameters, with a frequency axis sized to the data.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from training.report import plots, tracking_reads
from training.report.inputs import ReportInputs
from training.report.page import Image, fmt, markup, pct, table_view
from training.report.section import ReportSection, SectionMissing

if TYPE_CHECKING:
    import duckdb


def _purchase_frequencies(con: duckdb.DuckDBPyConnection) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Repeat purchase days per buyer (BG/NBD's x), to size the heatmap's frequency axis to the data."""
    frame = con.execute(
        "SELECT count(DISTINCT CAST(occurred_at AS DATE)) - 1 AS x FROM transactions GROUP BY customer_id"
    ).df()
    return frame["x"].to_numpy(np.float64)


def _buckets(buckets: pd.DataFrame, metrics: dict[str, float]) -> dict[str, Any]:
    chart = plots.grouped_bars(
        [str(b) for b in buckets["bucket"]],
        {"actual": buckets["actual"], "BG/NBD": buckets["predicted"], "historical rate": buckets["baseline"]},
        title="Holdout purchases per calibration-frequency bucket",
        xlabel="repeat purchases before the holdout",
        ylabel="mean purchases in the holdout",
    )
    errors = None
    if "ltv_holdout_mae" in metrics:
        errors = {
            "model": fmt(metrics.get("ltv_holdout_mae")),
            "naive": fmt(metrics.get("ltv_baseline_mae")),
            "total": pct(metrics.get("ltv_holdout_total_rel_error")),
        }
    return {
        "image": Image(chart, "BTYD predicted vs actual purchases per frequency bucket"),
        "table": table_view(buckets.rename(columns={"bucket": "repeat purchases"}), text=("repeat purchases",)),
        "errors": errors,
    }


def build(inputs: ReportInputs) -> dict[str, Any]:
    from models.bundle_source import resolve_bundle
    from models.ltv_bundle import load_ltv_bundle
    from training.registry import LTV_MODEL

    if "transactions" not in inputs.tables:
        raise SectionMissing(
            markup(
                "the data has no <code>transactions</code> table, so there is no purchase history for BG/NBD "
                "(the LTV model)."
            )
        )
    no_model = markup(
        "no LTV model is registered in {} (run <code>churnltv ltv train</code> and promote it to champion).",
        inputs.tracking_uri,
    )
    if tracking_reads.registry_is_empty(inputs.tracking_uri):
        raise SectionMissing(no_model)
    with tracking_reads.tracking(inputs.tracking_uri), tempfile.TemporaryDirectory(prefix="churnltv-report-") as tmp:
        info, which = tracking_reads.model_version(LTV_MODEL)
        if info is None:
            raise SectionMissing(no_model)
        found = tracking_reads.run_artifacts(info.run_id, "holdout_buckets.json", Path(tmp)) if info.run_id else None
        buckets = None
        if found is not None and found.is_file():
            buckets = _buckets(pd.DataFrame(json.loads(found.read_text())), info.metrics)
        bundle_dir = resolve_bundle(
            f"models:/{LTV_MODEL}/{info.version}",
            default_name=LTV_MODEL,
            tracking_uri=inputs.tracking_uri,
            dst_dir=Path(tmp) / "bundle",
        )
        bgnbd, _, _, metadata = load_ltv_bundle(bundle_dir)
    unit = bgnbd.time_unit
    history_days = float((metadata.get("diagnostics") or {}).get("history_days") or 365.0)
    T = unit.from_days(min(history_days, 365.0))
    x = _purchase_frequencies(inputs.con)
    max_x = int(np.clip(np.nanquantile(x, 0.99) if x.size else 10, 5, 40))
    freqs = np.arange(1, max_x + 1, dtype=np.float64)
    recencies = np.linspace(0.0, T, 60)
    grid_x, grid_r = np.meshgrid(freqs, recencies, indexing="ij")
    alive = bgnbd.p_alive(grid_x.ravel(), grid_r.ravel(), np.full(grid_x.size, T)).reshape(grid_x.shape)
    units = f"{unit.name.lower()}s"
    heatmap = plots.heatmap(
        alive,
        x_values=[float(recencies[0]), float(recencies[-1])],
        y_values=[float(freqs[0]), float(freqs[-1])],
        title=f"P(alive), T = {T:.0f} {units}",
        xlabel=f"recency: age at the last purchase ({units})",
        ylabel="frequency: repeat purchases",
        colorbar_label="P(alive)",
    )
    return {
        "which": which,
        "buckets": buckets,
        "T": f"{T:.0f}",
        "units": units,
        "heatmap": Image(heatmap, "P(alive) heatmap by frequency and recency"),
    }


SECTION = ReportSection("btyd", "Purchases: BG/NBD predicted vs actual, P(alive)", build)
