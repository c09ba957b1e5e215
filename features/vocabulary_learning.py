"""Learning the event vocabulary from the data, once per training run (issue 14 item 1).

Every event type, and every module, with at least ``vocabulary_min_share`` of the events and
``vocabulary_min_events`` events before the latest cutoff gets its own columns, at most ``vocabulary_max_types`` of
each (the most frequent; ties broken by name; columns in name order); the rest are grouped as ``other``. Types whose
``value`` takes more than one value also get a value sum. Only events before the latest cutoff are read, so the
vocabulary itself never depends on data the features must not see. Nothing learns by itself: training
(``training.churn_split``) and ``churnltv features`` call ``with_learned_vocabulary``; every other build uses the
vocabulary its settings carry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from features.event_vocabulary import EventVocabulary
from features.point_in_time import normalize_cutoffs, present_columns

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from features.settings import FeatureSettings


def learn_vocabulary(
    con: duckdb.DuckDBPyConnection, before: pd.Timestamp, settings: FeatureSettings
) -> EventVocabulary | None:
    """The vocabulary of the events dated before ``before`` (None when the features are off or there are no events).

    Ties in frequency are broken by name, so the same data always gives the same vocabulary.
    """
    if settings.vocabulary == "off" or "events" not in present_columns(con):
        return None
    params = {"before": before.to_pydatetime()}
    kept: dict[str, list[str]] = {}
    left_out: dict[str, bool] = {}
    varying: set[str] = set()
    for column in ("event_type", "module"):
        rows = con.execute(
            f"SELECT {column} AS name, count(*) AS n, count(DISTINCT value) AS n_values FROM events "
            f"WHERE occurred_at < $before AND {column} IS NOT NULL GROUP BY ALL ORDER BY n DESC, name",
            params,
        ).fetchall()
        total = sum(int(r[1]) for r in rows)
        enough = [
            r
            for r in rows
            if int(r[1]) >= settings.vocabulary_min_events and int(r[1]) >= settings.vocabulary_min_share * total
        ]
        # the most frequent, then in name order: a retrain on fresher data keeps the same columns in the same order
        # (a new order would be a new feature spec, which a serving process only takes on a restart)
        kept[column] = sorted(str(r[0]) for r in enough[: settings.vocabulary_max_types])
        # other columns only when training saw something to put there: a column of zeros pretends to be data
        left_out[column] = len(rows) > len(kept[column])
        if column == "event_type":
            varying = {str(r[0]) for r in enough if int(r[2]) >= 2}
    types = kept["event_type"]
    return EventVocabulary(
        window_days=settings.horizon_days,
        event_types=tuple(types),
        modules=tuple(kept["module"]),
        value_types=tuple(t for t in types if t in varying),
        other_types=left_out["event_type"],
        other_modules=left_out["module"],
    )


def with_learned_vocabulary(
    con: duckdb.DuckDBPyConnection, cutoffs: Sequence[pd.Timestamp | str], settings: FeatureSettings
) -> FeatureSettings:
    """``settings`` with the vocabulary learned from the events before the latest cutoff (unchanged when one is
    already learned or the features are off): what training calls once, before building its features."""
    if settings.vocabulary == "off" or settings.learned_vocabulary is not None:
        return settings
    learned = learn_vocabulary(con, normalize_cutoffs(cutoffs)[-1], settings)
    return settings.model_copy(update={"learned_vocabulary": learned})
