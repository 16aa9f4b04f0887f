"""The sandbox Gmail API over HTTP: shapes checked against Google's discovery document."""

from __future__ import annotations

import base64
import csv
import email
import email.policy
import io
import re
import struct
import zipfile
import zlib
from email.message import EmailMessage

import httpx2
import pytest

from opside_hub.runtime import Runtime
from opside_hub.sandbox.google.mailbox import generate
from opside_hub.sandbox.google.store import now_ms
from tests.conftest import LiveServer
from tests.sandbox.gmail import (
    ADMIN,
    METADATA_SCOPE,
    add_message,
    expire_history,
    gmail,
    inject_faults,
    list_all,
    mailbox,
    token_for,
)
from tests.sandbox.specs import discovery_errors, gmail_discovery
from tests.sandbox.test_google import assert_google_error

EMAIL = "seller@example.com"


def valid(schema: str, value: object) -> None:
    assert discovery_errors(gmail_discovery(), schema, value) == []


def b64url(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


@pytest.fixture
async def token(http: httpx2.AsyncClient, live_server: LiveServer) -> str:
    return await token_for(http, live_server, EMAIL)


async def test_profile_counts_the_mailbox_and_moves_with_it(
    http: httpx2.AsyncClient, live_server: LiveServer, live_runtime: Runtime, token: str
) -> None:
    before = (await gmail(http, token, "/profile")).json()
    valid("Profile", before)
    truth = await mailbox(live_runtime, EMAIL)
    assert before == {
        "emailAddress": EMAIL,
        "messagesTotal": len(truth.messages),
        "threadsTotal": truth.threads_total,
        "historyId": str(truth.history_id),
    }
    assert 60 <= before["messagesTotal"] <= 90

    added = await add_message(http, EMAIL)
    after = (await gmail(http, token, "/profile")).json()

    assert after["messagesTotal"] == before["messagesTotal"] + 1
    assert int(after["historyId"]) > int(before["historyId"])
    assert after["historyId"] == added["historyId"]


async def test_list_pages_through_everything_newest_first(
    http: httpx2.AsyncClient, live_runtime: Runtime, token: str
) -> None:
    first = await gmail(http, token, "/messages", {"maxResults": 10})
    assert first.status_code == 200
    body = first.json()
    valid("ListMessagesResponse", body)
    assert len(body["messages"]) == 10
    assert body["nextPageToken"]

    ids = await list_all(http, token, maxResults=7)

    truth = await mailbox(live_runtime, EMAIL)
    visible = [m.id for m in truth.messages if not {"SPAM", "TRASH"} & set(m.label_ids)]
    assert ids == visible  # newest first, each once
    assert body["resultSizeEstimate"] == len(visible)
    everything = await list_all(http, token, maxResults=500, includeSpamTrash="true")
    assert sorted(everything) == sorted(m.id for m in truth.messages)
    assert len(everything) > len(ids)


async def test_list_filters_by_label_and_answers_empty_pages(
    http: httpx2.AsyncClient, live_runtime: Runtime, token: str
) -> None:
    truth = await mailbox(live_runtime, EMAIL)

    sent = await list_all(http, token, labelIds="SENT")
    spam = await list_all(http, token, labelIds="SPAM", includeSpamTrash="true")
    nothing = await gmail(http, token, "/messages", {"q": "zzzunmatchedword"})

    assert sent == [m.id for m in truth.messages if "SENT" in m.label_ids]
    assert spam == [m.id for m in truth.messages if "SPAM" in m.label_ids]
    assert spam
    assert nothing.json() == {"resultSizeEstimate": 0}
    valid("ListMessagesResponse", nothing.json())


async def test_list_rejects_bad_parameters(http: httpx2.AsyncClient, token: str) -> None:
    for params in (
        {"pageToken": "not-a-token"},
        {"maxResults": "many"},
        {"maxResults": "0"},
        {"includeSpamTrash": "maybe"},
        {"q": "newer_than:2x"},
        {"q": "(invoice"},
    ):
        assert_google_error(await gmail(http, token, "/messages", params), 400, "INVALID_ARGUMENT")
    clamped = await gmail(http, token, "/messages", {"maxResults": "1000"})
    assert clamped.status_code == 200
    assert len(clamped.json()["messages"]) == clamped.json()["resultSizeEstimate"]


async def test_get_in_every_format(
    http: httpx2.AsyncClient, live_runtime: Runtime, token: str
) -> None:
    truth = await mailbox(live_runtime, EMAIL)
    message = next(m for m in truth.messages if m.attachments)

    minimal = (await gmail(http, token, f"/messages/{message.id}", {"format": "minimal"})).json()
    metadata = (
        await gmail(
            http,
            token,
            f"/messages/{message.id}",
            [("format", "metadata"), ("metadataHeaders", "subject"), ("metadataHeaders", "From")],
        )
    ).json()
    full = (await gmail(http, token, f"/messages/{message.id}")).json()
    raw = (await gmail(http, token, f"/messages/{message.id}", {"format": "raw"})).json()

    for resource in (minimal, metadata, full, raw):
        valid("Message", resource)
        assert resource["id"] == message.id
        assert resource["threadId"] == message.thread_id
        assert resource["internalDate"] == str(message.internal_ms)
        assert resource["historyId"] == str(message.history_id)
        assert resource["labelIds"] == list(message.label_ids)
    assert set(minimal) == {
        "id",
        "threadId",
        "labelIds",
        "snippet",
        "sizeEstimate",
        "historyId",
        "internalDate",
    }
    assert metadata["payload"]["headers"] == [
        {"name": "Subject", "value": message.subject},
        {"name": "From", "value": message.sender},
    ]
    assert "parts" not in metadata["payload"]
    assert "payload" not in raw
    assert full["payload"]["mimeType"] == "multipart/mixed"
    assert [p["partId"] for p in full["payload"]["parts"]] == [
        "0",
        *[str(i) for i in range(1, len(message.attachments) + 1)],
    ]
    text = full["payload"]["parts"][0]["parts"][0]
    assert (text["partId"], text["mimeType"]) == ("0.0", "text/plain")
    assert b64url(text["body"]["data"]).decode() == message.text
    files = full["payload"]["parts"][1:]
    assert [f["filename"] for f in files] == [a.filename for a in message.attachments]
    assert all("attachmentId" in f["body"] and "data" not in f["body"] for f in files)
    assert [f["body"]["size"] for f in files] == [len(a.content) for a in message.attachments]
    assert raw["sizeEstimate"] == len(b64url(raw["raw"]))


async def test_raw_is_the_same_message_as_full(
    http: httpx2.AsyncClient, live_runtime: Runtime, token: str
) -> None:
    truth = await mailbox(live_runtime, EMAIL)
    message = next(m for m in truth.messages if len(m.attachments) >= 1)

    raw = (await gmail(http, token, f"/messages/{message.id}", {"format": "raw"})).json()
    parsed = email.message_from_bytes(b64url(raw["raw"]), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)

    assert parsed["Subject"] == message.subject
    assert parsed["Message-ID"] == message.message_id_header
    assert parsed.get_body(("plain",)) is not None
    files = [
        (part.get_filename(), part.get_payload(decode=True)) for part in parsed.iter_attachments()
    ]
    assert files == [(a.filename, a.content) for a in message.attachments]


async def test_attachments_are_real_files(
    http: httpx2.AsyncClient, live_runtime: Runtime, token: str
) -> None:
    truth = await mailbox(live_runtime, EMAIL)
    seen: dict[str, bytes] = {}
    for message in truth.messages:
        if not message.attachments or "SPAM" in message.label_ids:
            continue
        full = (await gmail(http, token, f"/messages/{message.id}")).json()
        for part, attachment in zip(full["payload"]["parts"][1:], message.attachments, strict=True):
            answer = await gmail(
                http, token, f"/messages/{message.id}/attachments/{part['body']['attachmentId']}"
            )
            assert answer.status_code == 200, answer.text
            valid("MessagePartBody", answer.json())
            data = b64url(answer.json()["data"])
            assert data == attachment.content
            assert answer.json()["size"] == len(data)
            seen.setdefault(attachment.filename.rsplit(".", 1)[-1].lower(), data)

    assert {"pdf", "png", "csv", "xlsx"} <= set(seen)
    check_pdf(seen["pdf"])
    check_png(seen["png"])
    rows = list(csv.reader(io.StringIO(seen["csv"].decode())))
    assert rows[0][:3] == ["invoice_number", "date", "sku"]
    assert len(rows) >= 2
    with zipfile.ZipFile(io.BytesIO(seen["xlsx"])) as workbook:
        assert "xl/worksheets/sheet1.xml" in workbook.namelist()
        assert b"invoice_number" in workbook.read("xl/worksheets/sheet1.xml")


def check_pdf(data: bytes) -> None:
    """A PDF whose cross-reference table points at its objects."""
    assert data.startswith(b"%PDF-1.4")
    assert data.rstrip().endswith(b"%%EOF")
    startxref = int(data.rsplit(b"startxref", 1)[1].split()[0])
    assert data[startxref:].startswith(b"xref")
    entries = re.findall(rb"(\d{10}) 00000 n ", data[startxref:])
    assert entries
    for number, offset in enumerate(entries, start=1):
        assert data[int(offset) :].startswith(b"%d 0 obj" % number)
    assert b"/Type /Catalog" in data


def check_png(data: bytes) -> None:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    position = 8
    kinds = []
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        chunk = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert crc == zlib.crc32(kind + chunk) & 0xFFFFFFFF
        kinds.append(kind)
        position += 12 + length
    assert kinds == [b"IHDR", b"IDAT", b"IEND"]


async def test_attachment_ids_change_but_all_work(
    http: httpx2.AsyncClient, live_runtime: Runtime, token: str
) -> None:
    truth = await mailbox(live_runtime, EMAIL)
    message = next(m for m in truth.messages if m.attachments and "INBOX" in m.label_ids)
    ids = [
        (await gmail(http, token, f"/messages/{message.id}")).json()["payload"]["parts"][1]["body"][
            "attachmentId"
        ]
        for _ in range(2)
    ]
    assert ids[0] != ids[1]
    contents = {
        (await gmail(http, token, f"/messages/{message.id}/attachments/{i}")).json()["data"]
        for i in ids
    }
    assert len(contents) == 1

    other = next(m for m in truth.messages if m.id != message.id)
    assert_google_error(
        await gmail(http, token, f"/messages/{other.id}/attachments/{ids[0]}"),
        400,
        "INVALID_ARGUMENT",
    )
    assert_google_error(
        await gmail(http, token, f"/messages/{message.id}/attachments/garbage"),
        400,
        "INVALID_ARGUMENT",
    )


async def test_unknown_and_malformed_ids(http: httpx2.AsyncClient, token: str) -> None:
    assert_google_error(await gmail(http, token, "/messages/18c0ffee00000000"), 404, "NOT_FOUND")
    assert_google_error(await gmail(http, token, "/messages/not-hex!"), 400, "INVALID_ARGUMENT")
    assert_google_error(
        await gmail(http, token, "/messages/18c0ffee00000000", {"format": "html"}),
        400,
        "INVALID_ARGUMENT",
    )


async def test_history_of_added_messages(
    http: httpx2.AsyncClient, live_runtime: Runtime, token: str
) -> None:
    start = (await gmail(http, token, "/profile")).json()["historyId"]
    empty = await gmail(http, token, "/history", {"startHistoryId": start})
    assert empty.json() == {"historyId": start}

    first = await add_message(http, EMAIL)
    second = await add_message(http, EMAIL, subject="Lunch?", attachments=[])
    answer = await gmail(
        http, token, "/history", {"startHistoryId": start, "historyTypes": "messageAdded"}
    )

    assert answer.status_code == 200
    body = answer.json()
    valid("ListHistoryResponse", body)
    assert body["historyId"] == second["historyId"]
    assert [r["messagesAdded"][0]["message"]["id"] for r in body["history"]] == [
        first["id"],
        second["id"],
    ]
    assert [r["id"] for r in body["history"]] == [first["historyId"], second["historyId"]]
    record = body["history"][0]
    assert record["messages"] == [{"id": first["id"], "threadId": first["threadId"]}]
    assert record["messagesAdded"][0]["message"]["labelIds"] == first["labelIds"]
    after_first = await gmail(http, token, "/history", {"startHistoryId": first["historyId"]})
    assert [r["id"] for r in after_first.json()["history"]] == [second["historyId"]]


async def test_history_types_pages_and_labels(
    http: httpx2.AsyncClient, live_runtime: Runtime, live_server: LiveServer, token: str
) -> None:
    truth = await mailbox(live_runtime, EMAIL)
    oldest = truth.oldest_start(now_ms())
    kept = [e for e in truth.events if e.id > oldest]
    kinds = {e.kind for e in kept}
    assert kinds == {"messageAdded", "labelRemoved"}

    every: list[dict[str, object]] = []
    page_token: str | None = None
    while True:
        params = {"startHistoryId": str(oldest), "maxResults": "1"}
        if page_token:
            params["pageToken"] = page_token
        body = (await gmail(http, token, "/history", params)).json()
        valid("ListHistoryResponse", body)
        every += body["history"]
        page_token = body.get("nextPageToken")
        if not page_token:
            break
    removed = (
        await gmail(
            http, token, "/history", {"startHistoryId": str(oldest), "historyTypes": "labelRemoved"}
        )
    ).json()
    inbox = (
        await gmail(http, token, "/history", {"startHistoryId": str(oldest), "labelId": "SENT"})
    ).json()

    assert [r["id"] for r in every] == [str(e.id) for e in kept]
    assert removed["history"]
    assert all(set(r) == {"id", "messages", "labelsRemoved"} for r in removed["history"])
    assert removed["history"][0]["labelsRemoved"][0]["labelIds"] == ["UNREAD"]
    assert "history" not in inbox  # none of the recent mail is SENT


async def test_history_too_old_or_unknown_is_404(
    http: httpx2.AsyncClient, live_runtime: Runtime, token: str
) -> None:
    current = (await gmail(http, token, "/profile")).json()["historyId"]
    for start in ("1", str(int(current) + 1_000)):
        assert_google_error(
            await gmail(http, token, "/history", {"startHistoryId": start}), 404, "NOT_FOUND"
        )
    assert_google_error(await gmail(http, token, "/history"), 400, "INVALID_ARGUMENT")
    assert_google_error(
        await gmail(http, token, "/history", {"startHistoryId": "abc"}), 400, "INVALID_ARGUMENT"
    )

    await add_message(http, EMAIL)
    floor = await expire_history(http, EMAIL)

    assert_google_error(
        await gmail(http, token, "/history", {"startHistoryId": current}), 404, "NOT_FOUND"
    )
    fresh = await gmail(http, token, "/history", {"startHistoryId": floor})
    assert fresh.json() == {"historyId": floor}


async def test_metadata_scope_is_refused_what_gmail_refuses(
    http: httpx2.AsyncClient, live_server: LiveServer, live_runtime: Runtime
) -> None:
    token = await token_for(http, live_server, EMAIL, scope=METADATA_SCOPE)
    message = (await mailbox(live_runtime, EMAIL)).messages[0]

    assert (await gmail(http, token, "/messages")).status_code == 200
    assert (await gmail(http, token, "/profile")).status_code == 200
    metadata = await gmail(http, token, f"/messages/{message.id}", {"format": "metadata"})
    assert metadata.status_code == 200
    for path, params in (
        ("/messages", {"q": "invoice"}),
        (f"/messages/{message.id}", {"format": "full"}),
        (f"/messages/{message.id}", {"format": "raw"}),
        (f"/messages/{message.id}/attachments/ANGjdJx", {}),
    ):
        assert_google_error(await gmail(http, token, path, params), 403, "PERMISSION_DENIED")


async def test_tokens_and_delegation(http: httpx2.AsyncClient, token: str) -> None:
    assert_google_error(await gmail(http, "ya29.unknown", "/messages"), 401, "UNAUTHENTICATED")
    missing = await http.get("/sandbox/google/gmail/v1/users/me/messages")
    assert_google_error(missing, 401, "UNAUTHENTICATED")
    assert_google_error(
        await gmail(http, token, "/messages", user="someone@example.com"), 403, "PERMISSION_DENIED"
    )
    assert (await gmail(http, token, "/messages", user=EMAIL)).status_code == 200


async def test_injected_faults_come_in_order(http: httpx2.AsyncClient, token: str) -> None:
    await inject_faults(http, EMAIL, [429, 503, 500])

    assert_google_error(await gmail(http, token, "/profile"), 429, "RESOURCE_EXHAUSTED")
    assert_google_error(await gmail(http, token, "/messages"), 503, "UNAVAILABLE")
    assert_google_error(await gmail(http, token, "/messages"), 500, "INTERNAL")
    assert (await gmail(http, token, "/messages")).status_code == 200


async def test_admin_adds_what_it_is_given(
    http: httpx2.AsyncClient, live_runtime: Runtime, token: str
) -> None:
    data = base64.urlsafe_b64encode(b"sku,qty\nA,1\n").decode().rstrip("=")
    added = await add_message(
        http,
        "Seller@Example.com",
        subject="Statement März",
        attachments=[{"filename": "statement.csv", "mimeType": "text/csv", "data": data}],
        labelIds=["INBOX"],
        internalDate=1_700_000_000_000,
    )
    valid("Message", added)

    full = (await gmail(http, token, f"/messages/{added['id']}")).json()
    assert added["internalDate"] == "1700000000000"
    assert full["labelIds"] == ["INBOX"]
    subject = next(h["value"] for h in full["payload"]["headers"] if h["name"] == "Subject")
    assert subject == "Statement März"
    (part,) = full["payload"]["parts"][1:]
    content = (
        await gmail(
            http, token, f"/messages/{added['id']}/attachments/{part['body']['attachmentId']}"
        )
    ).json()["data"]
    assert b64url(content) == b"sku,qty\nA,1\n"
    truth = await mailbox(live_runtime, EMAIL)
    assert truth.by_id[added["id"]].subject == "Statement März"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"emailAddress": "not an address"},
        {"emailAddress": EMAIL, "internalDate": "yesterday"},
        {"emailAddress": EMAIL, "labelIds": "INBOX"},
        {"emailAddress": EMAIL, "attachments": [{"data": "AA"}]},
    ],
)
async def test_admin_rejects_bad_messages(
    http: httpx2.AsyncClient, body: dict[str, object]
) -> None:
    answer = await http.post(f"{ADMIN}/messages", json=body)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"


async def test_admin_rejects_bad_faults(http: httpx2.AsyncClient) -> None:
    for statuses in ([], [200], "429"):
        answer = await http.post(
            f"{ADMIN}/faults", json={"emailAddress": EMAIL, "statuses": statuses}
        )
        assert answer.status_code == 400


def test_generation_is_deterministic_per_address_and_anchor() -> None:
    anchor = 1_760_000_000_000
    one, again = generate("x@example.com", anchor), generate.__wrapped__("x@example.com", anchor)
    other = generate("y@example.com", anchor)

    assert [m.id for m in one.messages] == [m.id for m in again.messages]
    assert [a.content for m in one.messages for a in m.attachments] == [
        a.content for m in again.messages for a in m.attachments
    ]
    assert [m.subject for m in one.messages] != [m.subject for m in other.messages]
    assert all(m.internal_ms < anchor for m in one.messages)
    assert len({m.id for m in one.messages}) == len(one.messages)
