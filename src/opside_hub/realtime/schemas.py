"""The WebSocket's wire format: `{"event": ..., "data": ...}` frames and the close codes."""

from __future__ import annotations

import json
from enum import IntEnum
from typing import Any

from pydantic import BaseModel

CONNECTED = "connected"
PING = "ping"
PONG = "pong"
RECONNECT = "reconnect"
SYNC_PROGRESS_UPDATE = "sync_progress_update"


class CloseCode(IntEnum):
    """Why the server closed a socket; 4xxx mirror HTTP statuses (4401 = 401)."""

    UNSUPPORTED_DATA = 1003  # a binary frame, or text that is not a JSON object
    MESSAGE_TOO_BIG = 1009  # over WS_MAX_MESSAGE_BYTES
    SERVICE_RESTART = 1012  # lifetime reached or server shutting down: reconnect
    TRY_AGAIN_LATER = 1013  # the client read too slowly and fell behind: reconnect
    UNAUTHORIZED = 4401  # missing, invalid or expired token, or no auth message in time


def event_data(data: BaseModel | Any) -> Any:
    """A model becomes its JSON form with camelCase aliases (the REST shapes); the rest as is."""
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json", by_alias=True)
    return data


def encode_event(event: str, data: BaseModel | Any = None) -> str:
    """One frame's text. `data` is omitted when None (`{"event": "pong"}`)."""
    frame: dict[str, Any] = {"event": event}
    if data is not None:
        frame["data"] = event_data(data)
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)
