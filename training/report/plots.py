"""Plots of the HTML report, rendered with matplotlib (Agg) into inline ``data:image/png;base64`` URIs.

Inline PNGs keep the report one self-contained file that opens offline (no external CSS, JS or fonts). Every
function builds one figure, closes it, and returns the data URI; the report wraps it in ``<img>``. Churn model
plots (ROC, lift, calibration, feature importance) are not here: they come from ``training.churn_report``,
which draws them at training time and logs them with the MLflow run.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

DPI = 90


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display, no GUI toolkit: the report is built in jobs and tests
    import matplotlib.pyplot as plt

    return plt


def figure_to_data_uri(fig: Any) -> str:
    """Encode ``fig`` as an inline PNG data URI and close it (figures left open leak memory in long jobs)."""
    plt = _pyplot()
    buffer = io.BytesIO()
    try:
        fig.tight_layout()
        fig.savefig(buffer, format="png", dpi=DPI)
    finally:
        plt.close(fig)
    return png_bytes_to_data_uri(buffer.getvalue())


def png_bytes_to_data_uri(data: bytes) -> str:
    """``data:image/png;base64,...`` for PNG bytes (e.g. a plot logged as an MLflow artifact)."""
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def png_file_to_data_uri(path: Path) -> str:
    return png_bytes_to_data_uri(Path(path).read_bytes())


def grouped_bars(
    categories: Sequence[str],
    series: Mapping[str, ArrayLike],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    percent: bool = False,
) -> str:
    """Vertical grouped bars: one group per category, one bar per series (e.g. actual vs predicted)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4))
    pos = np.arange(len(categories))
    width = 0.8 / max(len(series), 1)
    for i, (name, values) in enumerate(series.items()):
        heights = np.asarray(values, dtype=np.float64)
        ax.bar(pos + (i - (len(series) - 1) / 2) * width, np.nan_to_num(heights), width=width, label=name)
    ax.set_xticks(pos, list(categories))
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if percent:
        ax.set_ylim(0, 1.05)
        ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.0%}"))
    if len(series) > 1:
        ax.legend()
    return figure_to_data_uri(fig)


