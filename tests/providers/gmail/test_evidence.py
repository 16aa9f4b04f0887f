"""Invoice attachments become evidence documents: stored by content, recorded once,
forwarded to the evidence service once."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from opside_hub.evidence.storage import LocalDirectoryStorage, sha256_key
from opside_hub.providers.gmail.rows import is_evidence
from opside_hub.providers.gmail.sync import sync_messages
from tests.conftest import LiveServer
from tests.providers.gmail.conftest import (
    EMAIL,
    FakeEvidence,
    browser,
    connect_gmail,
    document_rows,
    expected_ids,
    message_rows,
    runtime_of,
)
from tests.sandbox.gmail import add_message, mailbox

USER = "seller-e"


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def test_invoice_attachments_become_documents(
    gmail_live: LiveServer, evidence_dir: Path
) -> None:
    runtime = runtime_of(gmail_live)
    async with browser(gmail_live) as http:
        await connect_gmail(http, gmail_live, USER)
    truth = await mailbox(runtime, EMAIL)
    expected = {
        f"{message_id}:{part}": attachment
        for message_id in await expected_ids(runtime, EMAIL)
        for part, attachment in enumerate(truth.by_id[message_id].attachments, start=1)
        if is_evidence(attachment.filename, attachment.mime_type)
    }

    result = await sync_messages(runtime, USER)

    documents = await document_rows(runtime, USER)
    assert result.documents == len(documents) == len(expected)
    assert {d.row_key for d in documents} == set(expected)
    for document in documents:
        attachment = expected[document.row_key]
        digest = hashlib.sha256(attachment.content).hexdigest()
        assert document.sha256 == digest
        assert document.storage_key == sha256_key(digest)
        assert (evidence_dir / sha256_key(digest)).read_bytes() == attachment.content
        assert document.size == len(attachment.content)
        assert document.filename == attachment.filename
        assert document.mime_type == attachment.mime_type
        assert document.message_id == document.row_key.split(":")[0]
        assert document.part_id == document.row_key.split(":")[1]
        assert document.status == "stored"  # no PYTHON_API_URL
        assert document.forwarded_at is None
        assert document.raw["attachmentId"].startswith("ANGjdJ")
        assert document.raw["subject"] == truth.by_id[document.message_id].subject
    kinds = {d.mime_type for d in documents}
    assert {"application/pdf", "text/csv", "image/png", XLSX, "application/octet-stream"} <= kinds


async def test_only_document_types_become_evidence(gmail_live: LiveServer) -> None:
    runtime = runtime_of(gmail_live)

    def data(content: bytes) -> str:
        return base64.urlsafe_b64encode(content).decode()

    async with browser(gmail_live) as http:
        await connect_gmail(http, gmail_live, USER)
        await sync_messages(runtime, USER)
        bundle = await add_message(
            http,
            EMAIL,
            subject="Invoice bundle for May",
            attachments=[
                {"filename": "invoices.zip", "mimeType": "application/zip", "data": data(b"PK")},
                {"filename": "terms.docx", "mimeType": "application/msword", "data": data(b"d")},
                {"filename": "Invoice 7.pdf", "mimeType": "application/pdf", "data": data(b"%PDF")},
                {
                    "filename": "photo.JPG",
                    "mimeType": "application/octet-stream",
                    "data": data(b"j"),
                },
            ],
        )
        await sync_messages(runtime, USER)

    row = next(r for r in await message_rows(runtime, USER) if r.row_key == bundle["id"])
    assert [a["filename"] for a in row.attachments] == [
        "invoices.zip",
        "terms.docx",
        "Invoice 7.pdf",
        "photo.JPG",
    ]
    documents = [d for d in await document_rows(runtime, USER) if d.message_id == bundle["id"]]
    assert [(d.part_id, d.filename) for d in documents] == [
        ("3", "Invoice 7.pdf"),
        ("4", "photo.JPG"),
    ]


async def test_documents_are_recorded_once(gmail_live: LiveServer, evidence_dir: Path) -> None:
    runtime = runtime_of(gmail_live)
    async with browser(gmail_live) as http:
        await connect_gmail(http, gmail_live, USER)
        await sync_messages(runtime, USER)
        before = [(d.id, d.row_key, d.sha256) for d in await document_rows(runtime, USER)]
        files = _files(evidence_dir)
        # A resync re-lists every message; none is fetched again, no document is added.
        await add_message(http, EMAIL, subject="Lunch?", attachments=[])
        await http.post("/sandbox/_admin/google/history/expire", json={"emailAddress": EMAIL})

        again = await sync_messages(runtime, USER)

    assert again.mode == "resync"
    assert again.documents == 0
    assert [(d.id, d.row_key, d.sha256) for d in await document_rows(runtime, USER)] == before
    assert _files(evidence_dir) == files


async def test_documents_are_forwarded_once_with_a_service_jwt(
    forwarding_live: LiveServer, evidence_service: FakeEvidence
) -> None:
    runtime = runtime_of(forwarding_live)
    async with browser(forwarding_live) as http:
        await connect_gmail(http, forwarding_live, USER)

        result = await sync_messages(runtime, USER)

        documents = await document_rows(runtime, USER)
        assert result.forwarded == len(documents) == len(evidence_service.received) > 0
        assert all(d.status == "forwarded" and d.forwarded_at for d in documents)
        by_key = {d.row_key: d for d in documents}
        for request in evidence_service.received:
            claims, payload = request["claims"], request["payload"]
            assert request["scheme"] == "Bearer"
            assert claims["sub"] == claims["user_id"] == USER
            assert claims["email"] == f"{USER}@opside.example"
            assert claims["role"] == "service_worker"
            assert claims["iss"] == "integrations-backend"
            assert claims["exp"] - claims["iat"] == 300
            document = by_key[payload["documentId"]]
            content = base64.b64decode(payload["contentBase64"])
            assert hashlib.sha256(content).hexdigest() == payload["sha256"] == document.sha256
            assert payload["size"] == len(content) == document.size
            assert payload["source"] == "gmail"
            assert (payload["messageId"], payload["partId"]) == (
                document.message_id,
                document.part_id,
            )
            assert payload["filename"] == document.filename
            assert payload["mimeType"] == document.mime_type
            assert payload["userId"] == USER
        assert len({r["payload"]["documentId"] for r in evidence_service.received}) == len(
            documents
        )

        await add_message(http, EMAIL, subject="Lunch?", attachments=[])
        again = await sync_messages(runtime, USER)

    assert (again.forwarded, again.forward_failed) == (0, 0)
    assert len(evidence_service.received) == len(documents)


async def test_a_failed_forward_is_retried_at_the_next_run(
    forwarding_live: LiveServer, evidence_service: FakeEvidence
) -> None:
    runtime = runtime_of(forwarding_live)
    truth = await mailbox(runtime, EMAIL)
    csv_names = {
        a.filename for m in truth.messages for a in m.attachments if a.mime_type == "text/csv"
    }
    assert csv_names
    evidence_service.fail_filenames = csv_names
    async with browser(forwarding_live) as http:
        await connect_gmail(http, forwarding_live, USER)

        first = await sync_messages(runtime, USER)

    statuses = {d.filename: d.status for d in await document_rows(runtime, USER)}
    failed = {name for name, status in statuses.items() if status == "forward_failed"}
    assert failed
    assert failed <= csv_names
    assert first.forward_failed == len(failed) == evidence_service.rejected
    assert first.forwarded == len(statuses) - len(failed)
    accepted = len(evidence_service.received)

    evidence_service.fail_filenames = set()
    second = await sync_messages(runtime, USER)

    assert (second.forwarded, second.forward_failed) == (len(failed), 0)
    assert len(evidence_service.received) == accepted + len(failed)
    assert {r["payload"]["filename"] for r in evidence_service.received[accepted:]} == failed
    assert all(d.status == "forwarded" for d in await document_rows(runtime, USER))


async def test_local_storage_is_content_addressed(tmp_path: Path) -> None:
    storage = LocalDirectoryStorage(tmp_path)

    one = await storage.put(b"%PDF-1.4 invoice")
    two = await storage.put(b"%PDF-1.4 invoice")
    other = await storage.put(b"receipt")

    assert one == two
    assert one.sha256 == hashlib.sha256(b"%PDF-1.4 invoice").hexdigest()
    assert one.key == f"sha256/{one.sha256[:2]}/{one.sha256}"
    assert one.size == 16
    assert await storage.get(one.key) == b"%PDF-1.4 invoice"
    assert await storage.exists(other.key)
    assert not await storage.exists(sha256_key("0" * 64))
    assert [p.name for p in _files(tmp_path)] == sorted([one.sha256, other.sha256])
    for bad in ("../../etc/passwd", "sha256/zz/" + "z" * 64, one.sha256):
        with pytest.raises(ValueError, match="not an evidence storage key"):
            await storage.get(bad)
