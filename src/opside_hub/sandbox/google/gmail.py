"""The sandbox Gmail API at Gmail's own paths (`/sandbox/google/gmail/v1/users/{userId}/...`),
and its test controls (`/sandbox/_admin/google/...`).

Operations: users.getProfile, users.messages.list (`q` — see `search.py` —, `labelIds`,
`includeSpamTrash`, `maxResults`, `pageToken`), users.messages.get (`minimal`, `metadata` with
`metadataHeaders`, `full`, `raw`), users.messages.attachments.get and users.history.list
(`startHistoryId`, `historyTypes`, `labelId`, paging; 404 for a start older than the history
kept or newer than the mailbox). Each checks the token's scopes against the operation's list in
the discovery document; with only `gmail.metadata`, `q`, `full`/`raw` and attachments are
refused as Gmail refuses them. Errors have Google's shape.

Admin (sandbox only, no auth, JSON bodies):
- `POST /_admin/google/messages` delivers a message to `emailAddress` now (defaults: a supplier
  invoice with a PDF); answers the message in `minimal` format;
- `POST /_admin/google/history/expire` forgets the mailbox's history (`{"emailAddress"}`);
- `POST /_admin/google/faults` makes the mailbox's next API calls fail (`{"emailAddress",
  "statuses": [429, 503, ...]}`), one status per call, in order.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from opside_hub.api.deps import RuntimeDep
from opside_hub.sandbox.exceptions import ApiError, OAuthError
from opside_hub.sandbox.google import service
from opside_hub.sandbox.google.formats import (
    find_part,
    message_json,
    mime_tree,
    parse_attachment_id,
    raw_bytes,
    reference,
)
from opside_hub.sandbox.google.mailbox import (
    MIME_PDF,
    Attachment,
    Mailbox,
    MailMessage,
    new_invoice,
)
from opside_hub.sandbox.google.search import (
    Context,
    QueryError,
    Searchable,
    parse_query,
    words,
)
from opside_hub.sandbox.google.store import MailboxStore, now_ms
from opside_hub.sandbox.oauth import bearer_token
from opside_hub.sandbox.oauth_store import Grant, OAuthStore
from opside_hub.sandbox.routing import SandboxRoute

router = APIRouter(prefix="/google/gmail/v1/users/{user_id}", route_class=SandboxRoute)
admin_router = APIRouter(prefix="/_admin/google", route_class=SandboxRoute)

_FULL = "https://mail.google.com/"
_READONLY = "https://www.googleapis.com/auth/gmail.readonly"
_MODIFY = "https://www.googleapis.com/auth/gmail.modify"
_METADATA = "https://www.googleapis.com/auth/gmail.metadata"
_ADDONS = "https://www.googleapis.com/auth/gmail.addons.current.message"
# The scopes of each operation in the discovery document (gmail.v1.json).
LIST_SCOPES = frozenset({_FULL, _METADATA, _MODIFY, _READONLY})
GET_SCOPES = LIST_SCOPES | {f"{_ADDONS}.action", f"{_ADDONS}.metadata", f"{_ADDONS}.readonly"}
ATTACHMENT_SCOPES = frozenset(
    {_FULL, _MODIFY, _READONLY, f"{_ADDONS}.action", f"{_ADDONS}.readonly"}
)
HISTORY_SCOPES = LIST_SCOPES
FORMATS = ("minimal", "full", "raw", "metadata")
HISTORY_TYPES = ("messageAdded", "messageDeleted", "labelAdded", "labelRemoved")
DEFAULT_PAGE, MAX_PAGE = 100, 500
_MESSAGE_ID = re.compile(r"^[0-9a-f]{1,32}$")
_PAGE_TOKEN = re.compile(r"^(\d{13})(\d{20})$")

FAULTS = {
    429: ("Too many concurrent requests for user.", "RESOURCE_EXHAUSTED", "rateLimitExceeded"),
    500: ("Backend Error", "INTERNAL", "backendError"),
    502: ("Bad Gateway", "UNAVAILABLE", "backendError"),
    503: ("The service is currently unavailable.", "UNAVAILABLE", "backendError"),
}


def _store(runtime: RuntimeDep) -> MailboxStore:
    return MailboxStore(runtime.redis, runtime.redis_server.key)


def _bad_request(message: str, reason: str = "invalidArgument") -> ApiError:
    return ApiError(400, service.api_error(400, message, "INVALID_ARGUMENT", reason))


def _not_found() -> ApiError:
    message = "Requested entity was not found."
    return ApiError(404, service.api_error(404, message, "NOT_FOUND", "notFound"))


def _forbidden(message: str) -> ApiError:
    return ApiError(403, service.api_error(403, message, "PERMISSION_DENIED", "forbidden"))


async def _open(
    request: Request, runtime: RuntimeDep, user_id: str, scopes: Iterable[str]
) -> tuple[Grant, Mailbox]:
    """Authenticate the call, play an injected fault if one is due, load the mailbox."""
    token = bearer_token(request) or request.query_params.get("access_token")
    store = OAuthStore(runtime.redis, runtime.redis_server.key, service.PROVIDER)
    grant = await service.authenticate(store, token, scopes)
    service.check_user_id(grant, user_id)
    mailboxes = _store(runtime)
    if (status := await mailboxes.pop_fault(grant.subject)) is not None:
        message, code, reason = FAULTS.get(status, ("Error", "UNKNOWN", "backendError"))
        raise ApiError(status, service.api_error(status, message, code, reason))
    return grant, await mailboxes.load(grant.subject)


def _only_metadata(grant: Grant) -> bool:
    return not grant.has_any_scope(LIST_SCOPES - {_METADATA})


def _page_size(request: Request) -> int:
    raw = request.query_params.get("maxResults")
    if raw is None:
        return DEFAULT_PAGE
    try:
        size = int(raw)
    except ValueError as exc:
        raise _bad_request(f"Invalid value for maxResults: {raw!r}") from exc
    if size < 1:
        raise _bad_request("maxResults must be positive.")
    return min(size, MAX_PAGE)


def _flag(request: Request, name: str) -> bool:
    raw = request.query_params.get(name, "false").lower()
    if raw not in ("true", "false"):
        raise _bad_request(f"Invalid value for {name}: {raw!r}")
    return raw == "true"


def _message(mailbox: Mailbox, message_id: str) -> MailMessage:
    if not _MESSAGE_ID.match(message_id):
        raise _bad_request("Invalid id value")
    message = mailbox.by_id.get(message_id)
    if message is None:
        raise _not_found()
    return message


def _searchable(message: MailMessage) -> Searchable:
    # `larger:`/`smaller:` compare the size Gmail reports (sizeEstimate: the RFC 822 bytes).
    return replace(message.searchable(), size=len(raw_bytes(message)))


@router.get("/profile")
async def get_profile(user_id: str, request: Request, runtime: RuntimeDep) -> Response:
    _, mailbox = await _open(request, runtime, user_id, service.GMAIL_PROFILE_SCOPES)
    return JSONResponse(
        {
            "emailAddress": mailbox.email,
            "messagesTotal": len(mailbox.messages),
            "threadsTotal": mailbox.threads_total,
            "historyId": str(mailbox.history_id),
        }
    )


@router.get("/messages")
async def list_messages(user_id: str, request: Request, runtime: RuntimeDep) -> Response:
    grant, mailbox = await _open(request, runtime, user_id, LIST_SCOPES)
    params = request.query_params
    text = params.get("q", "")
    if text and _only_metadata(grant):
        raise _forbidden("Metadata scope does not support 'q' parameter")
    try:
        query = parse_query(text)
    except QueryError as exc:
        raise _bad_request(str(exc), "invalid") from exc
    size = _page_size(request)
    label_ids = set(params.getlist("labelIds"))
    spam_trash = _flag(request, "includeSpamTrash") or query.reaches_spam_trash
    context = Context(owner=words(mailbox.email), now_ms=now_ms())
    matched = [
        message
        for message in mailbox.messages
        if (spam_trash or not {"SPAM", "TRASH"} & set(message.label_ids))
        and label_ids <= set(message.label_ids)
        and query.matches(_searchable(message), context)
    ]
    start = 0
    if token := params.get("pageToken"):
        found = _PAGE_TOKEN.match(token)
        if not found:
            raise _bad_request("Invalid pageToken", "invalid")
        after = (int(found.group(1)), int(found.group(2)))
        start = next(
            (i for i, m in enumerate(matched) if (m.internal_ms, int(m.id, 16)) < after),
            len(matched),
        )
    page = matched[start : start + size]
    body: dict[str, Any] = {}
    if page:
        body["messages"] = [reference(message) for message in page]
    if start + size < len(matched):
        last = page[-1]
        body["nextPageToken"] = f"{last.internal_ms:013d}{int(last.id, 16):020d}"
    body["resultSizeEstimate"] = len(matched)
    return JSONResponse(body)


@router.get("/messages/{message_id}")
async def get_message(
    user_id: str, message_id: str, request: Request, runtime: RuntimeDep
) -> Response:
    grant, mailbox = await _open(request, runtime, user_id, GET_SCOPES)
    fmt = request.query_params.get("format", "full").lower()
    if fmt not in FORMATS:
        raise _bad_request(f"Invalid value at 'format': {fmt!r}")
    if fmt in ("full", "raw") and _only_metadata(grant):
        raise _forbidden(f"Metadata scope doesn't allow format {fmt.upper()}")
    message = _message(mailbox, message_id)
    headers = request.query_params.getlist("metadataHeaders")
    return JSONResponse(message_json(message, fmt, headers))


@router.get("/messages/{message_id}/attachments/{attachment_id}")
async def get_attachment(
    user_id: str, message_id: str, attachment_id: str, request: Request, runtime: RuntimeDep
) -> Response:
    _, mailbox = await _open(request, runtime, user_id, ATTACHMENT_SCOPES)
    message = _message(mailbox, message_id)
    target = parse_attachment_id(attachment_id)
    if target is None or target[0] != message.id:
        raise _bad_request("Invalid attachment token", "invalid")
    part = find_part(mime_tree(message), target[1])
    if part is None or not part.is_attachment:
        raise _not_found()
    data = part.data or b""
    return JSONResponse(
        {
            "attachmentId": attachment_id,
            "size": len(data),
            "data": base64.urlsafe_b64encode(data).decode("ascii"),
        }
    )


@router.get("/history")
async def list_history(user_id: str, request: Request, runtime: RuntimeDep) -> Response:
    _, mailbox = await _open(request, runtime, user_id, HISTORY_SCOPES)
    params = request.query_params
    raw_start = params.get("startHistoryId")
    if not raw_start:
        raise _bad_request("Missing required parameter: startHistoryId", "required")
    if not raw_start.isdigit():
        raise _bad_request(f"Invalid value for startHistoryId: {raw_start!r}")
    start = int(raw_start)
    if start < mailbox.oldest_start(now_ms()) or start > mailbox.history_id:
        raise _not_found()
    types = params.getlist("historyTypes")
    if unknown := [t for t in types if t not in HISTORY_TYPES]:
        raise _bad_request(f"Invalid value for historyTypes: {unknown[0]!r}")
    label_id = params.get("labelId")
    size = _page_size(request)
    after = start
    if token := params.get("pageToken"):
        if not token.isdigit() or int(token) < start:
            raise _bad_request("Invalid pageToken", "invalid")
        after = int(token)
    records: list[dict[str, Any]] = []
    remaining = False
    for event in mailbox.events:
        if event.id <= after or (types and event.kind not in types):
            continue
        message = mailbox.by_id.get(event.message_id)
        if message is None or (label_id and label_id not in message.label_ids):
            continue
        if len(records) == size:
            remaining = True
            break
        records.append(_record(event.id, event.kind, message, event.label_ids))
    body: dict[str, Any] = {}
    if records:
        body["history"] = records
    if remaining:
        body["nextPageToken"] = records[-1]["id"]
    body["historyId"] = str(mailbox.history_id)
    return JSONResponse(body)


def _record(
    history_id: int, kind: str, message: MailMessage, label_ids: tuple[str, ...]
) -> dict[str, Any]:
    shown = {**reference(message), "labelIds": list(message.label_ids)}
    record: dict[str, Any] = {"id": str(history_id), "messages": [reference(message)]}
    if kind == "messageAdded":
        record["messagesAdded"] = [{"message": shown}]
    elif kind == "labelRemoved":
        record["labelsRemoved"] = [{"message": shown, "labelIds": list(label_ids)}]
    return record


# -- admin --------------------------------------------------------------------------------------


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise OAuthError("invalid_request", "The body must be a JSON object.") from exc
    if not isinstance(body, dict):
        raise OAuthError("invalid_request", "The body must be a JSON object.")
    address = body.get("emailAddress")
    if not isinstance(address, str) or not service.valid_email(service.normalize_email(address)):
        raise OAuthError("invalid_request", '"emailAddress" must be an email address.')
    body["emailAddress"] = service.normalize_email(address)
    return body


def _text_field(body: dict[str, Any], name: str, default: str) -> str:
    value = body.get(name, default)
    if not isinstance(value, str) or len(value) > 100_000:
        raise OAuthError("invalid_request", f'"{name}" must be a string.')
    return value


def _attachments(body: dict[str, Any], default: tuple[Attachment, ...]) -> tuple[Attachment, ...]:
    items = body.get("attachments")
    if items is None:
        return default
    if not isinstance(items, list):
        raise OAuthError("invalid_request", '"attachments" must be a list.')
    files = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("filename"), str):
            raise OAuthError("invalid_request", 'Each attachment needs a "filename".')
        encoded = str(item.get("data", "")).replace("+", "-").replace("/", "_").rstrip("=")
        try:
            data = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except (binascii.Error, ValueError) as exc:
            raise OAuthError("invalid_request", "Attachment data must be base64url.") from exc
        files.append(Attachment(item["filename"], str(item.get("mimeType", MIME_PDF)), data))
    return tuple(files)


@admin_router.post("/messages")
async def admin_add_message(request: Request, runtime: RuntimeDep) -> Response:
    body = await _json_body(request)
    email = body["emailAddress"]
    store = _store(runtime)
    mailbox = await store.load(email)
    internal_ms = body.get("internalDate", now_ms())
    try:
        internal_ms = int(internal_ms)
    except (TypeError, ValueError) as exc:
        raise OAuthError("invalid_request", '"internalDate" must be epoch milliseconds.') from exc
    at = datetime.fromtimestamp(internal_ms / 1000, UTC)
    sender, subject, text, files = new_invoice(email, len(mailbox.messages), at)
    labels = body.get("labelIds", ["INBOX", "UNREAD", "CATEGORY_UPDATES"])
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise OAuthError("invalid_request", '"labelIds" must be a list of strings.')
    message = await store.add(
        email,
        MailMessage(
            id="",
            thread_id=_text_field(body, "threadId", ""),
            internal_ms=internal_ms,
            label_ids=tuple(labels),
            sender=_text_field(body, "from", sender),
            to=_text_field(body, "to", email),
            cc=_text_field(body, "cc", ""),
            subject=_text_field(body, "subject", subject),
            text=_text_field(body, "text", text),
            attachments=_attachments(body, files),
        ),
    )
    return JSONResponse(message_json(message, "minimal"))


@admin_router.post("/history/expire")
async def admin_expire_history(request: Request, runtime: RuntimeDep) -> Response:
    body = await _json_body(request)
    floor = await _store(runtime).expire_history(body["emailAddress"])
    return JSONResponse({"historyId": str(floor)})


@admin_router.post("/faults")
async def admin_faults(request: Request, runtime: RuntimeDep) -> Response:
    body = await _json_body(request)
    statuses = body.get("statuses")
    if (
        not isinstance(statuses, list)
        or not statuses
        or not all(isinstance(s, int) and 400 <= s <= 599 for s in statuses)
    ):
        raise OAuthError("invalid_request", '"statuses" must be a list of HTTP error statuses.')
    pending = await _store(runtime).push_faults(body["emailAddress"], statuses)
    return JSONResponse({"pending": pending})
