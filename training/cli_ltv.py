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
    help="Lifetime value: BG/NBD + Gamma-Gamma fit, holdout evaluation, registration.",
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


@ltv_app.command("fit")
def fit(  # noqa: PLR0917 - typer options
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
) -> None:
    """Fit BG/NBD + Gamma-Gamma and print parameters and diagnostics (no MLflow, no registry)."""
    import pandas as pd

    from features.errors import UserInputError
    from training.cli_settings import settings_of
    from training.ltv_evaluation import evaluate_holdout
    from training.ltv_job import default_as_of, fit_ltv, read_transactions

    if (data is None) == (transactions is None):
        raise UserInputError("give exactly one of --data SOURCE or --transactions PATH")
    if as_of is not None and calibration_end is not None:
        raise UserInputError("give --as-of or --calibration-end, not both")
    if data is not None and (sep is not None or not header):
        raise UserInputError("--sep and --no-header apply to --transactions files, not to --data sources")
    # every flag is checked before the file is read, so a typo fails in a second, not after the fit
    run = settings_of(ctx)
    settings = run.ltv.model_copy(update=_time_unit(freq, "--freq/--time-unit"))
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
    result = fit_ltv(frame, cutoff, settings)
    output: dict[str, Any] = {**result.params(), "diagnostics": result.diagnostics}
    if holdout_day is not None:
        end = holdout_day.floor("D") + one_day
        if end <= cutoff:
            raise UserInputError(f"--holdout-end {holdout_end} must be after the calibration cutoff {cutoff.date()}")
        evaluation = evaluate_holdout(result.bgnbd, frame, cutoff, end, spend_model=result.gg)
        output["holdout"] = {**evaluation.metrics, "buckets": evaluation.buckets.reset_index().to_dict("records")}
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
        for name, value in output[model].items():
            table.add_row(model, name, f"{value:.6g}")
    console.print(table)
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
def train(
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
) -> None:
    """Evaluate on a holdout, refit up to --as-of, log to MLflow and register churnltv-ltv as challenger."""
    from training.cli_settings import settings_of
    from training.ltv_job import train_ltv

    run = settings_of(ctx)
    settings = run.ltv.model_copy(update=_time_unit(freq, "--time-unit"))
    result = train_ltv(
        data,
        as_of=_day(as_of, "--as-of"),
        holdout_days=holdout_days,
        settings=settings,
        training_settings=run.training,
    )
    typer.echo(f"registered churnltv-ltv version {result.version} (alias challenger), run {result.run_id}")
    typer.echo(json.dumps({**result.params, "holdout": result.metrics}, indent=2, default=str))
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
