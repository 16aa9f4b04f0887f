"""Helpers for the sandbox Gmail tests: tokens through the real consent flow, API calls, admin."""

from __future__ import annotations

from typing import Any

import httpx2

from opside_hub.runtime import Runtime
from opside_hub.sandbox.google.mailbox import Mailbox
from opside_hub.sandbox.google.service import GMAIL_SCOPE
from opside_hub.sandbox.google.store import MailboxStore
from tests.conftest import LiveServer
from tests.sandbox.test_google import consent, exchange

API = "/sandbox/google/gmail/v1/users/{user}"
ADMIN = "/sandbox/_admin/google"
METADATA_SCOPE = "https://www.googleapis.com/auth/gmail.metadata"


async def token_for(
    http: httpx2.AsyncClient, live: LiveServer, email: str, scope: str = GMAIL_SCOPE
) -> str:
    code = (await consent(http, live, email, scope=scope))["code"]
    answer = await exchange(http, live, code)
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


async def gmail(
    http: httpx2.AsyncClient,
    token: str,
    path: str,
    params: Any = None,
    user: str = "me",
) -> httpx2.Response:
    return await http.get(
        API.format(user=user) + path, params=params, headers={"Authorization": f"Bearer {token}"}
    )


async def add_message(http: httpx2.AsyncClient, email: str, **fields: Any) -> dict[str, Any]:
    answer = await http.post(f"{ADMIN}/messages", json={"emailAddress": email, **fields})
    assert answer.status_code == 200, answer.text
    message: dict[str, Any] = answer.json()
    return message


async def expire_history(http: httpx2.AsyncClient, email: str) -> str:
    answer = await http.post(f"{ADMIN}/history/expire", json={"emailAddress": email})
    assert answer.status_code == 200, answer.text
    history_id: str = answer.json()["historyId"]
    return history_id


async def inject_faults(http: httpx2.AsyncClient, email: str, statuses: list[int]) -> None:
    answer = await http.post(f"{ADMIN}/faults", json={"emailAddress": email, "statuses": statuses})
    assert answer.status_code == 200, answer.text


async def mailbox(runtime: Runtime, email: str) -> Mailbox:
    """The sandbox's own truth about a mailbox (what its API serves)."""
    return await MailboxStore(runtime.redis, runtime.redis_server.key).load(email)


async def list_all(http: httpx2.AsyncClient, token: str, **params: Any) -> list[str]:
    """Every message id of a messages.list query, page after page."""
    ids: list[str] = []
    page_token: str | None = None
    while True:
        query = {**params, **({"pageToken": page_token} if page_token else {})}
        answer = await gmail(http, token, "/messages", query)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        ids += [item["id"] for item in body.get("messages", [])]
        page_token = body.get("nextPageToken")
        if not page_token:
            return ids
