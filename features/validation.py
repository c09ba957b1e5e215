"""Strict, precise checks of a source against the data contract, and the data-quality summary.

Each rule is one SQL predicate over the raw rows (``__raw_<table>``, as read, before typing),
so a violation can be reported with its table, 1-based row, column, customer and the value
exactly as the user wrote it. Every rule has a name (``DATA_RULES``, listed with its message in
docs/BAD_INPUTS.md); an error sets its rows aside, a warning only reports them. Counting is one
aggregate query per table; examples are fetched only for rules that fired. Rows after a chosen
cutoff are *not* errors (features ignore them); rows after the extraction time are.
"""

from __future__ import annotations

import errno
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import duckdb

from features.contract import CONTROL_ARM, TABLES, ColumnType, Table
from features.errors import DataContractError, DataIssue
from features.raw_tables import (
    OFFSET_PATTERN,
    RawTable,
    RawTableSource,
    quote_ident,
    typed_expr,
    typed_select_list,
)
from features.source_url import scrub_password

if TYPE_CHECKING:
    import pandas as pd

EXAMPLES_PER_RULE = 5


@dataclass(frozen=True)
class RuleSpec:
    """A named data rule and the message its violations carry (``<...>`` marks what a column fills in)."""

    name: str
    message: str
    severity: Literal["error", "warning"] = "error"


DATA_RULES: dict[str, RuleSpec] = {
    r.name: r
    for r in (
        RuleSpec(
            "missing_required_table",
            "required table(s) <table> not found (found: <tables>); a directory needs files named like <table>.csv "
            "or <table>.parquet",
        ),
        RuleSpec("no_rows", "the table has no rows"),
        RuleSpec("missing_required_column", "missing required column '<column>' (found: <columns>)"),
        RuleSpec("unexpected_column", "unexpected column '<column>'; the contract has <columns>"),
        RuleSpec(
            "wrong_type",
            "not a valid date/time (expected e.g. 2024-03-01 10:00:00) | not a valid date (expected e.g. 2024-03-01)"
            " | not a number | not a whole number",
        ),
        RuleSpec("missing_value", "missing value"),
        RuleSpec("not_finite", "not a number (NaN/inf)"),
        RuleSpec("out_of_range", "negative amount | outside <min>-<max> | below the minimum <min>"),
        RuleSpec("not_allowed", "not one of <values>"),
        RuleSpec("pattern", "not <what the pattern means>"),
        RuleSpec("unknown_customer", "unknown customer (not in customers)"),
        RuleSpec("future_date", "dated in the future (after the extraction time <extracted_at>)"),
        RuleSpec("duplicate_key", "<duplicate id | the key's meaning> (the same key appears on an earlier row)"),
        RuleSpec("mixed_time_zones", "mixed time zones: some values carry a UTC offset and some do not"),
        RuleSpec("before_signup", "dated before the customer's signup (customers.signup_at)"),
        RuleSpec(
            "id_surrounding_spaces",
            "differs from another customer id only by surrounding spaces (ids are matched exactly)",
        ),
        RuleSpec(
            "id_case_only",
            "differs from another customer id only in letter case (counted as two customers)",
            "warning",
        ),
        RuleSpec("nul_byte", "contains a NUL byte (\\x00)"),
        RuleSpec(
            "campaign_without_control",
            "campaign '<id>' has no 'control' arm (<n> contacts): its effect cannot be measured, so the uplift models "
            "do not learn from it",
            "warning",
        ),
    )
}

# tables whose rows are the customer's activity: none can happen before the customer signed up
ACTIVITY_TABLES = ("events", "transactions")
# leading or trailing whitespace of a text value
_SURROUNDING_SPACE = r"'^\s+|\s+$'"


@dataclass(frozen=True)
class Rule:
    """One named contract rule on one column: a predicate that is TRUE on a violating raw row."""

    name: str
    table: str
    column: str | None
    message: str
    predicate: str
    value_sql: str  # what to show as the bad value

    @property
    def severity(self) -> Literal["error", "warning"]:
        return DATA_RULES[self.name].severity


