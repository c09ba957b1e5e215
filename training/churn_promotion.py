"""Churn promotion: re-score champion and challenger on the challenger's test window and decide by the AUC gain.

``holdout_decider`` is the ``decide`` of ``registry.promote``; ``holdout_of`` rebuilds a bundle's test window from
its recorded source, cutoff and feature settings, and ``champion_view`` gives the champion its own features when
the two were trained with different feature settings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from features.errors import UserInputError
from training.churn_holdout import N_BOOT
from training.churn_split import LABEL, training_frame

if TYPE_CHECKING:
    import pandas as pd

    from features.duckdb_settings import DuckDBSettings
    from models.churn_bundle import ChurnBundle
    from training.registry import ModelVersionInfo, PromotionDecision


def holdout_of(bundle: ChurnBundle, duckdb_settings: DuckDBSettings | None = None) -> tuple[pd.DataFrame, pd.Timestamp]:
    """Rebuild the bundle's test window (features + labels) from the recorded source, cutoff and settings."""
    import pandas as pd

    from features.settings import FeatureSettings
    from features.sources import open_source

    meta = bundle.metadata
    try:
        source, test_cutoff = meta["source_url"], pd.Timestamp(meta["cutoffs"]["test"])
        fs = FeatureSettings.from_recorded(meta["feature_settings"])  # with the learned event vocabulary
    except KeyError as err:
        raise UserInputError(f"bundle metadata has no {err.args[0]!r}; cannot rebuild its test window") from None
    con = open_source(source, duckdb_settings=duckdb_settings).connect()
    frame, _ = training_frame(con, [test_cutoff], fs)
    return frame, test_cutoff


def champion_view(
    old: ChurnBundle,
    new: ChurnBundle,
    frame: pd.DataFrame,
    cutoff: pd.Timestamp,
    duckdb_settings: DuckDBSettings | None = None,
) -> pd.DataFrame:
    """The challenger's holdout rows with features as the champion computes them.

    When the two were trained with different feature settings (another Aha rule, other core event types), the
    champion gets its own features for the same customers at the same cutoff; the labels stay the challenger's,
    since both are judged on the same outcome.
    """
    from features.point_in_time import build_features
    from features.settings import FeatureSettings
    from features.sources import open_source

    old_fs = old.metadata.get("feature_settings")
    if old_fs is None or old_fs == new.metadata.get("feature_settings"):
        return frame
    features, _ = build_features(
        open_source(new.metadata["source_url"], duckdb_settings=duckdb_settings).connect(),
        [cutoff],
        FeatureSettings.from_recorded(old_fs),
        customer_ids=frame["customer_id"].astype(str).tolist(),
    )
    keyed = features.set_index("customer_id").reindex(frame["customer_id"].astype(str))
    return keyed.reset_index()


def load_version_bundle(info: ModelVersionInfo) -> ChurnBundle:
    import mlflow

    from models.bundle_source import downloaded_bundle
    from models.churn_bundle import ChurnBundle

    with downloaded_bundle(info.model_uri, default_name=info.name, tracking_uri=mlflow.get_tracking_uri()) as path:
        return ChurnBundle.load(path)


def holdout_decider(
    margin: float, *, seed: int = 7, duckdb_settings: DuckDBSettings | None = None
) -> Callable[[ModelVersionInfo, ModelVersionInfo | None], PromotionDecision]:
    """A ``decide`` for ``registry.promote``: re-score champion and challenger on the challenger's test window."""
    from training.churn_evaluation import paired_bootstrap_difference, roc_auc
    from training.registry import PromotionDecision

    def decide(challenger: ModelVersionInfo, champion: ModelVersionInfo | None) -> PromotionDecision:
        new = load_version_bundle(challenger)
        frame, cutoff = holdout_of(new, duckdb_settings)
        y = frame[LABEL].to_numpy(np.float64)
        p_new = new.predict_proba(frame)
        auc_new = roc_auc(y, p_new)
        where = f"test window {cutoff.date()} ({len(frame)} customers)"
        if champion is None:
            return PromotionDecision(
                True, f"no champion yet; challenger AUC {auc_new:.4f} on {where}", challenger_score=auc_new
            )
        old = load_version_bundle(champion)
        view = champion_view(old, new, frame, cutoff, duckdb_settings)
        missing = [n for n in old.names if n not in view.columns]
        if missing:
            # no comparison on the same rows is possible: refuse, and say why (``--force`` overrides and records it)
            shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
            return PromotionDecision(
                False,
                f"cannot compare on the same holdout: champion v{champion.version} needs {len(missing)} feature(s) "
                f"absent from the challenger's data at {where}: {shown} (their input tables are missing); the "
                f"challenger (AUC {auc_new:.4f}) was not shown to beat it. Use --force to promote it anyway.",
                challenger_score=auc_new,
            )
        p_old = old.predict_proba(view)
        auc_old = roc_auc(y, p_old)
        diff = paired_bootstrap_difference(roc_auc, y, p_new, p_old, n_boot=N_BOOT, seed=seed)
        gain = auc_new - auc_old
        verdict = gain >= margin
        reason = (
            f"challenger v{challenger.version} AUC {auc_new:.4f} vs champion v{champion.version} {auc_old:.4f} on "
            f"{where}: gain {gain:+.4f} (95% CI {diff.lower:+.4f}..{diff.upper:+.4f}) "
            f"{'>=' if verdict else '<'} margin {margin:.4f}"
        )
        return PromotionDecision(verdict, reason, challenger_score=auc_new, champion_score=auc_old)

    return decide
