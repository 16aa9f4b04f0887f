"""A small client of a running hub: the REST API with a user JWT, and its WebSocket.

The token authenticates the socket in its first message (`{"type": "auth", ...}`), never in
the URL. A 429 is waited out (its `Retry-After`) and retried, so a seed of many sellers from
one address stays inside the per-IP rate limit instead of failing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import httpx2
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from opside_hub import __version__

TIMEOUT = httpx2.Timeout(30.0, connect=5.0)
MAX_RATE_LIMIT_RETRIES = 8
SYNC_EVENTS = ("sync_progress_update", "sync_completed", "sync_failed", "sync_cancelled")
ACTIVE = ("queued", "running")
WS_UNAUTHORIZED = 4401
RECONNECT_DELAY_S = 0.25


class HubError(Exception):
    """The hub answered with an error envelope (or could not be reached: status 0)."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


class SocketUnavailable(Exception):
    """The WebSocket could not be opened or dropped; the caller falls back to polling."""


@dataclass(frozen=True)
class SyncStart:
    sync_id: str
    started: bool  # False: one was already running and is followed instead


class HubClient:
    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        headers = {"User-Agent": f"opside-hub-cli/{__version__}", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.http = httpx2.AsyncClient(
            base_url=self.base_url, headers=headers, timeout=TIMEOUT, follow_redirects=False
        )

    async def __aenter__(self) -> HubClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx2.Response:
        """One request; 429s are waited out. Transport failures become `HubError(0, ...)`."""
        for _ in range(MAX_RATE_LIMIT_RETRIES):
            try:
                response = await self.http.request(method, url, **kwargs)
            except httpx2.TransportError as exc:
                raise HubError(
                    0,
                    "unreachable",
                    f"no hub answers at {self.base_url} ({type(exc).__name__}): is it running? "
                    "(`make run`, or pass --url)",
                ) from exc
            if response.status_code != 429:
                return response
            await asyncio.sleep(_retry_after(response))
        return response

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The `data` of a JSON envelope; an error envelope raises `HubError`."""
        response = await self.request(method, path, **kwargs)
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.is_success and isinstance(payload, dict) and payload.get("success"):
            return payload.get("data")
        error = payload.get("error") if isinstance(payload, dict) else None
        if not isinstance(error, dict):
            error = {}
        raise HubError(
            response.status_code,
            str(error.get("code", "http_error")),
            str(error.get("message", f"the hub answered {response.status_code}")),
            error.get("details"),
        )

    # -- syncs --------------------------------------------------------------------------------

    async def start_sync(self, providers: list[str] | None = None) -> SyncStart:
        body = {"providers": providers} if providers else {}
        try:
            data = await self.call("POST", "/api/sync/start", json=body)
        except HubError as exc:
            details = exc.details if isinstance(exc.details, dict) else {}
            if exc.status == 409 and details.get("syncId"):
                return SyncStart(sync_id=str(details["syncId"]), started=False)
            raise
        return SyncStart(sync_id=str(data["syncId"]), started=True)

    async def sync_status(self, sync_id: str) -> dict[str, Any]:
        data: dict[str, Any] = await self.call("GET", f"/api/sync/status/{sync_id}")
        return data

    async def integrations(self) -> dict[str, dict[str, Any]]:
        data: dict[str, dict[str, Any]] = await self.call("GET", "/api/integrations")
        return data

    # -- WebSocket ----------------------------------------------------------------------------

    def ws_url(self) -> str:
        parts = urlsplit(self.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + "/ws", "", ""))

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """The socket's frames, from `connected` on, until it closes. An invalid token raises
        `HubError(401)`; any other failure `SocketUnavailable`."""
        try:
            async with connect(self.ws_url(), proxy=None, open_timeout=10) as socket:
                await socket.send(json.dumps({"type": "auth", "token": self.token}))
                async for message in socket:
                    frame = json.loads(message)
                    if isinstance(frame, dict):
                        yield frame
        except ConnectionClosed as exc:
            if exc.rcvd is not None and exc.rcvd.code == WS_UNAUTHORIZED:
                raise HubError(401, exc.rcvd.reason, "the hub refused the token") from exc
            raise SocketUnavailable(str(exc)) from exc
        except (OSError, InvalidHandshake, TimeoutError, ValueError) as exc:
            raise SocketUnavailable(f"{type(exc).__name__}: {exc}") from exc

    # -- sandbox ------------------------------------------------------------------------------

    async def approve_sandbox_consent(self, auth_url: str, fields: dict[str, str]) -> str:
        """Press Approve on a sandbox consent page, as a browser would; returns the callback
        URL the provider redirects to. The page's hidden fields are the consent URL's query."""
        parts = urlsplit(auth_url)
        form = [*parse_qsl(parts.query), *fields.items(), ("decision", "approve")]
        target = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        # A client of its own: the user's token is for the hub, not for the provider's page.
        async with httpx2.AsyncClient(timeout=TIMEOUT, follow_redirects=False) as browser:
            try:
                response = await browser.post(
                    target, data=dict(form), headers={"Sec-Fetch-Site": "same-origin"}
                )
            except httpx2.TransportError as exc:
                raise HubError(0, "unreachable", f"{target}: {type(exc).__name__}") from exc
        if response.status_code != 302:
            raise HubError(
                response.status_code,
                "consent_failed",
                f"the sandbox consent page answered {response.status_code}",
            )
        return response.headers["location"]


def _retry_after(response: httpx2.Response) -> float:
    try:
        return min(60.0, max(0.5, float(response.headers.get("retry-after", "1"))))
    except ValueError:
        return 1.0


async def follow_sync(
    client: HubClient,
    sync_id: str,
    on_update: Any,
    *,
    poll_interval: float = 1.0,
) -> dict[str, Any]:
    """Report every state of sync `sync_id` to `on_update` until it has finished; returns the
    final state. Fed by the WebSocket; while it is unavailable, by polling the status route."""
    last = await client.sync_status(sync_id)
    on_update(last)
    while last["status"] in ACTIVE:
        try:
            async for frame in client.events():
                event = frame.get("event")
                data = frame.get("data")
                if event == "connected":
                    # Subscribed from here on: read what happened before once, then stream.
                    last = await client.sync_status(sync_id)
                    on_update(last)
                elif (
                    event in SYNC_EVENTS
                    and isinstance(data, dict)
                    and data.get("syncId") == sync_id
                ):
                    last = data
                    on_update(last)
                if last["status"] not in ACTIVE:
                    break
            else:  # the server closed the socket (its lifetime, a restart): come back soon
                await asyncio.sleep(RECONNECT_DELAY_S)
        except SocketUnavailable:
            await asyncio.sleep(poll_interval)
            last = await client.sync_status(sync_id)
            on_update(last)
    return last
