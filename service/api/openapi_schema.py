"""The OpenAPI document, with the features the loaded churn model needs marked ``required``.

``CustomerFeatures`` lists every feature of the catalog as optional (a model trained without, say,
transactions does not use ``txn_*``); which ones a request must carry is the loaded bundle's feature
specification, known only once the lifespan has loaded it. So the document is built by FastAPI as usual
and a copy gets ``required`` from that specification: a client generated from ``/openapi.json`` then
knows the fields whose absence is a 422. Until a model is loaded the document marks only ``customer_id``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from service.api.state import ServingModels

SCHEMA_NAME = "CustomerFeatures"


def install_openapi(app: FastAPI, models: ServingModels) -> None:
    """Serve ``app``'s OpenAPI document with the serving model's features required in ``CustomerFeatures``."""
    build: Callable[[], dict[str, Any]] = app.openapi  # FastAPI's own, which caches the static document
    marked: dict[tuple[str, ...], dict[str, Any]] = {}

    def openapi() -> dict[str, Any]:
        base = build()
        current = models.current
        if current is None:
            return base
        # a reload never changes the feature specification (it is refused), so one copy per specification
        names = tuple(current.churn.spec.names)
        if names not in marked:
            marked.clear()
            marked[names] = with_required_features(base, names)
        return marked[names]

    app.openapi = openapi  # type: ignore[method-assign]


def with_required_features(document: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """A copy of ``document`` whose ``CustomerFeatures`` requires ``names`` (null stays an accepted value)."""
    out = copy.deepcopy(document)
    schema = out["components"]["schemas"][SCHEMA_NAME]
    known = schema["properties"]
    required = list(schema.get("required", []))
    required += [n for n in names if n in known and n not in required]
    schema["required"] = required
    return out
