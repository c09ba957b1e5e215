"""Service settings (env prefix ``CHURNLTV_``): which models to load, where the data is, limits, auth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from features.errors import UserInputError
from models.registry_address import TrackingSettings

# what the /docs page loads from CHURNLTV_DOCS_ASSETS (file names as swagger-ui-dist ships them)
DOCS_ASSET_FILES = ("swagger-ui-bundle.js", "swagger-ui.css")
DOCS_OFF = "off"  # CHURNLTV_DOCS_ASSETS=off: no /docs page


class ServiceSettings(TrackingSettings):
    """Everything `churnltv serve` and `churnltv score` read from the environment (``tracking_uri`` from the base)."""

    model_config = SettingsConfigDict(env_prefix="CHURNLTV_", extra="ignore", frozen=True)

    api_keys: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="Comma-separated API keys accepted in the X-API-Key header; the API refuses to start without one "
        "unless CHURNLTV_ALLOW_ANONYMOUS=true.",
    )
    admin_api_keys: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="Comma-separated keys for the /admin routes (model reload), which then refuse the read keys of "
        "CHURNLTV_API_KEYS (403). An admin key is also accepted on every read route. Empty (the default): /admin "
        "takes a read key, as every other route does.",
    )
    allow_anonymous: bool = Field(
        False, description="Serve without API keys (every route open). Off by default: the API fails closed."
    )
    churn_model: str = Field(
        "champion", description="Churn bundle: alias of churnltv-churn, models:/ URI or a local bundle directory."
    )
    ltv_model: str = Field(
        "champion", description="LTV bundle: alias of churnltv-ltv, models:/ URI or a local bundle directory."
    )
    data: str | None = Field(
        "data/demo.duckdb",
        description="Customer data source for GET /v1/customers (directory, .duckdb, postgresql://).",
    )
    score_store: str | None = Field(
        "data/scores", description="Where batch score runs live (Parquet directory, .duckdb file or postgresql:// URL)."
    )
    max_batch_ids: int = Field(100, ge=1, description="Most ids accepted by POST /v1/customers:batchGet.")
    max_predict_customers: int = Field(1000, ge=1, description="Most customers in one POST /v1/predict body.")
    max_body_bytes: int = Field(1_000_000, ge=1024, description="Largest request body accepted (413 above).")
    top_reasons: int = Field(3, ge=1, le=20, description="Reason codes returned per customer.")
    docs_assets: str | None = Field(
        None,
        description="Directory holding swagger-ui-bundle.js and swagger-ui.css: the interactive /docs page is served "
        "from these local files only (never a CDN). Unset: the copy shipped with the swagger-ui-bundle package; "
        "'off': no /docs page. /openapi.json is served either way.",
    )
    store_retry_after_seconds: int = Field(
        5, ge=1, description="Retry-After of the 503 answered while the score store is busy (a batch run writing it)."
    )

    @field_validator("api_keys", "admin_api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(k.strip() for k in value.split(",") if k.strip())
        return value

    @field_validator("docs_assets")
    @classmethod
    def _docs_assets_present(cls, value: str | None) -> str | None:
        # checked when the settings are read, so `churnltv serve` refuses to start rather than serve a blank page
        if value and value != DOCS_OFF:
            missing = [f for f in DOCS_ASSET_FILES if not (Path(value) / f).is_file()]
            if missing:
                source = "copy them from the dist folder of the swagger-ui-dist package"
                raise ValueError(f"{value} lacks {', '.join(missing)} ({source})")
        return value or None


def load_service_settings(**overrides: object) -> ServiceSettings:
    """Settings from the environment plus ``overrides``; a bad value names its variable."""
    try:
        return ServiceSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as err:
        lines = [
            f"CHURNLTV_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg'].removeprefix('Value error, ')}"
            for e in err.errors()
        ]
        raise UserInputError("invalid service settings:\n  - " + "\n  - ".join(lines)) from err


def require_auth_configured(settings: ServiceSettings) -> None:
    """Fail closed: refuse to serve without API keys unless anonymous access was allowed explicitly."""
    if not settings.api_keys and not settings.allow_anonymous:
        raise UserInputError(
            "CHURNLTV_API_KEYS is empty: set it to one or more comma-separated API keys (clients send one in the "
            "X-API-Key header), or set CHURNLTV_ALLOW_ANONYMOUS=true to serve without authentication"
        )