@dataclass
class RuleResult:
    """One rule that fired: how often, and a few located examples.

    ``predicate`` (TRUE on a violating row of ``__raw_<table>``) and ``value_sql`` are set for row-level rules,
    whose violations belong to single rows (and so to single customers); they are None for problems of a whole
    table or column (missing table/column, unexpected column, no rows, mixed time zones).
    """

    table: str
    column: str | None
    message: str
    count: int
    examples: list[DataIssue]
    predicate: str | None = None
    value_sql: str | None = None
    rule: str = ""
    """The name of the rule (a key of ``DATA_RULES``)."""

    @property
    def row_level(self) -> bool:
        return self.predicate is not None


@dataclass
class TableSummary:
    table: str
    source: str
    rows: int
    customers: int | None
    first: str | None
    last: str | None


@dataclass
class DataQualityReport:
    """What was read and what is wrong with it: printed by `churnltv validate`, saved as JSON."""

    source: str
    extracted_at: str
    tables: list[TableSummary] = field(default_factory=list)
    absent_tables: list[str] = field(default_factory=list)
    problems: list[RuleResult] = field(default_factory=list)
    warnings: list[RuleResult] = field(default_factory=list)
    """Accepted but worth knowing (e.g. a campaign without a control group): never make the report invalid."""

    @property
    def rows_rejected(self) -> int:
        return sum(p.count for p in self.problems)

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_if_invalid(self, max_examples: int = 20) -> None:
        if self.ok:
            return
        issues = [ex for p in self.problems for ex in p.examples][:max_examples]
        raise DataContractError(issues, total=self.rows_rejected)

    def raise_if_structural(self, max_examples: int = 20) -> None:
        """Raise for problems of whole tables or columns only; row-level problems are left to the caller."""
        structural = [p for p in self.problems if not p.row_level]
        if structural:
            issues = [ex for p in structural for ex in p.examples][:max_examples]
            raise DataContractError(issues, total=sum(p.count for p in structural))

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "extracted_at": self.extracted_at,
            "ok": self.ok,
            "rows_rejected": self.rows_rejected,
            "tables": [asdict(t) for t in self.tables],
            "absent_tables": self.absent_tables,
            "problems": [
                {
                    "rule": p.rule,
                    "table": p.table,
                    "column": p.column,
                    "problem": p.message,
                    "count": p.count,
                    "examples": [str(e) for e in p.examples],
                }
                for p in self.problems
            ],
            "warnings": [
                {
                    "rule": w.rule,
                    "table": w.table,
                    "column": w.column,
                    "warning": w.message,
                    "count": w.count,
                    "examples": [str(e) for e in w.examples],
                }
                for w in self.warnings
            ],
        }

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and not path.is_file():  # e.g. /dev/full: renaming over it would replace the device
            raise OSError(errno.EINVAL, "not a regular file; give a file path for the report", str(path))
        tmp = path.with_suffix(path.suffix + ".tmp")
        try:
            tmp.write_text(json.dumps(self.to_dict(), indent=2))
            tmp.replace(path)
        except OSError as err:
            tmp.unlink(missing_ok=True)  # a full disk must not leave a half-written summary behind
            raise OSError(err.errno, err.strerror or str(err), str(path)) from err
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return path

    def render_text(self) -> str:
        lines = [f"data quality of {self.source} (extracted at {self.extracted_at})"]
        for t in self.tables:
            who = f", {t.customers:,} customers" if t.customers is not None else ""
            span = f", {t.first} .. {t.last}" if t.first else ""
            lines.append(f"  {t.table:<18} {t.rows:>12,} rows{who}{span}  [{t.source}]")
        if self.absent_tables:
            lines.append(f"  absent (optional): {', '.join(self.absent_tables)}")
        if self.ok:
            lines.append("  no problems found")
        else:
            lines.append(f"  {self.rows_rejected:,} problem(s):")
            for p in self.problems:
                col = f".{p.column}" if p.column else ""
                lines.append(f"    {p.table}{col}: {p.message}: {p.count:,}")
                for ex in p.examples[:3]:
                    lines.append(f"      e.g. {ex}")
        for w in self.warnings:
            col = f".{w.column}" if w.column else ""
            lines.append(f"  warning: {w.table}{col}: {w.message}: {w.count:,}")
            for ex in w.examples[:3]:
                lines.append(f"      e.g. {ex}")
        return "\n".join(lines)


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _is_text(raw_type: str) -> bool:
    return raw_type.upper().startswith("VARCHAR") or raw_type.upper() == "TEXT"


