"""A real sandbox sync, seen through `/metrics` and the logs: what an operator's dashboards and
alerts are built on (runs by status, step durations, rows, provider calls, refreshes, 429s)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from opside_hub.db.models import (
    AmazonFinancialEvent,
    AmazonInventory,
    AmazonLedgerEvent,
    AmazonReimbursement,
)
from opside_hub.providers.stripe.client import StripeClient
from opside_hub.runtime import Runtime
from opside_hub.vault.exceptions import ReauthorizationRequired
from opside_hub.vault.service import get_access_token
from tests.conftest import QUICK_SANDBOX, LiveServer, serve_live
from tests.integrations.conftest import Seller
from tests.observability.helpers import Scrape, json_logs, scrape

RAW_TABLES = (AmazonReimbursement, AmazonLedgerEvent, AmazonFinancialEvent, AmazonInventory)
AMAZON_STEPS = (
    "amazon.reimbursements",
    "amazon.ledger",
    "amazon.financial_events",
    "amazon.inventory",
    "ledger.cases",
    "ledger.mcde",
    "finalize",
)
SPAPI_OPERATIONS = (
    "createReport",
    "getReport",
    "getReportDocument",
    "downloadReportDocument",  # the pre-signed document URL itself
    "listFinancialEvents",
    "getInventorySummaries",
    "getMarketplaceParticipations",
)


@pytest.fixture
async def live(database_url: str, redis_url: str) -> AsyncIterator[LiveServer]:
    async with serve_live(
        database_url,
        redis_url,
        **QUICK_SANDBOX,
    ) as server:
        yield server


class Delta:
    def __init__(self, before: Scrape, after: Scrape) -> None:
        self.before, self.after = before, after

    def __call__(self, name: str, **labels: str) -> float:
        return self.after.total(name, **labels) - self.before.total(name, **labels)


async def _rows(runtime: Runtime, user_id: str) -> dict[str, int]:
    async with runtime.sessions() as session:
        return {
            model.__tablename__: (
                await session.execute(
                    select(func.count()).select_from(model).where(model.user_id == user_id)
                )
            ).scalar_one()
            for model in RAW_TABLES
        }


async def test_a_sandbox_sync_is_counted_and_its_logs_carry_its_ids(live: LiveServer) -> None:
    runtime: Runtime = live.app.state.runtime
    async with httpx2.AsyncClient(base_url=live.url) as http:
        seller = Seller(user_id="metrics-seller", http=http, live=live)
        before = await scrape(http)
        with json_logs() as logs:
            connected = await seller.connect("amazon")  # starts the first sync by itself
            sync = await seller.first_sync()
        await get_access_token(runtime, seller.user_id, "amazon", force=True)
        revoked = await http.post(
            "/sandbox/_admin/amazon/revoke", json={"subject": connected["accountId"]}
        )
        assert revoked.json()["revoked"] >= 1
        with pytest.raises(ReauthorizationRequired):
            await get_access_token(runtime, seller.user_id, "amazon", force=True)
        after = await scrape(http)
    delta = Delta(before, after)
    rows = await _rows(runtime, seller.user_id)

    assert sync["status"] == "completed", sync
    assert delta("opside_hub_sync_runs_total", status="completed") == 1
    assert delta("opside_hub_sync_runs_total", status="failed") == 0
    for step in AMAZON_STEPS:
        assert delta("opside_hub_sync_step_duration_seconds_count", step=step) == 1, step
        assert (
            delta("opside_hub_sync_step_duration_seconds_count", step=step, outcome="completed")
            == 1
        )
    # Every row in a table was written at least once by this seller's sync.
    for table, count in rows.items():
        assert count > 0, table
        ingested = delta("opside_hub_rows_ingested_total", provider="amazon", dataset=table)
        assert ingested >= count, table
    for operation in SPAPI_OPERATIONS:
        calls = delta("opside_hub_provider_requests_total", provider="amazon", operation=operation)
        assert calls > 0, operation
        timed = delta(
            "opside_hub_provider_request_duration_seconds_count",
            provider="amazon",
            operation=operation,
        )
        assert timed == calls
    statuses = {
        dict(labels)["status"]
        for labels, value in after.select(
            "opside_hub_provider_requests_total", provider="amazon", operation="createReport"
        ).items()
        if value > before.samples.get(("opside_hub_provider_requests_total", labels), 0)
    }
    assert statuses == {"202"}
    # The LWA token endpoint: one code exchange, one refresh that worked, one refused.
    lwa = {"provider": "amazon", "operation": "oauth.authorization_code", "status": "200"}
    assert delta("opside_hub_provider_requests_total", **lwa) == 1
    refused = {"provider": "amazon", "operation": "oauth.refresh_token", "status": "400"}
    assert delta("opside_hub_provider_requests_total", **refused) == 1
    assert delta("opside_hub_token_refreshes_total", provider="amazon", outcome="ok") == 1
    assert (
        delta("opside_hub_token_refreshes_total", provider="amazon", outcome="invalid_grant") == 1
    )
    assert delta("opside_hub_provider_throttles_total", provider="amazon") == 0  # no quota here
    assert after.select("opside_hub_queue_jobs", state="queued")
    assert after.total("opside_hub_metrics_source_up", source="queue") == 1

    # Log lines written deep inside the run name the run and the seller without being told.
    created = [r for r in logs if r["event"] == "amazon.report.created"]
    assert created
    assert {(r.get("sync_id"), r.get("user_id")) for r in created} == {
        (sync["syncId"], seller.user_id)
    }
    # API logs name their request.
    access = [r for r in logs if r["event"] == "http.request"]
    assert access
    assert all(r.get("request_id") for r in access)


async def test_provider_throttles_are_counted_per_operation(live: LiveServer) -> None:
    runtime: Runtime = live.app.state.runtime
    _, secret = live.settings.client_credentials("stripe")

    async def no_wait(_seconds: float) -> None:
        return None

    client = StripeClient(
        runtime.http,
        live.settings.endpoints().stripe_api_base_url,
        SecretStr(secret),
        sleep=no_wait,
    )
    async with httpx2.AsyncClient(base_url=live.url) as http:
        queued = await http.post(
            "/sandbox/_admin/stripe/faults",
            json={"method": "GET", "path": "/v1/account", "statuses": [429, 429]},
        )
        assert queued.json() == {"queued": 2}
        before = await scrape(http)
        account = await client.retrieve_account()  # two throttled attempts, then an answer
        after = await scrape(http)
    delta = Delta(before, after)
    operation = {"provider": "stripe", "operation": "GET /v1/account"}

    assert account["id"]
    assert delta("opside_hub_provider_throttles_total", **operation) == 2
    assert delta("opside_hub_provider_requests_total", status="429", **operation) == 2
    assert delta("opside_hub_provider_requests_total", status="200", **operation) == 1
