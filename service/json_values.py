"""JSON-safe values for API answers and stored run records: NaN and infinity become null, numpy and pandas values
Python ones, timestamps ISO 8601 text.

``json_value`` cleans any value (recursively through lists and dicts); ``json_numbers`` does the same for a whole
float array in one pass, which is what a response with a few dozen numbers per customer needs.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import numpy.typing as npt


def json_numbers(values: npt.NDArray[np.floating[Any]]) -> list[float | None]:
    """A float array as Python floats, None where a value is NaN or infinite (one ``tolist`` for the array)."""
    return [v if v - v == 0.0 else None for v in values.tolist()]  # v - v is NaN for NaN and +-inf


def json_value(value: Any) -> Any:  # noqa: PLR0911 - one answer per kind of value
    """``value`` as something ``json.dumps(allow_nan=False)`` accepts, meaning the same thing.

    None/NaN/NaT/NA -> None, +-inf -> None (JSON has no infinity), numpy scalars and arrays -> Python numbers and
    lists, timestamps and dates -> ISO 8601 text, dict keys -> text; text of anything else.
    """
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:  # the common cases first
        return value
    if kind is float:
        return value if value - value == 0.0 else None
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, np.datetime64):
        import pandas as pd

        value = pd.Timestamp(value)
    elif isinstance(value, np.ndarray | np.generic):
        return json_value(value.tolist())
    if isinstance(value, bool | int):
        return bool(value) if isinstance(value, bool) else int(value)
    if isinstance(value, float):
        return json_value(float(value))
    if isinstance(value, dt.date | dt.time):  # datetime and pandas.Timestamp too; NaT is a datetime
        return None if value != value else value.isoformat()  # noqa: PLR0124 - NaT is the one unequal to itself
    import pandas as pd

    if value is pd.NA or value is pd.NaT:
        return None
    return str(value)
