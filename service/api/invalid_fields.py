"""A 422 a route raises itself, with the per-field ``errors`` every 422 body carries (docs/BAD_INPUTS.md)."""

from __future__ import annotations

import re

from fastapi import HTTPException

# "customers.0.as_of: ... is in the future": a message that starts with a field path names its field
_LEADING_FIELD = re.compile(r"([A-Za-z_][\w]*(?:\.[\w]+)*): ")


class InvalidFields(HTTPException):
    """422 with ``detail`` (one sentence) and ``errors`` (``{field, message}`` per offending field)."""

    def __init__(self, detail: str, errors: list[dict[str, str]]) -> None:
        super().__init__(422, detail=detail)
        self.errors = errors


def field_errors_of(detail: str) -> list[dict[str, str]]:
    """The ``errors`` of a 422 raised with a message only: the field it starts with, else the whole request."""
    match = _LEADING_FIELD.match(detail)
    if match is None:
        return [{"field": "request", "message": detail}]
    return [{"field": match.group(1), "message": detail[match.end() :]}]