def _column_rules(table: Table, raw: RawTable, extracted_at: str, present: set[str]) -> list[Rule]:
    rules: list[Rule] = []
    for col in table.columns:
        raw_type = raw.columns.get(col.name)
        if raw_type is None:
            continue
        c = quote_ident(col.name)
        typed = typed_expr(col.name, col.type, raw_type)
        shown = f"CAST({c} AS VARCHAR)"
        # only text can hold a blank; casting a typed column to text to look for one costs ~3 s per 50M rows
        given = f"({c} IS NOT NULL AND TRIM({c}) <> '')" if _is_text(raw_type) else f"({c} IS NOT NULL)"
        if col.type is not ColumnType.STRING:
            kind = {
                ColumnType.TIMESTAMP: "not a valid date/time (expected e.g. 2024-03-01 10:00:00)",
                ColumnType.DATE: "not a valid date (expected e.g. 2024-03-01)",
                ColumnType.FLOAT: "not a number",
                ColumnType.INTEGER: "not a whole number",
            }[col.type]
            rules.append(Rule("wrong_type", table.name, col.name, kind, f"{given} AND ({typed}) IS NULL", shown))
        if not col.nullable:
            rules.append(Rule("missing_value", table.name, col.name, "missing value", f"NOT {given}", "NULL"))
        if col.type is ColumnType.FLOAT:
            rules.append(
                Rule("not_finite", table.name, col.name, "not a number (NaN/inf)", f"NOT isfinite({typed})", shown)
            )
        if col.min_value is not None:
            what = "negative amount" if col.min_value == 0 else f"below the minimum {col.min_value:g}"
            if col.max_value is not None:
                what = f"outside {col.min_value:g}-{col.max_value:g}"
            rules.append(Rule("out_of_range", table.name, col.name, what, f"({typed}) < {col.min_value}", shown))
        if col.max_value is not None:
            rules.append(
                Rule(
                    "out_of_range",
                    table.name,
                    col.name,
                    f"outside {col.min_value:g}-{col.max_value:g}",
                    f"({typed}) > {col.max_value}",
                    shown,
                )
            )
        if col.allowed:
            allowed = ", ".join(_sql_literal(a) for a in col.allowed)
            rules.append(
                Rule(
                    "not_allowed",
                    table.name,
                    col.name,
                    f"not one of {', '.join(col.allowed)}",
                    f"({typed}) IS NOT NULL AND ({typed}) NOT IN ({allowed})",
                    shown,
                )
            )
        if col.pattern is not None:
            rules.append(
                Rule(
                    "pattern",
                    table.name,
                    col.name,
                    f"not {col.pattern_meaning or 'matching ' + col.pattern}",
                    f"{given} AND NOT regexp_full_match(TRIM(CAST({c} AS VARCHAR)), {_sql_literal(col.pattern)})",
                    shown,
                )
            )
        if col.references and col.references in present:
            rules.append(
                Rule(
                    "unknown_customer",
                    table.name,
                    col.name,
                    f"unknown customer (not in {col.references})",
                    f"({typed}) IS NOT NULL AND ({typed}) NOT IN (SELECT CAST(customer_id AS VARCHAR) FROM "
                    f"{quote_ident('__raw_' + col.references)} WHERE customer_id IS NOT NULL)",
                    shown,
                )
            )
        if col.type in (ColumnType.TIMESTAMP, ColumnType.DATE):
            rules.append(
                Rule(
                    "future_date",
                    table.name,
                    col.name,
                    f"dated in the future (after the extraction time {extracted_at})",
                    f"({typed}) > TIMESTAMP {_sql_literal(extracted_at)}",
                    shown,
                )
            )
    return rules


