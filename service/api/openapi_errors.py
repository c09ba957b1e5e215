"""The error answers each route documents in OpenAPI: every one has the ``ErrorResponse`` body."""

from __future__ import annotations

from typing import Any

from service.schemas import ErrorResponse

_ERROR_TEXT = {
    401: "No API key (send it in the X-API-Key header).",
    403: "API key not accepted.",
    404: "Not found (the message says what).",
    409: "Reload failed (the bundle cannot be loaded or its feature specification differs, each difference "
    "named); the previous models keep serving.",
    413: "Request body or list too large.",
    415: "The body was sent with a content type other than JSON (`detail` names it).",
    422: "Invalid request; `detail` names the field and `errors` lists every field.",
    503: "Models not loaded, or the data source or score store unreachable or busy (`detail` names it; "
    "`Retry-After` says when to retry).",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error answers a route gives."""
    return {code: {"model": ErrorResponse, "description": _ERROR_TEXT[code]} for code in codes}
