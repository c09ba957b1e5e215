"""Checks of the BTYD summary arrays (frequency, recency, T, monetary value) before a fit or a prediction.

BG/NBD's likelihood is only defined for integer x >= 0, 0 <= t_x <= T and t_x = 0 when x = 0; feeding it
anything else gives finite but meaningless numbers. These checks turn such rows into a ``UserInputError`` that
names the column, the first bad row (0-based position) and its value, so nothing is silently dropped.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.errors import UserInputError
from features.value_repr import shown

FloatArray = npt.NDArray[np.float64]
_SMALL = 16  # below this many customers, unique_pairs skips the de-duplication
_RECENCY_SLACK = 1e-9  # recency == T within rounding (a purchase on the last observed day)


def as_float_array(values: Any, name: str) -> FloatArray:
    """``values`` as a 1-d float64 array (scalars become length 1); non-numbers raise naming ``name``."""
    try:
        arr = np.asarray(values, dtype="float64")
    except (TypeError, ValueError):
        raise UserInputError(f"{name}: values must be numbers") from None
    return np.atleast_1d(arr).reshape(-1) if arr.ndim != 1 else arr


def _first_bad(mask: npt.NDArray[np.bool_], values: FloatArray, name: str, rule: str) -> None:
    if bool(mask.any()):
        pos = int(np.flatnonzero(mask)[0])
        raise UserInputError(
            f"{name}: row {pos} has value {shown(values[pos])}, but {rule} ({int(mask.sum())} such row(s))"
        )


def check_summary(frequency: Any, recency: Any, T: Any) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Validate and return (x, t_x, T) as float arrays of one length."""
    x = as_float_array(frequency, "frequency")
    t_x = as_float_array(recency, "recency")
    t = as_float_array(T, "T")
    if not (len(x) == len(t_x) == len(t)):
        raise UserInputError(f"frequency, recency and T must have one length, got {len(x)}, {len(t_x)}, {len(t)}")
    _first_bad(~np.isfinite(x) | (x < 0) | (x != np.round(x)), x, "frequency", "it must be a whole number >= 0")
    _first_bad(~np.isfinite(t) | (t < 0), t, "T", "it must be a finite number >= 0")
    _first_bad(~np.isfinite(t_x) | (t_x < 0), t_x, "recency", "it must be a finite number >= 0")
    _first_bad(t_x > t + _RECENCY_SLACK, t_x, "recency", "recency cannot exceed T (time since the first purchase)")
    _first_bad((x == 0) & (t_x > _RECENCY_SLACK), t_x, "recency", "a customer with frequency 0 must have recency 0")
    return x, np.minimum(t_x, t), t


def unique_pairs(x: FloatArray, T: FloatArray) -> tuple[FloatArray, FloatArray, npt.NDArray[np.intp]]:
    """Distinct (x, T) pairs and the index of each customer's pair (one hash pass, no sort).

    Predictions that depend on a customer only through (x, T) are computed once per pair and gathered back:
    BTYD summaries live on a day grid, so real bases have far fewer pairs than customers.
    """
    if len(x) <= _SMALL:
        return x, T, np.arange(len(x), dtype=np.intp)
    for first, second, cached in _recent_pairs:
        if first is x and second is T:
            return cached
    codes, uniques = pd.factorize(T + 1j * x, sort=False)
    values = np.asarray(uniques, dtype="complex128")
    pairs = values.imag.copy(), values.real.copy(), np.asarray(codes, dtype=np.intp)
    for array in pairs:
        array.flags.writeable = False  # shared by every caller of the cached entry
    _recent_pairs.insert(0, (x, T, pairs))
    del _recent_pairs[_RECENT:]
    return pairs


# The last calls' arrays and results: scoring one chunk asks for the same chunk's (x, T) and (x, t_x) pairs once per
# model term and per shifted parameter set of the gradient (about 40 times for Pareto/NBD), and the hash pass was a
# fifth of the time. Matched by the identity of both input arrays (the same chunk objects are passed down through a
# prediction); scoring code never writes into a summary array it has asked pairs for, and results are read-only.
_RECENT = 4
_recent_pairs: list[tuple[FloatArray, FloatArray, tuple[FloatArray, FloatArray, npt.NDArray[np.intp]]]] = []


def summary_row_is_valid(x: float, t_x: float, T: float) -> bool:
    """The rules of ``check_summary`` for one customer as plain float comparisons (no arrays).

    A cheap accept test for the single-customer path: a row it rejects goes through ``check_summary`` for the
    error message, so the rules' wording lives in one place.
    """
    return (
        math.isfinite(x)
        and math.isfinite(t_x)
        and math.isfinite(T)
        and x >= 0
        and x == round(x)
        and T >= 0
        and t_x >= 0
        and t_x <= T + _RECENCY_SLACK
        and (x != 0 or t_x <= _RECENCY_SLACK)
    )
