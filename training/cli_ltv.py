"""`churnltv ltv fit` and `churnltv ltv train`: the lifetime-value models' command line.

``fit`` fits BG/NBD + Gamma-Gamma and prints parameters and diagnostics (and holdout metrics with
``--holdout-end``), without touching the registry; it reads either a data-contract source (``--data``) or any
purchase log (``--transactions`` with column names), so the published CDNOW numbers can be repeated.
``train`` evaluates on a holdout, refits, logs to MLflow and registers ``churnltv-ltv`` as challenger.
Heavy libraries are imported inside the command bodies so `churnltv --help` stays instant.
"""

from __future__ import annotations

import json
from typing import Any

import typer

ltv_app = typer.Typer(
    name="ltv",
    help="Lifetime value: BTYD count models + Gamma-Gamma, chosen on a holdout; evaluation, registration.",
    no_args_is_help=True,
)


def _day(text: str | None, option: str) -> Any:
    """An ISO date (YYYY-MM-DD) or date-time (naive, or with an offset converted to UTC) given to ``option``.

    Stricter than ``pandas.Timestamp``, which would also take "now", "today" or an empty string (NaT).
    """
    import datetime as dt

    import pandas as pd

    from features.errors import UserInputError

    if text is None:
        return None
    try:
        when = dt.datetime.fromisoformat(text.strip())
        stamp = pd.Timestamp(when)
    except (ValueError, OverflowError):
        raise UserInputError(f"{option}: {text!r} is not a date; use YYYY-MM-DD (or an ISO date-time)") from None
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp


def _time_unit(text: str | None, option: str) -> dict[str, Any]:
    """Settings override for a --freq/--time-unit value; a bad one names the flag and the allowed values."""
    from features.errors import UserInputError
    from features.time_units import TimeUnit

    if text is None:
        return {}
    try:
        return {"time_unit": TimeUnit.parse(text)}
    except ValueError:
        raise UserInputError(f"{option}: {text!r} is not a time unit; use D, W or M (day, week, month)") from None


MODEL_HELP = (
    "Count model: auto (default: every applicable model scored on the holdout, the best kept), bgnbd, pareto_nbd, "
    "mbg_nbd, mbg_cnbd_k (purchase regularity) or bgbb (discrete opportunities). Env CHURNLTV_LTV_MODEL."
)
CRITERION_HELP = (
    "How auto selects: holdout_mae (per-customer purchases, default), holdout_spend_mae, holdout_total_error or "
    "log_likelihood. Env CHURNLTV_LTV_SELECTION_CRITERION."
)


def _selection(model: str | None, criterion: str | None) -> dict[str, Any]:
    """Settings overrides for --model/--criterion; a bad value names the flag and the allowed values."""
    from features.errors import UserInputError
    from models.btyd_family import MODEL_CHOICES

    out: dict[str, Any] = {}
    if model is not None:
        if model not in MODEL_CHOICES:
            raise UserInputError(f"--model: {model!r} is not a model; use one of {', '.join(MODEL_CHOICES)}")
        out["model"] = model
    if criterion is not None:
        choices = ("holdout_mae", "holdout_spend_mae", "holdout_total_error", "log_likelihood")
        if criterion not in choices:
            raise UserInputError(f"--criterion: {criterion!r} is not a criterion; use one of {', '.join(choices)}")
        out["selection_criterion"] = criterion
    return out


