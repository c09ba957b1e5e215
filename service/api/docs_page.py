"""The interactive ``/docs`` page, served only from local swagger-ui files (``CHURNLTV_DOCS_ASSETS``).

FastAPI's default page loads swagger-ui's script and stylesheet from a CDN (and its favicon from
fastapi.tiangolo.com): a browser opening the docs of a service on a private network would fetch code
from the internet and run it next to the API key it types in. So the default pages are off; with
``CHURNLTV_DOCS_ASSETS`` naming a directory holding ``swagger-ui-bundle.js`` and ``swagger-ui.css``
(swagger-ui-dist's ``dist`` folder), ``/docs`` is served with those files from ``/docs/assets``. The page
and its assets are public like ``/openapi.json``: they hold the API's shape, no data and no key.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

ASSETS_PATH = "/docs/assets"


def install_docs_page(app: FastAPI, assets: str | None) -> None:
    """Serve ``/docs`` from the swagger-ui files in ``assets`` (already checked to exist); nothing without it."""
    if not assets:
        return
    page = get_swagger_ui_html(
        openapi_url=app.openapi_url or "/openapi.json",
        title=f"{app.title} - API docs",
        swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url="data:,",  # no request for a favicon at all, rather than one to fastapi.tiangolo.com
    )

    async def docs() -> HTMLResponse:
        return page

    app.mount(ASSETS_PATH, StaticFiles(directory=Path(assets)), name="docs-assets")
    app.get("/docs", include_in_schema=False)(docs)
