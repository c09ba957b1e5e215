"""Commands contributed by the `service` package: `serve` (the HTTP API)."""

from __future__ import annotations

from typing import Annotated

import typer


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
        require_auth_configured(load_service_settings())
        # factory mode: every worker builds its own app from the environment; importing service.api.app does no work
        uvicorn.run(
            "service.api.app:create_app", host=host, port=port, workers=workers, log_level=log_level, factory=True
        )
