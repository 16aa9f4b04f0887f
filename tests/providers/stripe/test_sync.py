"""The incremental balance-transaction sync against the sandbox Stripe over real HTTP."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from sqlalchemy import func, select

from opside_hub.db.models import StripeBalanceTransaction, SyncJob
from opside_hub.db.session import transaction
from opside_hub.providers.stripe import sync as stripe_sync
from opside_hub.providers.stripe.client import StripeApiError, StripeClient
from opside_hub.providers.stripe.sync import (
    DATASET,
    StripeAccountDisconnected,
    sync_balance_transactions,
)
from opside_hub.runtime import Runtime
from opside_hub.sync import pipeline
from opside_hub.sync.checkpoints import get_checkpoint
from opside_hub.sync.service import start_sync
from opside_hub.sync.steps import STEPS
from opside_hub.vault.exceptions import NotConnected
from tests.conftest import LiveServer
from tests.integrations.conftest import Seller
from tests.providers.stripe.helpers import admin, list_all


async def connect(seller: Seller) -> str:
    account = (await seller.connect("stripe"))["accountId"]
    assert isinstance(account, str)
    return account


async def stored(runtime: Runtime, user_id: str) -> dict[str, StripeBalanceTransaction]:
    async with runtime.sessions() as session:
        rows = (
            await session.execute(
                select(StripeBalanceTransaction).where(StripeBalanceTransaction.user_id == user_id)
            )
        ).scalars()
        return {row.row_key: row for row in rows}


async def test_first_sync_stores_every_transaction_once_in_minor_units(
    http: httpx2.AsyncClient, live_server: LiveServer, live_runtime: Runtime, seller: Seller
) -> None:
    account = await connect(seller)
    truth = await list_all(http, live_server, account)
    fractions: list[float] = []

    async def progress(fraction: float) -> None:
        fractions.append(fraction)

    client = StripeClient.for_platform(live_runtime)
    result = await sync_balance_transactions(
        live_runtime, client, seller.user_id, account, progress
    )

    rows = await stored(live_runtime, seller.user_id)
    assert set(rows) == {item["id"] for item in truth}
    assert result.rows_read == result.rows_written == len(truth)
    assert result.pages == -(-len(truth) // 100)
    assert fractions == sorted(fractions)
    assert fractions[-1] == pytest.approx(1.0, abs=0.05)
    for item in truth:
        row = rows[item["id"]]
        assert (row.amount, row.fee, row.net) == (item["amount"], item["fee"], item["net"])
        assert row.currency == item["currency"].upper()
        assert int(row.created.timestamp()) == item["created"]
        assert row.created.tzinfo is not None
        assert row.stripe_account_id == account
        assert row.raw == item
    async with live_runtime.sessions() as session:
        checkpoint = await get_checkpoint(session, seller.user_id, DATASET)
    assert checkpoint == {"account": account, "syncedTo": truth[0]["created"]}


async def test_rows_created_during_a_sync_are_neither_missed_nor_duplicated(
    http: httpx2.AsyncClient, live_server: LiveServer, live_runtime: Runtime, seller: Seller
) -> None:
    account = await connect(seller)
    before = await list_all(http, live_server, account)
    added: list[dict[str, Any]] = []

    async def pay_while_syncing(fraction: float) -> None:
        # After the first page: payments arrive, above the page being walked.
        if not added:
            body = {"account": account, "count": 3, "amount": 4200}
            added.extend((await admin(http, "/balance_transactions", body))["data"])

    client = StripeClient.for_platform(live_runtime)
    first = await sync_balance_transactions(
        live_runtime, client, seller.user_id, account, pay_while_syncing
    )
    assert first.rows_read == len(before)  # the walk did not see them...
    assert set(await stored(live_runtime, seller.user_id)) == {item["id"] for item in before}

    second = await sync_balance_transactions(live_runtime, client, seller.user_id, account)
    rows = await stored(live_runtime, seller.user_id)
    # ...the next one, starting an overlap before the newest it saw, did.
    assert set(rows) == {item["id"] for item in before + added}
    assert second.rows_written == len(added)  # the overlap re-read writes nothing else
    assert second.rows_read < len(before)  # incremental: not the whole history again
    assert second.pages == 1
    async with live_runtime.sessions() as session:
        count = (
            await session.execute(
                select(func.count())
                .select_from(StripeBalanceTransaction)
                .where(StripeBalanceTransaction.user_id == seller.user_id)
            )
        ).scalar_one()
    assert count == len(before) + len(added)

    third = await sync_balance_transactions(live_runtime, client, seller.user_id, account)
    assert third.rows_written == 0


async def test_a_sync_that_dies_resumes_at_its_next_page(
    http: httpx2.AsyncClient, live_server: LiveServer, live_runtime: Runtime, seller: Seller
) -> None:
    account = await connect(seller)
    truth = await list_all(http, live_server, account)
    # The second page fails for good (400: not retried), the run dies after one page.
    calls: list[int] = []
    client = StripeClient.for_platform(live_runtime)

    async def fail_the_second_page(fraction: float) -> None:
        calls.append(1)
        if len(calls) == 1:
            await admin(
                http,
                "/faults",
                {"method": "GET", "path": "/v1/balance_transactions", "status": 400},
            )

    with pytest.raises(StripeApiError):
        await sync_balance_transactions(
            live_runtime, client, seller.user_id, account, fail_the_second_page
        )
    async with live_runtime.sessions() as session:
        checkpoint = await get_checkpoint(session, seller.user_id, DATASET)
    assert checkpoint["walk"]["after"] == truth[99]["id"]
    assert len(await stored(live_runtime, seller.user_id)) == 100

    resumed = await sync_balance_transactions(live_runtime, client, seller.user_id, account)
    assert resumed.rows_read == len(truth) - 100  # the first page is not fetched again
    assert set(await stored(live_runtime, seller.user_id)) == {item["id"] for item in truth}
    async with live_runtime.sessions() as session:
        checkpoint = await get_checkpoint(session, seller.user_id, DATASET)
    assert "walk" not in checkpoint
    assert checkpoint["syncedTo"] == truth[0]["created"]


async def test_transient_stripe_errors_are_retried(
    http: httpx2.AsyncClient, live_server: LiveServer, live_runtime: Runtime, seller: Seller
) -> None:
    account = await connect(seller)
    await admin(
        http,
        "/faults",
        {"method": "GET", "path": "/v1/balance_transactions", "statuses": [503, 429]},
    )
    client = StripeClient.for_platform(live_runtime)
    result = await sync_balance_transactions(live_runtime, client, seller.user_id, account)
    assert result.rows_read == len(await list_all(http, live_server, account))


async def test_a_disconnected_account_asks_the_seller_to_reconnect(
    http: httpx2.AsyncClient, live_server: LiveServer, live_runtime: Runtime, seller: Seller
) -> None:
    account = await connect(seller)
    # The seller disconnects Opside in their Stripe dashboard (no webhook processed yet).
    revoked = await http.post("/sandbox/_admin/stripe/revoke", json={"subject": account})
    assert revoked.json() == {"revoked": 1}
    with pytest.raises(StripeAccountDisconnected):
        await sync_balance_transactions(
            live_runtime, StripeClient.for_platform(live_runtime), seller.user_id, account
        )


async def test_only_an_active_connection_is_synced(live_runtime: Runtime, seller: Seller) -> None:
    with pytest.raises(NotConnected):
        await stripe_sync.connected_account(live_runtime, seller.user_id)
    account = await connect(seller)
    assert await stripe_sync.connected_account(live_runtime, seller.user_id) == account


async def test_the_pipeline_runs_the_stripe_step(
    http: httpx2.AsyncClient,
    live_server: LiveServer,
    live_runtime: Runtime,
    seller: Seller,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pipeline, "PUBLISH_EVERY_S", 0.0)
    account = await connect(seller)
    async with transaction(live_runtime.sessions) as session:
        job = await start_sync(session, seller.user_id, providers=["stripe"], trigger="manual")
    assert await pipeline.run_sync(live_runtime, job.id, STEPS) == "completed"

    async with live_runtime.sessions() as session:
        done = await session.get(SyncJob, job.id)
    assert done is not None
    assert done.checkpoint["done"] == ["stripe.transactions", "finalize"]
    rows = await stored(live_runtime, seller.user_id)
    assert set(rows) == {item["id"] for item in await list_all(http, live_server, account)}
    status = await seller.http.get(f"/api/sync/status/{job.id}", headers=seller.auth)
    audit = status.json()["data"]["audit"]
    step = next(
        e for e in audit if e["kind"] == "step.completed" and e["stage"] == "processing_stripe"
    )
    assert step["data"]["rowsRead"] == len(rows)