def _quality_rules(table: Table, raw: RawTable, raw_tables: dict[str, RawTable]) -> list[Rule]:
    """Rules across rows and tables: activity before signup, ids that differ only in spaces or case, NUL bytes."""
    rules: list[Rule] = []
    relation = quote_ident("__raw_" + table.name)
    time_col = table.time_column
    customers = raw_tables.get("customers")
    if (
        table.name in ACTIVITY_TABLES
        and time_col in raw.columns
        and "customer_id" in raw.columns
        and customers is not None
        and {"customer_id", "signup_at"} <= set(customers.columns)
    ):
        typed_at = typed_expr(time_col, table.column(time_col).type, raw.columns[time_col])
        typed_signup = typed_expr("signup_at", ColumnType.TIMESTAMP, customers.columns["signup_at"])
        signups = (
            f"SELECT CAST(customer_id AS VARCHAR) AS id, min({typed_signup}) AS signup "
            f"FROM {quote_ident('__raw_customers')} GROUP BY 1"
        )
        rules.append(
            Rule(
                "before_signup",
                table.name,
                time_col,
                DATA_RULES["before_signup"].message,
                f"__row IN (SELECT a.__row FROM (SELECT __row, CAST(customer_id AS VARCHAR) AS id, {typed_at} AS t "
                f"FROM {relation}) a JOIN ({signups}) s ON a.id = s.id WHERE a.t < s.signup)",
                f"CAST({quote_ident(time_col)} AS VARCHAR)",
            )
        )
    customer_type = raw.columns.get("customer_id")
    if table.name == "customers" and customer_type is not None and _is_text(customer_type):
        ids = (
            f"SELECT __row, CAST(customer_id AS VARCHAR) AS id, "
            f"regexp_replace(CAST(customer_id AS VARCHAR), {_SURROUNDING_SPACE}, '', 'g') AS k "
            f"FROM {relation} WHERE customer_id IS NOT NULL"
        )
        rules.append(
            Rule(
                "id_surrounding_spaces",
                table.name,
                "customer_id",
                DATA_RULES["id_surrounding_spaces"].message,
                f"__row IN (WITH s AS ({ids}) SELECT __row FROM s WHERE id <> k AND k IN "
                "(SELECT k FROM s GROUP BY k HAVING count(DISTINCT id) > 1))",
                "CAST(customer_id AS VARCHAR)",
            )
        )
        rules.append(
            Rule(
                "id_case_only",
                table.name,
                "customer_id",
                DATA_RULES["id_case_only"].message,
                # every spelling but the first one seen (by row) of ids that are equal ignoring case
                f"__row IN (WITH s AS ({ids}), f AS (SELECT lower(k) AS g, arg_min(k, __row) AS first FROM s "
                "GROUP BY 1 HAVING count(DISTINCT k) > 1) SELECT s.__row FROM s JOIN f ON lower(s.k) = f.g "
                "WHERE s.k <> f.first)",
                "CAST(customer_id AS VARCHAR)",
            )
        )
    for name, raw_type in raw.columns.items():
        if _is_text(raw_type):
            c = quote_ident(name)
            rules.append(
                Rule(
                    "nul_byte",
                    table.name,
                    name,
                    DATA_RULES["nul_byte"].message,
                    f"strpos({c}, chr(0)) > 0",
                    f"CAST({c} AS VARCHAR)",
                )
            )
    return rules


def _mixed_timezones(con: duckdb.DuckDBPyConnection, table: Table, raw: RawTable) -> list[RuleResult]:
    """A text timestamp column must use one convention: all with a UTC offset or all without."""
    out: list[RuleResult] = []
    relation = quote_ident("__raw_" + table.name)
    for col in table.columns:
        raw_type = raw.columns.get(col.name)
        if col.type is not ColumnType.TIMESTAMP or raw_type is None or not _is_text(raw_type):
            continue
        c = quote_ident(col.name)
        aware = f"regexp_matches(TRIM({c}), '{OFFSET_PATTERN}')"
        row = con.execute(
            f"SELECT count(*) FILTER (WHERE {aware}), count(*) FILTER (WHERE NOT {aware} AND TRIM({c}) <> ''), "
            f"min(__row) FILTER (WHERE {aware}), min(__row) FILTER (WHERE NOT {aware} AND TRIM({c}) <> '') "
            f"FROM {relation} WHERE {c} IS NOT NULL"
        ).fetchone()
        assert row is not None
        n_aware, n_naive, first_aware, first_naive = row
        if n_aware and n_naive:
            examples = []
            for r in (first_aware, first_naive):
                value = con.execute(f"SELECT {c} FROM {relation} WHERE __row = ?", [r]).fetchone()
                examples.append(
                    DataIssue(
                        table.name,
                        col.name,
                        "mixed time zones: some values carry a UTC offset and some do not",
                        row=int(r),
                        value=None if value is None else str(value[0]),
                        source=raw.origin,
                    )
                )
            out.append(
                RuleResult(
                    table.name,
                    col.name,
                    "mixed time zones (offset-aware and naive values)",
                    min(n_aware, n_naive),
                    examples,
                    rule="mixed_time_zones",
                )
            )
    return out


