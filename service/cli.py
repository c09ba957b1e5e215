"""Commands contributed by the `service` package: `serve` (the HTTP API)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from service.settings import ServiceSettings


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app."""
    from service import cli_score

    cli_score.register(app)

    @app.command("serve")
    def serve(
        host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="TCP port (1-65535).", min=1, max=65535)] = 8000,
        workers: Annotated[int, typer.Option(help="Worker processes (each loads the models).", min=1)] = 1,
        log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    ) -> None:
        """Serve the prediction API (OpenAPI document at /openapi.json, interactive page at /docs from local files).

        Models, data source, score store and API keys come from CHURNLTV_* environment variables:
        CHURNLTV_CHURN_MODEL / CHURNLTV_LTV_MODEL (default: the `champion` alias), CHURNLTV_DATA,
        CHURNLTV_SCORE_STORE, CHURNLTV_API_KEYS (comma-separated; required unless
        CHURNLTV_ALLOW_ANONYMOUS=true), CHURNLTV_ADMIN_API_KEYS (for /admin/reload), CHURNLTV_TRACKING_URI.
        """
        import uvicorn

        from service.settings import load_service_settings, require_auth_configured

        # fail fast, with the variable named, before uvicorn starts (create_app checks the same again)
        settings = load_service_settings()
        require_auth_configured(settings)
        _refuse_damaged_models(settings)
        # factory mode: every worker builds its own app from the environment; importing service.api.app does no work
        uvicorn.run(
            "service.api.app:create_app", host=host, port=port, workers=workers, log_level=log_level, factory=True
        )


def _refuse_damaged_models(settings: ServiceSettings) -> None:
    """Exit 2 (the error names the registry file) when a model to serve is damaged on disk. A champion that does
    not exist yet is no refusal: the server starts, answers 503 on /ready and loads it on /admin/reload."""
    from features.errors import UserInputError
    from service.model_set import DamagedBundleError, load_model_set

    try:
        load_model_set(
            churn_ref=settings.churn_model,
            ltv_ref=settings.ltv_model,
            tracking_uri=settings.tracking_uri,
            keep_files=False,
        )
    except DamagedBundleError:
        raise
    except UserInputError:
        return
