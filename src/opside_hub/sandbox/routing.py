"""The route class of the sandbox routers: provider-shaped errors, not the API envelope."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from opside_hub.sandbox.exceptions import SandboxError


class SandboxRoute(APIRoute):
    """Renders a `SandboxError` raised by a handler as the response it carries. (Exception
    handlers are app-wide; this keeps the sandbox's error shapes to the sandbox's routes.)"""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except SandboxError as exc:
                return exc.response()

        return handle
