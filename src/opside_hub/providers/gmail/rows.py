"""From a Gmail `Message` (format=full or metadata) to our rows.

`gmail_messages.row_key` is the Gmail message id. `raw` keeps what Gmail said of the message
minus what changes at every fetch (attachment ids), so re-reading an unchanged message writes
nothing; a label change moves `historyId` and does.

Evidence attachments are the parts with a filename whose MIME type or extension is a document
an invoice comes as: PDF, an image, CSV, XLSX. Mailers that label everything
`application/octet-stream` are recognised by the extension.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import decode_header, make_header
from pathlib import PurePosixPath
from typing import Any

from opside_hub.providers.gmail.schemas import Message, MessagePart

SUMMARY_HEADERS = ("Subject", "From", "To", "Cc", "Date", "Message-ID")
EVIDENCE_MIME_TYPES = frozenset(
    {
        "application/pdf",
        "application/x-pdf",
        "text/csv",
        "application/csv",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }
)
EVIDENCE_EXTENSIONS = frozenset(
    {
        ".pdf",
        ".csv",
        ".xlsx",
        ".png",
        ".jpg",
        ".jpeg",
        ".gif",
        ".webp",
        ".tif",
        ".tiff",
        ".heic",
    }
)
MAX_FROM = 512


@dataclass(frozen=True)
class AttachmentRef:
    part_id: str
    filename: str
    mime_type: str
    size: int
    attachment_id: str | None  # changes at every fetch: never a key
    inline_data: str | None  # small parts may carry their data instead

    @property
    def is_evidence(self) -> bool:
        return is_evidence(self.filename, self.mime_type)

    def summary(self) -> dict[str, Any]:
        return {
            "partId": self.part_id,
            "filename": self.filename,
            "mimeType": self.mime_type,
            "size": self.size,
        }


def is_evidence(filename: str, mime_type: str) -> bool:
    mime = mime_type.split(";", 1)[0].strip().lower()
    if mime in EVIDENCE_MIME_TYPES or mime.startswith("image/"):
        return True
    return PurePosixPath(filename.lower()).suffix in EVIDENCE_EXTENSIONS


def _decoded(value: str) -> str:
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (ValueError, LookupError, UnicodeDecodeError):
        return value


def headers_of(message: Message) -> dict[str, str]:
    """The top-level headers we keep (first occurrence of each, decoded)."""
    found: dict[str, str] = {}
    wanted = {name.lower(): name for name in SUMMARY_HEADERS}
    for header in message.payload.headers if message.payload else []:
        name = wanted.get(header.name.lower())
        if name and name not in found:
            found[name] = _decoded(header.value)
    return found


def _walk(part: MessagePart) -> Iterator[MessagePart]:
    yield part
    for child in part.parts:
        yield from _walk(child)


def attachments_of(message: Message) -> list[AttachmentRef]:
    if message.payload is None:
        return []
    found = []
    for part in _walk(message.payload):
        body = part.body
        if not part.filename or body is None or not (body.attachmentId or body.data):
            continue
        found.append(
            AttachmentRef(
                part_id=part.partId,
                filename=part.filename,
                mime_type=part.mimeType or "application/octet-stream",
                size=body.size,
                attachment_id=body.attachmentId,
                inline_data=body.data if not body.attachmentId else None,
            )
        )
    return found


def internal_at(message: Message) -> datetime | None:
    if not message.internalDate or not message.internalDate.lstrip("-").isdigit():
        return None
    return datetime.fromtimestamp(int(message.internalDate) / 1000, UTC)


def message_row(message: Message) -> dict[str, Any]:
    headers = headers_of(message)
    attachments = [a.summary() for a in attachments_of(message)]
    return {
        "row_key": message.id,
        "thread_id": message.threadId,
        "history_id": message.historyId,
        "subject": headers.get("Subject"),
        "from_address": (headers.get("From") or "")[:MAX_FROM] or None,
        "to_address": headers.get("To"),
        "snippet": message.snippet,
        "label_ids": list(message.labelIds),
        "internal_at": internal_at(message),
        "size_estimate": message.sizeEstimate,
        "has_attachments": bool(attachments),
        "attachments": attachments,
        "raw": {
            "id": message.id,
            "threadId": message.threadId,
            "labelIds": list(message.labelIds),
            "snippet": message.snippet,
            "historyId": message.historyId,
            "internalDate": message.internalDate,
            "sizeEstimate": message.sizeEstimate,
            "headers": headers,
            "attachments": attachments,
        },
    }
