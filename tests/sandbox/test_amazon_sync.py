"""Our SP-API client end to end against the sandbox: a user connects Amazon through the consent
page and LWA (over HTTP, as a browser would), `sync_amazon` backfills the four datasets, and the
database then holds exactly the generator's truth: every row, none twice."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx2
import pytest
from sqlalchemy import func, select

from opside_hub.db.models import (
    AmazonFinancialEvent,
    AmazonInventory,
    AmazonLedgerEvent,
    AmazonReimbursement,
    AmazonReportRequest,
    QuarantinedRow,
)
from opside_hub.providers.amazon.client import SpApiClient
from opside_hub.providers.amazon.sync import LEDGER_REPORT, REIMBURSEMENTS_REPORT, sync_amazon
from opside_hub.runtime import Runtime
from opside_hub.sandbox.amazon.data import (
    CURRENCIES,
    DataSizes,
    SellerData,
    expected_financial_events,
    expected_inventory,
    expected_ledger_events,
    expected_reimbursements,
)
from opside_hub.sandbox.amazon.service import selling_partner_id
from opside_hub.sandbox.amazon.spapi import endpoints as spapi_endpoints
from opside_hub.sandbox.amazon.spapi import guard
from opside_hub.sandbox.amazon.spapi.guard import pick_fault
from opside_hub.sandbox.oauth_store import expire_access_tokens
from opside_hub.sync.checkpoints import get_checkpoint
from opside_hub.vault import repository as vault_repository
from tests.conftest import bearer
from tests.sandbox.helpers import press
from tests.sandbox.spapi import SpApi, spapi_server

USER = "user-sync"
SELLER_NAME = "Acme Goods"
# The sandbox announces rates 1000x the models'; our client adopts what it is told.
HUB = {"sandbox_rate_scale": 1000.0}


@pytest.fixture
async def hub(database_url: str, redis_url: str) -> AsyncIterator[SpApi]:
    async with spapi_server(database_url, redis_url, **HUB) as server:
        yield server


async def connect(spapi: SpApi, user_id: str = USER, seller_name: str = SELLER_NAME) -> str:
    """The seller's browser: start at the hub, approve at (sandbox) Seller Central, land on the
    hub's callback, which redeems the code at LWA and asks SP-API for the marketplaces."""
    live = spapi.live
    async with httpx2.AsyncClient(base_url=live.url, follow_redirects=False) as browser:
        start = await browser.get("/api/amazon/auth", headers=bearer(live.settings, user_id))
        assert start.status_code == 200, start.text
        page = await browser.get(start.json()["data"]["authUrl"])
        approved = await press(browser, live, page, "approve", seller_name)
        assert approved.status_code == 302, approved.text
        callback = await browser.get(
            approved.headers["location"], headers={"Accept": "application/json"}
        )
        assert callback.status_code == 200, callback.text
    return selling_partner_id(seller_name)


async def rows_of(spapi: SpApi, model: Any) -> list[Any]:
    async with spapi.runtime.sessions() as session:
        return list((await session.execute(select(model).where(model.user_id == USER))).scalars())


async def report_span(spapi: SpApi, report_type: str) -> tuple[datetime, datetime]:
    """The window the client covered with its report requests (contiguous, checked)."""
    requests = sorted(
        (r for r in await rows_of(spapi, AmazonReportRequest) if r.report_type == report_type),
        key=lambda r: r.data_start_time,
    )
    assert requests
    for before, after in itertools.pairwise(requests):
        assert before.data_end_time >= after.data_start_time
    return requests[0].data_start_time, max(r.data_end_time for r in requests)


def minor(text: str, currency: str) -> int:
    return int(Decimal(text).scaleb(CURRENCIES[currency][0]))


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def reimbursement_truth(rows: Any) -> Counter[tuple[Any, ...]]:
    return Counter(
        (
            r["reimbursement-id"],
            r["sku"],
            r["fnsku"],
            r["asin"],
            r["reason"],
            r["case-id"] or None,
            r["amazon-order-id"] or None,
            r["condition"],
            r["currency-unit"],
            minor(r["amount-per-unit"], r["currency-unit"]),
            minor(r["amount-total"], r["currency-unit"]),
            int(r["quantity-reimbursed-cash"]),
            int(r["quantity-reimbursed-inventory"]),
            int(r["quantity-reimbursed-total"]),
            r["original-reimbursement-id"] or None,
            r["original-reimbursement-type"] or None,
            when(r["approval-date"]),
        )
        for r in rows
    )


def reimbursement_stored(rows: list[AmazonReimbursement]) -> Counter[tuple[Any, ...]]:
    return Counter(
        (
            r.reimbursement_id,
            r.sku,
            r.fnsku,
            r.asin,
            r.reason,
            r.case_id,
            r.amazon_order_id,
            r.condition,
            r.currency,
            r.amount_per_unit,
            r.amount_total,
            r.quantity_cash,
            r.quantity_inventory,
            r.quantity_total,
            r.original_reimbursement_id,
            r.original_reimbursement_type,
            r.approved_at,
        )
        for r in rows
    )


