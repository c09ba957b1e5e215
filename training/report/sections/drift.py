"""``drift``: the latest ``churnltv monitor`` result: PSI per feature and of the score, BTYD check, calibration.

The result is the run's drift.json from MLflow, or the file given with ``churnltv report --drift FILE``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup

from training.report import plots, tracking_reads
from training.report.inputs import ReportInputs
from training.report.page import Image, fmt, markup, pct, table_view
from training.report.section import ReportSection, SectionMissing

BAND_CLASS = {"stable": "good", "watch": "note", "alert": "bad"}
TOP_DRIFT_FEATURES = 10


def _drift_input(inputs: ReportInputs) -> tuple[Mapping[str, Any] | None, Markup]:
    """The drift result given to the report, else the latest monitor run in MLflow (read-only)."""
    from training.drift_monitor import latest_drift_report

    if inputs.drift is not None:
        if inputs.drift_file is None:
            return inputs.drift, Markup("the given drift.json")
        return inputs.drift, markup("the file <code>{}</code>", inputs.drift_file)
    if tracking_reads.registry_is_empty(inputs.tracking_uri):
        return None, Markup("")
    found = latest_drift_report(inputs.tracking_uri)
    if found is None:
        return None, Markup("")
    return found, markup("MLflow run <code>{}</code> (experiment churnltv-monitor)", found.get("mlflow_run_id"))


def _check_rows(drift: Mapping[str, Any]) -> pd.DataFrame:
    score = drift.get("score") or {}
    features = list(drift.get("features") or [])
    worst = features[0] if features else {}
    rows: list[dict[str, Any]] = [
        {"check": "churn score PSI", "value": score.get("psi"), "detail": "", "band": score.get("band")},
        {
            "check": "largest feature PSI",
            "value": worst.get("psi"),
            "detail": str(worst.get("feature", "no feature compared")),
            "band": worst.get("band") if features else None,
        },
    ]
    btyd = drift.get("btyd")
    if not btyd:
        rows.append({"check": "BTYD purchases", "value": None, "detail": "not run", "band": None})
    elif "skipped" in btyd:
        rows.append({"check": "BTYD purchases", "value": None, "detail": str(btyd["skipped"]), "band": None})
    else:
        rows.append(
            {
                "check": "BTYD purchases: relative error",
                "value": btyd.get("relative_error"),
                "detail": f"predicted {fmt(btyd.get('predicted_purchases'), 0)} vs actual "
                f"{fmt(btyd.get('actual_purchases'), 0)} purchase days since the fit",
                "band": btyd.get("band"),
            }
        )
    calibration = drift.get("calibration")
    if not calibration:
        rows.append({"check": "calibration", "value": None, "detail": "not run", "band": None})
    elif "skipped" in calibration:
        rows.append({"check": "calibration", "value": None, "detail": str(calibration["skipped"]), "band": None})
    else:
        rows.append(
            {
                "check": "calibration: ECE rise over the holdout",
                "value": calibration.get("ece_increase"),
                "detail": f"ECE {fmt(calibration.get('ece'))} at {calibration.get('cutoff', '')[:10]} "
                f"({fmt(calibration.get('customers'))} customers) vs holdout {fmt(calibration.get('reference_ece'))}",
                "band": calibration.get("band"),
            }
        )
    return pd.DataFrame(rows)


def _features_part(features: pd.DataFrame, limits: Mapping[str, Any]) -> dict[str, Any]:
    top = features.head(TOP_DRIFT_FEATURES)
    psi = pd.to_numeric(top["psi"], errors="coerce")
    colours = {"stable": "#2e7d32", "watch": "#e0a800", "alert": "#c0392b"}
    lines = {}
    if limits.get("psi_watch") is not None:
        lines["watch"] = float(limits["psi_watch"])
    if limits.get("psi_alert") is not None:
        lines["alert"] = float(limits["psi_alert"])
    chart = plots.horizontal_bars(
        top["feature"].astype(str).tolist(),
        psi.to_numpy(np.float64),
        title="Population stability index per feature",
        xlabel="PSI (current vs training snapshot)",
        color=[colours.get(str(b), "#777") for b in top["band"]],
        value_format=".3f",
        lines_at=lines,
    )
    return {
        "n": len(features),
        "image": Image(chart, "PSI per feature"),
        "table": table_view(top[["feature", "psi", "band"]], digits={"psi": 4}, text=("feature", "band")),
    }


def build(inputs: ReportInputs) -> dict[str, Any]:
    drift, where = _drift_input(inputs)
    if drift is None:
        raise SectionMissing(
            markup(
                "no drift monitor run was found in {}. Run <code>churnltv monitor --data SOURCE --as-of DATE</code> "
                "(it logs to MLflow, where this report finds the latest run), or pass a <code>drift.json</code> with "
                "<code>--drift</code>.",
                inputs.tracking_uri,
            )
        )
    limits = dict(drift.get("limits") or {})
    status = str(drift.get("status", "n/a"))
    features = pd.DataFrame(list(drift.get("features") or []))
    notes = [str(n) for n in drift.get("notes") or []]
    calibration = drift.get("calibration") or {}
    if calibration.get("note"):
        notes.append(str(calibration["note"]))
    checks = _check_rows(drift).assign(band=lambda f: f["band"].fillna("n/a"))
    return {
        "status": status,
        "status_class": BAND_CLASS.get(status, "note"),
        "as_of": str(drift.get("as_of", ""))[:10],
        "n_current": fmt(drift.get("n_current")),
        "reference_as_of": str(drift.get("reference_as_of", ""))[:10],
        "n_reference": fmt(drift.get("n_reference")),
        "source": drift.get("source"),
        "where": where,
        "psi_watch": fmt(limits.get("psi_watch"), 2),
        "psi_alert": fmt(limits.get("psi_alert"), 2),
        "btyd_watch": pct(limits.get("btyd_watch"), 0),
        "btyd_alert": pct(limits.get("btyd_alert"), 0),
        "calibration_watch": fmt(limits.get("calibration_watch"), 2),
        "calibration_alert": fmt(limits.get("calibration_alert"), 2),
        "checks": table_view(checks, digits={"value": 4}, text=("check", "detail", "band")),
        "features": _features_part(features, limits) if len(features) else None,
        "notes": notes,
    }


SECTION = ReportSection("drift", "Drift: is today's base still the one the models learned from?", build)
