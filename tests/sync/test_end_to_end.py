"""A seller's whole sync over real HTTP: connect Amazon in the sandbox, start, watch, re-run."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest
import websockets
from sqlalchemy import func, select

from opside_hub.db.models import (
    AmazonFinancialEvent,
    AmazonInventory,
    AmazonLedgerEvent,
    AmazonReimbursement,
    RefundEngineCase,
    SyncEvent,
)
from opside_hub.runtime import Runtime
from tests.conftest import QUICK_SANDBOX, LiveServer, serve_live
from tests.integrations.conftest import Seller

RAW_TABLES = (AmazonReimbursement, AmazonLedgerEvent, AmazonFinancialEvent, AmazonInventory)


@pytest.fixture
async def live(database_url: str, redis_url: str) -> AsyncIterator[LiveServer]:
    async with serve_live(
        database_url,
        redis_url,
        **QUICK_SANDBOX,
    ) as server:
        yield server


async def _counts(runtime: Runtime) -> dict[str, int]:
    async with runtime.sessions() as session:
        counts = {}
        for model in (*RAW_TABLES, RefundEngineCase, SyncEvent):
            counts[model.__tablename__] = (
                await session.execute(select(func.count()).select_from(model))
            ).scalar_one()
        return counts


async def _run(seller: Seller) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Start a sync, follow it on the WebSocket until it ends; returns (status, events)."""
    token = seller.auth["Authorization"].removeprefix("Bearer ")
    ws_url = seller.live.url.replace("http", "ws", 1) + f"/ws?token={token}"
    events: list[dict[str, Any]] = []
    async with websockets.connect(ws_url) as socket:
        assert json.loads(await socket.recv())["event"] == "connected"
        started = await seller.http.post("/api/sync/start", headers=seller.auth)
        assert started.status_code == 202, started.text
        sync_id = started.json()["data"]["syncId"]
        async with asyncio.timeout(180):
            while True:
                message = json.loads(await socket.recv())
                if message["event"].startswith("sync_"):
                    assert message["data"]["syncId"] == sync_id
                    events.append(message)
                if message["event"] in ("sync_completed", "sync_failed", "sync_cancelled"):
                    break
    status = await seller.http.get(f"/api/sync/status/{sync_id}", headers=seller.auth)
    return status.json()["data"], events


async def _case_audit_events(runtime: Runtime) -> int:
    async with runtime.sessions() as session:
        return (
            await session.execute(
                select(func.count()).select_from(SyncEvent).where(SyncEvent.case_id.is_not(None))
            )
        ).scalar_one()


async def test_a_full_sync_fills_the_ledger_and_a_second_changes_nothing(live: LiveServer) -> None:
    runtime: Runtime = live.app.state.runtime
    async with httpx2.AsyncClient(base_url=live.url) as http:
        seller = Seller(user_id="e2e-seller", http=http, live=live)
        await seller.connect("amazon")
        first = await seller.first_sync()
        after_first = await _counts(runtime)
        audits_after_first = await _case_audit_events(runtime)
        cases = await http.get("/api/cases", headers=seller.auth, params={"limit": 500})

        status, events = await _run(seller)
        after_second = await _counts(runtime)

    assert first["trigger"] == "oauth"
    assert (first["status"], first["percent"]) == ("completed", 100), first
    assert all(after_first[model.__tablename__] > 0 for model in RAW_TABLES), after_first
    assert after_first["refund_engine_cases"] > 0
    assert first["totalCases"] == after_first["refund_engine_cases"]
    assert cases.status_code == 200
    assert len(cases.json()["data"]) == min(500, after_first["refund_engine_cases"])

    assert (status["status"], status["percent"]) == ("completed", 100), status
    percents = [event["data"]["percent"] for event in events]
    assert percents == sorted(percents)
    assert events[-1]["event"] == "sync_completed"
    assert {k: v for k, v in after_second.items() if k != "sync_events"} == {
        k: v for k, v in after_first.items() if k != "sync_events"
    }
    assert await _case_audit_events(runtime) == audits_after_first