@ltv_app.command("fit")
def fit(  # noqa: PLR0912, PLR0915, PLR0917 - typer options; every flag is checked before the file is read
    ctx: typer.Context,
    data: str | None = typer.Option(
        None, "--data", help="Data source with a transactions table (*.duckdb, folder of tables, postgresql:// URL)."
    ),
    transactions: str | None = typer.Option(
        None, "--transactions", help="A purchase log file instead of --data (.csv, .csv.gz or .parquet)."
    ),
    customer_col: str = typer.Option("customer_id", "--customer-col", help="Customer column of --transactions."),
    date_col: str = typer.Option("occurred_at", "--date-col", help="Purchase date/time column of --transactions."),
    date_format: str | None = typer.Option(
        None, "--date-format", help="strftime format of --date-col (e.g. %Y%m%d); ISO dates need none."
    ),
    amount_col: str = typer.Option("amount", "--amount-col", help="Amount column of --transactions."),
    sep: str | None = typer.Option(
        None,
        "--sep",
        help=(
            "Delimiter of a text --transactions file: whitespace, tab, comma, semicolon or one character (default: "
            "from the extension, .csv/.csv.gz comma, .tsv tab). lifetimes' CDNOW_sample.txt: --sep whitespace "
            "--no-header --customer-col 2 --date-col 3 --date-format %Y%m%d --amount-col 5."
        ),
    ),
    header: bool = typer.Option(
        True, "--header/--no-header", help="Whether the first line names the columns; without, columns are 1, 2, ..."
    ),
    freq: str | None = typer.Option(
        None, "--freq", "--time-unit", help="Model time unit: D, W or M (default CHURNLTV_LTV_TIME_UNIT, W)."
    ),
    as_of: str | None = typer.Option(
        None, "--as-of", help="Exclusive cutoff: fit on purchases strictly before this date (default: all)."
    ),
    calibration_end: str | None = typer.Option(
        None,
        "--calibration-end",
        help="Last day of the calibration period, inclusive (the same as --as-of the next day).",
    ),
    holdout_end: str | None = typer.Option(
        None, "--holdout-end", help="Last day of the holdout, inclusive: also print holdout metrics."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
    model: str | None = typer.Option(None, "--model", help=MODEL_HELP),
    criterion: str | None = typer.Option(None, "--criterion", help=CRITERION_HELP),
) -> None:
    """Fit the BTYD count models + Gamma-Gamma and print parameters and diagnostics (no MLflow, no registry).

    With --holdout-end every applicable model is fitted on the calibration period and scored on the holdout; the
    best by --criterion is selected (or the one --model forces). Without it, --model auto fits BG/NBD."""
    import pandas as pd

    from features.errors import UserInputError
    from training.cli_settings import settings_of
    from training.ltv_job import default_as_of, fit_ltv, read_transactions, select_model

    if (data is None) == (transactions is None):
        raise UserInputError("give exactly one of --data SOURCE or --transactions PATH")
    if as_of is not None and calibration_end is not None:
        raise UserInputError("give --as-of or --calibration-end, not both")
    if data is not None and (sep is not None or not header):
        raise UserInputError("--sep and --no-header apply to --transactions files, not to --data sources")
    # every flag is checked before the file is read, so a typo fails in a second, not after the fit
    run = settings_of(ctx)
    settings = run.ltv.model_copy(update={**_time_unit(freq, "--freq/--time-unit"), **_selection(model, criterion)})
    calibration_day = _day(calibration_end, "--calibration-end")
    as_of_day = _day(as_of, "--as-of")
    holdout_day = _day(holdout_end, "--holdout-end")
    if transactions is not None:
        from features.transactions_file import read_transactions_file

        frame = read_transactions_file(
            transactions,
            customer_col=customer_col,
            date_col=date_col,
            amount_col=amount_col,
            date_format=date_format,
            sep=sep,
            header=header,
        )
    else:
        from features.sources import open_source

        assert data is not None
        source = open_source(data, duckdb_settings=run.duckdb)
        try:
            con = source.connect()
            frame = read_transactions(con)
            con.close()
        finally:
            source.close()
    one_day = pd.Timedelta(1, "D")
    if calibration_day is not None:
        cutoff = calibration_day.floor("D") + one_day
    elif as_of_day is not None:
        cutoff = as_of_day
    else:
        cutoff = default_as_of(frame)
    if holdout_day is None:
        result = fit_ltv(frame, cutoff, settings)
        output: dict[str, Any] = {**result.params(), "diagnostics": result.diagnostics}
        output["selected_model"] = result.count_model.NAME
        output["warnings"] = result.warnings
    else:
        end = holdout_day.floor("D") + one_day
        if end <= cutoff:
            raise UserInputError(f"--holdout-end {holdout_end} must be after the calibration cutoff {cutoff.date()}")
        selection = select_model(frame, cutoff, end, settings)
        result = selection.fits[selection.selected]
        evaluation = selection.evaluations[selection.selected]
        candidates = selection.candidates()
        output = {**result.params(), "diagnostics": result.diagnostics}
        if "bgnbd" in selection.fits:  # today's key keeps BG/NBD's own parameters
            bg = selection.fits["bgnbd"].count_model
            output["bgnbd"] = {**bg.paper_params, "log_likelihood": bg.log_likelihood_}
        output["holdout"] = {**evaluation.metrics, "buckets": evaluation.buckets.reset_index().to_dict("records")}
        output["selected_model"] = selection.selected
        output["selection_criterion"] = selection.criterion
        output["candidates"] = candidates
        output["warnings"] = result.warnings
    if as_json:
        typer.echo(json.dumps(output, indent=2, default=str))
        return
    _print_fit(output)


def _print_fit(output: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="fitted parameters")
    table.add_column("model")
    table.add_column("parameter")
    table.add_column("value", justify="right")
    for model in ("bgnbd", "gamma_gamma"):
        for name, value in (output[model] or {}).items():
            table.add_row(model, name, f"{value:.6g}")
    console.print(table)
    if "candidates" in output:
        cands = Table(title=f"candidate models (selected: {output['selected_model']})")
        for column in ("model", "log-lik", "holdout MAE", "total error", "spend MAE", "80% coverage", "warnings"):
            cands.add_column(column)
        for name, cand in output["candidates"].items():
            h = cand["holdout"]
            cells = [h.get(k) for k in ("ltv_holdout_mae", "ltv_holdout_total_rel_error", "ltv_spend_holdout_mae")]
            cells.append(h.get("ltv_interval_coverage_80"))
            shown = [f"{v:.4g}" if isinstance(v, float) else "" for v in [cand["log_likelihood"], *cells]]
            cands.add_row(name, *shown, " ".join(cand["warnings"]))
        console.print(cands)
    for warning in output.get("warnings", []):
        console.print(f"warning: {warning}")
    diag = Table(title="diagnostics")
    diag.add_column("item")
    diag.add_column("value", justify="right")
    for name, value in output["diagnostics"].items():
        diag.add_row(name, str(value))
    console.print(diag)
    if "holdout" in output:
        hold = Table(title="holdout")
        hold.add_column("metric")
        hold.add_column("value", justify="right")
        for name, value in output["holdout"].items():
            if name != "buckets":
                hold.add_row(name, f"{value:.4g}")
        console.print(hold)


@ltv_app.command("train")
def train(  # noqa: PLR0917 - typer options
    ctx: typer.Context,
    data: str = typer.Option(
        ..., "--data", help="Data source with a transactions table (*.duckdb, folder of tables, postgresql:// URL)."
    ),
    as_of: str | None = typer.Option(
        None, "--as-of", help="Exclusive cutoff of the data used (default: the day after the last purchase)."
    ),
    holdout_days: int | None = typer.Option(
        None, "--holdout-days", min=1, help="Days before --as-of held out for evaluation (default 90)."
    ),
    freq: str | None = typer.Option(None, "--time-unit", help="Model time unit: D, W or M (default W)."),
    model: str | None = typer.Option(None, "--model", help=MODEL_HELP),
    criterion: str | None = typer.Option(None, "--criterion", help=CRITERION_HELP),
) -> None:
    """Fit every applicable count model on the calibration period, keep the best on the holdout (or --model),
    refit it up to --as-of, log every candidate to MLflow and register churnltv-ltv as challenger."""
    from training.cli_settings import settings_of
    from training.ltv_job import train_ltv

    run = settings_of(ctx)
    settings = run.ltv.model_copy(update={**_time_unit(freq, "--time-unit"), **_selection(model, criterion)})
    result = train_ltv(
        data,
        as_of=_day(as_of, "--as-of"),
        holdout_days=holdout_days,
        settings=settings,
        training_settings=run.training,
    )
    typer.echo(f"registered churnltv-ltv version {result.version} (alias challenger), run {result.run_id}")
    out = {**result.params, "holdout": result.metrics, "selected_model": result.selected_model}
    out["candidates"] = result.candidates
    typer.echo(json.dumps(out, indent=2, default=str))
    typer.echo(f"report: {result.report_path}")
    for note in result.notes:
        typer.echo(f"note: {note}")


def register(app: typer.Typer) -> None:
    """Add the `ltv` sub-command group to the root app."""
    app.add_typer(ltv_app, name="ltv")


@ltv_app.command("promote")
def promote(
    ctx: typer.Context,
    force: bool = typer.Option(False, "--force", help="Promote even if the challenger does not beat the champion."),
    margin: float = typer.Option(0.01, "--margin", min=0.0, max=1.0, help="Relative MAE improvement required."),
) -> None:
    """Move alias champion of churnltv-ltv to the challenger if its holdout MAE is lower on the same window."""
    from training.cli_settings import settings_of
    from training.ltv_promotion import ltv_decider
    from training.registry import LTV_MODEL
    from training.registry import promote as promote_version
    from training.tracking import use_tracking

    use_tracking(settings_of(ctx).training)
    decision = promote_version(LTV_MODEL, decide=ltv_decider(margin), force=force)
    verdict = "promoted to champion" if decision.promote else "NOT promoted"
    typer.echo(f"churnltv-ltv version {decision.challenger_version}: {verdict}: {decision.reason}")
