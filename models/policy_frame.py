"""Reading policy inputs from a feature frame: optional columns and nullable dtypes.

Optional contract tables (transactions, NPS, tickets, subscriptions) may be absent, and then
their feature columns are absent too (ARCHITECTURE.md). Every policy rule reads its inputs
through this module so absence is handled one way: ``None`` comes back and the rule marks the
component neutral or the trigger as not evaluated. Values come back as float64 numpy arrays
with NaN for missing, whatever the frame's dtype (numpy, nullable Int64/Float64, boolean),
because the rules are plain numpy (fast on 1M rows and on 1 row).

``PolicyInputs`` converts each column once per call: the API scores one customer per request,
where pandas' per-column overhead (~10 us) rather than arithmetic is the cost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.errors import UserInputError

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class PolicyInputs:
    """A feature frame plus a cache of its columns converted to float64."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.n = len(frame)
        self._numeric: dict[str, FloatArray | None] = {}

    def __len__(self) -> int:
        return self.n

    def has(self, name: str) -> bool:
        return name in self.frame.columns

    def numeric(self, name: str) -> FloatArray | None:
        if name not in self._numeric:
            self._numeric[name] = _convert(self.frame, name)
        return self._numeric[name]

    def with_columns(self, columns: Mapping[str, FloatArray]) -> PolicyInputs:
        """These inputs plus ``columns`` (e.g. model outputs), which win over same-named ones; nothing is copied."""
        return _WithColumns(self, columns)


class ColumnInputs(PolicyInputs):
    """Policy inputs read from a mapping of column -> float64 array (NaN = missing), no DataFrame.

    A one-customer API request builds these straight from its JSON values: on one row, pandas' per-column
    overhead (~10-50 us per operation), not the arithmetic, would be the cost.
    """

    def __init__(self, columns: Mapping[str, FloatArray], n: int) -> None:
        self.columns = columns
        self.n = n

    def has(self, name: str) -> bool:
        return name in self.columns

    def numeric(self, name: str) -> FloatArray | None:
        return self.columns.get(name)


class _WithColumns(PolicyInputs):
    def __init__(self, base: PolicyInputs, columns: Mapping[str, FloatArray]) -> None:
        self.base = base
        self.columns = columns
        self.n = base.n

    def has(self, name: str) -> bool:
        return name in self.columns or self.base.has(name)

    def numeric(self, name: str) -> FloatArray | None:
        values = self.columns.get(name)
        return self.base.numeric(name) if values is None else values


def as_inputs(frame: pd.DataFrame | PolicyInputs) -> PolicyInputs:
    """Wrap a frame (or pass through an existing wrapper, keeping its cache)."""
    return frame if isinstance(frame, PolicyInputs) else PolicyInputs(frame)


def _convert(frame: pd.DataFrame, name: str) -> FloatArray | None:
    if name not in frame.columns:
        return None
    column = frame[name]
    dtype = column.dtype
    try:
        if isinstance(dtype, np.dtype) and dtype.kind in "fiub":
            # plain numpy columns cannot hold NA other than NaN: skip pandas' NA scan
            return column.to_numpy().astype(np.float64, copy=False)
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as err:
        sample = column.dropna().head(3).tolist()
        raise UserInputError(f"column {name!r} must be numeric (got dtype {dtype}, e.g. {sample})") from err


def numeric_column(frame: pd.DataFrame | PolicyInputs, name: str) -> FloatArray | None:
    """Column ``name`` as float64 with NaN for missing, or None when the frame has no such column."""
    if isinstance(frame, PolicyInputs):
        return frame.numeric(name)
    return _convert(frame, name)


def first_match(
    conditions: Sequence[BoolArray], values: Sequence[Any], default: Any, dtype: npt.DTypeLike
) -> npt.NDArray[Any]:
    """``np.select(conditions, values, default)`` built as ``dtype``: each row takes the value of its first true
    condition. The same reverse-order ``copyto`` as ``np.select``, without its per-call argument handling, which
    costs more than the selection itself on a one-customer request."""
    out = np.full(np.shape(conditions[0]), default, dtype=dtype)
    for condition, value in zip(reversed(conditions), reversed(values), strict=True):
        np.copyto(out, value, where=condition)
    return out


def require_columns(frame: pd.DataFrame, names: tuple[str, ...], purpose: str) -> None:
    """Raise a UserInputError naming every column of ``names`` the frame lacks."""
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise UserInputError(
            f"{purpose} needs column(s) {', '.join(repr(m) for m in missing)}; the frame has "
            f"{', '.join(map(str, frame.columns[:20]))}{' ...' if len(frame.columns) > 20 else ''}"
        )
