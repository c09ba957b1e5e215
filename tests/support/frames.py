"""In-memory frames as a data source, validated like any other (the tests' quickest way to a contract connection)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from features.sources import DataSource, FrameSource


def open_frames(frames: Mapping[str, pd.DataFrame], *, extracted_at: pd.Timestamp | str | None = None) -> DataSource:
    """A source over in-memory frames keyed by contract table name."""
    when = pd.Timestamp(extracted_at) if extracted_at is not None else None
    return FrameSource(url="<frames>", extracted_at=when, frames=dict(frames))
