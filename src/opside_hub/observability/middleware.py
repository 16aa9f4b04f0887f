"""Request latency by route template: a pure ASGI middleware, one histogram observation each.

The label is the matched route's template (`/api/sync/status/{sync_id}`), never the raw path,
so the number of series stays the number of routes. The router writes the matched route into
the request's scope, which this middleware shares, so it is read after the response.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opside_hub.observability.metrics import observe_http_request

UNMATCHED = "unmatched"


class HttpMetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # Stays 500 when the app raises before answering: the server error handler, outside
        # this middleware, then sends a 500.
        status = 500

        async def send_observing_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_observing_status)
        finally:
            observe_http_request(
                scope["method"], route_template(scope), status, time.perf_counter() - started
            )


def route_template(scope: Scope) -> str:
    """The template of the route that served the request, or `unmatched`.

    FastAPI resolves routers included with a prefix lazily: the route in the scope carries its
    own path without the prefix it was included under (`/sync/status/{sync_id}` for
    `/api/v1/sync/status/…`). The prefix is the part of the request path before the suffix that
    the route's pattern matches; our prefixes (`/api`, `/api/v1`, `/sandbox`) are literal, so
    this adds no raw value to the label.
    """
    route: Any = scope.get("route")
    template = getattr(route, "path", None)
    pattern = getattr(route, "path_regex", None)
    if not isinstance(template, str) or pattern is None:
        # A mounted app (the dashboard's `/assets`) sets only its mount point as root_path.
        mount = scope.get("root_path") or ""
        return f"{mount}/{{path}}" if mount else UNMATCHED
    path: str = scope.get("path", "")
    for index, char in enumerate(path):
        if char == "/" and pattern.match(path[index:]):
            return path[:index] + template
    return template
