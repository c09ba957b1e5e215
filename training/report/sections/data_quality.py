"""``data-quality``: rows per table, absent optional tables, contract problems (the ``churnltv validate`` JSON)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from training.report.inputs import ReportInputs
from training.report.page import markup, table_view
from training.report.section import ReportSection, SectionMissing


def build(inputs: ReportInputs) -> dict[str, Any]:
    dq = inputs.data_quality
    if dq is None:
        raise SectionMissing(
            markup(
                "no data-quality summary was given. Write one with <code>churnltv validate SOURCE --report "
                "reports/data_quality.json</code> and pass it with <code>--data-quality</code>."
            )
        )
    tables = pd.DataFrame(dq.get("tables") or [])
    table = None
    if len(tables):
        keep = [c for c in ("table", "rows", "customers", "first", "last", "source") if c in tables.columns]
        for column in ("rows", "customers"):
            if column in tables.columns:
                tables[column] = tables[column].astype("Int64")  # counts; null where not per-customer
        table = table_view(tables[keep], text=("first", "last", "source", "table"))
    problems = dq.get("problems") or []
    problem_table = None
    if problems:
        rows = pd.DataFrame(
            [
                {
                    "table": p.get("table"),
                    "column": p.get("column") or "",
                    "problem": p.get("problem"),
                    "rows": int(p.get("count") or 0),
                    "example": (p.get("examples") or [""])[0],
                }
                for p in problems
            ]
        )
        problem_table = table_view(rows, text=("table", "column", "problem", "example"))
    return {
        "source": dq.get("source"),
        "extracted_at": dq.get("extracted_at"),
        "ok": bool(dq.get("ok")),
        "rejected": int(dq.get("rows_rejected") or 0),
        "tables": table,
        "absent": list(dq.get("absent_tables") or []),
        "problems": problem_table,
    }


SECTION = ReportSection("data-quality", "Data quality", build)
