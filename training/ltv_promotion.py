"""When the LTV challenger may replace the champion: same holdout window, lower holdout error.

Both bundles record the holdout metrics of their calibration fit and the window they were measured on
(``calibration_end``, ``as_of`` in metadata.json). Comparing errors measured on different windows would
be comparing weather, not models, so a promotion across windows needs ``--force`` and says so.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from training.registry import LTV_MODEL, ModelVersionInfo, PromotionDecision

METRIC = "ltv_holdout_mae"


def _metadata(version: ModelVersionInfo) -> dict[str, Any]:
    from models.bundle_source import downloaded_bundle

    with downloaded_bundle(f"models:/{LTV_MODEL}/{version.version}", default_name=LTV_MODEL) as path:
        meta: dict[str, Any] = json.loads((path / "metadata.json").read_text())
    return meta


def _mae(meta: dict[str, Any]) -> float | None:
    metrics = meta.get("holdout_metrics") or {}
    value = metrics.get(METRIC)
    return None if value is None else float(value)


def ltv_decider(margin: float) -> Callable[[ModelVersionInfo, ModelVersionInfo | None], PromotionDecision]:
    """A ``decide`` for ``registry.promote``: lower holdout MAE by ``margin`` (relative) on the same window."""

    def decide(challenger: ModelVersionInfo, champion: ModelVersionInfo | None) -> PromotionDecision:
        new = _metadata(challenger)
        new_mae = _mae(new)
        if champion is None:
            return PromotionDecision(True, "no champion yet", challenger.version, None, new_mae, None, METRIC)
        old = _metadata(champion)
        old_mae = _mae(old)
        window_new = (new.get("calibration_end"), new.get("as_of"))
        window_old = (old.get("calibration_end"), old.get("as_of"))
        if window_new != window_old:
            return PromotionDecision(
                False,
                f"holdout windows differ (challenger {window_new[0]}..{window_new[1]}, champion "
                f"{window_old[0]}..{window_old[1]}): errors are not comparable; use --force to promote anyway",
                challenger.version,
                champion.version,
                new_mae,
                old_mae,
                METRIC,
            )
        if new_mae is None or old_mae is None:
            return PromotionDecision(
                False, f"{METRIC} missing from a bundle", challenger.version, champion.version, new_mae, old_mae, METRIC
            )
        better = new_mae <= old_mae * (1.0 - margin)
        verdict = "beats" if better else "does not beat"
        return PromotionDecision(
            better,
            f"challenger MAE {new_mae:.4f} {verdict} champion {old_mae:.4f} by the margin {margin:.1%}",
            challenger.version,
            champion.version,
            new_mae,
            old_mae,
            METRIC,
        )

    return decide
