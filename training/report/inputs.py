"""What the report's sections read: the data connection, one score run, the settings, and small readers over them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from training.report.page import markup

if TYPE_CHECKING:
    import duckdb

    from features.settings import FeatureSettings
    from models.policy_settings import PolicySettings

NO_SCORES = markup(
    "no score run was given or the score store has no complete run yet (run <code>churnltv score</code> and pass "
    "its target with <code>--scores</code>)"
)


@dataclass
class ReportInputs:
    """Everything the sections read; each section checks for what it needs.

    Settings are passed in by whoever builds the report (the composition root): the report reads no environment.
    """

    con: duckdb.DuckDBPyConnection
    scores: pd.DataFrame | None
    score_run: dict[str, Any] | None
    data_quality: dict[str, Any] | None
    tracking_uri: str
    """The MLflow store with the champion models and the monitor runs (an absolute URI)."""
    policy: PolicySettings
    feature_settings: FeatureSettings
    """Feature settings for what the report rebuilds itself (health vs retention), and the fallback when the score
    run's churn model does not say which it was trained with."""
    tables: set[str] = field(default_factory=set)
    drift: Mapping[str, Any] | None = None
    drift_file: Path | None = None
    """Where ``drift`` was read from (``churnltv report --drift FILE``); None when it is not given."""

    def table(self, name: str, columns: str) -> pd.DataFrame:
        frame: pd.DataFrame = self.con.execute(f"SELECT {columns} FROM {name}").df()
        return frame

    @property
    def has_scores(self) -> bool:
        return self.scores is not None and len(self.scores) > 0

    def scores_as_of(self) -> pd.Timestamp:
        """The score run's cutoff (the run record, else the rows' as_of)."""
        run_as_of = (self.score_run or {}).get("as_of")
        if run_as_of:
            stamp = pd.Timestamp(run_as_of)
            return stamp.tz_convert(None) if stamp.tzinfo else stamp  # naive UTC, like every cutoff
        assert self.scores is not None
        return pd.Timestamp(pd.to_datetime(self.scores["as_of"]).max())


def numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    """``frame[column]`` as floats (NaN where missing or not a number); all NaN when the column is absent."""
    if column not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype=np.float64)
    return pd.Series(pd.to_numeric(frame[column], errors="coerce"), index=frame.index, dtype=np.float64)
