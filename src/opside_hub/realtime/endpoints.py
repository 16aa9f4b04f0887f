"""`WS /ws`: live events for the authenticated user (DESIGN §3), mounted at the root path.

Close codes: 4401 missing/invalid/expired token or no auth message in time (the reason is the
token error code, e.g. `token_expired`); 1012 after the `reconnect` hint when the socket's
lifetime is over (or the server shuts down); 1013 when the client read too slowly and fell
behind; 1009 a client message over WS_MAX_MESSAGE_BYTES; 1003 a binary or non-JSON message.
A handshake from an Origin outside CORS_ORIGINS is refused with HTTP 403 before any upgrade.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, WebSocket
from fastapi.responses import JSONResponse

from opside_hub.core.logging import get_logger
from opside_hub.core.schemas import error_content
from opside_hub.realtime.connection import Close, EventSocket, authenticate, close_socket
from opside_hub.realtime.hub import EventHub
from opside_hub.realtime.service import origin_allowed
from opside_hub.runtime import Runtime

log = get_logger(__name__)
router = APIRouter()


@router.websocket("/ws")
async def events(websocket: WebSocket) -> None:
    runtime: Runtime = websocket.app.state.runtime
    hub: EventHub = websocket.app.state.hub
    settings = runtime.settings
    if not origin_allowed(websocket.headers.get("origin"), websocket.headers.get("host"), settings):
        await _refuse_origin(websocket)
        return
    # Accept first: a close code (4401) can only be sent on an open socket; before auth the
    # socket reads nothing but the auth message and sends nothing at all.
    await websocket.accept()
    auth = await authenticate(websocket, settings)
    if auth is None:
        return
    if isinstance(auth, Close):
        log.info("realtime.socket.unauthorized", reason=auth.reason)
        await close_socket(websocket, auth)
        return
    started = time.monotonic()
    outcome = await EventSocket(websocket, runtime, hub, auth.user_id).serve()
    if outcome is not None:
        await close_socket(websocket, outcome)
    log.info(
        "realtime.socket.closed",
        user_id=auth.user_id,
        code=int(outcome.code) if outcome else None,
        reason=outcome.reason if outcome else "client_closed",
        duration_s=round(time.monotonic() - started, 1),
    )


async def _refuse_origin(websocket: WebSocket) -> None:
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        response = JSONResponse(
            error_content("origin_not_allowed", "This Origin may not open a WebSocket here."),
            status_code=403,
        )
        await websocket.send_denial_response(response)
    else:
        await websocket.close(code=1008)  # the server turns a close before accept into a 403
