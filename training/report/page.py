"""The one HTML layer of every page training writes: Jinja2 templates, one base template and stylesheet, cell formats.

The product report, the churn evaluation page, the LTV holdout page and the drift page all render through
``render_page``: each template extends ``base.html.j2`` (one stylesheet, ``report.css``), and every value is escaped
by Jinja2's autoescape. Python code never concatenates HTML; text that must carry markup (a ``<code>`` command
name in a "not available" note) is built with ``markup``, which escapes every argument it formats in. Tables are
handed to templates as a ``TableView`` (cells already formatted for people by ``fmt``/``pct``) and drawn by the
``table`` macro of ``macros.html.j2``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from markupsafe import Markup

if TYPE_CHECKING:
    import jinja2


def fmt(value: Any, digits: int = 3) -> str:  # noqa: PLR0911 - one return per kind of value
    """Numbers for people: thousands separators, ``n/a`` for missing, fixed decimals for floats."""
    if value is None or value is pd.NA:
        return "n/a"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        v = float(value)
        if np.isnan(v):
            return "n/a"
        if np.isinf(v):
            return "infinite" if v > 0 else "-infinite"
        return f"{v:,.{digits}f}"
    return str(value)


def pct(value: Any, digits: int = 1) -> str:
    """A share as a percentage (``n/a`` when it is not a finite number)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if not np.isfinite(v) else f"{100 * v:.{digits}f}%"


def markup(template: str, *args: Any, **kwargs: Any) -> Markup:
    """Trusted HTML ``template`` (e.g. ``"run <code>churnltv score</code>"``) with every argument escaped."""
    return Markup(template).format(*args, **kwargs)


@dataclass(frozen=True)
class Cell:
    """One table cell: its text (escaped when rendered) and whether it is left-aligned text."""

    text: str
    is_text: bool = False


@dataclass(frozen=True)
class Image:
    """An inline image: a ``data:image/png;base64`` URI and its alternative text."""

    uri: str
    alt: str


@dataclass(frozen=True)
class TableView:
    """A table ready for the ``table`` macro: header cells and rows of formatted cells."""

    head: list[Cell]
    rows: list[list[Cell]]


def table_view(
    frame: pd.DataFrame,
    *,
    digits: Mapping[str, int] | None = None,
    percent: Sequence[str] = (),
    text: Sequence[str] = (),
) -> TableView:
    """``frame`` as a table: numbers formatted with :func:`fmt` (percent columns as %), text columns left-aligned."""
    digits = digits or {}
    head = [Cell(str(c), c in text) for c in frame.columns]
    rows = []
    for record in frame.itertuples(index=False, name=None):
        cells = []
        for column, value in zip(frame.columns, record, strict=True):
            if column in percent:
                cells.append(Cell(pct(value)))
            elif column in text or isinstance(value, str):
                cells.append(Cell("" if value is None else str(value), True))
            else:
                cells.append(Cell(fmt(value, digits.get(column, 3))))
        rows.append(cells)
    return TableView(head, rows)


TEMPLATES = Path(__file__).resolve().parent / "templates"


@functools.cache
def environment() -> jinja2.Environment:
    """The Jinja2 environment of every page: autoescape on, unknown variables are errors, the formats as filters."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = fmt
    env.filters["pct"] = pct
    return env


def render(template: str, **context: Any) -> str:
    """Render one template (a whole page or one report section's body) to HTML."""
    return environment().get_template(template).render(**context)


def render_page(template: str, *, title: str, **context: Any) -> str:
    """A whole self-contained page (``template`` extends ``base.html.j2``; the stylesheet is inlined)."""
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    return render(template, title=title, css=Markup(css), **context)
