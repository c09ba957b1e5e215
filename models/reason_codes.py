"""Reason codes: why the model thinks a customer may churn, in words the CRM can show.

For each row the churn bundle gives per-feature contributions to the log-odds plus a bias term, which sum to the
raw score, by the method the setting ``CHURNLTV_REASONS_METHOD`` names:

* ``path`` (default): the credit of each split on the row's decision paths (Saabas 2014;
  ``models.tree_path_contributions``), about 10 us a row;
* ``treeshap``: LightGBM's ``pred_contrib``, exact TreeSHAP (Lundberg et al. 2020, "From local explanations to
  global understanding with explainable AI for trees"), O(trees x leaves x depth^2) a row: about 1.3 ms a row
  for a model trained on 100,000 customers, too slow to explain a nightly base of millions on two cores.

The API and batch scoring always use the same method (the loaded bundle's). The reasons are the ``k`` largest
*positive* contributions (features that push towards churn), each turned into a plain phrase by the feature
specification
(``spec.describe(name, value, reference)``, e.g. "core actions down 45% vs prior 30 days"). ``reference`` is the
training population's median of that feature, so a phrase can compare a customer with the typical one.

Selecting the top ``k`` is vectorised (``argpartition`` over all rows at once); only building the small result
dicts loops, over at most ``n x k`` entries.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypedDict

import numpy as np
from numpy.typing import NDArray
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from features.feature_spec import FeatureSpec

ReasonMethod = Literal["path", "treeshap"]


class ReasonSettings(BaseSettings):
    """How reason codes are computed (env prefix ``CHURNLTV_REASONS_``)."""

    model_config = SettingsConfigDict(env_prefix="CHURNLTV_REASONS_", extra="ignore", frozen=True)

    method: ReasonMethod = Field(
        "path",
        description="path: decision-path credit (Saabas), ~10 us a row; treeshap: LightGBM pred_contrib (exact "
        "TreeSHAP), ~100x slower on a production-size model.",
    )


class Reason(TypedDict):
    feature: str
    value: float | str | None
    contribution: float
    phrase: str


def top_contributions(contrib: NDArray[np.float64], k: int) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Column indices of the ``k`` largest contributions per row (descending) and which of them are > 0.

    ``contrib`` holds feature contributions only (drop LightGBM's trailing bias column first).
    """
    n, p = contrib.shape
    k = max(0, min(k, p))
    if k == 0 or n == 0:
        return np.empty((n, 0), dtype=np.int64), np.empty((n, 0), dtype=bool)
    part = np.argpartition(-contrib, k - 1, axis=1)[:, :k] if k < p else np.tile(np.arange(p), (n, 1))
    rows = np.arange(n)[:, None]  # (row, column) fancy indexing: take_along_axis without its per-call set-up
    order = np.argsort(-contrib[rows, part], axis=1, kind="stable")
    idx = part[rows, order].astype(np.int64)
    positive = contrib[rows, idx] > 0
    return idx, positive


def _value(raw: float, name: str, categories: Mapping[str, Sequence[str]]) -> float | str | None:
    if math.isnan(raw):
        return None
    if name in categories:
        cats = categories[name]
        code = int(raw)
        return cats[code] if 0 <= code < len(cats) else None
    return float(raw)


def reason_codes(
    contrib_with_bias: NDArray[np.float64],
    matrix: NDArray[np.float64],
    names: Sequence[str],
    spec: FeatureSpec,
    *,
    k: int = 3,
    categories: Mapping[str, Sequence[str]] | None = None,
    references: Mapping[str, float] | None = None,
) -> list[list[Reason]]:
    """Top-``k`` positive reasons per row from contributions (``pred_contrib`` layout) and the encoded ``matrix``."""
    cats = categories or {}
    refs = references or {}
    contrib = contrib_with_bias[:, : len(names)]
    idx, positive = top_contributions(contrib, k)
    out: list[list[Reason]] = []
    phrase_cache: dict[tuple[str, Any], str] = {}
    # the picked entries as flat lists of Python numbers, one conversion each (no numpy scalar per reason, and
    # no per-row lists for the garbage collector to scan on a large batch)
    n, width = idx.shape
    rows = np.arange(n)[:, None]
    columns = idx.ravel().tolist()
    oks = positive.ravel().tolist()
    values = matrix[rows, idx].ravel().tolist()
    contributions = contrib[rows, idx].ravel().tolist()
    for row in range(n):
        reasons: list[Reason] = []
        for t in range(row * width, (row + 1) * width):
            if not oks[t]:
                break
            j = columns[t]
            name = names[j]
            value = _value(values[t], name, cats)
            key = (name, value)
            phrase = phrase_cache.get(key)
            if phrase is None:
                phrase = spec.describe(name, value, refs.get(name))
                phrase_cache[key] = phrase
            reasons.append(Reason(feature=name, value=value, contribution=round(contributions[t], 6), phrase=phrase))
        out.append(reasons)
    return out
