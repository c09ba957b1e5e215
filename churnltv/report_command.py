"""`churnltv report`: compose the HTML report from the data, the latest score run and the MLflow registry.

This module lives in the composition root because it reads the score store (``service``) and hands the rows to
the report builder (``training``); neither package may import the other.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from features.errors import UserInputError

if TYPE_CHECKING:
    from churnltv.settings import Settings

log = logging.getLogger(__name__)


def read_data_quality(path: Path | None) -> dict[str, Any] | None:
    """The JSON written by ``churnltv validate --report``; None when no path was given or the file is absent.

    An absent file is not an error: the report's data-quality section says it is missing. A file that is not
    that JSON is a ``UserInputError`` naming the file.
    """
    if path is None:
        return None
    if not path.is_file():
        log.warning("data-quality summary %s not found; the report will say so", path)
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserInputError(f"{path}: not a data-quality summary (invalid JSON: {err})") from None
    if not isinstance(data, dict) or "tables" not in data:
        raise UserInputError(f"{path}: not a data-quality summary (expected the JSON of `churnltv validate --report`)")
    return data


def read_drift(path: Path | None) -> dict[str, Any] | None:
    """The ``drift.json`` written by ``churnltv monitor``; None when no path was given.

    Unlike the optional data-quality summary, a drift file that was asked for must exist: the report would
    otherwise fall back to the latest MLflow monitor run and show a different result than the one requested.
    """
    if path is None:
        return None
    if not path.is_file():
        raise UserInputError(f"{path}: drift file not found (write it with `churnltv monitor --out DIR`)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserInputError(f"{path}: not a drift monitor result (invalid JSON: {err})") from None
    if not isinstance(data, dict) or not {"status", "features", "score"} <= set(data):
        raise UserInputError(f"{path}: not a drift monitor result (expected the drift.json of `churnltv monitor`)")
    return data


def make_report(
    data: str,
    score_store: str | None,
    out: Path,
    data_quality: Path | None = None,
    *,
    tracking_uri: str | None = None,
    drift: Path | None = None,
    settings: Settings | None = None,
) -> Path:
    """Build the report for source ``data`` with the latest complete run of ``score_store``; write it to ``out``.

    ``score_store`` None (or a store without a complete run) gives a report whose score-based sections say the
    scores are missing. ``drift`` is a ``drift.json`` of ``churnltv monitor``; without it the drift section shows
    the latest monitor run logged to MLflow. ``settings`` are the run's (default: read from the environment now);
    ``tracking_uri`` None: theirs (``CHURNLTV_TRACKING_URI``). Returns the written path.
    """
    from churnltv.settings import Settings
    from features.sources import open_source
    from service.score_store import open_score_store
    from training.report.builder import build_report, write_report

    run_settings = settings or Settings.from_environment()

    scores = None
    run = None
    if score_store is not None:
        store = open_score_store(score_store)
        try:
            run = store.latest_run()
            if run is not None:
                scores = store.read_scores(run_id=str(run["run_id"]))
        finally:
            store.close()
    quality = read_data_quality(data_quality)
    drift_result = read_drift(drift)
    source = open_source(data, duckdb_settings=run_settings.duckdb)
    try:
        con = source.connect()
        try:
            page = build_report(
                con=con,
                scores=scores,
                score_run=run,
                data_quality=quality,
                tracking_uri=tracking_uri or run_settings.training.tracking_uri,
                policy=run_settings.policy,
                feature_settings=run_settings.features,
                drift=drift_result,
                drift_file=drift,
            )
        finally:
            con.close()
    finally:
        source.close()
    return write_report(page, out)


def register(app: typer.Typer) -> None:
    """Add `churnltv report` to the root app."""

    @app.command("report")
    def report(  # noqa: PLR0917 (typer maps each option to a parameter)
        ctx: typer.Context,
        data: Annotated[
            str,
            typer.Option(help="Data source: a folder of CSV/Parquet files, a .duckdb file or a postgresql:// URL."),
        ],
        scores: Annotated[
            str | None,
            typer.Option(
                help="Score store written by `churnltv score` (folder, .duckdb file or postgresql:// URL); its "
                "latest complete run is reported. Without it the score-based sections say so."
            ),
        ] = None,
        out: Annotated[Path, typer.Option(help="Where to write the HTML report.")] = Path("reports/report.html"),
        data_quality: Annotated[
            Path | None,
            typer.Option(help="Data-quality JSON written by `churnltv validate --report` (summarised first)."),
        ] = None,
        tracking_uri: Annotated[
            str | None,
            typer.Option(
                help="MLflow store with the champion models and the monitor runs (default: CHURNLTV_TRACKING_URI)."
            ),
        ] = None,
        drift: Annotated[
            Path | None,
            typer.Option(
                help="drift.json written by `churnltv monitor`; default: the latest monitor run logged to MLflow."
            ),
        ] = None,
    ) -> None:
        """Write the self-contained HTML report (data quality, models, tiers, health, NPS, LTV/CAC, value at risk,
        B2B accounts, referral, drift)."""
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        path = make_report(
            data, scores, out, data_quality, tracking_uri=tracking_uri, drift=drift, settings=ctx.find_root().obj
        )
        typer.echo(f"report written to {path.resolve()}")
