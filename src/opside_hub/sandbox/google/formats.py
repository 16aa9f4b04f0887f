"""A sandbox message as the Gmail API shows it: `minimal`, `metadata`, `full` and `raw`.

The MIME tree is built once per message and rendered both ways, so `full` (parts, headers,
bodies) and `raw` (the RFC 822 bytes, base64url) always tell the same story:

    multipart/mixed                  partId ""     (multipart/alternative when no files)
      multipart/alternative          partId "0"
        text/plain                   partId "0.0"  body.data inline
        text/html                    partId "0.1"  body.data inline
      application/pdf ...            partId "1"…   body.attachmentId + size

Attachment ids are opaque and differ at every fetch, as Gmail's do; they carry the message
and part they point at, so `attachments.get` needs no state.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import secrets
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.header import Header
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

from opside_hub.sandbox.google.mailbox import MailMessage

ATTACHMENT_ID_PREFIX = "ANGjdJ"
SNIPPET_LENGTH = 140


def b64url(data: bytes) -> str:
    """Gmail's `format: byte` fields: base64url, padded as Gmail pads them."""
    return base64.urlsafe_b64encode(data).decode("ascii")


@dataclass(frozen=True)
class Part:
    part_id: str
    mime_type: str
    headers: tuple[tuple[str, str], ...]
    data: bytes | None = None  # a leaf's decoded content
    filename: str = ""
    children: tuple[Part, ...] = field(default_factory=tuple)
    boundary: str = ""

    @property
    def is_attachment(self) -> bool:
        return bool(self.filename)


def _boundary(message: MailMessage, part_id: str) -> str:
    return "0000000000" + hashlib.sha256(f"{message.id}/{part_id}".encode()).hexdigest()[:18]


def _encoded_header(value: str) -> str:
    return value if value.isascii() else Header(value, "utf-8").encode()


def _text_part(part_id: str, mime: str, text: str) -> Part:
    data = text.encode("utf-8")
    encoding = "7bit" if text.isascii() else "base64"
    return Part(
        part_id,
        mime,
        (
            ("Content-Type", f'{mime}; charset="UTF-8"'),
            ("Content-Transfer-Encoding", encoding),
        ),
        data,
    )


def _html(text: str) -> str:
    return '<div dir="ltr">' + html.escape(text).replace("\n", "<br>") + "</div>"


def _file_params(name: str, filename: str) -> str:
    if filename.isascii() and '"' not in filename:
        return f'{name}="{filename}"'
    return f"{name}*=UTF-8''{quote(filename)}"  # RFC 2231


def mime_tree(message: MailMessage) -> Part:
    body = Part(
        "0" if message.attachments else "",
        "multipart/alternative",
        (),
        children=(
            _text_part("0.0" if message.attachments else "0", "text/plain", message.text),
            _text_part("0.1" if message.attachments else "1", "text/html", _html(message.text)),
        ),
    )
    root_headers = [
        ("MIME-Version", "1.0"),
        ("Date", format_datetime(datetime.fromtimestamp(message.internal_ms / 1000, UTC))),
        ("Message-ID", message.message_id_header),
        ("Subject", message.subject),
        ("From", message.sender),
        ("To", message.to),
    ]
    if message.cc:
        root_headers.append(("Cc", message.cc))
    if message.in_reply_to:
        root_headers += [("In-Reply-To", message.in_reply_to), ("References", message.in_reply_to)]
    if not message.attachments:
        boundary = _boundary(message, "")
        return Part(
            "",
            "multipart/alternative",
            (
                *root_headers,
                ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
            ),
            children=body.children,
            boundary=boundary,
        )
    files = tuple(
        Part(
            str(index),
            attachment.mime_type,
            (
                (
                    "Content-Type",
                    f"{attachment.mime_type}; {_file_params('name', attachment.filename)}",
                ),
                (
                    "Content-Disposition",
                    f"attachment; {_file_params('filename', attachment.filename)}",
                ),
                ("Content-Transfer-Encoding", "base64"),
                ("X-Attachment-Id", f"f_{hashlib.sha256(attachment.content).hexdigest()[:9]}"),
            ),
            attachment.content,
            filename=attachment.filename,
        )
        for index, attachment in enumerate(message.attachments, start=1)
    )
    inner_boundary = _boundary(message, "0")
    outer_boundary = _boundary(message, "")
    alternative = Part(
        "0",
        "multipart/alternative",
        (("Content-Type", f'multipart/alternative; boundary="{inner_boundary}"'),),
        children=body.children,
        boundary=inner_boundary,
    )
    return Part(
        "",
        "multipart/mixed",
        (*root_headers, ("Content-Type", f'multipart/mixed; boundary="{outer_boundary}"')),
        children=(alternative, *files),
        boundary=outer_boundary,
    )


