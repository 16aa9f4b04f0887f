"""The mutable part of the sandbox mailboxes, in Redis (every API process serves them).

Per address, under `key_fn("sandbox", "google", "mailbox", <address>, ...)`:

    anchor      when the sandbox first saw the mailbox (ms); the generated mail sits before it
    history     the mailbox's last history id, once something was added (INCRBY gives ids)
    added       hash message id → JSON of a message added through the admin endpoint
    floor       the oldest startHistoryId still answered, set by "expire history"
    faults      list of HTTP statuses the next Gmail API calls of the mailbox answer with

The generated mail itself is never stored: `mailbox.generate` recomputes it.
"""

from __future__ import annotations

import base64
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from redis.asyncio import Redis

from opside_hub.sandbox.google.mailbox import (
    Attachment,
    Mailbox,
    MailMessage,
    generate,
    message_id_for,
)

KeyFn = Callable[..., str]
KEEP = timedelta(days=365)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class AddedMessage:
    message: MailMessage
    history_id: int
    added_ms: int

    def to_json(self) -> str:
        m = self.message
        return json.dumps(
            {
                "id": m.id,
                "threadId": m.thread_id,
                "internalMs": m.internal_ms,
                "labelIds": list(m.label_ids),
                "from": m.sender,
                "to": m.to,
                "cc": m.cc,
                "subject": m.subject,
                "text": m.text,
                "messageIdHeader": m.message_id_header,
                "attachments": [
                    {
                        "filename": a.filename,
                        "mimeType": a.mime_type,
                        "data": base64.b64encode(a.content).decode(),
                    }
                    for a in m.attachments
                ],
                "historyId": self.history_id,
                "addedMs": self.added_ms,
            }
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> AddedMessage:
        data: dict[str, Any] = json.loads(raw)
        message = MailMessage(
            id=data["id"],
            thread_id=data["threadId"],
            internal_ms=data["internalMs"],
            label_ids=tuple(data["labelIds"]),
            sender=data["from"],
            to=data["to"],
            cc=data["cc"],
            subject=data["subject"],
            text=data["text"],
            message_id_header=data["messageIdHeader"],
            attachments=tuple(
                Attachment(a["filename"], a["mimeType"], base64.b64decode(a["data"]))
                for a in data["attachments"]
            ),
            history_id=data["historyId"],
        )
        return cls(message, data["historyId"], data["addedMs"])


class MailboxStore:
    def __init__(self, redis: Redis, key_fn: KeyFn) -> None:
        self.redis = redis
        self._key_fn = key_fn

    def key(self, email: str, part: str) -> str:
        return str(self._key_fn("sandbox", "google", "mailbox", email, part))

    async def anchor(self, email: str) -> int:
        key = self.key(email, "anchor")
        await self.redis.set(key, now_ms(), nx=True, ex=KEEP)
        raw = await self.redis.get(key)
        return int(raw or now_ms())

    async def load(self, email: str) -> Mailbox:
        generated = generate(email, await self.anchor(email))
        added_raw = await self.redis.hvals(self.key(email, "added"))
        floor = int(await self.redis.get(self.key(email, "floor")) or 0)
        added = [AddedMessage.from_json(raw) for raw in added_raw]
        return generated.merged(
            ((a.message, a.history_id, a.added_ms) for a in added), history_floor=floor
        )

    async def add(self, email: str, draft: MailMessage) -> MailMessage:
        """Deliver a message now: a fresh id and the mailbox's next history id."""
        mailbox = await self.load(email)
        history_key = self.key(email, "history")
        await self.redis.set(history_key, mailbox.history_id, nx=True, ex=KEEP)
        history_id = int(await self.redis.incrby(history_key, random.randint(1, 57)))  # noqa: S311
        message_id = draft.id
        while not message_id or message_id in mailbox.by_id:
            message_id = message_id_for(draft.internal_ms, random.getrandbits(20))
        message = MailMessage(
            id=message_id,
            thread_id=draft.thread_id or message_id,
            internal_ms=draft.internal_ms,
            label_ids=draft.label_ids,
            sender=draft.sender,
            to=draft.to,
            cc=draft.cc,
            subject=draft.subject,
            text=draft.text,
            attachments=draft.attachments,
            message_id_header=draft.message_id_header or f"<{message_id}@mail.sandbox.example>",
            history_id=history_id,
        )
        added = AddedMessage(message, history_id, now_ms())
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.key(email, "added"), message_id, added.to_json())
            pipe.expire(self.key(email, "added"), KEEP)
            await pipe.execute()
        return message

    async def expire_history(self, email: str) -> int:
        """Forget the history so far: any earlier startHistoryId is now answered 404."""
        mailbox = await self.load(email)
        await self.redis.set(self.key(email, "floor"), mailbox.history_id, ex=KEEP)
        return mailbox.history_id

    async def push_faults(self, email: str, statuses: Sequence[int]) -> int:
        key = self.key(email, "faults")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, *[str(status) for status in statuses])
            pipe.expire(key, KEEP)
            results = await pipe.execute()
        return int(results[0])

    async def pop_fault(self, email: str) -> int | None:
        raw = await self.redis.lpop(self.key(email, "faults"))
        if isinstance(raw, bytes):
            raw = raw.decode()
        return int(raw) if isinstance(raw, str) else None