def _shape_problems(table: Table, raw: RawTable) -> list[RuleResult]:
    """Missing required columns and columns the contract does not know."""
    out: list[RuleResult] = []
    for col in table.columns:
        if col.required and col.name not in raw.columns:
            msg = f"missing required column {col.name!r} (found: {', '.join(raw.columns)})"
            out.append(
                RuleResult(
                    table.name,
                    col.name,
                    "missing required column",
                    1,
                    [DataIssue(table.name, col.name, msg, source=raw.origin)],
                    rule="missing_required_column",
                )
            )
    known = set(table.column_names)
    for name in raw.columns:
        if name in known or (table.allows_attributes and name.startswith("attr_")):
            continue
        hint = " (customer attributes must be named attr_<name>)" if table.allows_attributes else ""
        msg = f"unexpected column {name!r}; the contract has {', '.join(table.column_names)}{hint}"
        out.append(
            RuleResult(
                table.name,
                name,
                "unexpected column",
                1,
                [DataIssue(table.name, name, msg, source=raw.origin)],
                rule="unexpected_column",
            )
        )
    return out


def _duplicate_keys(con: duckdb.DuckDBPyConnection, table: Table, raw: RawTable) -> list[RuleResult]:
    key = [k for k in table.key if k in raw.columns]
    if not key or len(key) != len(table.key):
        return []
    relation = quote_ident("__raw_" + table.name)
    cols = ", ".join(quote_ident(k) for k in key)
    not_null = " AND ".join(f"{quote_ident(k)} IS NOT NULL" for k in key)
    dup = (
        f"SELECT __row, {cols} FROM (SELECT __row, {cols}, count(*) OVER (PARTITION BY {cols}) AS n, "
        f"row_number() OVER (PARTITION BY {cols} ORDER BY __row) AS k FROM {relation} WHERE {not_null}) "
        f"WHERE n > 1 AND k > 1"
    )
    count_row = con.execute(f"SELECT count(*) FROM ({dup})").fetchone()
    count = int(count_row[0]) if count_row else 0
    if not count:
        return []
    examples = [
        DataIssue(
            table.name,
            ", ".join(key),
            f"{table.key_message} (the same key appears on an earlier row)",
            row=int(r[0]),
            value=", ".join(str(v) for v in r[1:]),
            source=raw.origin,
        )
        for r in con.execute(f"{dup} ORDER BY __row LIMIT {EXAMPLES_PER_RULE}").fetchall()
    ]
    rows_sql = f"__row IN (SELECT __row FROM ({dup}))"
    shown = "CAST(" + " || ', ' || ".join(f"CAST({quote_ident(k)} AS VARCHAR)" for k in key) + " AS VARCHAR)"
    return [
        RuleResult(
            table.name, ", ".join(key), table.key_message, count, examples, rows_sql, shown, rule="duplicate_key"
        )
    ]


