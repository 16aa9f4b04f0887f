"""`/api/gmail/emails` (synced messages) and `/api/gmail/search` (live Gmail search)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx2

from opside_hub.providers.gmail.sync import sync_messages
from opside_hub.sandbox.google.search import Context, parse_query, words
from opside_hub.sandbox.google.store import now_ms
from tests.conftest import LiveServer, bearer
from tests.providers.gmail.conftest import (
    EMAIL,
    browser,
    connect_gmail,
    expected_ids,
    runtime_of,
)
from tests.sandbox.gmail import mailbox

A, B = "seller-a", "seller-b"
OTHER_EMAIL = "other.seller@example.com"


async def _pages(
    http: httpx2.AsyncClient, live: LiveServer, user: str, path: str, **params: Any
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        answer = await http.get(path, params=query, headers=bearer(live.settings, user))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["success"] is True
        items += body["data"]
        cursor = body["meta"]["nextCursor"]
        if cursor is None:
            return items


async def _two_synced_sellers(http: httpx2.AsyncClient, live: LiveServer) -> None:
    runtime = runtime_of(live)
    await connect_gmail(http, live, A, EMAIL)
    await connect_gmail(http, live, B, OTHER_EMAIL)
    await sync_messages(runtime, A)
    await sync_messages(runtime, B)


async def test_emails_pages_newest_first_and_stay_with_their_user(gmail_live: LiveServer) -> None:
    runtime = runtime_of(gmail_live)
    async with browser(gmail_live) as http:
        await _two_synced_sellers(http, gmail_live)
        truth = await mailbox(runtime, EMAIL)

        mine = await _pages(http, gmail_live, A, "/api/gmail/emails", limit=7)
        theirs = await _pages(http, gmail_live, B, "/api/v1/gmail/emails", limit=500)

    assert [item["id"] for item in mine] == await expected_ids(runtime, EMAIL)
    assert [item["id"] for item in theirs] == await expected_ids(runtime, OTHER_EMAIL)
    assert not {item["id"] for item in mine} & {item["id"] for item in theirs}
    item = mine[0]
    message = truth.by_id[item["id"]]
    assert item == {
        "id": message.id,
        "threadId": message.thread_id,
        "historyId": str(message.history_id),
        "labelIds": list(message.label_ids),
        "snippet": item["snippet"],
        "internalDate": datetime.fromtimestamp(message.internal_ms / 1000, UTC)
        .isoformat()
        .replace("+00:00", "Z"),
        "sizeEstimate": item["sizeEstimate"],
        "subject": message.subject,
        "from": message.sender,
        "to": message.to,
        "hasAttachments": True,
        "attachments": [
            {
                "partId": str(i),
                "filename": a.filename,
                "mimeType": a.mime_type,
                "size": len(a.content),
            }
            for i, a in enumerate(message.attachments, start=1)
        ],
        "syncedAt": item["syncedAt"],
    }
    assert item["snippet"]
    assert item["sizeEstimate"] > 0
    assert datetime.fromisoformat(item["syncedAt"]).tzinfo is not None


async def test_emails_filters(gmail_live: LiveServer) -> None:
    runtime = runtime_of(gmail_live)
    async with browser(gmail_live) as http:
        await _two_synced_sellers(http, gmail_live)
        every = await _pages(http, gmail_live, A, "/api/gmail/emails")
        middle = datetime.fromisoformat(every[len(every) // 2]["internalDate"])

        acme = await _pages(http, gmail_live, A, "/api/gmail/emails", **{"from": "ACME supp"})
        by_address = await _pages(
            http, gmail_live, A, "/api/gmail/emails", **{"from": "@globex.example"}
        )
        literal = await _pages(http, gmail_live, A, "/api/gmail/emails", **{"from": "%"})
        with_files = await _pages(http, gmail_live, A, "/api/gmail/emails", hasAttachments="true")
        without = await _pages(http, gmail_live, A, "/api/gmail/emails", hasAttachments="false")
        newer = await _pages(
            http, gmail_live, A, "/api/gmail/emails", after=middle.isoformat(), limit=3
        )
        older = await _pages(http, gmail_live, A, "/api/gmail/emails", before=middle.isoformat())

    truth = await mailbox(runtime, EMAIL)
    synced = [truth.by_id[item["id"]] for item in every]
    assert [i["id"] for i in acme] == [m.id for m in synced if "acme supp" in m.sender.lower()]
    assert acme
    assert [i["id"] for i in by_address] == [m.id for m in synced if "@globex.example" in m.sender]
    assert literal == []
    assert len(with_files) == len(every)
    assert without == []
    cut = middle.timestamp() * 1000
    assert [i["id"] for i in newer] == [m.id for m in synced if m.internal_ms >= cut]
    assert [i["id"] for i in older] == [m.id for m in synced if m.internal_ms < cut]
    assert len(newer) + len(older) == len(every)


async def test_emails_rejects_bad_input(gmail_live: LiveServer) -> None:
    async with browser(gmail_live) as http:
        headers = bearer(gmail_live.settings, A)
        for params, status, code in (
            ({"limit": "0"}, 422, "validation_error"),
            ({"limit": "501"}, 422, "validation_error"),
            ({"cursor": "garbage"}, 400, "invalid_cursor"),
            ({"cursor": "WyJ4Il0"}, 400, "invalid_cursor"),
            ({"after": "2025-01-01T00:00:00"}, 422, "validation_error"),
            ({"hasAttachments": "perhaps"}, 422, "validation_error"),
        ):
            answer = await http.get("/api/gmail/emails", params=params, headers=headers)
            assert answer.status_code == status, (params, answer.text)
            assert answer.json()["success"] is False
            assert answer.json()["error"]["code"] == code
        assert (await http.get("/api/gmail/emails")).status_code == 401
        empty = await http.get("/api/gmail/emails", headers=headers)
        assert empty.json() == {"success": True, "data": [], "meta": {"nextCursor": None}}


async def test_live_search_through_the_sellers_token(gmail_live: LiveServer) -> None:
    runtime = runtime_of(gmail_live)
    query = "from:acme OR from:globex has:attachment"
    async with browser(gmail_live) as http:
        await connect_gmail(http, gmail_live, A, EMAIL)

        found = await _pages(http, gmail_live, A, "/api/gmail/search", q=query, limit=2)
        first = await http.get(
            "/api/gmail/search",
            params={"q": query, "limit": 2},
            headers=bearer(gmail_live.settings, A),
        )
        second = await http.get(
            "/api/gmail/search",
            params={"q": query, "limit": 2, "pageToken": first.json()["meta"]["nextCursor"]},
            headers=bearer(gmail_live.settings, A),
        )

    truth = await mailbox(runtime, EMAIL)
    parsed = parse_query(query)
    context = Context(words(EMAIL), now_ms())
    expected = [
        m.id
        for m in truth.messages
        if not {"SPAM", "TRASH"} & set(m.label_ids) and parsed.matches(m.searchable(), context)
    ]
    assert len(expected) > 2
    assert [item["id"] for item in found] == expected
    assert [item["id"] for item in second.json()["data"]] == expected[2:4]
    item = found[0]
    message = truth.by_id[item["id"]]
    assert item == {
        "id": message.id,
        "threadId": message.thread_id,
        "historyId": str(message.history_id),
        "labelIds": list(message.label_ids),
        "snippet": item["snippet"],
        "internalDate": datetime.fromtimestamp(message.internal_ms / 1000, UTC)
        .isoformat()
        .replace("+00:00", "Z"),
        "sizeEstimate": item["sizeEstimate"],
        "subject": message.subject,
        "from": message.sender,
        "to": message.to,
    }


async def test_live_search_errors(gmail_live: LiveServer) -> None:
    async with browser(gmail_live) as http:
        headers = bearer(gmail_live.settings, A)

        async def search(**params: str) -> httpx2.Response:
            return await http.get("/api/gmail/search", params=params, headers=headers)

        not_connected = await search(q="invoice")
        assert not_connected.status_code == 404
        assert not_connected.json()["error"]["code"] == "not_connected"

        await connect_gmail(http, gmail_live, A, EMAIL)
        for params in ({}, {"q": ""}, {"q": "x" * 1001}, {"q": "invoice", "limit": "101"}):
            answer = await search(**params)
            assert answer.status_code == 422, params
            assert answer.json()["error"]["code"] == "validation_error"
        bad_query = await search(q="(invoice")
        assert bad_query.status_code == 400
        assert bad_query.json()["error"]["code"] == "invalid_search"
        bad_token = await search(q="invoice", cursor="nope")
        assert bad_token.status_code == 400

        # The seller removes the app at Google: the refresh fails, the connection needs them.
        revoked = await http.post("/sandbox/_admin/google/revoke", json={"subject": EMAIL})
        assert revoked.json()["revoked"] >= 1
        for _ in range(2):
            answer = await search(q="invoice")
            assert answer.status_code == 409, answer.text
            assert answer.json()["error"]["code"] == "reauthorization_required"