def ledger_truth(rows: Any) -> Counter[tuple[Any, ...]]:
    return Counter(
        (
            when(r["Date and Time"]),
            r["Event Type"],
            r["Reference ID"],
            r["MSKU"],
            r["FNSKU"],
            r["ASIN"],
            int(r["Quantity"]),
            r["Fulfillment Center"],
            r["Disposition"],
            r["Reason"] or None,
            r["Country"],
        )
        for r in rows
    )


def ledger_stored(rows: list[AmazonLedgerEvent]) -> Counter[tuple[Any, ...]]:
    return Counter(
        (
            r.event_at,
            r.event_type,
            r.reference_id,
            r.sku,
            r.fnsku,
            r.asin,
            r.quantity,
            r.fulfillment_center,
            r.disposition,
            r.reason,
            r.country,
        )
        for r in rows
    )


def finance_truth(events: Any) -> Counter[tuple[Any, ...]]:
    truth: Counter[tuple[Any, ...]] = Counter()
    for event in events:
        body = event.body
        if event.list_name == "AdjustmentEventList":
            for item in body["AdjustmentItemList"]:
                money = item["TotalAmount"]
                truth[
                    (
                        "AdjustmentEvent",
                        body["AdjustmentType"],
                        event.posted_at,
                        item["SellerSKU"],
                        int(item["Quantity"]),
                        minor(str(money["CurrencyAmount"]), money["CurrencyCode"]),
                        money["CurrencyCode"],
                    )
                ] += 1
        else:
            for fee in body["FeeList"]:
                money = fee["FeeAmount"]
                truth[
                    (
                        "ServiceFeeEvent",
                        fee["FeeType"],
                        None,
                        body.get("SellerSKU"),
                        0,
                        minor(str(money["CurrencyAmount"]), money["CurrencyCode"]),
                        money["CurrencyCode"],
                    )
                ] += 1
    return truth


def finance_stored(rows: list[AmazonFinancialEvent]) -> Counter[tuple[Any, ...]]:
    return Counter(
        (r.event_group, r.event_type, r.posted_at, r.sku, r.quantity, r.amount, r.currency)
        for r in rows
    )


async def finance_span(spapi: SpApi) -> tuple[datetime, datetime]:
    """The client's finance backfill: `backfill_days` up to 3 minutes before its `now`."""
    async with spapi.runtime.sessions() as session:
        cursor = await get_checkpoint(session, USER, "amazon.financial_events")
    assert cursor["window"] is None  # finished, no page pending
    before = datetime.fromisoformat(cursor["postedBefore"])
    backfill = timedelta(days=spapi.live.settings.amazon.backfill_days)
    return before + timedelta(minutes=3) - backfill, before


async def test_sync_amazon_stores_exactly_the_sandbox_truth(hub: SpApi) -> None:
    seller_id = await connect(hub)
    sizes = DataSizes.from_settings(hub.live.settings)

    results = await sync_amazon(hub.runtime, USER)

    assert [r.dataset for r in results] == [
        "amazon.reimbursements",
        "amazon.ledger",
        "amazon.financial_events",
        "amazon.inventory",
    ]
    assert await rows_of(hub, QuarantinedRow) == []

    start, end = await report_span(hub, REIMBURSEMENTS_REPORT)
    truth = reimbursement_truth(expected_reimbursements(seller_id, start, end, sizes))
    assert sum(truth.values()) > 250
    assert reimbursement_stored(await rows_of(hub, AmazonReimbursement)) == truth

    start, end = await report_span(hub, LEDGER_REPORT)
    ledger = ledger_truth(expected_ledger_events(seller_id, start, end, sizes))
    assert max(ledger.values()) == 2  # rows Amazon writes twice are kept twice
    assert ledger_stored(await rows_of(hub, AmazonLedgerEvent)) == ledger

    stored_inventory = {
        (row.marketplace_id, row.sku): (row.fnsku, row.asin, row.total_quantity)
        for row in await rows_of(hub, AmazonInventory)
    }
    expected = {
        (marketplace.id, item["sellerSku"]): (item["fnSku"], item["asin"], item["totalQuantity"])
        for marketplace in SellerData(seller_id, sizes).marketplaces()
        for item in expected_inventory(seller_id, marketplace.id, sizes)
    }
    assert stored_inventory == expected

    after, before = await finance_span(hub)
    finances = finance_truth(expected_financial_events(seller_id, after, before, sizes))
    stored = finance_stored(await rows_of(hub, AmazonFinancialEvent))
    adjustments = Counter({k: v for k, v in finances.items() if k[0] == "AdjustmentEvent"})
    assert Counter({k: v for k, v in stored.items() if k[0] == "AdjustmentEvent"}) == adjustments


