from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2

from opside_hub.auth.repository import get_or_create_user
from opside_hub.config import Settings
from opside_hub.db.bulk import upsert_rows
from opside_hub.db.models import AmazonFinancialEvent, AmazonInventory, AmazonReimbursement
from opside_hub.db.session import transaction
from opside_hub.runtime import Runtime
from tests.conftest import bearer

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _reimbursement(n: int, **extra: Any) -> dict[str, Any]:
    row = {
        "row_key": f"R{n}|SKU-{n % 3}||",
        "reimbursement_id": f"R{n}",
        "sku": f"SKU-{n % 3}",
        "asin": f"B00{n % 3}",
        "reason": "Lost_Warehouse" if n % 2 else "Damaged_Warehouse",
        "currency": "USD",
        "amount_per_unit": 500,
        "amount_total": 1000 + n,
        "quantity_cash": 2,
        "approved_at": T0 + timedelta(days=n),
        "raw": {"n": n},
    }
    row.update(extra)
    return row


async def _seed(runtime: Runtime, user_id: str, count: int = 25) -> None:
    async with transaction(runtime.sessions) as session:
        await get_or_create_user(session, user_id, None)
        await upsert_rows(
            session, AmazonReimbursement, user_id, [_reimbursement(n) for n in range(count)]
        )
        await upsert_rows(
            session,
            AmazonReimbursement,
            user_id,
            [
                _reimbursement(
                    999,
                    row_key="R999|SKU-1|R1|Reimbursement_Reversal",
                    sku="SKU-1",
                    original_reimbursement_id="R1",
                    amount_total=-1001,
                )
            ],
        )
        await upsert_rows(
            session,
            AmazonFinancialEvent,
            user_id,
            [
                {
                    "row_key": "adj-1",
                    "event_group": "AdjustmentEvent",
                    "event_type": "WAREHOUSE_DAMAGE",
                    "posted_at": T0 + timedelta(days=100),
                    "sku": "SKU-2",
                    "amount": 777,
                    "currency": "EUR",
                    "quantity": 1,
                    "raw": {"a": 1},
                },
                {
                    "row_key": "fee-1",
                    "event_group": "ServiceFeeEvent",
                    "event_type": "FBAStorageFee",
                    "posted_at": T0,
                    "amount": -250,
                    "currency": "USD",
                    "raw": {"f": 1},
                },
            ],
        )
        await upsert_rows(
            session,
            AmazonInventory,
            user_id,
            [
                {
                    "row_key": f"ATVPDKIKX0DER|SKU-{n}",
                    "marketplace_id": "ATVPDKIKX0DER",
                    "sku": f"SKU-{n}",
                    "total_quantity": n,
                    "raw": {"n": n},
                }
                for n in range(7)
            ],
        )


async def _all_pages(client: httpx2.AsyncClient, url: str, headers: dict[str, str]) -> list[Any]:
    items: list[Any] = []
    cursor = None
    while True:
        answer = await client.get(
            url, headers=headers, params={"limit": 4, **({"cursor": cursor} if cursor else {})}
        )
        assert answer.status_code == 200, answer.text
        items.extend(answer.json()["data"])
        cursor = answer.json()["meta"]["nextCursor"]
        if cursor is None:
            return items


async def test_claims_page_through_everything_once_newest_first(
    runtime: Runtime, client: httpx2.AsyncClient, settings: Settings
) -> None:
    await _seed(runtime, "a")

    claims = await _all_pages(client, "/api/amazon/claims", bearer(settings, "a"))

    assert len(claims) == 27
    assert len({c["claimId"] for c in claims}) == 27
    dates = [c["approvedAt"] for c in claims]
    assert dates == sorted(dates, reverse=True)
    reversal = next(c for c in claims if c["reimbursementId"] == "R999")
    assert reversal["claimId"] == "R999:SKU-1:R1:Reimbursement_Reversal"
    assert reversal["status"] == "reversal"
    assert reversal["amount"] == {"amount": -1001, "currency": "USD"}
    adjustment = next(c for c in claims if c["source"] == "adjustment")
    assert adjustment["amount"] == {"amount": 777, "currency": "EUR"}
    plain = next(c for c in claims if c["reimbursementId"] == "R3")
    assert plain["claimId"] == "R3:SKU-0"
    assert plain["amountPerUnit"] == {"amount": 500, "currency": "USD"}


async def test_claims_filters(
    runtime: Runtime, client: httpx2.AsyncClient, settings: Settings
) -> None:
    await _seed(runtime, "a")
    headers = bearer(settings, "a")

    async def ids(**params: str) -> set[str]:
        answer = await client.get(
            "/api/amazon/claims", headers=headers, params={"limit": "500", **params}
        )
        assert answer.status_code == 200, answer.text
        return {c["reimbursementId"] or c["claimId"] for c in answer.json()["data"]}

    assert await ids(sku="SKU-0") == {f"R{n}" for n in range(0, 25, 3)}
    assert await ids(source="adjustment") == {"adj:adj-1"}
    assert await ids(status="reversal") == {"R999"}
    assert await ids(reason="Lost_Warehouse", sku="SKU-1") == {"R1", "R7", "R13", "R19", "R999"}
    assert await ids(**{"from": "2025-01-03T00:00:00Z", "to": "2025-01-05T00:00:00Z"}) == {
        "R2",
        "R3",
    }


async def test_claims_refuse_bad_input(
    runtime: Runtime, client: httpx2.AsyncClient, settings: Settings
) -> None:
    headers = bearer(settings, "a")
    for params, code in (
        ({"limit": "0"}, 422),
        ({"limit": "501"}, 422),
        ({"cursor": "%%%"}, 400),
        ({"status": "nope"}, 422),
        ({"from": "2025-01-01T00:00:00"}, 422),
        ({"from": "yesterday"}, 422),
    ):
        answer = await client.get("/api/amazon/claims", headers=headers, params=params)
        assert answer.status_code == code, (params, answer.text)
        assert answer.json()["success"] is False


async def test_other_users_data_is_invisible(
    runtime: Runtime, client: httpx2.AsyncClient, settings: Settings
) -> None:
    await _seed(runtime, "a")
    headers = bearer(settings, "b")

    for path in ("/api/amazon/claims", "/api/amazon/inventory", "/api/amazon/fees"):
        answer = await client.get(path, headers=headers)
        assert answer.json()["data"] == [], path


async def test_inventory_and_fees(
    runtime: Runtime, client: httpx2.AsyncClient, settings: Settings
) -> None:
    await _seed(runtime, "a")
    headers = bearer(settings, "a")

    inventory = await _all_pages(client, "/api/amazon/inventory", headers)
    fees = (await client.get("/api/amazon/fees", headers=headers)).json()["data"]

    assert [item["sku"] for item in inventory] == [f"SKU-{n}" for n in range(7)]
    assert fees == [
        {
            "id": "fee:fee-1",
            "source": "financial_event",
            "eventGroup": "ServiceFeeEvent",
            "feeType": "FBAStorageFee",
            "postedAt": "2025-01-01T00:00:00Z",
            "amazonOrderId": None,
            "sku": None,
            "asin": None,
            "quantity": 0,
            "amount": {"amount": -250, "currency": "USD"},
            "description": None,
        }
    ]
