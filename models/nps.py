"""Net Promoter Score (docs/DOMAIN.md section 5).

"How likely are you to recommend us?" 0-10: detractors 0-6, passives 7-8, promoters 9-10
(cut-offs are settings). NPS = %promoters - %detractors, a number from -100 to 100. The
breakdown works on the ``nps_responses`` table (every answer, not only each customer's last)
joined to ``customers`` for segment and acquisition channel; month is the calendar month of
``answered_at``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.errors import UserInputError
from models.policy_frame import first_match, require_columns
from models.policy_settings import PolicySettings, default_policy_settings

PROMOTER, PASSIVE, DETRACTOR = "promoter", "passive", "detractor"
DIMENSIONS: tuple[str, ...] = ("overall", "segment", "channel", "month")


def _scores(values: npt.ArrayLike, where: str) -> npt.NDArray[np.float64]:
    if isinstance(values, np.ndarray) and values.dtype == np.float64:
        scores: npt.NDArray[np.float64] = values
    else:
        series = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values))
        try:
            scores = series.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as err:
            raise UserInputError(f"{where}: NPS scores must be numbers 0-10 (dtype {series.dtype})") from err
    bad = ~np.isnan(scores) & ((scores < 0) | (scores > 10) | (scores != np.round(scores)))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise UserInputError(f"{where}: NPS score at row {i + 1} is {scores[i]:g}; scores are whole numbers 0-10")
    return scores


def nps_segment(
    scores: npt.ArrayLike, settings: PolicySettings | None = None, *, where: str = "nps scores"
) -> npt.NDArray[np.object_]:
    """'promoter' / 'passive' / 'detractor' per score; None where the score is missing."""
    settings = settings or default_policy_settings()
    values = _scores(scores, where)
    missing = np.isnan(values)
    return first_match(
        [values >= settings.nps_promoter_min, values <= settings.nps_detractor_max, ~missing],
        [PROMOTER, DETRACTOR, PASSIVE],
        None,
        object,
    )


def net_promoter_score(scores: npt.ArrayLike, settings: PolicySettings | None = None) -> float:
    """%promoters - %detractors over the non-missing scores (NaN when there is none)."""
    segment = nps_segment(scores, settings)
    answered = segment[segment != None]  # noqa: E711 - elementwise comparison on an object array
    if answered.size == 0:
        return float("nan")
    return float(100.0 * ((answered == PROMOTER).mean() - (answered == DETRACTOR).mean()))


def nps_breakdown(
    responses: pd.DataFrame, customers: pd.DataFrame, settings: PolicySettings | None = None
) -> pd.DataFrame:
    """NPS overall and by segment, acquisition channel and answer month.

    Returns a long table: dimension, group, responses, promoters, passives, detractors,
    pct_promoters, pct_detractors, nps. A response whose customer_id is not in ``customers`` is an
    error (never dropped silently).
    """
    settings = settings or default_policy_settings()
    require_columns(responses, ("customer_id", "answered_at", "score"), "nps_responses")
    require_columns(customers, ("customer_id", "segment", "acquisition_channel"), "customers")
    info = customers.drop_duplicates("customer_id").set_index("customer_id")
    known = responses["customer_id"].isin(info.index).to_numpy()
    if not known.all():
        i = int(np.flatnonzero(~known)[0])
        raise UserInputError(
            f"nps_responses row {i + 1}: customer_id {responses['customer_id'].iloc[i]!r} is not in customers "
            f"({int((~known).sum())} response(s) affected)"
        )
    table = pd.DataFrame(
        {
            "overall": "all",
            "segment": info["segment"].reindex(responses["customer_id"]).to_numpy(),
            "channel": info["acquisition_channel"].reindex(responses["customer_id"]).to_numpy(),
            "month": pd.to_datetime(responses["answered_at"]).dt.to_period("M").astype(str).to_numpy(),
            "kind": nps_segment(responses["score"], settings, where="nps_responses.score"),
        }
    )
    table = table[table["kind"].notna()]
    parts = []
    for dimension in DIMENSIONS:
        counts = pd.crosstab(table[dimension], table["kind"])
        for kind in (PROMOTER, PASSIVE, DETRACTOR):
            if kind not in counts.columns:
                counts[kind] = 0
        total = counts[[PROMOTER, PASSIVE, DETRACTOR]].sum(axis=1)
        part = pd.DataFrame(
            {
                "dimension": dimension,
                "group": counts.index.astype(str),
                "responses": total.to_numpy(),
                "promoters": counts[PROMOTER].to_numpy(),
                "passives": counts[PASSIVE].to_numpy(),
                "detractors": counts[DETRACTOR].to_numpy(),
            }
        )
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    out["pct_promoters"] = 100.0 * out["promoters"] / out["responses"]
    out["pct_detractors"] = 100.0 * out["detractors"] / out["responses"]
    out["nps"] = out["pct_promoters"] - out["pct_detractors"]
    return out
