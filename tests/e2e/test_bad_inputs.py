"""The bad-input catalogue (docs/BAD_INPUTS.md): every case, run for real.

Each case asserts three things: the user gets one clear message naming the file/row/column or the
field (copied into the doc), the CLI exits 2 without a traceback or the API answers 4xx, and nothing
was lost or half-written (inputs unchanged, no output file, the previous score run still the latest
complete one, the previous models still serving).

``CATALOGUE`` is the single list of cases: the doc test checks that every case appears in
docs/BAD_INPUTS.md with the same status and message, and that every case is exercised here.
Fast cases (CSV directories, ``churnltv validate`` / ``features``) run in-process; cases that need
trained models share the session's ``trained_world`` and are marked slow.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from churnltv.cli import app
from support.server import model_feature_settings
from support.world import TrainedWorld

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "BAD_INPUTS.md"

# id -> (where, exit code or HTTP status, message fragment that the real output and the doc row both contain)
CATALOGUE: dict[str, tuple[str, str, str]] = {
    # --- data files (CLI: `churnltv features` and `churnltv validate`) ---------------------------------------
    "bad_encoding": (
        "CLI",
        "2",
        "customers.csv, row 1 (line 2): not UTF-8 text (invalid continuation byte at byte 17); save the file as UTF-8",
    ),
    "missing_column": (
        "CLI",
        "2",
        "events.csv, column 'event_type': missing required column 'event_type' (found: customer_id, occurred_at, "
        "module)",
    ),
    "extra_column": (
        "CLI",
        "2",
        "events.csv, column 'colour': unexpected column 'colour'; the contract has customer_id, occurred_at, "
        "event_type, module, value",
    ),
    "wrong_type": ("CLI", "2", "transactions.csv, row 2, column 'amount', customer 'c1': not a number (value: 'abc')"),
    "unparseable_date": (
        "CLI",
        "2",
        "events.csv, row 1, column 'occurred_at', customer 'c1': not a valid date/time (expected e.g. "
        "2024-03-01 10:00:00) (value: '2024-02-30')",
    ),
    "future_date": (
        "CLI",
        "2",
        "events.csv, row 1, column 'occurred_at', customer 'c1': dated in the future (after the extraction time",
    ),
    "mixed_time_zones": (
        "CLI",
        "2",
        "events.csv, row 1, column 'occurred_at': mixed time zones: some values carry a UTC offset and some do not "
        "(value: '2024-02-01T10:00:00+02:00')",
    ),
    "negative_amount": (
        "CLI",
        "2",
        "transactions.csv, row 1, column 'amount', customer 'c1': negative amount (value: '-3.5')",
    ),
    "nan_amount": (
        "CLI",
        "2",
        "transactions.csv, row 1, column 'amount', customer 'c1': not a number (NaN/inf) (value: 'NaN')",
    ),
    "nps_out_of_range": (
        "CLI",
        "2",
        "nps_responses.csv, row 1, column 'score', customer 'c1': outside 0-10 (value: '11')",
    ),
    "duplicate_ids": (
        "CLI",
        "2",
        "customers.csv, row 3, column 'customer_id': duplicate id (the same key appears on an earlier row) "
        "(value: 'c1')",
    ),
    "unknown_customer_in_events": (
        "CLI",
        "2",
        "events.csv, row 1, column 'customer_id': unknown customer (not in customers) (value: 'c9')",
    ),
    "unknown_customer_in_transactions": (
        "CLI",
        "2",
        "transactions.csv, row 1, column 'customer_id': unknown customer (not in customers) (value: 'c7')",
    ),
    "nps_not_whole": (
        "CLI",
        "2",
        "nps_responses.csv, row 1, column 'score', customer 'c1': not a whole number (value: '7.5')",
    ),
    "empty_file": ("CLI", "2", "events.csv: the file is empty (expected a header line with the column names)"),
    "header_only_file": ("CLI", "2", "events.csv: the table has no rows"),
    "ragged_row": (
        "CLI",
        "2",
        "events.csv, row 2 (line 3): 3 field(s), but the header has 4 (customer_id, occurred_at, event_type, "
        "module); check for a missing or extra comma or an unquoted value",
    ),
    "duplicate_header": (
        "CLI",
        "2",
        "events.csv, column 'event_type': the header gives this column twice (fields 3 and 5); keep one, or rename "
        "the other",
    ),
    "missing_required_table": ("CLI", "2", "required table(s) events not found (found: customers, transactions)"),
    "table_given_twice": ("CLI", "2", "table 'events' is given twice (events.csv, events.csv.gz); keep one file"),
    "missing_value": ("CLI", "2", "customers.csv, row 3, column 'segment', customer 'c3': missing value"),
    "not_an_allowed_value": (
        "CLI",
        "2",
        "customers.csv, row 3, column 'segment', customer 'c3': not one of b2c, b2b (value: 'b2x')",
    ),
    # --- the named data rules of issue 19 (docs/BAD_INPUTS.md, "Data rules") ----------------------------------
    "event_before_signup": (
        "CLI",
        "2",
        "events.csv, row 1, column 'occurred_at', customer 'c1': dated before the customer's signup "
        "(customers.signup_at) (value: '2023-12-31 10:00:00')",
    ),
    "id_surrounding_spaces": (
        "CLI",
        "2",
        "customers.csv, row 3, column 'customer_id': differs from another customer id only by surrounding spaces "
        "(ids are matched exactly) (value: ' c2 ')",
    ),
    "nul_byte": (
        "CLI",
        "2",
        "events.csv, row 1, column 'event_type', customer 'c1': contains a NUL byte (\\x00) (value: 'core\\x00action')",
    ),
    "id_case_only": (
        "CLI",
        "0",
        "customers.csv, row 3, column 'customer_id': differs from another customer id only in letter case "
        "(counted as two customers) (value: 'C2')",
    ),
    "nonexistent_path": (
        "CLI",
        "2",
        "nope: no such file or directory (expected a directory of CSV/Parquet files, a .duckdb file or a "
        "postgresql:// URL)",
    ),
    "unreachable_postgres": ("CLI", "2", "cannot connect to PostgreSQL at postgresql://postgres:***@127.0.0.1:"),
    "validate_bad_extracted_at": (
        "CLI",
        "2",
        "--extracted-at 'last tuesday' is not a date/time (use e.g. 2025-01-01 or 2025-01-01T12:00:00)",
    ),
    "features_bad_as_of": (
        "CLI",
        "2",
        "cutoff '2024-13-45' is not a date/time (use e.g. 2025-06-30): month must be in 1..12",
    ),
    "generate_bad_vocabulary": ("CLI", "2", "--vocabulary 'social' is not one of default, hetero"),
    "features_disk_full": ("CLI", "2", "f.parquet': Error writing bytes to file. Detail: [errno 28] No space left"),
    "report_disk_full": ("CLI", "2", "dq.json': No space left on device"),
    "report_not_a_file": ("CLI", "2", "not a regular file; give a file path for the report"),
    # --- batch scoring (CLI: `churnltv score`) ---------------------------------------------------------------
    "score_bad_as_of": ("CLI", "2", "--as-of '2024-13-45' is not a date (use YYYY-MM-DD)"),
    "score_unknown_alias": ("CLI", "2", "no version of churnltv-churn has alias 'nope'; train a model first"),
    "score_corrupt_bundle": ("CLI", "2", "model.txt is damaged: it is truncated (no 'end of trees' marker)"),
    "score_bad_data": (
        "CLI",
        "2",
        "1 bad rows exceed the threshold (0.00% of 3000 = 0) (CHURNLTV_SCORE_MAX_BAD_ROW_FRACTION); the previous "
        "run is still served.",
    ),
    "score_model_data_mismatch": (
        "CLI",
        "2",
        "does not fit the features of this data (15 difference(s)):\n  - missing feature 'sub_active' (int, from "
        "subscriptions) (left out: no subscriptions table)",
    ),
    "score_disk_full": (
        "CLI",
        "2",
        "part-00000.parquet': Error writing bytes to file. Detail: [errno 28] No space left on device",
    ),
    "score_duckdb_disk_full": ("CLI", "2", "scores.duckdb: could not "),
    "score_duckdb_store_held_by_a_writer": (
        "CLI",
        "2",
        "another program has the store open for writing",
    ),
    # --- HTTP API -------------------------------------------------------------------------------------------
    "api_unknown_customer": ("API", "404", "customer_id: unknown customer 'ghost' (or signed up after as_of)"),
    "api_unknown_account": ("API", "404", "account_id: unknown account 'ghost' (or no user signed up before as_of)"),
    "api_empty_batch": ("API", "422", "customer_ids: List should have at least 1 item after validation, not 0"),
    "api_empty_predict": ("API", "422", "customers: List should have at least 1 item after validation, not 0"),
    "api_oversized_batch": ("API", "413", "customer_ids: 101 given, at most 100 per call"),
    "api_oversized_predict": ("API", "413", "customers: 1001 given, at most 1000 per call"),
    "api_oversized_body": ("API", "413", "request body of 250000 bytes is over the limit of 200000 bytes"),
    "api_oversized_chunked_body": ("API", "413", "request body is over the limit of 200000 bytes"),
    "api_missing_key": ("API", "401", "missing API key: send it in the X-API-Key header"),
    "api_wrong_key": ("API", "403", "API key not accepted"),
    "api_malformed_json": (
        "API",
        "422",
        "invalid request: body: malformed JSON at character 1: Expecting property name enclosed in double quotes",
    ),
    "api_wrong_types": (
        "API",
        "422",
        "customers.0.events_30d: Input should be a valid integer, unable to parse string as an integer",
    ),
    "api_fractional_count": (
        "API",
        "422",
        "customers.0.events_30d: Input should be a valid integer, got a number with a fractional part",
    ),
    "api_nan": ("API", "422", "customers.0.tenure_days: Input should be a finite number, not NaN"),
    "api_negative_count": ("API", "422", "customers.0.events_30d: Input should be greater than or equal to 0"),
    "api_missing_feature": ("API", "422", "the loaded churn model needs these features: customers.0.events_30d"),
    "api_future_as_of": ("API", "422", "customers.0.as_of: 2999-01-01T00:00:00 is in the future"),
    "api_extra_field": ("API", "422", "customers.0.favourite_colour: Extra inputs are not permitted"),
    "api_bad_as_of_query": ("API", "422", "query.as_of: Input should be a valid datetime or date"),
    "api_reload_unknown_alias": (
        "API",
        "409",
        "reload failed, still serving the previous models: no version of churnltv-churn has alias 'nope'",
    ),
    "api_reload_corrupt_bundle": (
        "API",
        "409",
        "reload failed, still serving the previous models: ",
    ),
    "api_reload_different_spec": (
        "API",
        "409",
        "does not fit the features this service feeds it (1 difference(s)):\n  - serving model: setting 'aha' is ",
    ),
    "api_start_corrupt_bundle": ("API", "503", "model.txt is damaged: it is truncated (no 'end of trees' marker)"),
    # --- HTTP API, checked before any model is needed (an app without models) ---------------------------------
    "api_huge_count": (
        "API",
        "422",
        "invalid request: customers.0.events_30d: Input should be less than or equal to 1000000000",
    ),
    "api_huge_amount": (
        "API",
        "422",
        "invalid request: customers.0.txn_amount_total: Input should be less than or equal to 1000000000000",
    ),
    "api_bool_count": (
        "API",
        "422",
        "invalid request: customers.0.events_30d: Input should be a number, not a boolean (true)",
    ),
    "api_inf_budget": ("API", "422", "invalid request: query.budget: Input should be a finite number, not infinity"),
    "api_nan_budget": ("API", "422", "invalid request: query.budget: Input should be a finite number, not NaN"),
    "api_clv_out_of_range": (
        "API",
        "422",
        "invalid request: monthly_margin: Input should be less than or equal to 1000000000000; "
        "expected_lifetime_months: Input should be less than or equal to 12000",
    ),
    "api_clv_missing_inputs": ("API", "422", "formula 'simple' needs: monthly_cost, expected_lifetime_months"),
    "api_not_json": (
        "API",
        "415",
        "unsupported content type 'text/plain': send the body as JSON with Content-Type: application/json",
    ),
    "api_deep_json": (
        "API",
        "422",
        "invalid request: body: malformed JSON: nested too deeply to parse (a request body is at most a few levels "
        "deep: an object holding a list of objects)",
    ),
    "api_not_utf8": (
        "API",
        "422",
        "invalid request: body: malformed JSON: the body cannot be decoded (send UTF-8 encoded JSON)",
    ),
    "api_reload_no_key": (
        "API",
        "401",
        "missing API key: send an admin key (CHURNLTV_ADMIN_API_KEYS) in the X-API-Key header",
    ),
    "api_reload_read_key": (
        "API",
        "403",
        "API key not accepted for /admin routes: they need an admin key (CHURNLTV_ADMIN_API_KEYS)",
    ),
    "serve_docs_assets_missing": (
        "CLI",
        "2",
        "lacks swagger-ui-bundle.js, swagger-ui.css (copy them from the dist folder of the swagger-ui-dist package)",
    ),
}

# --- a small clean CSV base and the one-file edits that break it ---------------------------------------------

CUSTOMERS = (
    "customer_id,signup_at,acquisition_channel,segment,account_id\n"
    "c1,2024-01-01 10:00:00,ads,b2c,\nc2,2024-01-02,seo,b2b,a1\n"
)
EVENTS = (
    "customer_id,occurred_at,event_type,module\nc1,2024-02-01 10:00:00,core_action,reports\nc2,2024-02-03,login,app\n"
)
TRANSACTIONS = "customer_id,occurred_at,amount,order_id\nc1,2024-02-01,12.5,o1\nc2,2024-02-02,0,o2\n"
EVENTS_HEADER = "customer_id,occurred_at,event_type,module\n"
TX_HEADER = "customer_id,occurred_at,amount,order_id\n"

# id -> (file to write, its content; None deletes the file)
DATA_CASES: dict[str, tuple[str, bytes | None]] = {
    "bad_encoding": (
        "customers.csv",
        b"customer_id,signup_at,acquisition_channel,segment,account_id\nc1,2024-01-01,caf\xe9,b2c,\n",
    ),
    "missing_column": ("events.csv", b"customer_id,occurred_at,module\nc1,2024-02-01,app\n"),
    "extra_column": ("events.csv", b"customer_id,occurred_at,event_type,module,colour\nc1,2024-02-01,login,app,red\n"),
    "wrong_type": ("transactions.csv", f"{TX_HEADER}c1,2024-02-01,12,o1\nc1,2024-02-01,abc,o2\n".encode()),
    "unparseable_date": ("events.csv", f"{EVENTS_HEADER}c1,2024-02-30,login,app\n".encode()),
    "future_date": ("events.csv", f"{EVENTS_HEADER}c1,2999-02-03,login,app\n".encode()),
    "mixed_time_zones": (
        "events.csv",
        f"{EVENTS_HEADER}c1,2024-02-01T10:00:00+02:00,login,app\nc2,2024-02-01 09:00:00,login,app\n".encode(),
    ),
    "negative_amount": ("transactions.csv", f"{TX_HEADER}c1,2024-02-01,-3.5,o1\n".encode()),
    "nan_amount": ("transactions.csv", f"{TX_HEADER}c1,2024-02-01,NaN,o1\n".encode()),
    "nps_out_of_range": ("nps_responses.csv", b"customer_id,answered_at,score\nc1,2024-03-01,11\n"),
    "duplicate_ids": ("customers.csv", (CUSTOMERS + "c1,2024-01-03,ads,b2c,\n").encode()),
    "unknown_customer_in_events": ("events.csv", f"{EVENTS_HEADER}c9,2024-02-03,login,app\n".encode()),
    "unknown_customer_in_transactions": ("transactions.csv", f"{TX_HEADER}c7,2024-02-01,9.5,o1\n".encode()),
    "nps_not_whole": ("nps_responses.csv", b"customer_id,answered_at,score\nc1,2024-03-01,7.5\n"),
    "empty_file": ("events.csv", b""),
    "header_only_file": ("events.csv", EVENTS_HEADER.encode()),
    "ragged_row": ("events.csv", f"{EVENTS_HEADER}c1,2024-02-01,login,app\nc1,2024-02-01,login\n".encode()),
    "duplicate_header": (
        "events.csv",
        b"customer_id,occurred_at,event_type,module,event_type\nc1,2024-02-01,login,app,x\n",
    ),
    "missing_required_table": ("events.csv", None),
    "table_given_twice": ("events.csv.gz", gzip.compress(EVENTS.encode())),
    "missing_value": ("customers.csv", (CUSTOMERS + "c3,2024-01-03,ads,,\n").encode()),
    "not_an_allowed_value": ("customers.csv", (CUSTOMERS + "c3,2024-01-03,ads,b2x,\n").encode()),
    "event_before_signup": ("events.csv", f"{EVENTS_HEADER}c1,2023-12-31 10:00:00,login,app\n".encode()),
    "id_surrounding_spaces": ("customers.csv", (CUSTOMERS + " c2 ,2024-01-03,ads,b2c,\n").encode()),
    "nul_byte": ("events.csv", f"{EVENTS_HEADER}c1,2024-02-01,core\0action,app\n".encode()),
}
# accepted with a warning: the data loads (exit 0) and validate names the rows
WARNING_CASES: dict[str, tuple[str, bytes]] = {
    "id_case_only": ("customers.csv", (CUSTOMERS + "C2,2024-01-03,ads,b2c,\n").encode()),
}


def write_base(root: Path, case: str | None = None) -> Path:
    """A valid three-table CSV directory, with ``case``'s one-file edit applied."""
    root.mkdir(parents=True, exist_ok=True)
    for name, text in (("customers.csv", CUSTOMERS), ("events.csv", EVENTS), ("transactions.csv", TRANSACTIONS)):
        (root / name).write_text(text)
    if case is not None:
        name, content = {**DATA_CASES, **WARNING_CASES}[case]
        if content is None:
            (root / name).unlink()
        else:
            (root / name).write_bytes(content)
    return root


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under ``root`` with its SHA-256: equal before and after = nothing touched."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def run_cli(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    """Invoke the real `churnltv` command in-process: (exit code, stdout + stderr)."""
    result = CliRunner().invoke(app, args, env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{args}: escaped the CLI's error handling: {result.exception!r}\n{result.output}")
    return result.exit_code, result.output


def record(case: str, status: int, message: str) -> None:
    """With BAD_INPUTS_RECORD=file, append what the user really got (docs/BAD_INPUTS.md is copied from it)."""
    target = os.environ.get("BAD_INPUTS_RECORD")
    if target:
        with Path(target).open("a") as fh:
            fh.write(json.dumps({"case": case, "status": status, "message": message}) + "\n")


PLACEHOLDER = re.compile(r"<[a-z][a-z ]*>")


def doc_message(case: str) -> re.Pattern[str]:
    """The whole message docs/BAD_INPUTS.md shows for ``case``, as a pattern: placeholders such as ``<dir>``,
    ``<now>`` or ``<port>`` (temporary paths, the clock) match any text, everything else must be identical."""
    cell = _doc_rows()[case][3]
    lines = [part.strip().strip("`") for part in cell.split("<br>")]
    literal = "\n".join(lines)
    pieces = PLACEHOLDER.split(literal)
    return re.compile(".+?".join(re.escape(piece) for piece in pieces), re.S)


def expect_cli(case: str, code: int, output: str, *, exact: bool = True) -> None:
    """Exit code 2, exactly the doc's message (with ``exact``; else the catalogue's fragment), no traceback."""
    record(case, code, output)
    assert CATALOGUE[case][1] == "2"
    assert code == 2, f"{case}: exit {code}\n{output}"
    assert "Traceback" not in output, output
    assert "error: unexpected " not in output, output  # the CLI's wording for a bug (exit 1)
    assert CATALOGUE[case][2] in output, f"{case}: expected {CATALOGUE[case][2]!r} in\n{output}"
    if exact:
        message = output[output.index("error: ") :].rstrip() if "error: " in output else output
        pattern = doc_message(case)
        assert pattern.fullmatch(message), f"{case}: the message is not the documented one:\n{message}\n---\n{pattern}"


def expect_http(case: str, response: Any) -> None:
    """The catalogue's status and message in ``detail`` (never a 500, never a traceback); a 422 lists ``errors``."""
    status, fragment = CATALOGUE[case][1], CATALOGUE[case][2]
    record(case, response.status_code, response.text)
    assert response.status_code == int(status), f"{case}: {response.status_code} {response.text}"
    assert "Traceback" not in response.text
    assert fragment in str(response.json()["detail"]), f"{case}: expected {fragment!r} in {response.text}"
    if response.status_code == 422:
        errors = response.json().get("errors")
        assert errors, f"{case}: a 422 without errors: {response.text}"
        assert all(set(e) == {"field", "message"} for e in errors), response.text


