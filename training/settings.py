"""Settings of the training jobs: where MLflow lives, experiment names, promotion margin, tuning budget.

Environment variables use the prefix ``CHURNLTV_`` (``CHURNLTV_TRACKING_URI``, ``CHURNLTV_ARTIFACT_ROOT``,
``CHURNLTV_PROMOTE_MARGIN`` ...). The defaults keep everything in ``./mlruns`` so a newcomer needs no server.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from models.registry_address import TrackingSettings


class TrainingSettings(TrackingSettings):
    """Training, tracking and promotion settings (env prefix ``CHURNLTV_``; ``tracking_uri`` from the base)."""

    model_config = SettingsConfigDict(env_prefix="CHURNLTV_", extra="ignore")

    artifact_root: str = Field("mlruns/artifacts", description="Where new experiments store their artifacts.")
    churn_experiment: str = Field("churnltv-churn", description="MLflow experiment of churn training runs.")
    ltv_experiment: str = Field("churnltv-ltv", description="MLflow experiment of LTV training runs.")
    uplift_experiment: str = Field("churnltv-uplift", description="MLflow experiment of uplift training runs.")
    uplift_min_treated: int = Field(
        150, ge=10, description="Held-in contacts treated with an action needed before that action gets a model."
    )
    uplift_min_control: int = Field(
        75, ge=10, description="Control contacts (same campaigns) needed before an action gets a model."
    )
    uplift_test_share: float = Field(
        0.3,
        gt=0.0,
        lt=1.0,
        description="Share of contacts held out for the test: the latest campaigns until at least this share.",
    )
    uplift_promote_margin: float = Field(
        0.0,
        ge=0.0,
        description="Qini coefficient (retained customers per held-out contact) the uplift challenger must gain "
        "over the champion on the challenger's holdout contacts to be promoted.",
    )
    uplift_bootstrap: int = Field(200, ge=20, description="Bootstrap resamples behind every uplift interval.")
    promote_margin: float = Field(
        0.005, ge=0.0, description="Holdout ROC-AUC the challenger must gain over the champion to be promoted."
    )
    tuning_budget_seconds: float = Field(
        60,
        gt=0,
        description="Hyper-parameter search budget in nominal seconds of work (rows x features x trees / 1e8), "
        "not wall time, so a busy machine does not change which model is chosen.",
    )
    tuning_wall_clock_cap_seconds: float = Field(
        900,
        gt=0,
        description="Safety cap on the search's wall-clock seconds: once exceeded, no further candidate starts "
        "(the first always runs). Only a stuck or overloaded machine reaches it; when it fires the run records it "
        "(MLflow param tuning_stopped_by=wall_clock_cap, tag churnltv.tuning_wall_clock_cap_hit) because the chosen "
        "model then depends on machine speed.",
    )
    lightgbm_threads: int = Field(
        0,
        ge=0,
        description="LightGBM threads; 0 = 1 below 100k training rows (thread start-up costs more than it saves, "
        "badly so on a busy machine) and 2 above. Fixed per run so results are reproducible.",
    )
    rolling_folds: int = Field(
        3,
        ge=1,
        description="Churn model selection: rolling origins (the validation cutoff and the ones before it) every "
        "candidate is scored on; the best mean ROC-AUC is kept.",
    )
    min_cutoff_churners: int = Field(
        30,
        ge=1,
        description="A rolling origin with fewer churners is skipped (all merged when every one is that small); a "
        "validation or test window with fewer is a run warning.",
    )
    leakage_auc_alarm: float = Field(
        0.98,
        gt=0.5,
        le=1.0,
        description="A single feature or baseline reaching this holdout ROC-AUC means the label is nearly known at "
        "the cutoff: the run warns loudly (log, report, CLI, MLflow tag churnltv.leakage_alarm).",
    )
    random_seed: int = Field(7, description="Seed of every random choice in training (LightGBM, bootstrap, search).")