# -- raw ----------------------------------------------------------------------------------------


def _raw_part(part: Part, root: bool) -> bytes:
    lines = []
    for name, value in part.headers:
        lines.append(f"{name}: {_encoded_header(value) if root else value}")
    head = "\r\n".join(lines).encode("ascii") + b"\r\n\r\n"
    if part.children:
        body = b""
        for child in part.children:
            body += f"--{part.boundary}\r\n".encode() + _raw_part(child, False) + b"\r\n"
        return head + body + f"--{part.boundary}--".encode()
    data = part.data or b""
    encoding = dict(part.headers).get("Content-Transfer-Encoding", "7bit")
    if encoding == "base64":
        encoded = base64.b64encode(data).decode("ascii")
        return head + "\r\n".join(textwrap.wrap(encoded, 76)).encode("ascii")
    return head + data.replace(b"\n", b"\r\n")


def raw_bytes(message: MailMessage) -> bytes:
    return _raw_part(mime_tree(message), True) + b"\r\n"


# -- JSON formats -----------------------------------------------------------------------------


def snippet(message: MailMessage) -> str:
    text = " ".join(message.text.split())
    if len(text) > SNIPPET_LENGTH:
        text = text[:SNIPPET_LENGTH].rsplit(" ", 1)[0]
    # Gmail's snippets are HTML-escaped, with numeric apostrophes.
    return html.escape(text, quote=True).replace("&#x27;", "&#39;")


def new_attachment_id(message_id: str, part_id: str) -> str:
    token = f"{message_id}:{part_id}:{secrets.token_hex(24)}".encode()
    return ATTACHMENT_ID_PREFIX + base64.urlsafe_b64encode(token).decode().rstrip("=")


def parse_attachment_id(attachment_id: str) -> tuple[str, str] | None:
    if not attachment_id.startswith(ATTACHMENT_ID_PREFIX):
        return None
    encoded = attachment_id.removeprefix(ATTACHMENT_ID_PREFIX)
    try:
        decoded = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    message_id, _, rest = decoded.partition(":")
    part_id, _, nonce = rest.partition(":")
    if not message_id or not nonce:
        return None
    return message_id, part_id


def find_part(part: Part, part_id: str) -> Part | None:
    if part.part_id == part_id and not part.children:
        return part
    for child in part.children:
        if found := find_part(child, part_id):
            return found
    return None


def _part_json(message: MailMessage, part: Part) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "partId": part.part_id,
        "mimeType": part.mime_type,
        "filename": part.filename,
        "headers": [{"name": name, "value": value} for name, value in part.headers],
    }
    if part.children:
        resource["body"] = {"size": 0}
        resource["parts"] = [_part_json(message, child) for child in part.children]
    elif part.is_attachment:
        resource["body"] = {
            "attachmentId": new_attachment_id(message.id, part.part_id),
            "size": len(part.data or b""),
        }
    else:
        data = part.data or b""
        resource["body"] = {"size": len(data), "data": b64url(data)}
    return resource


def message_json(
    message: MailMessage, fmt: str, metadata_headers: Sequence[str] = ()
) -> dict[str, Any]:
    raw = raw_bytes(message)
    resource: dict[str, Any] = {
        "id": message.id,
        "threadId": message.thread_id,
        "labelIds": list(message.label_ids),
        "snippet": snippet(message),
        "sizeEstimate": len(raw),
        "historyId": str(message.history_id),
        "internalDate": str(message.internal_ms),
    }
    if fmt == "minimal":
        return resource
    if fmt == "raw":
        resource["raw"] = b64url(raw)
        return resource
    tree = mime_tree(message)
    if fmt == "metadata":
        wanted = {name.casefold() for name in metadata_headers}
        resource["payload"] = {
            "partId": "",
            "mimeType": tree.mime_type,
            "filename": "",
            "headers": [
                {"name": name, "value": value}
                for name, value in tree.headers
                if not wanted or name.casefold() in wanted
            ],
            "body": {"size": 0},
        }
        return resource
    resource["payload"] = _part_json(message, tree)
    return resource


def reference(message: MailMessage) -> dict[str, str]:
    """What messages.list and history records show of a message."""
    return {"id": message.id, "threadId": message.thread_id}
