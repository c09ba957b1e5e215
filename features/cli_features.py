"""`churnltv features`: build point-in-time features from a data source and summarise them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    import pandas as pd

    from features.feature_spec import FeatureSpec
    from features.settings import FeatureSettings

DATA_HELP = "Data source: a directory of CSV/Parquet files, a .duckdb file, or a postgresql:// URL."


def summary_rows(frame: pd.DataFrame, spec: FeatureSpec) -> list[tuple[str, str, str, str]]:
    """(feature, dtype, non-null %, typical value) per feature: what a user checks first."""
    rows: list[tuple[str, str, str, str]] = []
    for f in spec.features:
        col = frame[f.name]
        filled = f"{100.0 * float(col.notna().mean()):.1f}%" if len(col) else "-"
        if f.dtype == "category":
            counts = col.value_counts()
            typical = f"{counts.index[0]} ({int(counts.iloc[0]):,})" if len(counts) else "-"
        else:
            median = float(col.median()) if col.notna().any() else None
            typical = "-" if median is None else f"median {median:.3g}"
        rows.append((f.name, f.dtype, filled, typical))
    return rows


def write_features(frame: pd.DataFrame, spec: FeatureSpec, out: Path) -> None:
    """Write the frame (Parquet) and its spec (JSON) beside their targets, then rename them into place.

    A full disk or a killed process leaves the previous files (or none), never a truncated Parquet
    file that a later job would read as data. The OSError names the target file.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    spec_path = out.with_suffix(".spec.json")
    tmp_frame = out.with_name(f".{out.name}.tmp")
    tmp_spec = spec_path.with_name(f".{spec_path.name}.tmp")
    try:
        frame.to_parquet(tmp_frame, index=False)
        tmp_spec.write_text(spec.to_json())
        tmp_frame.replace(out)
        tmp_spec.replace(spec_path)
    except OSError as err:
        tmp_frame.unlink(missing_ok=True)
        tmp_spec.unlink(missing_ok=True)
        raise OSError(err.errno, err.strerror or str(err), str(out)) from err


def vocabulary_note(settings: FeatureSettings) -> str:
    """The learned event vocabulary in one clause for the summary line ("" without one)."""
    vocabulary = settings.learned_vocabulary if settings.vocabulary == "on" else None
    if vocabulary is None:
        return ""
    types, modules = ", ".join(vocabulary.event_types) or "-", ", ".join(vocabulary.modules) or "-"
    return f"; own columns (the rest as other) for event types {types} and modules {modules}"


def register(app: typer.Typer) -> None:
    """Add `features` to the root app."""

    @app.command("features")
    def features(  # noqa: PLR0917 (typer maps each option to a parameter)
        ctx: typer.Context,
        data: Annotated[str, typer.Option("--data", help=DATA_HELP)] = "data/demo.duckdb",
        as_of: Annotated[
            list[str] | None,
            typer.Option(
                "--as-of",
                help="Cutoff date/time (exclusive: only earlier rows are used); repeat for several. "
                "Default: the day after the data's last activity.",
            ),
        ] = None,
        out: Annotated[Path | None, typer.Option("--out", help="Write the feature frame to this Parquet file.")] = None,
        show_spec: Annotated[
            bool, typer.Option("--spec", help="Print the full feature specification as a table.")
        ] = False,
        customer: Annotated[
            list[str] | None, typer.Option("--customer", help="Only these customer ids (repeat for several).")
        ] = None,
    ) -> None:
        """Build point-in-time features (one row per customer and cutoff) and print a summary.

        Features whose input table is absent are left out; the summary says which and why.
        Settings (core event types, Aha rule, time unit) come from CHURNLTV_FEATURES_* variables.
        """
        import time

        import pandas as pd
        from rich.console import Console
        from rich.table import Table

        from features.cli_settings import settings_of
        from features.labels import data_time_range
        from features.point_in_time import build_features
        from features.sources import open_source
        from features.vocabulary_learning import with_learned_vocabulary

        run = settings_of(ctx)
        feature_settings = run.features
        console = Console()
        source = open_source(data, duckdb_settings=run.duckdb)
        try:
            con = source.connect()
            if as_of:
                cutoffs: list[pd.Timestamp | str] = list(as_of)
            else:
                cutoffs = [data_time_range(con)[1].floor("D") + pd.Timedelta(days=1)]
            start = time.perf_counter()
            with console.status("building features ..."):
                # the vocabulary a training run on this data would learn, so the columns are the model's
                feature_settings = with_learned_vocabulary(con, cutoffs, feature_settings)
                frame, spec = build_features(con, cutoffs, feature_settings, customer_ids=customer)
            seconds = time.perf_counter() - start
        finally:
            source.close()

        cut_text = ", ".join(str(c) for c in sorted(frame["as_of"].unique())) or ", ".join(map(str, cutoffs))
        console.print(
            f"[bold]{len(frame):,}[/bold] rows ({frame['customer_id'].nunique():,} customers) x "
            f"[bold]{len(spec.names)}[/bold] features as of {cut_text} in {seconds:.2f} s"
        )
        console.print(
            f"BTYD time unit: {spec.time_unit.value}; Aha rule: {feature_settings.aha.describe()}; "
            f"core event types: {', '.join(feature_settings.core_event_types)}{vocabulary_note(feature_settings)}"
        )
        if spec.absent:
            reasons: dict[str, list[str]] = {}
            for name, why in spec.absent.items():
                reasons.setdefault(why, []).append(name)
            for why, names in reasons.items():
                console.print(f"left out ({why}): {', '.join(names)}")
        table = Table(title="feature summary")
        for header in ("feature", "type", "filled", "typical"):
            table.add_column(header)
        for row in summary_rows(frame, spec):
            table.add_row(*row)
        console.print(table)
        if show_spec:
            spec_table = Table(title="feature specification")
            for header in ("feature", "type", "kind", "unit", "source", "description"):
                spec_table.add_column(header)
            for f in spec.features:
                spec_table.add_row(f.name, f.dtype, f.kind, f.unit or "", f.source, f.description)
            console.print(spec_table)
        if out is not None:
            write_features(frame, spec, out)
            console.print(f"wrote {out} and {out.with_suffix('.spec.json')}")