@pytest.mark.xfail(
    strict=True,
    reason=(
        "client bug: ServiceFeeEvents carry no date and no id; rows.py keys them by content plus "
        "their position on a page, so identical fees on different pages (a monthly "
        "Subscription fee) collapse into one row"
    ),
)
async def test_sync_amazon_keeps_every_service_fee(hub: SpApi) -> None:
    seller_id = await connect(hub)
    sizes = DataSizes.from_settings(hub.live.settings)

    await sync_amazon(hub.runtime, USER)

    after, before = await finance_span(hub)
    truth = finance_truth(expected_financial_events(seller_id, after, before, sizes))
    fees = Counter({k: v for k, v in truth.items() if k[0] == "ServiceFeeEvent"})
    stored = finance_stored(await rows_of(hub, AmazonFinancialEvent))
    assert Counter({k: v for k, v in stored.items() if k[0] == "ServiceFeeEvent"}) == fees


async def test_a_second_sync_adds_nothing(hub: SpApi) -> None:
    await connect(hub)
    await sync_amazon(hub.runtime, USER)
    counts = {}
    for model in (AmazonReimbursement, AmazonLedgerEvent, AmazonFinancialEvent, AmazonInventory):
        counts[model] = len(await rows_of(hub, model))

    await sync_amazon(hub.runtime, USER)

    for model, count in counts.items():
        async with hub.runtime.sessions() as session:
            again = (
                await session.execute(
                    select(func.count()).select_from(model).where(model.user_id == USER)
                )
            ).scalar_one()
        assert again == count, model.__tablename__


async def test_an_access_token_amazon_expired_early_is_refreshed(hub: SpApi) -> None:
    """Amazon may reject a token before its `expires_in` (403 Unauthorized, details "The access
    token you provided has expired."): the client refreshes once and carries on."""
    seller_id = await connect(hub)
    runtime = hub.runtime
    assert await expire_access_tokens(
        runtime.redis, runtime.redis_server.key, "amazon", subject=seller_id
    )
    async with runtime.sessions() as session:
        before = await vault_repository.get_token(session, USER, "amazon")
        assert before is not None
        refreshed_at = before.last_refreshed_at

    client = SpApiClient(runtime, user_id=USER, selling_partner_id=seller_id)
    participations = await client.get_marketplace_participations()

    assert participations
    async with runtime.sessions() as session:
        after = await vault_repository.get_token(session, USER, "amazon")
        assert after is not None
        assert after.last_refreshed_at != refreshed_at


@pytest.mark.slow  # the client's backoffs: ~30 s
async def test_sync_survives_injected_faults(
    database_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """429s, 5xx and truncated downloads on a seeded schedule: the client retries its way to
    the same rows as a clean run."""
    injected: Counter[str] = Counter()

    async def counting(runtime: Runtime, scope: str, allowed: frozenset[str]) -> str | None:
        fault = await pick_fault(runtime, scope, allowed)
        injected[fault or "none"] += 1
        return fault

    monkeypatch.setattr(guard, "pick_fault", counting)
    monkeypatch.setattr(spapi_endpoints, "pick_fault", counting)
    async with spapi_server(
        database_url,
        redis_url,
        **HUB,
        sandbox_fault_rate=0.25,
        sandbox_fault_seed=1,
        sandbox_fault_kinds="429,500,503,truncate",
    ) as spapi:
        seller_id = await connect(spapi)
        sizes = DataSizes.from_settings(spapi.live.settings)

        await sync_amazon(spapi.runtime, USER)

        start, end = await report_span(spapi, REIMBURSEMENTS_REPORT)
        truth = reimbursement_truth(expected_reimbursements(seller_id, start, end, sizes))
        assert reimbursement_stored(await rows_of(spapi, AmazonReimbursement)) == truth
        start, end = await report_span(spapi, LEDGER_REPORT)
        ledger = ledger_truth(expected_ledger_events(seller_id, start, end, sizes))
        assert ledger_stored(await rows_of(spapi, AmazonLedgerEvent)) == ledger

    assert injected["none"] > 20
    assert sum(injected.values()) - injected["none"] >= 5


async def test_connect_survives_a_timed_out_marketplaces_call(
    database_url: str, redis_url: str
) -> None:
    """getMarketplaceParticipations hangs past the client's timeout during the callback: the
    connect still succeeds (the code was single use) and the marketplaces are left for the
    first sync to ask for, not a 500."""
    async with spapi_server(
        database_url,
        redis_url,
        **HUB,
        sandbox_fault_rate=1.0,
        sandbox_fault_kinds="timeout",
        sandbox_fault_hang_seconds=1.0,
        provider_timeout_seconds=0.3,
    ) as spapi:
        await connect(spapi)  # asserts the callback's 200

        async with spapi.runtime.sessions() as session:
            row = await vault_repository.get_token(session, USER, "amazon")
        assert row is not None
        assert not (row.details or {}).get("marketplaces")
