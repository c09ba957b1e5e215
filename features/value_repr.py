"""How an offending input value is quoted in an error message: as the user wrote it, never as a numpy repr.

numpy 2 prints scalars as ``np.float64(-3.0)``; a user who typed ``-3`` in a CSV should read ``-3.0``. Every LTV
error that quotes a value goes through ``shown``.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def shown(value: Any) -> str:
    """``repr`` of ``value`` with numpy scalars turned into Python ones first (``-3.0``, ``'abc'``, ``nan``)."""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)
