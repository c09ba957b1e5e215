"""The ASGI guard around every request: body-size limit (413), no tracebacks to clients (500 with an id), metrics.

Plain ASGI rather than ``@app.middleware("http")``: Starlette's BaseHTTPMiddleware runs every request through an
extra task and memory streams, which cost more than scoring one customer.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.metrics import ServiceMetrics

log = logging.getLogger(__name__)


class GuardMiddleware:
    """Body-size limit, a 500 with an error id instead of a traceback, and the request metrics of every route."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.limit = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        limit = self.limit
        status = 500
        started = False
        length = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if length is not None and length.isdigit() and int(length) > limit:
            status = 413
            too_big = f"request body of {int(length)} bytes is over the limit of {limit} bytes"
            await _send_json(send, 413, {"detail": too_big})
            self._observe(scope, status, start, label=_route_label(scope))
            return
        seen = 0
        rejected = False

        async def counted_receive() -> Message:
            # a chunked body (no Content-Length) is counted as it arrives: past the limit we answer 413
            # ourselves and tell the app the client went away, so it stops reading and its answer is dropped
            nonlocal seen, rejected, status, started
            message = await receive()
            if message["type"] == "http.request" and not rejected:
                seen += len(message.get("body", b""))
                if seen > limit and not started:
                    rejected, status, started = True, 413, True
                    await _send_json(send, 413, {"detail": f"request body is over the limit of {limit} bytes"})
            return {"type": "http.disconnect"} if rejected else message

        async def tracked_send(message: Message) -> None:
            nonlocal status, started
            if rejected:
                return
            if message["type"] == "http.response.start":
                status = int(message["status"])
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except Exception:  # never leak a traceback; the log has it
            error_id = uuid.uuid4().hex[:12]
            log.exception("unhandled error %s on %s", error_id, scope.get("path", ""))
            if not started:
                status = 500
                await _send_json(send, 500, {"detail": f"internal error (id {error_id})"})
        self._observe(scope, status, start)

    def _observe(self, scope: Scope, status: int, start: float, label: str | None = None) -> None:
        label = label or getattr(scope.get("route"), "path", "unmatched")
        metrics = self.metrics
        metrics.requests.labels(label, scope["method"], str(status)).inc()
        metrics.latency.labels(label).observe(time.perf_counter() - start)


def _route_label(scope: Scope) -> str:
    """The route template a request would reach (``/v1/customers/{customer_id}``), for an answer given before
    routing: a 413 on Content-Length is counted under its route, as every other answer is."""
    from starlette.routing import Match

    app = scope.get("app")
    for route in getattr(getattr(app, "router", None), "routes", ()):
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return str(getattr(route, "path", "unmatched"))
    return "unmatched"


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
