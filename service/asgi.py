"""ASGI entry point for uvicorn/gunicorn (``service.asgi:app``): builds the app from the environment.

Importing this module builds the app object but does no I/O: models and data load in the lifespan.
"""

from __future__ import annotations

from service.app import create_app

app = create_app()