def _campaigns_without_control(con: duckdb.DuckDBPyConnection, table: Table, raw: RawTable) -> list[RuleResult]:
    """Warn about campaigns with no control arm: accepted, but their effect cannot be measured."""
    if table.name != "campaign_contacts" or not {"campaign_id", "arm"} <= set(raw.columns):
        return []
    relation = quote_ident("__raw_" + table.name)
    rows = con.execute(
        f"SELECT CAST(campaign_id AS VARCHAR), min(__row), count(*) FROM {relation} WHERE campaign_id IS NOT NULL "
        f"GROUP BY 1 HAVING count(*) FILTER (WHERE TRIM(CAST(arm AS VARCHAR)) = {_sql_literal(CONTROL_ARM)}) = 0 "
        "ORDER BY 2"
    ).fetchall()
    if not rows:
        return []
    examples = [
        DataIssue(
            table.name,
            "arm",
            f"campaign {r[0]!r} has no {CONTROL_ARM!r} arm ({int(r[2]):,} contacts): its effect cannot be measured, "
            "so the uplift models do not learn from it",
            row=int(r[1]),
            source=raw.origin,
        )
        for r in rows[:EXAMPLES_PER_RULE]
    ]
    return [
        RuleResult(
            table.name, "arm", "campaign without a control arm", len(rows), examples, rule="campaign_without_control"
        )
    ]


def _rule_results(con: duckdb.DuckDBPyConnection, table: Table, raw: RawTable, rules: list[Rule]) -> list[RuleResult]:
    if not rules:
        return []
    relation = quote_ident("__raw_" + table.name)
    counts_row = con.execute(
        "SELECT " + ", ".join(f"count(*) FILTER (WHERE {r.predicate})" for r in rules) + f" FROM {relation}"
    ).fetchone()
    assert counts_row is not None
    has_customer = "customer_id" in raw.columns
    out: list[RuleResult] = []
    for rule, count in zip(rules, counts_row, strict=True):
        if not count:
            continue
        who = "CAST(customer_id AS VARCHAR)" if has_customer else "NULL"
        rows = con.execute(
            f"SELECT __row, {who}, {rule.value_sql} FROM {relation} WHERE {rule.predicate} "
            f"ORDER BY __row LIMIT {EXAMPLES_PER_RULE}"
        ).fetchall()
        examples = [
            DataIssue(
                table.name,
                rule.column,
                rule.message,
                row=int(r[0]),
                customer_id=None if r[1] is None or rule.column == "customer_id" else str(r[1]),
                value=None if r[2] is None else str(r[2]),
                source=raw.origin,
            )
            for r in rows
        ]
        out.append(
            RuleResult(
                table.name,
                rule.column,
                rule.message,
                int(count),
                examples,
                rule.predicate,
                rule.value_sql,
                rule=rule.name,
            )
        )
    return out


def _summary(con: duckdb.DuckDBPyConnection, table: Table, raw: RawTable) -> TableSummary:
    relation = quote_ident("__raw_" + table.name)
    parts = ["count(*)"]
    parts.append("count(DISTINCT customer_id)" if "customer_id" in raw.columns else "NULL")
    tcol = table.time_column
    if tcol and tcol in raw.columns:
        typed = typed_expr(tcol, table.column(tcol).type, raw.columns[tcol])
        parts += [f"CAST(min({typed}) AS VARCHAR)", f"CAST(max({typed}) AS VARCHAR)"]
    else:
        parts += ["NULL", "NULL"]
    row = con.execute(f"SELECT {', '.join(parts)} FROM {relation}").fetchone()
    assert row is not None
    return TableSummary(table.name, raw.origin, int(row[0]), None if row[1] is None else int(row[1]), row[2], row[3])


