"""What a report section is: an id, a title, a template and the function that builds the template's context.

Adding a section is one module in ``training/report/sections/`` that defines ``SECTION = ReportSection(...)`` with a
``build(inputs) -> dict`` (the template's variables), plus its template ``templates/sections/<id>.html.j2``; then
list the module in ``builder.SECTIONS`` where it belongs on the page. ``build`` raises ``SectionMissing`` (or a
``UserInputError``) when an input the section needs is absent: the section then shows that note instead of its
content. Any other error is shown in the section (class ``section-error``) and logged, so one broken input never
hides the other sections.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from features.errors import UserInputError
from training.report.inputs import NO_SCORES
from training.report.page import render

if TYPE_CHECKING:
    import pandas as pd

    from training.report.inputs import ReportInputs

logger = logging.getLogger(__name__)


class SectionMissing(Exception):  # noqa: N818 - a signal to the builder, not an error of the user or the code
    """An input the section needs is absent; ``note`` (text or ``page.markup``) says what and how to produce it."""

    def __init__(self, note: str | Markup) -> None:
        super().__init__(str(note))
        self.note = note


@dataclass(frozen=True)
class ReportSection:
    """One section of the product report; ``id`` is its HTML id (stable: tests and links use it)."""

    id: str
    title: str
    build: Callable[[ReportInputs], Mapping[str, Any]]

    @property
    def template(self) -> str:
        return f"sections/{self.id}.html.j2"


def render_section(section: ReportSection, inputs: ReportInputs) -> Markup:
    """The section's body: its template filled by ``build``, the missing-input note, or the error it hit."""
    try:
        return Markup(render(section.template, **section.build(inputs)))
    except SectionMissing as missing:
        return Markup(render("missing.html.j2", note=missing.note))
    except UserInputError as err:
        return Markup(render("missing.html.j2", note=str(err)))
    except Exception as err:  # one broken section must not hide the others; the log has the traceback
        logger.exception("report section %s failed", section.id)
        return Markup(render("section_error.html.j2", error=f"{type(err).__name__}: {err}"))


def require_scores(inputs: ReportInputs, why: str | Markup = "") -> pd.DataFrame:
    """The score run's rows with string customer ids; ``SectionMissing`` (``NO_SCORES`` + ``why``) without a run."""
    if inputs.scores is None or not len(inputs.scores):
        raise SectionMissing(NO_SCORES + why)
    return inputs.scores.assign(customer_id=inputs.scores["customer_id"].astype(str))
