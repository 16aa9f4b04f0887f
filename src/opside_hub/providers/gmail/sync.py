"""Syncing a seller's invoice e-mail: Gmail messages into `gmail_messages`, their invoice
attachments into `evidence_documents` (content in the evidence storage), forwarded for parsing.

One dataset, `gmail.messages`, one checkpoint (`sync_checkpoints`):

    {"historyId": "...", "query": "...", "syncedAt": "..."}          after a finished sync
    {"full": {"historyId": "...", "pageToken": "..."}, "query": ...}  a full sync under way

- **Full sync** (first run, a changed `GMAIL_INVOICE_QUERY`, or history expired): note the
  mailbox's current historyId (users.getProfile), then page through messages.list with the
  query; each page's messages, documents and the cursor to the next page commit together, so
  a run that dies resumes at its page. At the end the noted historyId becomes the cursor: mail
  that arrived during the listing is picked up by the next incremental run.
- **Incremental sync**: users.history.list from the stored historyId (`messageAdded`), all
  pages; of the messages added, those not stored yet are matched against the query by Gmail
  itself: their internalDates (format=minimal) bound an `after:`/`before:` window, and
  messages.list with `(<query>) after: before:` tells which of them match. Only those are
  fetched in full. history.list 404 (the historyId is too old) → full resync.

A message is fetched once (`format=full`) and never again: Gmail messages do not change
except for labels, which are stored as they were then. Fetches run `GMAIL_FETCH_CONCURRENCY`
at a time. Every write is an idempotent upsert; documents are inserted once (see
`evidence/documents.py`) and forwarded after the listing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opside_hub.core.concurrency import gather_bounded
from opside_hub.core.logging import get_logger
from opside_hub.db.bulk import upsert_rows
from opside_hub.db.models import GmailMessage, User
from opside_hub.db.session import scope_to_user, transaction
from opside_hub.db.types import utcnow
from opside_hub.evidence.documents import add_documents, forward_pending
from opside_hub.evidence.storage import EvidenceStorage, storage_for
from opside_hub.providers.gmail.client import (
    GmailClient,
    GmailNotFound,
    decode_data,
    vault_tokens,
)
from opside_hub.providers.gmail.rows import AttachmentRef, attachments_of, message_row
from opside_hub.providers.gmail.schemas import Message
from opside_hub.runtime import Runtime
from opside_hub.sync.checkpoints import get_checkpoint, save_checkpoint
from opside_hub.sync.pipeline import StepContext

log = get_logger(__name__)

DATASET = "gmail.messages"
LIST_PAGE_SIZE = 100
HISTORY_PAGE_SIZE = 500
FETCH_BATCH = 100
MAX_FILENAME, MAX_MIME = 512, 255

Progress = Callable[[float], Awaitable[None]]


@dataclass
class GmailSyncResult:
    mode: str = ""  # full | incremental | resync
    listed: int = 0  # message ids seen (list pages, history records)
    fetched: int = 0  # messages fetched in full
    skipped: int = 0  # already stored
    written: int = 0  # gmail_messages rows written
    documents: int = 0  # evidence documents created
    forwarded: int = 0
    forward_failed: int = 0
    history_id: str | None = None

    def counts(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "listed": self.listed,
            "fetched": self.fetched,
            "skipped": self.skipped,
            "rowsWritten": self.written,
            "documents": self.documents,
            "forwarded": self.forwarded,
            "forwardFailed": self.forward_failed,
            "historyId": self.history_id,
        }


async def sync_gmail(ctx: StepContext) -> dict[str, Any]:
    """The pipeline step `gmail.messages`."""
    result = await sync_messages(ctx.runtime, ctx.user_id, progress=ctx.report)
    return result.counts()


def gmail_client(runtime: Runtime, user_id: str) -> GmailClient:
    return GmailClient(
        runtime.http,
        runtime.settings.endpoints().gmail_api_base_url,
        vault_tokens(runtime, user_id),
    )


async def sync_messages(
    runtime: Runtime,
    user_id: str,
    *,
    progress: Progress | None = None,
    client: GmailClient | None = None,
    storage: EvidenceStorage | None = None,
) -> GmailSyncResult:
    syncer = _Syncer(
        runtime,
        user_id,
        client or gmail_client(runtime, user_id),
        storage or storage_for(runtime.settings.evidence),
        progress,
    )
    async with runtime.sessions() as session:
        await scope_to_user(session, user_id)
        cursor = await get_checkpoint(session, user_id, DATASET)
        email = await session.scalar(select(User.email).where(User.id == user_id))
    same_query = cursor.get("query") == syncer.query
    if same_query and cursor.get("historyId") and not cursor.get("full"):
        try:
            await syncer.incremental(str(cursor["historyId"]))
        except GmailNotFound as exc:
            if exc.operation != "users.history.list":
                raise
            log.info("gmail.sync.history_expired", user_id=user_id)
            await syncer.full(None, mode="resync")
    else:
        await syncer.full(cursor.get("full") if same_query else None, mode="full")
    forwarded = await forward_pending(runtime, user_id, syncer.storage, email=email)
    result = syncer.result
    result.forwarded, result.forward_failed = forwarded.forwarded, forwarded.failed
    log.info("gmail.sync.finished", user_id=user_id, **result.counts())
    if progress:
        await progress(1.0)
    return result


class _Syncer:
    def __init__(
        self,
        runtime: Runtime,
        user_id: str,
        client: GmailClient,
        storage: EvidenceStorage,
        progress: Progress | None,
    ) -> None:
        self.runtime = runtime
        self.user_id = user_id
        self.client = client
        self.storage = storage
        self.progress = progress
        self.query = runtime.settings.gmail.invoice_query
        self.concurrency = runtime.settings.gmail.fetch_concurrency
        self.result = GmailSyncResult()

    # -- full ------------------------------------------------------------------------------

    async def full(self, pending: dict[str, Any] | None, *, mode: str) -> None:
        self.result.mode = mode
        if pending and pending.get("historyId"):
            history_id = str(pending["historyId"])
            page_token: str | None = pending.get("pageToken")
        else:
            history_id = str((await self.client.get_profile()).historyId or "")
            page_token = None
        self.result.history_id = history_id
        while True:
            page = await self.client.list_messages(
                self.query, page_token=page_token, max_results=LIST_PAGE_SIZE
            )
            page_token = page.nextPageToken
            ids = [ref.id for ref in page.messages]
            self.result.listed += len(ids)
            cursor: dict[str, Any] = (
                {"full": {"historyId": history_id, "pageToken": page_token}, "query": self.query}
                if page_token
                else self._finished(history_id)
            )
            await self.store(ids, cursor)
            if self.progress:
                estimate = max(page.resultSizeEstimate, self.result.listed, 1)
                await self.progress(0.9 * self.result.listed / estimate)
            if not page_token:
                return

    def _finished(self, history_id: str) -> dict[str, Any]:
        return {"historyId": history_id, "query": self.query, "syncedAt": utcnow().isoformat()}

    # -- incremental -----------------------------------------------------------------------

    async def incremental(self, start_history_id: str) -> None:
        self.result.mode = "incremental"
        added: dict[str, None] = {}
        latest, page_token = start_history_id, None
        while True:
            page = await self.client.list_history(
                start_history_id,
                page_token=page_token,
                history_types=("messageAdded",),
                max_results=HISTORY_PAGE_SIZE,
            )
            for record in page.history:
                for item in record.messagesAdded:
                    added.setdefault(item.message.id, None)
            latest = page.historyId or latest
            page_token = page.nextPageToken
            if not page_token:
                break
        self.result.listed = len(added)
        self.result.history_id = latest
        async with self.runtime.sessions() as session:
            await scope_to_user(session, self.user_id)
            stored = await _stored_ids(session, self.user_id, list(added))
        self.result.skipped += len(stored)
        fresh = [message_id for message_id in added if message_id not in stored]
        matching = await self._matching(fresh)
        for start in range(0, len(matching), FETCH_BATCH):
            await self.store(matching[start : start + FETCH_BATCH], None)
        # The cursor moves only once every added message is stored.
        async with transaction(self.runtime.sessions) as session:
            await scope_to_user(session, self.user_id)
            await save_checkpoint(session, self.user_id, DATASET, self._finished(latest))

    async def _matching(self, message_ids: Sequence[str]) -> list[str]:
        """Which of these messages the query matches, as Gmail itself decides."""
        if not message_ids:
            return []

        async def internal_ms(message_id: str) -> int | None:
            try:
                message = await self.client.get_message(message_id, fmt="minimal")
            except GmailNotFound:  # deleted since it arrived
                return None
            date = message.internalDate
            return int(date) if date and date.isdigit() else None

        dates = await gather_bounded(self.concurrency, message_ids, internal_ms)
        known = [ms for ms in dates if ms is not None]
        if not known:
            return []
        window = f"after:{min(known) // 1000 - 1} before:{max(known) // 1000 + 2}"
        wanted, found = set(message_ids), set[str]()
        page_token: str | None = None
        while True:
            page = await self.client.list_messages(
                f"({self.query}) {window}", page_token=page_token, max_results=500
            )
            found.update(ref.id for ref in page.messages if ref.id in wanted)
            page_token = page.nextPageToken
            if not page_token or found == wanted:
                break
        return [message_id for message_id in message_ids if message_id in found]

    # -- storing ---------------------------------------------------------------------------

    async def store(self, message_ids: Sequence[str], cursor: dict[str, Any] | None) -> None:
        """Fetch the messages not stored yet with their invoice attachments; write messages,
        documents and `cursor` in one transaction."""
        async with self.runtime.sessions() as session:
            await scope_to_user(session, self.user_id)
            stored = await _stored_ids(session, self.user_id, message_ids)
        todo = [message_id for message_id in message_ids if message_id not in stored]
        self.result.skipped += len(message_ids) - len(todo)
        fetched = await gather_bounded(self.concurrency, todo, self._fetch)
        messages = [item for item in fetched if item is not None]
        self.result.fetched += len(messages)
        async with transaction(self.runtime.sessions) as session:
            await scope_to_user(session, self.user_id)
            self.result.written += await upsert_rows(
                session, GmailMessage, self.user_id, [message_row(m) for m, _ in messages]
            )
            self.result.documents += await add_documents(
                session, self.user_id, [doc for _, docs in messages for doc in docs]
            )
            if cursor is not None:
                await save_checkpoint(session, self.user_id, DATASET, cursor)

    async def _fetch(self, message_id: str) -> tuple[Message, list[dict[str, Any]]] | None:
        try:
            message = await self.client.get_message(message_id, fmt="full")
        except GmailNotFound:  # deleted since it was listed
            return None
        # Only messages not stored yet are fetched, and a message's documents commit with
        # it: none of these attachments has a document yet.
        documents = []
        for ref in attachments_of(message):
            if ref.is_evidence and (document := await self._document(message, ref)):
                documents.append(document)
        return message, documents

    async def _document(self, message: Message, ref: AttachmentRef) -> dict[str, Any] | None:
        if ref.inline_data is not None:
            content = decode_data(ref.inline_data)
        else:
            try:
                content = await self.client.get_attachment(message.id, str(ref.attachment_id))
            except GmailNotFound:
                return None
        stored = await self.storage.put(content)
        row = message_row(message)
        return {
            "row_key": f"{message.id}:{ref.part_id}",
            "message_id": message.id,
            "part_id": ref.part_id,
            "filename": ref.filename[:MAX_FILENAME],
            "mime_type": ref.mime_type[:MAX_MIME],
            "size": stored.size,
            "sha256": stored.sha256,
            "storage_key": stored.key,
            # Gmail's attachment ids change at every fetch: kept for reference, never a key.
            "raw": {
                "source": "gmail",
                "attachmentId": ref.attachment_id,
                "subject": row["subject"],
                "from": row["from_address"],
                "receivedAt": row["internal_at"].isoformat() if row["internal_at"] else None,
            },
        }


async def _stored_ids(session: AsyncSession, user_id: str, message_ids: Sequence[str]) -> set[str]:
    if not message_ids:
        return set()
    found: set[str] = set()
    for start in range(0, len(message_ids), 500):
        chunk = list(message_ids[start : start + 500])
        result = await session.execute(
            select(GmailMessage.row_key).where(
                GmailMessage.user_id == user_id, GmailMessage.row_key.in_(chunk)
            )
        )
        found.update(result.scalars().all())
    return found
