"""The Gmail sync against the sandbox Gmail over HTTP: full, incremental, resync, resume,
token refresh, rate limits, and the pipeline step."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from opside_hub.db.models import SyncEvent
from opside_hub.db.session import transaction
from opside_hub.providers.gmail import sync as gmail_sync
from opside_hub.providers.gmail.client import GmailClient, GmailUnavailable
from opside_hub.providers.gmail.schemas import Message
from opside_hub.providers.gmail.sync import DATASET, sync_messages
from opside_hub.sync.checkpoints import get_checkpoint
from opside_hub.sync.pipeline import is_transient, run_sync
from opside_hub.sync.service import start_sync
from opside_hub.sync.steps import STEPS
from opside_hub.vault import repository as vault_repository
from opside_hub.vault.service import open_access_token
from tests.conftest import LiveServer
from tests.providers.gmail.conftest import (
    EMAIL,
    browser,
    connect_gmail,
    expected_ids,
    message_rows,
    quick_client,
    runtime_of,
)
from tests.sandbox.gmail import add_message, expire_history, inject_faults, mailbox

USER = "seller-a"


async def _cursor(live: LiveServer, user_id: str = USER) -> dict[str, Any]:
    async with runtime_of(live).sessions() as session:
        return await get_checkpoint(session, user_id, DATASET)


async def test_full_then_incremental(gmail_live: LiveServer) -> None:
    runtime = runtime_of(gmail_live)
    async with browser(gmail_live) as http:
        await connect_gmail(http, gmail_live, USER)
        truth = await mailbox(runtime, EMAIL)
        expected = await expected_ids(runtime, EMAIL)

        first = await sync_messages(runtime, USER)

        assert first.mode == "full"
        assert 10 <= len(expected) < len(truth.messages)
        assert (first.listed, first.fetched, first.written) == (len(expected),) * 3
        rows = {row.row_key: row for row in await message_rows(runtime, USER)}
        assert sorted(rows) == sorted(expected)
        cursor = await _cursor(gmail_live)
        assert cursor["historyId"] == str(truth.history_id)
        assert cursor["query"] == runtime.settings.gmail.invoice_query
        assert "full" not in cursor

        sample = truth.by_id[expected[0]]
        row = rows[sample.id]
        assert row.subject == sample.subject
        assert row.from_address == sample.sender
        assert row.to_address == sample.to
        assert row.thread_id == sample.thread_id
        assert row.history_id == str(sample.history_id)
        assert row.label_ids == list(sample.label_ids)
        assert row.internal_at == datetime.fromtimestamp(sample.internal_ms / 1000, UTC)
        assert row.internal_at is not None
        assert row.internal_at.tzinfo is not None
        assert row.has_attachments is True
        assert row.attachments == [
            {
                "partId": str(i),
                "filename": a.filename,
                "mimeType": a.mime_type,
                "size": len(a.content),
            }
            for i, a in enumerate(sample.attachments, start=1)
        ]
        assert row.snippet
        assert row.size_estimate > 0

        invoice = await add_message(http, EMAIL)
        chat = await add_message(http, EMAIL, subject="Lunch on Friday?", attachments=[])
        second = await sync_messages(runtime, USER)

        assert second.mode == "incremental"
        assert (second.listed, second.fetched, second.written) == (2, 1, 1)
        keys = [row.row_key for row in await message_rows(runtime, USER)]
        assert sorted(keys) == sorted([*expected, invoice["id"]])
        assert chat["id"] not in keys
        assert (await _cursor(gmail_live))["historyId"] == chat["historyId"]

        third = await sync_messages(runtime, USER)
        assert (third.mode, third.listed, third.fetched, third.written) == ("incremental", 0, 0, 0)
        assert len(await message_rows(runtime, USER)) == len(expected) + 1


async def test_expired_history_means_a_full_resync(gmail_live: LiveServer) -> None:
    runtime = runtime_of(gmail_live)
    async with browser(gmail_live) as http:
        await connect_gmail(http, gmail_live, USER)
        expected = await expected_ids(runtime, EMAIL)
        await sync_messages(runtime, USER)
        invoice = await add_message(http, EMAIL)
        floor = await expire_history(http, EMAIL)

        again = await sync_messages(runtime, USER)

    assert again.mode == "resync"
    assert again.fetched == 1
    assert again.skipped == len(expected)
    keys = [row.row_key for row in await message_rows(runtime, USER)]
    assert sorted(keys) == sorted([*expected, invoice["id"]])
    assert (await _cursor(gmail_live))["historyId"] == floor
    after = await sync_messages(runtime, USER)
    assert (after.mode, after.listed) == ("incremental", 0)


class _DiesAfter(GmailClient):
    """The real client, for a run that dies (a worker killed) after `calls` message fetches."""

    def __init__(self, *args: Any, calls: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.left = calls

    async def get_message(self, message_id: str, **options: Any) -> Message:
        if self.left == 0:
            raise RuntimeError("worker killed")
        self.left -= 1
        return await super().get_message(message_id, **options)


async def test_a_full_sync_resumes_at_its_page(
    gmail_live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gmail_sync, "LIST_PAGE_SIZE", 5)
    runtime = runtime_of(gmail_live)
    async with browser(gmail_live) as http:
        await connect_gmail(http, gmail_live, USER)
    expected = await expected_ids(runtime, EMAIL)
    history_id = str((await mailbox(runtime, EMAIL)).history_id)
    dying = _DiesAfter(
        runtime.http,
        runtime.settings.endpoints().gmail_api_base_url,
        quick_client(runtime, USER).tokens,
        calls=7,
    )

    with pytest.raises(RuntimeError, match="worker killed"):
        await sync_messages(runtime, USER, client=dying)

    cursor = await _cursor(gmail_live)
    assert cursor["full"]["historyId"] == history_id
    assert cursor["full"]["pageToken"]
    assert len(await message_rows(runtime, USER)) == 5  # the first page, committed whole

    resumed = await sync_messages(runtime, USER)

    assert resumed.mode == "full"
    assert resumed.listed == len(expected) - 5
    assert resumed.fetched == len(expected) - 5
    assert sorted(r.row_key for r in await message_rows(runtime, USER)) == sorted(expected)
    assert (await _cursor(gmail_live))["historyId"] == history_id


async def test_a_new_query_syncs_in_full_again(gmail_live: LiveServer) -> None:
    runtime = runtime_of(gmail_live)
    async with browser(gmail_live) as http:
        await connect_gmail(http, gmail_live, USER)
    await sync_messages(runtime, USER)
    runtime.settings.gmail.invoice_query = "has:attachment older_than:2y"
    older = await expected_ids(runtime, EMAIL)

    again = await sync_messages(runtime, USER)

    assert again.mode == "full"
    assert again.listed == len(older)
    assert {r.row_key for r in await message_rows(runtime, USER)} >= set(older)


async def test_a_rejected_token_is_refreshed_once(gmail_live: LiveServer) -> None:
    runtime = runtime_of(gmail_live)
    async with browser(gmail_live) as http:
        await connect_gmail(http, gmail_live, USER)
        async with runtime.sessions() as session:
            row = await vault_repository.get_token(session, USER, "gmail")
            assert row is not None
            before = open_access_token(runtime.keyring, row)
        # Google ends the token early; the vault still thinks it is good for an hour.
        expired = await http.post("/sandbox/_admin/google/expire", json={"subject": EMAIL})
        assert expired.json() == {"expired": 1}
        client = quick_client(runtime, USER)

        result = await sync_messages(runtime, USER, client=client)

    assert result.fetched == len(await expected_ids(runtime, EMAIL))
    assert client.stats.refreshed == 1
    async with runtime.sessions() as session:
        row = await vault_repository.get_token(session, USER, "gmail")
        assert row is not None
        assert open_access_token(runtime.keyring, row) != before


async def test_rate_limits_and_server_errors_are_retried(gmail_live: LiveServer) -> None:
    runtime = runtime_of(gmail_live)
    async with browser(gmail_live) as http:
        await connect_gmail(http, gmail_live, USER)
        await inject_faults(http, EMAIL, [429, 503, 500, 429])
        client = quick_client(runtime, USER)

        result = await sync_messages(runtime, USER, client=client)

    assert result.fetched == len(await expected_ids(runtime, EMAIL))
    assert sum(client.stats.retried.values()) == 4


async def test_exhausted_retries_fail_the_step_as_transient(gmail_live: LiveServer) -> None:
    runtime = runtime_of(gmail_live)
    async with browser(gmail_live) as http:
        await connect_gmail(http, gmail_live, USER)
        await inject_faults(http, EMAIL, [503, 503, 503])

        with pytest.raises(GmailUnavailable) as caught:
            await sync_messages(runtime, USER, client=quick_client(runtime, USER, max_attempts=3))

    assert caught.value.status == 503
    assert is_transient(caught.value)
    assert await message_rows(runtime, USER) == []


async def test_the_pipeline_runs_the_gmail_step(gmail_live: LiveServer) -> None:
    runtime = runtime_of(gmail_live)
    async with browser(gmail_live) as http:
        await connect_gmail(http, gmail_live, USER)
    async with transaction(runtime.sessions) as session:
        job = await start_sync(session, USER, providers=None, trigger="manual")
        sync_id = job.id

    assert await run_sync(runtime, sync_id, STEPS) == "completed"

    async with runtime.sessions() as session:
        events = (
            (await session.execute(select(SyncEvent).where(SyncEvent.sync_id == sync_id)))
            .scalars()
            .all()
        )
    steps = [e for e in events if e.kind == "step.completed"]
    assert [e.data["step"] for e in steps] == ["gmail.messages", "finalize"]
    gmail = steps[0]
    assert gmail.stage == "scanning_email"
    assert gmail.data["mode"] == "full"
    assert gmail.data["fetched"] == len(await expected_ids(runtime, EMAIL))
    assert gmail.data["documents"] > 0
