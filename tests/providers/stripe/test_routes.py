"""`/api/stripe/transactions`, `/transactions/{id}`, `/account` and `/status`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pytest

from opside_hub.auth.repository import get_or_create_user
from opside_hub.config import Settings
from opside_hub.db.bulk import upsert_rows
from opside_hub.db.models import StripeAccount, StripeBalanceTransaction
from opside_hub.db.session import transaction
from opside_hub.providers.stripe.sync import _row
from opside_hub.runtime import Runtime
from tests.conftest import LiveServer, bearer
from tests.integrations.conftest import Seller
from tests.providers.stripe.helpers import admin

BASE = datetime(2026, 3, 1, tzinfo=UTC)
ACCOUNT = "acct_1RouteTest000000"


def stripe_object(n: int, **overrides: Any) -> dict[str, Any]:
    created = int((BASE + timedelta(hours=n)).timestamp())
    amount = 1000 + n
    fee = 59
    item: dict[str, Any] = {
        "id": f"txn_1Route{n:019d}",
        "object": "balance_transaction",
        "amount": amount,
        "available_on": created + 2 * 86_400,
        "created": created,
        "currency": "usd",
        "description": f"Order {n}",
        "exchange_rate": None,
        "fee": fee,
        "fee_details": [
            {
                "amount": fee,
                "application": None,
                "currency": "usd",
                "description": "Stripe processing fees",
                "type": "stripe_fee",
            }
        ],
        "net": amount - fee,
        "reporting_category": "charge",
        "source": f"ch_3Route{n}",
        "status": "pending",
        "type": "charge",
    }
    item.update(overrides)
    return item


async def seed(runtime: Runtime, user_id: str, items: list[dict[str, Any]]) -> None:
    async with transaction(runtime.sessions) as session:
        await get_or_create_user(session, user_id, None)
        await upsert_rows(
            session, StripeBalanceTransaction, user_id, [_row(item, ACCOUNT) for item in items]
        )


@pytest.fixture
async def seeded(runtime: Runtime) -> list[dict[str, Any]]:
    items = [stripe_object(n) for n in range(12)]
    items[3] = stripe_object(3, type="payout", amount=-5000, fee=0, net=-5000, fee_details=[])
    items[4] = stripe_object(4, currency="eur")
    items[5] = stripe_object(5, currency="jpy", amount=1500, fee=54, net=1446)
    items[6] = stripe_object(6, created=items[7]["created"])  # same second as item 7
    await seed(runtime, "user-a", items)
    await seed(runtime, "user-b", [stripe_object(100)])
    return items


async def pages(
    client: httpx2.AsyncClient, settings: Settings, limit: int, **params: str
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {"limit": str(limit), **params, **({"cursor": cursor} if cursor else {})}
        response = await client.get(
            "/api/stripe/transactions", params=query, headers=bearer(settings)
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["success"] is True
        found.extend(body["data"])
        cursor = body["meta"]["nextCursor"]
        if cursor is None:
            return found


async def test_transactions_page_newest_first_without_gaps(
    client: httpx2.AsyncClient, settings: Settings, seeded: list[dict[str, Any]]
) -> None:
    everything = await pages(client, settings, 5)
    assert len(everything) == 12
    assert len({item["id"] for item in everything}) == 12
    created = [item["created"] for item in everything]
    assert created == sorted(created, reverse=True)
    assert await pages(client, settings, 500) == everything
    assert "txn_1Route0000000000000000100" not in {item["id"] for item in everything}

    first = everything[-1]
    assert first == {
        "id": "txn_1Route0000000000000000000",
        "account": ACCOUNT,
        "type": "charge",
        "status": "available",  # available_on (2026-03-03) has passed
        "reportingCategory": "charge",
        "amount": {"amount": 1000, "currency": "USD"},
        "fee": {"amount": 59, "currency": "USD"},
        "net": {"amount": 941, "currency": "USD"},
        "exchangeRate": None,
        "feeDetails": [
            {
                "amount": {"amount": 59, "currency": "USD"},
                "type": "stripe_fee",
                "description": "Stripe processing fees",
                "application": None,
            }
        ],
        "description": "Order 0",
        "source": "ch_3Route0",
        "created": "2026-03-01T00:00:00Z",
        "availableOn": "2026-03-03T00:00:00Z",
        "syncedAt": first["syncedAt"],
    }
    yen = next(item for item in everything if item["amount"]["currency"] == "JPY")
    assert yen["amount"] == {"amount": 1500, "currency": "JPY"}  # zero-decimal: yen


async def test_transaction_filters(
    client: httpx2.AsyncClient, settings: Settings, seeded: list[dict[str, Any]]
) -> None:
    payouts = await pages(client, settings, 50, type="payout")
    assert [item["id"] for item in payouts] == [seeded[3]["id"]]
    for code in ("eur", "EUR"):
        euros = await pages(client, settings, 50, currency=code)
        assert [item["id"] for item in euros] == [seeded[4]["id"]]
    window = await pages(
        client,
        settings,
        50,
        **{"from": "2026-03-01T02:00:00Z", "to": "2026-03-01T05:00:00+00:00"},
    )
    assert [item["id"] for item in window] == [seeded[n]["id"] for n in (4, 3, 2)]


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"limit": "0"}, 422, "validation_error"),
        ({"limit": "501"}, 422, "validation_error"),
        ({"cursor": "not-a-cursor"}, 400, "invalid_cursor"),
        ({"from": "2026-03-01T00:00:00"}, 422, "validation_error"),  # no offset
        ({"currency": "dollars"}, 422, "validation_error"),
    ],
)
async def test_bad_list_parameters_are_4xx(
    client: httpx2.AsyncClient,
    settings: Settings,
    params: dict[str, str],
    status: int,
    code: str,
) -> None:
    response = await client.get("/api/stripe/transactions", params=params, headers=bearer(settings))
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


async def test_one_transaction_by_stripe_id_and_only_the_owners(
    client: httpx2.AsyncClient, settings: Settings, seeded: list[dict[str, Any]]
) -> None:
    mine = await client.get(f"/api/stripe/transactions/{seeded[3]['id']}", headers=bearer(settings))
    assert mine.status_code == 200
    assert mine.json()["data"]["type"] == "payout"
    assert mine.json()["data"]["amount"] == {"amount": -5000, "currency": "USD"}

    theirs = await client.get(
        "/api/stripe/transactions/txn_1Route0000000000000000100", headers=bearer(settings)
    )
    assert theirs.status_code == 404
    assert theirs.json()["error"]["code"] == "transaction_not_found"
    also_v1 = await client.get(
        f"/api/v1/stripe/transactions/{seeded[3]['id']}", headers=bearer(settings)
    )
    assert also_v1.status_code == 200
    anonymous = await client.get(f"/api/stripe/transactions/{seeded[3]['id']}")
    assert anonymous.status_code == 401


async def test_status_is_not_found_then_created(
    client: httpx2.AsyncClient, settings: Settings, runtime: Runtime
) -> None:
    response = await client.get("/api/stripe/status", headers=bearer(settings))
    assert response.json() == {"success": True, "status": "not_found"}
    async with transaction(runtime.sessions) as session:
        await get_or_create_user(session, "user-a", None)
        session.add(StripeAccount(user_id="user-a", stripe_account_id="acct_1Express00000001"))
    response = await client.get("/api/stripe/status", headers=bearer(settings))
    assert response.json() == {"success": True, "status": "created"}
    other = await client.get("/api/stripe/status", headers=bearer(settings, "user-b"))
    assert other.json() == {"success": True, "status": "not_found"}


async def test_account_is_the_connected_one_as_stripe_describes_it(
    seller: Seller, live_server: LiveServer, http: httpx2.AsyncClient
) -> None:
    nothing = await seller.http.get("/api/stripe/account", headers=seller.auth)
    assert nothing.status_code == 404
    assert nothing.json()["error"]["code"] == "stripe_account_not_found"

    account = (await seller.connect("stripe"))["accountId"]
    response = await seller.http.get("/api/stripe/account", headers=seller.auth)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data == {
        "id": account,
        "connection": "oauth",
        "type": "standard",
        "email": "payouts@acme.example",
        "country": "US",
        "defaultCurrency": "USD",
        "businessName": "Sandbox Seller",
        "chargesEnabled": True,
        "payoutsEnabled": True,
        "detailsSubmitted": True,
        "requirementsCurrentlyDue": [],
        "created": data["created"],
    }

    # Deauthorized at Stripe (before its webhook arrives): no access any more, a 404.
    await http.post("/sandbox/_admin/stripe/revoke", json={"subject": account})
    gone = await seller.http.get("/api/stripe/account", headers=seller.auth)
    assert gone.status_code == 404


async def test_account_falls_back_to_the_express_account(
    seller: Seller, live_runtime: Runtime, http: httpx2.AsyncClient, live_server: LiveServer
) -> None:
    from opside_hub.onboarding.service import create_express_account

    async with transaction(live_runtime.sessions) as session:
        await get_or_create_user(session, seller.user_id, "seller@shop.example")
    result = await create_express_account(live_runtime, seller.user_id)
    assert result.outcome == "created"
    response = await seller.http.get("/api/stripe/account", headers=seller.auth)
    data = response.json()["data"]
    assert (data["id"], data["connection"], data["type"]) == (
        result.stripe_account_id,
        "express",
        "express",
    )
    assert data["email"] == "seller@shop.example"
    assert not data["chargesEnabled"]
    assert "external_account" in data["requirementsCurrentlyDue"]
    # Stripe decides: faults surface as a provider error, never a 500.
    await admin(http, "/faults", {"method": "GET", "path": "/v1/account", "statuses": [400]})
    failed = await seller.http.get("/api/stripe/account", headers=seller.auth)
    assert failed.status_code == 502
    assert failed.json()["error"]["code"] == "stripe_error"
