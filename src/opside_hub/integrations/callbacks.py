"""How an OAuth callback answers: a redirect to the frontend, or JSON when asked for it."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from fastapi import Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from opside_hub.config import Settings
from opside_hub.core.exceptions import AppError
from opside_hub.core.schemas import Envelope, error_content
from opside_hub.integrations.schemas import Connected


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def frontend_redirect(settings: Settings, params: dict[str, str]) -> RedirectResponse:
    base = settings.frontend_url or f"{settings.base_url}/"
    scheme, netloc, path, query, fragment = urlsplit(base)
    query = "&".join(part for part in (query, urlencode(params)) if part)
    return RedirectResponse(urlunsplit((scheme, netloc, path, query, fragment)), status_code=302)


def callback_success(request: Request, settings: Settings, connected: Connected) -> Response:
    if wants_json(request):
        return JSONResponse(
            {"success": True, "data": connected.model_dump(mode="json", by_alias=True)}
        )
    return frontend_redirect(settings, {"integration": connected.provider, "status": "connected"})


def callback_failure(
    request: Request, settings: Settings, provider: str, error: AppError
) -> Response:
    if wants_json(request):
        return JSONResponse(
            error_content(error.code, error.message, error.details), status_code=error.status_code
        )
    return frontend_redirect(
        settings, {"integration": provider, "status": "error", "error": error.code}
    )


# Declared on every provider's callback route (the OpenAPI document says both answers); a
# refused callback is a 400 error envelope when JSON is asked for (the routers declare it).
CALLBACK_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": Envelope[Connected], "description": "JSON when Accept: application/json"},
    302: {
        "description": "Redirect to the frontend, `?integration=&status=connected|error&error=`",
        "headers": {"Location": {"schema": {"type": "string"}, "description": "FRONTEND_URL"}},
    },
}


async def answer_callback(
    request: Request, settings: Settings, provider: str, completing: Awaitable[Connected]
) -> Response:
    """Run a provider callback and answer the browser (redirect) or the caller (JSON).

    Errors are answers here, not exceptions: the state consumed so far stays committed, so a
    replayed callback is refused as reused.
    """
    try:
        connected = await completing
    except AppError as exc:
        return callback_failure(request, settings, provider, exc)
    return callback_success(request, settings, connected)