def horizontal_bars(
    labels: Sequence[str],
    values: ArrayLike,
    *,
    title: str,
    xlabel: str,
    color: str | Sequence[str] | None = None,
    value_format: str = ",.0f",
    lines_at: Mapping[str, float] | None = None,
) -> str:
    """Horizontal bars, first label on top (funnels, tier counts, PSI per feature).

    ``value_format`` formats the number written at each bar; ``lines_at`` draws labelled dashed vertical lines
    (e.g. the PSI watch and alert limits).
    """
    plt = _pyplot()
    fig, axis = plt.subplots(figsize=(6.5, 0.45 * len(labels) + 1.4))
    heights = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    colours = list(color)[::-1] if isinstance(color, list | tuple) else color
    axis.barh(list(labels)[::-1], heights[::-1], color=colours)
    for y, v in enumerate(heights[::-1]):
        axis.annotate(f"{v:{value_format}}", (v, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    for name, x in (lines_at or {}).items():
        axis.axvline(x, color="#555", linestyle="--", linewidth=1)
        axis.annotate(name, (x, 1.0), xycoords=("data", "axes fraction"), xytext=(2, -10), textcoords="offset points")
    axis.set(title=title, xlabel=xlabel)
    axis.margins(x=0.12)
    return figure_to_data_uri(fig)


def funnel_pair(
    left: tuple[str, Sequence[str], ArrayLike], right: tuple[str, Sequence[str], ArrayLike], *, xlabel: str
) -> str:
    """Two stage funnels side by side (the B2C growth view and the B2B relationship view)."""
    plt = _pyplot()
    n = max(len(left[1]), len(right[1]))
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.45 * n + 1.6))
    for ax, (title, labels, values) in zip(axes, (left, right), strict=True):
        heights = np.asarray(values, dtype=np.float64)
        ax.barh(list(labels)[::-1], heights[::-1], color="tab:blue" if ax is axes[0] else "tab:green")
        for y, v in enumerate(heights[::-1]):
            ax.annotate(f"{v:,.0f}", (v, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
        ax.set(title=title, xlabel=xlabel)
        ax.margins(x=0.15)
    return figure_to_data_uri(fig)


def heatmap(
    matrix: ArrayLike,
    *,
    x_values: Sequence[float],
    y_values: Sequence[float],
    title: str,
    xlabel: str,
    ylabel: str,
    colorbar_label: str,
) -> str:
    """A 0..1 heatmap with y increasing upwards (lifetimes' P(alive) matrix layout)."""
    plt = _pyplot()
    data = np.asarray(matrix, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(7, 5))
    image = ax.imshow(
        data,
        origin="lower",
        aspect="auto",
        vmin=0.0,
        vmax=1.0,
        cmap="RdYlGn",
        extent=(x_values[0], x_values[-1], y_values[0], y_values[-1]),
    )
    fig.colorbar(image, ax=ax, label=colorbar_label)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    return figure_to_data_uri(fig)


def distribution_with_intervals(
    predicted: ArrayLike,
    lower: ArrayLike,
    upper: ArrayLike,
    *,
    unit: str,
    predictive: tuple[ArrayLike, ArrayLike] | None = None,
    sample: int = 200,
    seed: int = 0,
) -> str:
    """Left: histogram of predicted LTV (log-spaced bins; LTV is heavy-tailed). Right: a random sample of
    customers sorted by prediction, each with its parameter interval and, where given, its predictive P10-P90
    (what the customer may spend), so a reader sees how much wider the second is."""
    plt = _pyplot()
    p = np.asarray(predicted, dtype=np.float64)
    lo = np.asarray(lower, dtype=np.float64)
    hi = np.asarray(upper, dtype=np.float64)
    p10, p90 = (np.asarray(v, dtype=np.float64) for v in predictive) if predictive is not None else (None, None)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    positive = p[np.isfinite(p) & (p > 0)]
    if positive.size:
        bins = np.geomspace(max(positive.min(), 1e-2), positive.max() * 1.01, 40)
        ax1.hist(positive, bins=bins, color="tab:blue")
        ax1.set_xscale("log")
    ax1.set(title="Predicted LTV per customer", xlabel=f"predicted LTV ({unit}, log scale)", ylabel="customers")
    ok = np.flatnonzero(np.isfinite(p) & np.isfinite(lo) & np.isfinite(hi))
    if ok.size:
        rng = np.random.default_rng(seed)
        chosen = rng.choice(ok, size=min(sample, ok.size), replace=False)
        chosen = chosen[np.argsort(p[chosen], kind="stable")]
        x = np.arange(chosen.size)
        if p10 is not None and p90 is not None:
            band = np.isfinite(p10[chosen]) & np.isfinite(p90[chosen])
            ax2.fill_between(
                x, p10[chosen], p90[chosen], where=band, color="tab:green", alpha=0.2, label="predictive P10-P90"
            )
        ax2.fill_between(x, lo[chosen], hi[chosen], color="tab:orange", alpha=0.35, label="parameter interval")
        ax2.plot(x, p[chosen], color="tab:blue", lw=1.2, label="prediction")
        ax2.legend(loc="upper left")
    ax2.set(
        title=f"Intervals ({min(sample, ok.size)} random customers, sorted)",
        xlabel="customers, by predicted LTV",
        ylabel=f"LTV ({unit})",
    )
    return figure_to_data_uri(fig)


def lines(
    x: Sequence[str],
    series: Mapping[str, ArrayLike],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    secondary: tuple[str, ArrayLike] | None = None,
) -> str:
    """Line chart over ordered categories (months); ``secondary`` is drawn as bars on a right axis (counts)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4))
    pos = np.arange(len(x))
    if secondary is not None:
        ax2 = ax.twinx()
        ax2.bar(pos, np.asarray(secondary[1], dtype=np.float64), color="lightgray", alpha=0.6)
        ax2.set_ylabel(secondary[0])
        ax.set_zorder(ax2.get_zorder() + 1)
        ax.patch.set_visible(False)
    for name, values in series.items():
        ax.plot(pos, np.asarray(values, dtype=np.float64), marker="o", ms=3, label=name)
    ax.axhline(0, color="k", lw=0.6, ls=":")
    step = max(1, len(x) // 12)
    ax.set_xticks(pos[::step], list(x)[::step], rotation=45, ha="right")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if len(series) > 1:
        ax.legend(fontsize=8)
    return figure_to_data_uri(fig)


def ltv_cac_bars(channels: Sequence[str], ratios: ArrayLike, *, threshold: float) -> str:
    """LTV/CAC per channel with the ``> threshold`` rule as a line; bars above it green, below red."""
    plt = _pyplot()
    values = np.asarray(ratios, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(7.5, 4))
    colors = ["tab:green" if v > threshold else "tab:red" for v in np.nan_to_num(values)]
    ax.bar(list(channels), np.nan_to_num(values), color=colors)
    ax.axhline(threshold, color="k", ls="--", lw=1, label=f"LTV/CAC = {threshold:g}")
    ax.set(title="LTV / CAC per acquisition channel", xlabel="channel", ylabel="mean predicted LTV / CAC")
    ax.tick_params(axis="x", rotation=30)
    ax.legend()
    return figure_to_data_uri(fig)


def curves(
    series: Mapping[str, tuple[ArrayLike, ArrayLike]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
) -> str:
    """Line chart of numeric curves (name -> (x, y)), e.g. the Qini curves of several targeting strategies."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, (x, y) in series.items():
        ax.plot(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64), label=name)
    ax.axhline(0, color="k", lw=0.6, ls=":")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if len(series) > 1:
        ax.legend(fontsize=8)
    return figure_to_data_uri(fig)
