"""The default cutoff of a score run comes from accepted rows only (issue 19 item 3).

One event dated 2031 (after the extraction time: set aside by validation) used to become the run's cutoff, so a run
was published "as of 2031-07-04" and everyone looked long lapsed. A row validation sets aside must not move the
cutoff it is set aside from; a row whose date cannot be read must not either.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pandas as pd
import pytest

from features.sources import open_source
from features.validation import validate_connection
from service.batch_scoring import _load_population, default_as_of

LATEST_ACCEPTED = "2026-03-10 09:30:00"
EXPECTED = pd.Timestamp("2026-03-11")  # midnight after the latest accepted event

CUSTOMERS = (
    "customer_id,signup_at,acquisition_channel,segment\n"
    "c1,2026-01-01 08:00:00,ads,b2c\n"
    "c2,2026-01-02 08:00:00,ads,b2c\n"
    "c3,2026-01-03 08:00:00,ads,b2c\n"
)
EVENTS = (
    "customer_id,occurred_at,event_type,module\n"
    "c1,2026-02-01 10:00:00,core_action,m1\n"
    f"c2,{LATEST_ACCEPTED},core_action,m1\n"
    "c1,2031-07-03 12:00:00,core_action,m1\n"  # in the future: set aside
    "c3,2026-13-45 10:00:00,core_action,m1\n"  # not a date: set aside
)


@pytest.fixture
def base(tmp_path: Path) -> Path:
    (tmp_path / "customers.csv").write_text(CUSTOMERS)
    (tmp_path / "events.csv").write_text(EVENTS)
    return tmp_path


def test_the_default_cutoff_ignores_the_rows_validation_sets_aside(base: Path) -> None:
    source = open_source(base)
    con = source.connect(validate=False)
    report = validate_connection(con, source)
    assert {p.message for p in report.problems} >= {
        "not a valid date/time (expected e.g. 2024-03-01 10:00:00)",
        f"dated in the future (after the extraction time {report.extracted_at})",
    }
    assert default_as_of(con, source=source, report=report) == EXPECTED
    assert default_as_of(con) == pd.Timestamp("2031-07-04")  # what reading every row gave: the bug


def test_a_future_signup_does_not_move_the_cutoff_either(base: Path) -> None:
    (base / "customers.csv").write_text(CUSTOMERS + "c4,2031-07-03 08:00:00,ads,b2c\n")
    source = open_source(base)
    con = source.connect(validate=False)
    assert default_as_of(con, source=source, report=validate_connection(con, source)) == EXPECTED


def test_the_score_path_picks_the_cutoff_from_accepted_rows(base: Path) -> None:
    """``churnltv score`` without --as-of: the population it scores is cut at the latest accepted date."""
    no_spec = cast("Any", SimpleNamespace(churn=SimpleNamespace(spec=None)))  # features need no trained model
    population = _load_population(str(base), None, "local", no_spec)
    assert population.as_of == EXPECTED
    assert set(population.quarantined) == {"c1", "c3"}  # the customers of the set-aside rows, named
    assert "dated in the future" in population.quarantined["c1"]
    assert population.features is not None
    assert set(population.features["customer_id"]) == {"c2"}