@contextmanager
def full_disk(root: Path, *, copy_in: Path | None = None, free_kb: int = 8) -> Iterator[Path]:
    """A tiny tmpfs with ``copy_in`` on it and only ``free_kb`` KiB left: writes fail with ENOSPC.

    Needs root (CI containers run as root). ``/dev/full`` is no substitute here: every writer of ours
    writes a temporary file beside the target and renames it, and renaming onto ``/dev/full`` replaces
    the device node itself.
    """
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a full disk is simulated with a tmpfs mount, which needs root")
    mount_point = root / "tiny_disk"
    mount_point.mkdir(parents=True)
    used_kb = 0 if copy_in is None else sum(p.stat().st_size for p in copy_in.rglob("*") if p.is_file()) // 1024
    size_kb = used_kb + free_kb + 256
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(mount_point)],
        check=False,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        if copy_in is not None:
            shutil.copytree(copy_in, mount_point / copy_in.name)
        stat = os.statvfs(mount_point)
        filler = max(stat.f_bavail * stat.f_frsize - free_kb * 1024, 0)
        with (mount_point / "filler").open("wb") as fh:
            fh.write(b"\0" * filler)
        yield mount_point
    finally:
        if subprocess.run(["umount", str(mount_point)], check=False, capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount_point)], check=False, capture_output=True)