def validate_connection(con: duckdb.DuckDBPyConnection, source: RawTableSource) -> DataQualityReport:
    """Check every raw table registered by ``source`` on ``con`` against the contract."""
    import pandas as pd

    extracted = source.extracted_at if source.extracted_at is not None else pd.Timestamp.now(tz="UTC").tz_localize(None)
    extracted_text = str(pd.Timestamp(extracted).floor("s"))
    report = DataQualityReport(source=scrub_password(str(source.url)), extracted_at=extracted_text)
    present = set(source.raw_tables)
    report.absent_tables = [name for name in TABLES if name not in present]
    for name in report.absent_tables:
        if TABLES[name].required:  # connect() refuses these too; validate must not call such a source clean
            found = ", ".join(sorted(present)) or "none"
            message = (
                f"required table(s) {name} not found (found: {found}); "
                f"a directory needs files named like {name}.csv or {name}.parquet"
            )
            issue = DataIssue(name, None, message, source=report.source)
            report.problems.append(
                RuleResult(name, None, "missing required table", 1, [issue], rule="missing_required_table")
            )
    for name, raw in source.raw_tables.items():
        table = TABLES[name]
        summary = _summary(con, table, raw)
        report.tables.append(summary)
        if summary.rows == 0 and table.required:
            report.problems.append(
                RuleResult(
                    name,
                    None,
                    "no rows",
                    1,
                    [DataIssue(name, None, "the table has no rows", source=raw.origin)],
                    rule="no_rows",
                )
            )
            continue
        shape = _shape_problems(table, raw)
        report.problems += shape
        if any(p.message == "missing required column" for p in shape):
            continue  # row rules would only repeat the missing column
        rules = _column_rules(table, raw, extracted_text, present) + _quality_rules(table, raw, source.raw_tables)
        for result in _rule_results(con, table, raw, rules):
            (report.warnings if DATA_RULES[result.rule].severity == "warning" else report.problems).append(result)
        report.problems += _duplicate_keys(con, table, raw)
        report.problems += _mixed_timezones(con, table, raw)
        report.warnings += _campaigns_without_control(con, table, raw)
    return report


def rejected_rows(con: duckdb.DuckDBPyConnection, source: RawTableSource, report: DataQualityReport) -> pd.DataFrame:
    """Every raw row that breaks a row-level rule of ``report``, located: one row per (row, rule).

    Columns: ``table``, ``row`` (1-based), ``customer_id`` (as written; None when the row has none) and
    ``reason`` (the same located text ``churnltv validate`` prints). Batch scoring uses this to set aside the
    customers whose input is bad instead of failing the whole base on one row, and to report each one.
    """
    import pandas as pd

    frames: list[pd.DataFrame] = []
    for problem in report.problems:
        if problem.predicate is None:
            continue
        raw = source.raw_tables[problem.table]
        relation = quote_ident("__raw_" + problem.table)
        who = "CAST(customer_id AS VARCHAR)" if "customer_id" in raw.columns else "CAST(NULL AS VARCHAR)"
        rows = con.execute(
            f"SELECT __row, {who}, CAST({problem.value_sql or 'NULL'} AS VARCHAR) FROM {relation} "
            f"WHERE {problem.predicate} ORDER BY __row"
        ).fetchall()
        reasons = [
            str(
                DataIssue(
                    problem.table,
                    problem.column,
                    problem.message,
                    row=int(r[0]),
                    customer_id=None if r[1] is None or problem.column == "customer_id" else str(r[1]),
                    value=None if r[2] is None else str(r[2]),
                    source=raw.origin,
                )
            )
            for r in rows
        ]
        frames.append(
            pd.DataFrame(
                {
                    "table": problem.table,
                    "row": [int(r[0]) for r in rows],
                    "customer_id": pd.Series([r[1] for r in rows], dtype=object),
                    "reason": reasons,
                }
            )
        )
    if not frames:
        return pd.DataFrame({"table": [], "row": [], "customer_id": [], "reason": []}).astype(
            {"row": "int64", "customer_id": object}
        )
    return pd.concat(frames, ignore_index=True)


def accepted_rows_predicate(report: DataQualityReport, table: str) -> str:
    """SQL predicate TRUE on a raw row of ``__raw_<table>`` that no row-level rule of ``report`` sets aside.

    The exact complement of what ``rejected_rows`` selects (a rule's predicate that is NULL on a row does not
    reject it there either), so "accepted" and "set aside" cannot disagree.
    """
    rejecting = [p.predicate for p in report.problems if p.table == table and p.predicate is not None]
    return " AND ".join(f"NOT coalesce(({p}), false)" for p in rejecting) or "TRUE"


def accepted_rows_sql(source: RawTableSource, report: DataQualityReport, table: str) -> str:
    """A SELECT of the accepted rows of ``table`` with contract columns and types (the typed view minus the
    rows set aside): what anything derived from the data as a whole, like a default cutoff, must read."""
    raw = source.raw_tables[table]
    return (
        f"SELECT {typed_select_list(TABLES[table], raw)} FROM {quote_ident('__raw_' + table)} "
        f"WHERE {accepted_rows_predicate(report, table)}"
    )
