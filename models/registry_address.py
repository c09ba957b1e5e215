"""Where churnltv's models live: the registered model names and the MLflow tracking URI setting.

Training registers under these names and the service loads from them, and both read ``CHURNLTV_TRACKING_URI``
through ``TrackingSettings``: one definition, so the two sides cannot drift apart (``service`` never imports
``training``, so the shared address sits here, below both).
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

CHURN_MODEL = "churnltv-churn"
LTV_MODEL = "churnltv-ltv"
UPLIFT_MODEL = "churnltv-uplift"
DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"


class TrackingSettings(BaseSettings):
    """The MLflow tracking + registry store (``CHURNLTV_TRACKING_URI``); base of the training and service settings."""

    model_config = SettingsConfigDict(env_prefix="CHURNLTV_", extra="ignore")

    tracking_uri: str = Field(
        DEFAULT_TRACKING_URI,
        description="MLflow tracking + registry store; a relative sqlite path is resolved against the cwd.",
    )