# --- data-file cases: `churnltv features` and `churnltv validate` --------------------------------------------


@pytest.mark.parametrize("case", list(DATA_CASES))
def test_bad_data_file_is_named_and_nothing_is_written(tmp_path: Path, case: str) -> None:
    data = write_base(tmp_path / "data", case)
    before = tree_digest(data)
    out = tmp_path / "out" / "f.parquet"
    code, output = run_cli(["features", "--data", str(data), "--out", str(out)])
    expect_cli(case, code, output)
    assert not out.parent.exists() or not any(out.parent.iterdir()), "features wrote output for bad data"

    report = tmp_path / "dq.json"
    code, output = run_cli(["validate", "--data", str(data), "--report", str(report)])
    expect_cli(case, code, output, exact=False)  # validate prints a summary, then its own closing line
    if report.exists():  # validate saves the summary of what is wrong, and never calls bad data clean
        saved = json.loads(report.read_text())
        assert saved["ok"] is False
        assert saved["rows_rejected"] >= 1
    assert tree_digest(data) == before, "the input files were changed"


@pytest.mark.parametrize("case", list(WARNING_CASES))
def test_a_warning_rule_loads_the_data_and_validate_names_the_rows(tmp_path: Path, case: str) -> None:
    data = write_base(tmp_path / "data", case)
    before = tree_digest(data)
    out = tmp_path / "out" / "f.parquet"
    code, output = run_cli(["features", "--data", str(data), "--out", str(out)])
    assert code == 0, output
    assert out.exists()
    code, output = run_cli(["validate", "--data", str(data), "--report", str(tmp_path / "dq.json")])
    record(case, code, output)
    assert code == int(CATALOGUE[case][1]) == 0, output
    assert "no problems found" in output
    assert CATALOGUE[case][2] in output, output
    assert doc_message(case).search(output), f"{case}: the documented lines are not in\n{output}"
    saved = json.loads((tmp_path / "dq.json").read_text())
    assert saved["ok"] is True
    assert [w["rule"] for w in saved["warnings"]] == [case]
    assert tree_digest(data) == before


