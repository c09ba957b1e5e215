"""The churn training frame (point-in-time features joined with labels) and its leakage-checked time split.

Snapshots are taken at cutoffs c_1 < ... < c_n. The latest cutoff is the *test* window, the one before it the
*validation* window (early stopping, model selection, calibration), the rest are *training*. A row's label
looks at (c, c + H]; so a training row's label window must end at or before the validation cutoff, and the
validation labels must end at or before the test cutoff. ``split_by_time`` checks both and refuses cutoffs
closer than the horizon across those boundaries: otherwise the model would learn from outcomes that happen
inside the window it is evaluated on (customer-time leakage). The same customer appears at several cutoffs;
that is fine because each row only uses data before its own cutoff and its label ends before the next role's
cutoff.

Determinism: the frame is sorted by (as_of, customer_id) and float features are snapped to the float32 grid (DuckDB's
parallel float sums differ in the last bits between runs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from features.errors import UserInputError

if TYPE_CHECKING:
    import pandas as pd

    from features.feature_spec import FeatureSpec
    from features.settings import FeatureSettings

LABEL = "churned"
"""The label column of the training frame (1 = churned within the horizon after the row's cutoff)."""


@dataclass(frozen=True)
class TimeSplit:
    """Rows of the stacked frame by role, and the cutoffs behind them."""

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    train_cutoffs: list[pd.Timestamp]
    validation_cutoff: pd.Timestamp
    test_cutoff: pd.Timestamp


def parse_cutoffs(text: str | Sequence[str] | None) -> list[pd.Timestamp] | None:
    """``"2026-01-01,2026-02-01"`` or a sequence of dates -> sorted, de-duplicated timestamps."""
    import pandas as pd

    if text is None:
        return None
    items = [t.strip() for t in text.split(",")] if isinstance(text, str) else [str(t).strip() for t in text]
    items = [t for t in items if t]
    out = []
    for item in items:
        try:
            out.append(pd.Timestamp(item))
        except ValueError:
            raise UserInputError(f"cutoff {item!r} is not a date (use YYYY-MM-DD, comma-separated)") from None
    return sorted(set(out))


def training_frame(
    con: Any, cutoffs: Sequence[pd.Timestamp], feature_settings: FeatureSettings
) -> tuple[pd.DataFrame, FeatureSpec]:
    """Point-in-time features joined with labels on (customer_id, as_of), sorted for determinism.

    Labels define the population (customers active before the cutoff); feature rows outside it are not
    training rows by definition. A labelled row without features is a bug upstream and raises.
    """
    import pandas as pd

    from features.labels import build_labels
    from features.point_in_time import build_features
    from features.vocabulary_learning import with_learned_vocabulary

    # the event vocabulary is learned once, before the latest cutoff; the spec records it for scoring
    features, spec = build_features(con, list(cutoffs), with_learned_vocabulary(con, list(cutoffs), feature_settings))
    labels = build_labels(con, list(cutoffs), feature_settings)
    features["as_of"] = pd.to_datetime(features["as_of"])
    labels = labels.assign(as_of=pd.to_datetime(labels["as_of"]))
    frame = labels[["customer_id", "as_of", LABEL]].merge(
        features, on=["customer_id", "as_of"], how="left", validate="one_to_one", indicator=True
    )
    orphans = frame[frame["_merge"] != "both"]
    if len(orphans):
        first = orphans.iloc[0]
        raise UserInputError(
            f"{len(orphans)} labelled row(s) have no features, e.g. customer {first['customer_id']!r} at "
            f"{first['as_of']}: labels and features disagree on the population"
        )
    frame = frame.drop(columns="_merge").sort_values(["as_of", "customer_id"], kind="stable").reset_index(drop=True)
    # DuckDB's parallel float sums (amounts, MRR) differ in the last bits from run to run. Snapping to the
    # float32 grid (7 significant digits, far finer than LightGBM's bins) absorbs that noise so the model text is
    # identical between runs on the same data. Decimal rounding would not: values such as 33.1646875 sit exactly
    # on a 1e-6 rounding tie and flip with the noise; float32 midpoints are dyadic and practically never hit.
    floats = [c for c in spec.names if c not in spec.categorical and pd.api.types.is_float_dtype(frame[c].dtype)]
    frame[floats] = frame[floats].astype(np.float32).astype(np.float64)
    for name in spec.categorical:
        frame[name] = frame[name].astype(features[name].dtype)
    return frame, spec


def split_by_time(frame: pd.DataFrame, horizon_days: int) -> TimeSplit:
    """Latest cutoff = test, the one before = validation, the rest = training; leakage-checked (see module doc)."""
    import pandas as pd

    cutoffs = sorted(pd.to_datetime(frame["as_of"].unique()))
    if len(cutoffs) < 3:
        raise UserInputError(
            f"need at least 3 cutoffs with labelled customers (train, validation, test); got {len(cutoffs)}: "
            + ", ".join(str(c.date()) for c in cutoffs)
        )
    test_cutoff, val_cutoff = cutoffs[-1], cutoffs[-2]
    train_cutoffs = cutoffs[:-2]
    horizon = pd.Timedelta(days=horizon_days)
    if train_cutoffs[-1] + horizon > val_cutoff:
        raise UserInputError(
            f"training cutoff {train_cutoffs[-1].date()} + horizon {horizon_days} d ends after the validation "
            f"cutoff {val_cutoff.date()}: its labels would see the validation window; space cutoffs >= the horizon"
        )
    if val_cutoff + horizon > test_cutoff:
        raise UserInputError(
            f"validation cutoff {val_cutoff.date()} + horizon {horizon_days} d ends after the test cutoff "
            f"{test_cutoff.date()}: calibration would see the test window; space cutoffs >= the horizon"
        )
    as_of = frame["as_of"]
    split = TimeSplit(
        train=frame[as_of.isin(train_cutoffs)].reset_index(drop=True),
        validation=frame[as_of == val_cutoff].reset_index(drop=True),
        test=frame[as_of == test_cutoff].reset_index(drop=True),
        train_cutoffs=list(train_cutoffs),
        validation_cutoff=val_cutoff,
        test_cutoff=test_cutoff,
    )
    # the invariant the checks above guarantee, stated on the rows themselves
    assert (split.train["as_of"] + horizon).max() <= val_cutoff <= test_cutoff - horizon
    for name, part in (("training", split.train), ("validation", split.validation), ("test", split.test)):
        if part[LABEL].nunique() < 2:
            raise UserInputError(f"the {name} rows have only one class (churn rate {part[LABEL].mean():.3f})")
    return split


def feature_matrix(frame: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    return frame[spec.names]
