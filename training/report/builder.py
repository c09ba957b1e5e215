"""``build_report``: every section of the product report, in page order, rendered into one self-contained page.

``SECTIONS`` is the page order; each entry is one module of ``training/report/sections/`` (see ``report.section``
for how to add one). ``write_report`` writes the page atomically.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.report.inputs import ReportInputs
from training.report.page import fmt, render_page
from training.report.section import ReportSection, render_section
from training.report.sections import (
    acquisition,
    b2b_accounts,
    btyd,
    campaign_results,
    churn_model,
    data_quality,
    drift,
    health_retention,
    lifecycle,
    ltv_distribution,
    nps,
    referral,
    risk_tiers,
    value_at_risk,
)

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from features.settings import FeatureSettings
    from models.policy_settings import PolicySettings

logger = logging.getLogger(__name__)

SECTIONS: tuple[ReportSection, ...] = (
    data_quality.SECTION,
    churn_model.SECTION,
    btyd.SECTION,
    ltv_distribution.SECTION,
    risk_tiers.SECTION,
    health_retention.SECTION,
    lifecycle.SECTION,
    nps.SECTION,
    acquisition.SECTION,
    value_at_risk.SECTION,
    campaign_results.SECTION,
    b2b_accounts.SECTION,
    referral.SECTION,
    drift.SECTION,
)
SECTION_IDS: tuple[str, ...] = tuple(s.id for s in SECTIONS)


def _score_run_line(score_run: Mapping[str, Any]) -> dict[str, Any]:
    versions = score_run.get("model_versions") or {}
    models = ", ".join(f"{k} {v}" for k, v in versions.items()) if isinstance(versions, dict) else ""
    return {
        "run_id": score_run.get("run_id"),
        "as_of": score_run.get("as_of"),
        "customers": fmt(score_run.get("n_customers")),
        "finished_at": score_run.get("finished_at"),
        "models": models,
    }


def build_report(
    *,
    con: duckdb.DuckDBPyConnection,
    scores: pd.DataFrame | None,
    score_run: dict[str, Any] | None,
    data_quality: dict[str, Any] | None,
    tracking_uri: str,
    policy: PolicySettings,
    feature_settings: FeatureSettings,
    title: str = "churnltv report",
    drift: Mapping[str, Any] | None = None,
    drift_file: Path | None = None,
) -> str:
    """The whole report as one HTML string (plots inline; no external resources).

    ``con`` is a connection from ``features.sources.open_source(url).connect()``; ``scores`` the rows of one score
    run (``service.prediction.SCORE_COLUMNS``) and ``score_run`` its metadata record; ``data_quality`` the JSON
    of ``churnltv validate --report``; ``tracking_uri`` the MLflow registry with the champions; ``policy`` and
    ``feature_settings`` the settings the caller built; ``drift`` a ``churnltv monitor`` result (read from
    ``drift_file``), else the drift section reads the latest monitor run from that MLflow store.
    """
    from features.contract import TABLES
    from models.bundle_source import absolute_tracking_uri

    visible = {str(row[0]) for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    inputs = ReportInputs(
        con=con,
        scores=scores,
        score_run=score_run,
        data_quality=data_quality,
        tracking_uri=absolute_tracking_uri(tracking_uri),
        policy=policy,
        feature_settings=feature_settings,
        tables=visible & set(TABLES),
        drift=drift,
        drift_file=drift_file,
    )
    sections = []
    for section in SECTIONS:
        logger.info("report section %s ...", section.id)
        sections.append({"id": section.id, "title": section.title, "body": render_section(section, inputs)})
    return render_page(
        "report.html.j2",
        title=title,
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        score_run=None if not score_run else _score_run_line(score_run),
        sections=sections,
    )


def write_report(html_text: str, out: Path) -> Path:
    """Write the report atomically (temporary file in the same folder, then rename) and return its path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(html_text, encoding="utf-8")
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out