def test_clean_base_passes_so_the_cases_above_test_one_edit_each(tmp_path: Path) -> None:
    data = write_base(tmp_path / "data")
    code, output = run_cli(["validate", "--data", str(data), "--report", str(tmp_path / "dq.json")])
    assert code == 0, output
    assert "no problems found" in output


def test_nonexistent_path(tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    code, output = run_cli(["features", "--data", str(tmp_path / "nope"), "--out", str(out)])
    expect_cli("nonexistent_path", code, output)
    assert not out.exists()
    assert not (tmp_path / "nope").exists()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_postgres_is_named_without_its_password(tmp_path: Path) -> None:
    url = f"postgresql://postgres:s3cret@127.0.0.1:{_closed_port()}/test"
    out = tmp_path / "out.parquet"
    code, output = run_cli(["features", "--data", url, "--out", str(out)])
    expect_cli("unreachable_postgres", code, output)
    assert "Connection refused" in output
    assert "s3cret" not in output
    assert not out.exists()


def test_validate_bad_extracted_at(tmp_path: Path) -> None:
    data = write_base(tmp_path / "data")
    report = tmp_path / "dq.json"
    code, output = run_cli(["validate", "--data", str(data), "--extracted-at", "last tuesday", "--report", str(report)])
    expect_cli("validate_bad_extracted_at", code, output)
    assert not report.exists()


def test_features_bad_as_of(tmp_path: Path) -> None:
    data = write_base(tmp_path / "data")
    out = tmp_path / "out.parquet"
    code, output = run_cli(["features", "--data", str(data), "--as-of", "2024-13-45", "--out", str(out)])
    expect_cli("features_bad_as_of", code, output)
    assert not out.exists()


def test_generate_bad_vocabulary_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "base.duckdb"
    code, output = run_cli(["generate", "--customers", "10", "--vocabulary", "social", "--out", str(out)])
    expect_cli("generate_bad_vocabulary", code, output)
    assert not out.exists()


def test_features_output_on_a_full_disk_leaves_no_half_written_file(tmp_path: Path) -> None:
    data = write_base(tmp_path / "data")
    with full_disk(tmp_path, free_kb=4) as disk:
        out = disk / "f.parquet"
        code, output = run_cli(["features", "--data", str(data), "--out", str(out)])
        expect_cli("features_disk_full", code, output)
        assert sorted(p.name for p in disk.iterdir()) == ["filler"], "a partial output file was left behind"


def test_report_on_a_full_disk_keeps_the_previous_report(tmp_path: Path) -> None:
    data = write_base(tmp_path / "data")
    previous = tmp_path / "previous"
    previous.mkdir()
    (previous / "dq.json").write_text('{"ok": true, "previous": 1}')
    with full_disk(tmp_path, copy_in=previous, free_kb=0) as disk:
        report = disk / "previous" / "dq.json"
        code, output = run_cli(["validate", "--data", str(data), "--report", str(report)])
        expect_cli("report_disk_full", code, output)
        assert report.read_text() == '{"ok": true, "previous": 1}'
        assert sorted(p.name for p in report.parent.iterdir()) == ["dq.json"], "a temporary file was left behind"


def test_report_path_that_is_not_a_file_is_refused_untouched(tmp_path: Path) -> None:
    data = write_base(tmp_path / "data")
    target = tmp_path / "reports"
    target.mkdir()
    (target / "keep.txt").write_text("keep")
    code, output = run_cli(["validate", "--data", str(data), "--report", str(target)])
    expect_cli("report_not_a_file", code, output)
    assert target.is_dir()
    assert (target / "keep.txt").read_text() == "keep"


def test_real_console_script_prints_no_traceback(tmp_path: Path) -> None:
    """The in-process runner above cannot show what a real terminal gets; one case through the installed script."""
    data = write_base(tmp_path / "data", "bad_encoding")
    script = Path(sys.executable).parent / "churnltv"
    done = subprocess.run(
        [str(script), "validate", "--data", str(data), "--report", str(tmp_path / "dq.json")],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    expect_cli("bad_encoding", done.returncode, done.stdout + done.stderr)


# --- the catalogue document ----------------------------------------------------------------------------------


def _doc_rows() -> dict[str, list[str]]:
    """The rows of the "## The catalogue" table, keyed by case id."""
    text = DOC.read_text()
    section = text.split("## The catalogue", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        rows[cells[0].strip("`")] = cells
    return rows


def test_doc_lists_every_case_with_its_status_and_message() -> None:
    rows = _doc_rows()
    assert set(rows) == set(CATALOGUE), (
        f"doc-only: {set(rows) - set(CATALOGUE)}; test-only: {set(CATALOGUE) - set(rows)}"
    )
    for case, (where, status, fragment) in CATALOGUE.items():
        row = rows[case]
        assert row[1] == where, case
        assert row[-1] == status, case
        text = " ".join(row[2:-1]).replace("<br>", "\n").replace("`", "")
        assert fragment in text, f"{case}: the doc's message does not contain {fragment!r}"
    assert len(CATALOGUE) >= 30


def test_every_catalogue_case_is_exercised_by_a_test() -> None:
    source = Path(__file__).read_text()
    for case in CATALOGUE:
        assert source.count(f'"{case}"') >= 2, f"{case} is listed but no test uses it"


# --- batch scoring: `churnltv score` (needs the trained world) -------------------------------------------------


def store_state(target: Path) -> tuple[str, list[tuple[str, str]], int]:
    """(LATEST pointer, complete runs, rows served): what readers of the score store see."""
    from service.score_store import open_score_store

    store = open_score_store(str(target))
    try:
        runs = sorted((str(r["run_id"]), str(r["status"])) for r in store.list_runs() if r["status"] == "complete")
        return (target / "LATEST").read_text(), runs, len(store.read_scores())
    finally:
        store.close()


@pytest.fixture
def scores_copy(trained_world: TrainedWorld, tmp_path: Path) -> Path:
    target = tmp_path / "scores"
    shutil.copytree(trained_world.scores, target)
    return target


def truncate(model: Path) -> None:
    """Cut a file in half, as an interrupted copy leaves it."""
    data = model.read_bytes()
    model.write_bytes(data[: len(data) // 2])


@pytest.fixture(scope="module")
def champion_bundle(trained_world: TrainedWorld, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the champion churn bundle directory (what a deployment would point CHURNLTV_CHURN_MODEL at)."""
    from service.model_set import load_model_set

    models = load_model_set(churn_ref="champion", ltv_ref=None, tracking_uri=trained_world.tracking_uri)
    bundle = tmp_path_factory.mktemp("bundles") / "churn-champion"
    shutil.copytree(models.churn_info.path, bundle)
    return bundle


@pytest.fixture(scope="module")
def truncated_bundle(champion_bundle: Path) -> Path:
    """The champion bundle with model.txt cut in half (an interrupted copy)."""
    bundle = champion_bundle.parent / "churn-truncated"
    shutil.copytree(champion_bundle, bundle)
    truncate(bundle / "model.txt")
    return bundle


@pytest.mark.slow
def test_score_bad_as_of(trained_world: TrainedWorld, scores_copy: Path) -> None:
    before = tree_digest(scores_copy)
    args = ["score", "--data", str(trained_world.data), "--output", str(scores_copy), "--as-of", "2024-13-45"]
    expect_cli("score_bad_as_of", *run_cli(args, env=trained_world.env))
    assert tree_digest(scores_copy) == before


@pytest.mark.slow
def test_score_unknown_model_alias(trained_world: TrainedWorld, scores_copy: Path) -> None:
    before = tree_digest(scores_copy)
    args = ["score", "--data", str(trained_world.data), "--output", str(scores_copy), "--churn-model", "nope"]
    expect_cli("score_unknown_alias", *run_cli(args, env=trained_world.env))
    assert tree_digest(scores_copy) == before


@pytest.mark.slow
def test_score_corrupt_bundle_is_refused_not_a_crash(
    trained_world: TrainedWorld, scores_copy: Path, truncated_bundle: Path
) -> None:
    """LightGBM aborts the process (exit 134) on a truncated model.txt; the bundle check must catch it first."""
    before = tree_digest(scores_copy)
    script = Path(sys.executable).parent / "churnltv"
    args = ["score", "--data", str(trained_world.data), "--output", str(scores_copy)]
    done = subprocess.run(
        [str(script), *args, "--churn-model", str(truncated_bundle)],
        env={**os.environ, **trained_world.env},
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    expect_cli("score_corrupt_bundle", done.returncode, done.stdout + done.stderr)
    assert tree_digest(scores_copy) == before


@pytest.mark.slow
def test_score_bad_data_keeps_the_previous_run(trained_world: TrainedWorld, scores_copy: Path, tmp_path: Path) -> None:
    import duckdb

    data = tmp_path / "bad.duckdb"
    shutil.copy(trained_world.data, data)
    con = duckdb.connect(str(data))
    try:
        con.execute("UPDATE transactions SET amount = -3.5 WHERE rowid = (SELECT min(rowid) FROM transactions)")
    finally:
        con.close()
    before = store_state(scores_copy)
    # with no bad row allowed, one negative amount fails the run; the customer and the row are named
    env = {**trained_world.env, "CHURNLTV_SCORE_MAX_BAD_ROW_FRACTION": "0"}
    expect_cli("score_bad_data", *run_cli(["score", "--data", str(data), "--output", str(scores_copy)], env=env))
    assert store_state(scores_copy) == before


@pytest.mark.slow
def test_score_with_a_model_the_data_cannot_feed(
    trained_world: TrainedWorld, scores_copy: Path, tmp_path: Path
) -> None:
    data = write_base(tmp_path / "data")  # no subscriptions, NPS or tickets: the trained model needs them
    before = store_state(scores_copy)
    args = ["score", "--data", str(data), "--output", str(scores_copy)]
    expect_cli("score_model_data_mismatch", *run_cli(args, env=trained_world.env))
    assert store_state(scores_copy) == before


@pytest.mark.slow
def test_score_on_a_full_disk_keeps_the_previous_run(trained_world: TrainedWorld, tmp_path: Path) -> None:
    with full_disk(tmp_path, copy_in=trained_world.scores, free_kb=64) as disk:
        target = disk / trained_world.scores.name
        before = store_state(target)
        code, output = run_cli(
            ["score", "--data", str(trained_world.data), "--output", str(target)], env=trained_world.env
        )
        expect_cli("score_disk_full", code, output)
        assert store_state(target) == before, "readers must still see the previous complete run"
        staged = list((target / "_staging").rglob("*.parquet")) if (target / "_staging").exists() else []
        assert staged == [], f"a half-written part was left: {staged}"
        failed = [json.loads(p.read_text()) for p in (target / "_runs").glob("*.json") if p.stem not in before[0]]
        assert [r["status"] for r in failed] == ["failed"], "the interrupted run is recorded as failed"


@pytest.fixture(scope="module")
def duckdb_scores(trained_world: TrainedWorld, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DuckDB score store with one complete run, in a directory of its own."""
    target = tmp_path_factory.mktemp("duckdb_scores") / "store" / "scores.duckdb"
    env = {**trained_world.env, "CHURNLTV_SCORE_WORKERS": "1"}
    code, output = run_cli(["score", "--data", str(trained_world.data), "--output", str(target)], env=env)
    assert code == 0, output
    return target


def duckdb_state(target: Path) -> tuple[str, list[tuple[str, str]], int]:
    """(store file digest, runs with their status, rows served) of a DuckDB score store."""
    from service.score_store import open_score_store

    store = open_score_store(str(target))
    try:
        runs = sorted((str(r["run_id"]), str(r["status"])) for r in store.list_runs())
        return hashlib.sha256(target.read_bytes()).hexdigest(), runs, len(store.read_scores())
    finally:
        store.close()


@pytest.mark.slow
def test_score_to_a_duckdb_store_on_a_full_disk_fails_the_run_and_keeps_the_previous_run(
    trained_world: TrainedWorld, duckdb_scores: Path, tmp_path: Path
) -> None:
    env = {**trained_world.env, "CHURNLTV_SCORE_WORKERS": "1"}
    with full_disk(tmp_path, copy_in=duckdb_scores.parent, free_kb=64) as disk:
        target = disk / duckdb_scores.parent.name / duckdb_scores.name
        digest, runs, served = duckdb_state(target)
        code, output = run_cli(["score", "--data", str(trained_world.data), "--output", str(target)], env=env)
        expect_cli("score_duckdb_disk_full", code, output)
        after_digest, after_runs, after_served = duckdb_state(target)
        assert (after_digest, after_served) == (digest, served), "readers must still see the previous complete run"
        new = [status for run_id, status in after_runs if (run_id, status) not in runs]
        assert new == ["failed"], f"the interrupted run is recorded as failed: {after_runs}"
        assert not list(target.parent.glob(".*.publish-*")), "no half-built copy of the store is left"


HOLD_WRITE_LOCK = (
    "import duckdb, sys\n"
    "con = duckdb.connect(sys.argv[1])\n"
    "con.execute('BEGIN TRANSACTION')\n"
    "print('locked', flush=True)\n"
    "sys.stdin.read()\n"
)


@pytest.mark.slow
def test_score_to_a_duckdb_store_another_program_writes_keeps_the_run_resumable(
    trained_world: TrainedWorld, duckdb_scores: Path, tmp_path: Path
) -> None:
    from service.score_store import open_score_store

    target = tmp_path / "scores.duckdb"
    shutil.copyfile(duckdb_scores, target)
    env = {**trained_world.env, "CHURNLTV_SCORE_WORKERS": "1"}
    args = ["score", "--data", str(trained_world.data), "--output", str(target), "--chunk-size", "1000"]
    writer = subprocess.Popen(
        [sys.executable, "-c", HOLD_WRITE_LOCK, str(target)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "locked"
        code, output = run_cli(args, env=env)
    finally:
        if writer.stdin is not None:
            writer.stdin.close()
        writer.wait(timeout=30)
    expect_cli("score_duckdb_store_held_by_a_writer", code, output)
    store = open_score_store(str(target))
    (failed,) = [r for r in store.list_runs() if r["status"] != "complete"]
    assert failed["status"] == "failed"
    code, output = run_cli([*args, "--resume", str(failed["run_id"])], env=env)
    assert code == 0, output
    latest = store.latest_run()
    assert latest is not None
    assert latest["run_id"] == failed["run_id"]
    assert latest["parts_skipped_on_last_start"] == latest["parts_total"]


# --- HTTP API (in-process app with the trained world) ----------------------------------------------------------

KEY = "catalogue-key"


def _settings(world: TrainedWorld, **overrides: Any) -> Any:
    from service.settings import ServiceSettings

    values: dict[str, Any] = {
        "api_keys": (KEY,),
        "data": str(world.data),
        "score_store": str(world.scores),
        "max_body_bytes": 200_000,
        "tracking_uri": world.tracking_uri,
        **overrides,
    }
    return ServiceSettings(**values)


@pytest.fixture(scope="module")
def api(trained_world: TrainedWorld) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from service.api.app import create_app

    with TestClient(create_app(_settings(trained_world)), headers={"X-API-Key": KEY}) as client:
        yield client


@pytest.fixture(scope="module")
def good_features(trained_world: TrainedWorld) -> dict[str, Any]:
    """A valid /v1/predict customer: the point-in-time features of a real customer."""
    import pandas as pd

    from features.point_in_time import build_features
    from features.sources import open_source
    from service.score_store import open_score_store

    store = open_score_store(str(trained_world.scores))
    try:
        row = store.read_scores().iloc[0]
    finally:
        store.close()
    con = open_source(trained_world.data).connect(validate=False)
    settings = model_feature_settings(trained_world)
    frame, _ = build_features(con, [pd.Timestamp(row["as_of"])], settings, customer_ids=[str(row["customer_id"])])
    out: dict[str, Any] = {}
    for name, v in frame.iloc[0].to_dict().items():
        k = str(name)
        if k == "as_of":
            out[k] = pd.Timestamp(v).isoformat()
        elif isinstance(v, float) and math.isnan(v):
            out[k] = None
        else:
            out[k] = v.item() if hasattr(v, "item") else v
    return out


def _still_serving(api: Any, good: dict[str, Any]) -> None:
    """After a rejected request the service answers a good one (nothing was broken by the bad one)."""
    r = api.post("/v1/predict", json={"customers": [good]})
    assert r.status_code == 200, r.text
    assert 0.0 <= r.json()["predictions"][0]["churn_probability"] <= 1.0


@pytest.mark.slow
def test_api_unknown_customer(api: Any, good_features: dict[str, Any]) -> None:
    expect_http("api_unknown_customer", api.get("/v1/customers/ghost"))
    both = api.post("/v1/customers:batchGet", json={"customer_ids": [good_features["customer_id"], "ghost"]})
    assert both.status_code == 200  # in a batch, unknown ids are answered per id, the known one is not lost
    assert both.json()["not_found"] == [{"customer_id": "ghost", "error": "unknown customer"}]
    assert [p["customer_id"] for p in both.json()["predictions"]] == [good_features["customer_id"]]


@pytest.mark.slow
def test_api_unknown_account(api: Any, good_features: dict[str, Any]) -> None:
    expect_http("api_unknown_account", api.get("/v1/accounts/ghost"))
    _still_serving(api, good_features)


@pytest.mark.slow
def test_api_empty_and_oversized_batches(api: Any, good_features: dict[str, Any]) -> None:
    expect_http("api_empty_batch", api.post("/v1/customers:batchGet", json={"customer_ids": []}))
    expect_http("api_empty_predict", api.post("/v1/predict", json={"customers": []}))
    ids = [f"c{i}" for i in range(101)]
    expect_http("api_oversized_batch", api.post("/v1/customers:batchGet", json={"customer_ids": ids}))
    many = [{"customer_id": f"c{i}"} for i in range(1001)]
    expect_http("api_oversized_predict", api.post("/v1/predict", json={"customers": many}))
    _still_serving(api, good_features)


@pytest.mark.slow
def test_api_oversized_body(api: Any, good_features: dict[str, Any]) -> None:
    body = b" " * 250_000
    headers = {"content-type": "application/json"}
    expect_http("api_oversized_body", api.post("/v1/predict", content=body, headers=headers))

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must hold while reading
        for _ in range(250):
            yield b" " * 1000

    expect_http("api_oversized_chunked_body", api.post("/v1/predict", content=chunks(), headers=headers))
    _still_serving(api, good_features)


@pytest.mark.slow
def test_api_missing_and_wrong_key(api: Any) -> None:
    key = api.headers.pop("X-API-Key")
    try:
        expect_http("api_missing_key", api.get("/v1/models"))
        expect_http("api_missing_key", api.post("/v1/predict", json={"customers": [{"customer_id": "x"}]}))
    finally:
        api.headers["X-API-Key"] = key
    expect_http("api_wrong_key", api.get("/v1/models", headers={"X-API-Key": "nope"}))


@pytest.mark.slow
def test_api_bad_bodies_name_the_field(api: Any, good_features: dict[str, Any]) -> None:
    good = good_features
    json_headers = {"content-type": "application/json"}
    expect_http("api_malformed_json", api.post("/v1/predict", content=b"{not json", headers=json_headers))
    wrong = {**good, "events_30d": "lots"}
    expect_http("api_wrong_types", api.post("/v1/predict", json={"customers": [wrong]}))
    fractional = {**good, "events_30d": 2.5}  # a count is a whole number; 2.0 is accepted
    expect_http("api_fractional_count", api.post("/v1/predict", json={"customers": [fractional]}))
    nan = json.dumps({"customers": [{**good, "tenure_days": float("nan")}]})
    expect_http("api_nan", api.post("/v1/predict", content=nan, headers=json_headers))
    expect_http("api_negative_count", api.post("/v1/predict", json={"customers": [{**good, "events_30d": -1}]}))
    missing = {k: v for k, v in good.items() if k != "events_30d"}
    expect_http("api_missing_feature", api.post("/v1/predict", json={"customers": [missing]}))
    future = {**good, "as_of": "2999-01-01T00:00:00"}
    expect_http("api_future_as_of", api.post("/v1/predict", json={"customers": [future]}))
    extra = {**good, "favourite_colour": "red"}
    expect_http("api_extra_field", api.post("/v1/predict", json={"customers": [extra]}))
    expect_http("api_bad_as_of_query", api.get("/v1/customers/ghost", params={"as_of": "someday"}))
    _still_serving(api, good)


@pytest.mark.slow
def test_api_reload_unknown_alias_keeps_serving(trained_world: TrainedWorld, good_features: dict[str, Any]) -> None:
    """A server whose configured alias does not exist stays alive, says why it is not ready, and reload says why."""
    from fastapi.testclient import TestClient

    from service.api.app import create_app

    settings = _settings(trained_world, churn_model="nope")
    with TestClient(create_app(settings), headers={"X-API-Key": KEY}) as client:
        assert client.get("/health").status_code == 200
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert "no version of churnltv-churn has alias 'nope'" in ready.json()["checks"]["models"]
        expect_http("api_reload_unknown_alias", client.post("/admin/reload"))


@contextmanager
def _serving_a_copy(world: TrainedWorld, champion_bundle: Path, tmp_path: Path) -> Iterator[tuple[Any, Path, Any]]:
    """An app serving a copy of the champion bundle: (client, the copy's directory, /v1/models' churn entry)."""
    from fastapi.testclient import TestClient

    from service.api.app import create_app

    bundle = tmp_path / "churn-bundle"
    shutil.copytree(champion_bundle, bundle)
    with TestClient(create_app(_settings(world, churn_model=str(bundle))), headers={"X-API-Key": KEY}) as c:
        yield c, bundle, c.get("/v1/models").json()["churn"]


def _still_the_old_models(c: Any, before: Any, good_features: dict[str, Any]) -> None:
    assert c.get("/v1/models").json()["churn"] == before
    assert c.get("/ready").status_code == 200
    _still_serving(c, good_features)


@pytest.mark.slow
def test_api_reload_of_a_corrupt_bundle_keeps_the_old_models(
    trained_world: TrainedWorld, champion_bundle: Path, good_features: dict[str, Any], tmp_path: Path
) -> None:
    """The deployed bundle directory is damaged in place (an interrupted copy); reload refuses it, nothing is lost."""
    with _serving_a_copy(trained_world, champion_bundle, tmp_path) as (c, bundle, before):
        _still_serving(c, good_features)
        truncate(bundle / "model.txt")
        r = c.post("/admin/reload")
        expect_http("api_reload_corrupt_bundle", r)
        assert "model.txt is damaged: it is truncated" in r.json()["detail"]
        _still_the_old_models(c, before, good_features)


@pytest.mark.slow
def test_api_reload_of_a_bundle_with_another_feature_spec_keeps_the_old_models(
    trained_world: TrainedWorld, champion_bundle: Path, good_features: dict[str, Any], tmp_path: Path
) -> None:
    """The deployed bundle is replaced by one trained with another Aha rule: reload names the difference, refuses."""
    with _serving_a_copy(trained_world, champion_bundle, tmp_path) as (c, bundle, before):
        spec_file = bundle / "feature_spec.json"
        spec = json.loads(spec_file.read_text())
        spec["settings"]["aha"] = {**spec["settings"]["aha"], "count": spec["settings"]["aha"]["count"] + 1}
        spec_file.write_text(json.dumps(spec))
        r = c.post("/admin/reload")
        expect_http("api_reload_different_spec", r)
        assert r.json()["detail"].startswith(f"reload failed, still serving the previous models: churn bundle {bundle}")
        _still_the_old_models(c, before, good_features)


@pytest.mark.slow
def test_api_start_with_a_corrupt_bundle_is_alive_but_not_ready(
    trained_world: TrainedWorld, truncated_bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CHURNLTV_CHURN_MODEL names a damaged bundle: the process must not abort; /ready says what is wrong."""
    from fastapi.testclient import TestClient

    from service.api.app import create_app

    monkeypatch.setenv("CHURNLTV_CHURN_MODEL", str(truncated_bundle))
    monkeypatch.setenv("CHURNLTV_TRACKING_URI", trained_world.tracking_uri)
    monkeypatch.setenv("CHURNLTV_DATA", str(trained_world.data))
    monkeypatch.setenv("CHURNLTV_SCORE_STORE", str(trained_world.scores))
    monkeypatch.setenv("CHURNLTV_API_KEYS", KEY)
    with TestClient(create_app(), headers={"X-API-Key": KEY}) as client:
        assert client.get("/health").status_code == 200
        ready = client.get("/ready")
        record("api_start_corrupt_bundle", ready.status_code, ready.json()["checks"]["models"])
        assert ready.status_code == 503
        assert CATALOGUE["api_start_corrupt_bundle"][2] in ready.json()["checks"]["models"]
        response = client.post("/v1/predict", json={"customers": [{"customer_id": "x"}]})
        assert response.status_code == 503
        assert CATALOGUE["api_start_corrupt_bundle"][2] in response.json()["detail"]
        assert CATALOGUE["api_start_corrupt_bundle"][1] == "503"


# --- HTTP API without models: bounds, content types, roles (fast: validation and keys come before any model) ---

ADMIN_KEY = "catalogue-admin-key"


@pytest.fixture(scope="module")
def bare_api() -> Iterator[Any]:
    """An app whose model does not exist: every case here is answered before a route asks for the models."""
    from fastapi.testclient import TestClient

    from service.api.app import create_app
    from service.settings import ServiceSettings

    settings = ServiceSettings(
        api_keys=(KEY,), admin_api_keys=(ADMIN_KEY,), churn_model="/nonexistent/bundle", ltv_model="", data=None,
        score_store=None,
    )  # fmt: skip
    with TestClient(create_app(settings), headers={"X-API-Key": KEY}) as client:
        yield client


def _raw_predict(api: Any, customer: str) -> Any:
    return api.post(
        "/v1/predict", content=f'{{"customers": [{customer}]}}', headers={"content-type": "application/json"}
    )


def test_api_numbers_out_of_bounds_name_the_field(bare_api: Any) -> None:
    expect_http("api_huge_count", _raw_predict(bare_api, '{"customer_id": "c1", "events_30d": ' + "9" * 400 + "}"))
    big = {"customer_id": "c1", "txn_amount_total": 2e12}
    expect_http("api_huge_amount", bare_api.post("/v1/predict", json={"customers": [big]}))
    boolean = {"customer_id": "c1", "events_30d": True}
    expect_http("api_bool_count", bare_api.post("/v1/predict", json={"customers": [boolean]}))
    expect_http("api_inf_budget", bare_api.get("/v1/retention-list", params={"budget": "inf"}))
    expect_http("api_nan_budget", bare_api.get("/v1/retention-list", params={"budget": "NaN"}))
    huge = {"formula": "simple", "monthly_margin": 1e308, "monthly_cost": 0, "expected_lifetime_months": 1e308}
    expect_http("api_clv_out_of_range", bare_api.post("/v1/clv/contractual", json=huge))
    partial = {"formula": "simple", "monthly_margin": 10}
    expect_http("api_clv_missing_inputs", bare_api.post("/v1/clv/contractual", json=partial))


def test_api_bodies_that_are_not_json_say_why(bare_api: Any) -> None:
    body = '{"customers": [{"customer_id": "c1"}]}'
    expect_http("api_not_json", bare_api.post("/v1/predict", content=body, headers={"content-type": "text/plain"}))
    json_headers = {"content-type": "application/json"}
    deep = b"[" * 5000 + b"]" * 5000
    expect_http("api_deep_json", bare_api.post("/v1/predict", content=deep, headers=json_headers))
    latin1 = b'{"customers": [{"customer_id": "caf\xe9"}]}'
    expect_http("api_not_utf8", bare_api.post("/v1/predict", content=latin1, headers=json_headers))


def test_api_reload_needs_an_admin_key(bare_api: Any) -> None:
    expect_http("api_reload_no_key", bare_api.post("/admin/reload", headers={"X-API-Key": ""}))
    expect_http("api_reload_read_key", bare_api.post("/admin/reload"))
    admin = bare_api.post("/admin/reload", headers={"X-API-Key": ADMIN_KEY})
    assert admin.status_code == 409, admin.text  # past the key check; the bundle does not exist, nothing swapped


def test_serve_with_docs_assets_missing_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    started: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: started.append(a))
    env = {"CHURNLTV_API_KEYS": KEY, "CHURNLTV_DOCS_ASSETS": str(tmp_path)}
    code, output = run_cli(["serve"], env=env)
    expect_cli("serve_docs_assets_missing", code, output)
    assert started == [], "the server started without its docs assets"
