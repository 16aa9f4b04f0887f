"""A tenant with everything a seller has: the three providers connected through the sandbox's
consent pages, two completed syncs, MCDE documents, and the ids all of it produced."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx2

from opside_hub.runtime import Runtime
from opside_hub.worker import build_worker, stop_worker
from tests.conftest import LiveServer, serve_live
from tests.integrations.conftest import Seller
from tests.sandbox.helpers import press

FINISHED = ("completed", "failed", "cancelled")
# Guards against a hang only; nothing here expects a sync to take a given time.
SYNC_GUARD_S = 180


@asynccontextmanager
async def serve_without_schedules(
    database_url: str, redis_url: str, **overrides: object
) -> AsyncIterator[LiveServer]:
    """The live app with a real worker beside it, minus the cron schedules: these suites compare
    a seller's state and events across minutes, and a scheduled sync (Gmail every 15 minutes...)
    starting meanwhile would change both."""
    async with serve_live(
        database_url,
        redis_url,
        sandbox_report_delay_seconds=0.0,
        sandbox_rate_scale=0.0,
        **overrides,
    ) as live:
        runtime: Runtime = live.app.state.runtime
        worker = build_worker(runtime)
        worker.cron_jobs = []
        run = asyncio.create_task(worker.start())
        try:
            yield live
        finally:
            await stop_worker(worker, grace_s=5)
            await run


@dataclass(frozen=True)
class Accounts:
    """The provider accounts a tenant approves on the sandbox consent pages: distinct per
    tenant, so each tenant's provider data (seller id, mailbox, Stripe account) is its own."""

    amazon: str
    gmail: str
    stripe: str

    def of(self, provider: str) -> str:
        value: str = getattr(self, provider)
        return value


@dataclass
class Tenant:
    seller: Seller
    accounts: Accounts
    sync_ids: list[str] = field(default_factory=list)
    mcde_document_id: str = ""

    @property
    def user_id(self) -> str:
        return self.seller.user_id

    @property
    def http(self) -> httpx2.AsyncClient:
        return self.seller.http

    @property
    def auth(self) -> dict[str, str]:
        return self.seller.auth

    @property
    def token(self) -> str:
        return self.auth["Authorization"].removeprefix("Bearer ")

    async def get(self, path: str, **params: Any) -> Any:
        response = await self.http.get(path, headers=self.auth, params=params)
        assert response.status_code == 200, (path, response.text)
        return response.json()


async def callback_url(seller: Seller, provider: str, account: str) -> str:
    """Start the flow as `seller`, approve on the sandbox's consent page as `account`; the
    provider's redirect back to our callback (carrying `code`/`state`) is returned unfollowed."""
    auth_url = (await seller.start(provider))["authUrl"]
    page = await seller.http.get(auth_url)
    answer = await press(seller.http, seller.live, page, "approve", account)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


async def connect(seller: Seller, provider: str, account: str) -> dict[str, Any]:
    response = await seller.callback(await callback_url(seller, provider, account))
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def wait_for_sync(seller: Seller, sync_id: str) -> dict[str, Any]:
    async with asyncio.timeout(SYNC_GUARD_S):
        while True:
            response = await seller.http.get(f"/api/sync/status/{sync_id}", headers=seller.auth)
            assert response.status_code == 200, response.text
            status: dict[str, Any] = response.json()["data"]
            if status["status"] in FINISHED:
                return status
            await asyncio.sleep(0.1)


async def start_sync(seller: Seller, providers: list[str] | None = None) -> str:
    body = {"providers": providers} if providers else {}
    started = await seller.http.post("/api/sync/start", headers=seller.auth, json=body)
    assert started.status_code == 202, started.text
    sync_id: str = started.json()["data"]["syncId"]
    return sync_id


async def populate(tenant: Tenant) -> Tenant:
    """Everything a seller has: Amazon (its first sync), Gmail and Stripe connected, an MCDE
    document for one of its SKUs, and a full sync of all three providers."""
    seller = tenant.seller
    await connect(seller, "amazon", tenant.accounts.amazon)
    first = await seller.first_sync()
    assert first["status"] == "completed", first
    tenant.sync_ids.append(first["syncId"])
    for provider in ("gmail", "stripe"):
        await connect(seller, provider, tenant.accounts.of(provider))
    claim = (await tenant.get("/api/amazon/claims", limit=1))["data"][0]
    tenant.mcde_document_id = f"mcde-{tenant.user_id}"
    registered = await seller.http.post(
        "/api/mcde/documents",
        headers=seller.auth,
        json={
            "documents": [
                {
                    "documentId": tenant.mcde_document_id,
                    "sku": claim["sku"],
                    "asin": claim["asin"],
                    "unitManufacturingCost": {"amount": 1234, "currency": "USD"},
                    "supplier": f"Supplier of {tenant.user_id}",
                    "documentDate": "2020-01-01",
                }
            ]
        },
    )
    assert registered.status_code == 200, registered.text
    sync_id = await start_sync(seller, ["amazon", "gmail", "stripe"])
    status = await wait_for_sync(seller, sync_id)
    assert status["status"] == "completed", status
    tenant.sync_ids.append(sync_id)
    return tenant


def tenant_for(live: LiveServer, http: httpx2.AsyncClient, user_id: str, tag: str) -> Tenant:
    accounts = Accounts(
        amazon=f"{tag} Goods",
        gmail=f"{tag.lower()}@example.com",
        stripe=f"{tag.lower()}@pay.example",
    )
    return Tenant(seller=Seller(user_id=user_id, http=http, live=live), accounts=accounts)
