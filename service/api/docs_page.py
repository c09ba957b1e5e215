"""The interactive ``/docs`` page, served only from local swagger-ui files.

FastAPI's default page loads swagger-ui's script and stylesheet from a CDN (and its favicon from
fastapi.tiangolo.com): a browser opening the docs of a service on a private network would fetch code
from the internet and run it next to the API key it types in. So FastAPI's pages are off, and ``/docs`` is
served with local files from ``/docs/assets``: by default the swagger-ui copy the ``swagger-ui-bundle`` package
ships (a pinned dependency), or the directory ``CHURNLTV_DOCS_ASSETS`` names (holding ``swagger-ui-bundle.js``
and ``swagger-ui.css``); ``CHURNLTV_DOCS_ASSETS=off`` serves no page. The page and its assets are public like
``/openapi.json``: they hold the API's shape, no data and no key.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

ASSETS_PATH = "/docs/assets"


def docs_assets_directory(setting: str | None) -> str | None:
    """Where the page's files are: the setting's directory, the bundled copy when unset, None for ``off`` (or
    when the package is missing from an install that left it out)."""
    from service.settings import DOCS_OFF

    if setting == DOCS_OFF:
        return None
    if setting:
        return setting
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        return None
    return str(swagger_ui_path)


def install_docs_page(app: FastAPI, setting: str | None) -> None:
    """Serve ``/docs`` from local swagger-ui files (``docs_assets_directory``); nothing for ``off``."""
    assets = docs_assets_directory(setting)
    if assets is None:
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
