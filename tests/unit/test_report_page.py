"""The one HTML layer of every page: autoescape, trusted fragments, the table macro, and one template per section."""

from __future__ import annotations

import pandas as pd

from training.report.builder import SECTIONS
from training.report.page import TEMPLATES, markup, render, render_page, table_view


def test_values_are_escaped_and_trusted_fragments_are_not() -> None:
    note = markup("run <code>{}</code> first", "churnltv <score> & co")
    html = render("missing.html.j2", note=note)
    assert html == (
        '<p class="missing"><b>Not available:</b> run <code>churnltv &lt;score&gt; &amp; co</code> first</p>'
    )
    assert "&lt;b&gt;" in render("missing.html.j2", note="<b>plain text</b>")


def test_the_table_macro_formats_and_escapes_every_cell() -> None:
    frame = pd.DataFrame({"tier": ["<high>", "low"], "customers": [1234, 5], "share": [0.25, 0.75]})
    view = table_view(frame, percent=("share",), text=("tier",))
    html = _table(view)
    assert html == (
        '<table><tr><th class="text">tier</th><th>customers</th><th>share</th></tr>'
        '<tr><td class="text">&lt;high&gt;</td><td>1,234</td><td>25.0%</td></tr>'
        '<tr><td class="text">low</td><td>5</td><td>75.0%</td></tr></table>'
    )


def _table(view: object) -> str:
    from training.report.page import environment

    return str(environment().from_string('{% import "macros.html.j2" as m %}{{ m.table(view) }}').render(view=view))


def test_every_page_shares_the_base_template_and_stylesheet() -> None:
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    page = render_page("report.html.j2", title="t <1>", generated="now", score_run=None, sections=[])
    assert page.startswith("<!doctype html>")
    assert "<title>t &lt;1&gt;</title>" in page
    assert css in page  # inlined: the page is one self-contained file
    for template in ("churn_evaluation", "ltv_evaluation", "drift", "report"):
        text = (TEMPLATES / f"{template}.html.j2").read_text(encoding="utf-8")
        assert text.startswith('{% extends "base.html.j2" %}'), template


def test_every_section_has_its_template_and_every_template_a_section() -> None:
    ids = [s.id for s in SECTIONS]
    assert len(set(ids)) == len(ids)
    templates = {p.name for p in (TEMPLATES / "sections").glob("*.html.j2")}
    assert templates == {f"{i}.html.j2" for i in ids}
