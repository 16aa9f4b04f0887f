"""`/api/cases` and `/api/mcde/documents` over HTTP, with real cases built from raw rows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx2
import pytest

from opside_hub.config import Settings
from opside_hub.core.queue import JobContext
from opside_hub.ledger import tasks
from opside_hub.ledger.service import build_cases
from opside_hub.runtime import Runtime
from tests.conftest import bearer
from tests.ledger.helpers import T0, count_cases, ledger_event, reimbursement, reversal, seed

USER = "user-a"


def _document(document_id: str = "doc-1", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "documentId": document_id,
        "sku": "SKU-A",
        "asin": "B00SKU-A",
        "unitManufacturingCost": {"amount": 412, "currency": "USD"},
        "supplier": "Shenzhen Widgets Ltd",
        "documentDate": "2024-11-02",
        "source": "invoice",
    }
    body.update(overrides)
    return body


async def _post(
    client: httpx2.AsyncClient, settings: Settings, documents: list[Any], user: str = USER
) -> httpx2.Response:
    return await client.post(
        "/api/mcde/documents", json={"documents": documents}, headers=bearer(settings, user)
    )


async def _build(runtime: Runtime, user: str = USER) -> None:
    await build_cases(runtime, user, sync_id=None)


async def _all_pages(
    client: httpx2.AsyncClient, settings: Settings, query: str = "", limit: int = 3
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(100):
        url = f"/api/cases?limit={limit}{query}" + (f"&cursor={cursor}" if cursor else "")
        response = await client.get(url, headers=bearer(settings))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["success"] is True
        items.extend(body["data"])
        cursor = body["meta"]["nextCursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination did not end")


# -- POST /api/mcde/documents ----------------------------------------------------------------


COST = "body.documents.1.unitManufacturingCost"


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (_document(sku=None, asin=None), "body.documents.1"),
        (_document(unitManufacturingCost={"amount": 4.12, "currency": "USD"}), f"{COST}.amount"),
        (_document(unitManufacturingCost={"amount": "412", "currency": "USD"}), f"{COST}.amount"),
        (_document(unitManufacturingCost={"amount": -1, "currency": "USD"}), f"{COST}.amount"),
        (_document(unitManufacturingCost={"amount": 4, "currency": "US"}), f"{COST}.currency"),
        (_document(unitManufacturingCost={"amount": 4}), f"{COST}.currency"),
        (_document(documentDate="yesterday"), "body.documents.1.documentDate"),
        (_document(documentId=""), "body.documents.1.documentId"),
        (_document(asin="B" * 33), "body.documents.1.asin"),
        ({"sku": "SKU-A"}, "body.documents.1.documentId"),
    ],
)
async def test_invalid_documents_are_422_with_field_details(
    client: httpx2.AsyncClient, settings: Settings, document: dict[str, Any], field: str
) -> None:
    response = await _post(client, settings, [_document("ok"), document])
    assert response.status_code == 422
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "validation_error"
    assert field in [detail["field"] for detail in body["error"]["details"]]


async def test_batches_are_bounded_and_ids_unique(
    client: httpx2.AsyncClient, settings: Settings
) -> None:
    too_many = await _post(client, settings, [_document(f"d{n}") for n in range(501)])
    empty = await _post(client, settings, [])
    twice = await _post(client, settings, [_document("same"), _document("same")])
    for response in (too_many, empty, twice):
        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == "body.documents"
    assert "appears twice" in twice.json()["error"]["message"]


async def test_registration_is_idempotent_by_document_id(
    client: httpx2.AsyncClient, settings: Settings, runtime: Runtime
) -> None:
    first = await _post(client, settings, [_document("d1"), _document("d2", sku=None)])
    again = await _post(client, settings, [_document("d1"), _document("d2", sku=None)])
    changed = await _post(
        client,
        settings,
        [_document("d1", unitManufacturingCost={"amount": 500, "currency": "usd"})],
    )

    assert first.status_code == 200, first.text
    assert first.json()["data"] | {"documents": None} == {
        "received": 2,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "linking": "queued",
        "documents": None,
    }
    assert again.json()["data"]["unchanged"] == 2
    assert again.json()["data"]["linking"] == "not_needed"
    assert changed.json()["data"]["documents"] == [{"documentId": "d1", "status": "updated"}]
    assert await runtime.queue.count("queued") == 2  # one link job per registration that changed


async def test_documents_link_through_the_job_and_show_on_the_case(
    client: httpx2.AsyncClient, settings: Settings, runtime: Runtime
) -> None:
    await seed(runtime, USER, reimbursements=[reimbursement("R1", "SKU-A")])
    await _build(runtime)
    response = await _post(client, settings, [_document("d1", documentDate="2025-02-01")])
    assert response.json()["data"]["linking"] == "queued"
    ctx: JobContext = {"runtime": runtime}  # type: ignore[typeddict-item]
    await tasks.link_documents(ctx, user_id=USER)

    [item] = (await client.get("/api/cases", headers=bearer(settings))).json()["data"]
    detail = (await client.get(f"/api/cases/{item['id']}", headers=bearer(settings))).json()

    assert (item["caseStatus"], item["mcdeDocId"], item["linkedAfterEvent"]) == (
        "linked",
        "d1",
        True,
    )
    case = detail["data"]
    assert case["mcdeDocument"] == {
        "documentId": "d1",
        "sku": "SKU-A",
        "asin": "B00SKU-A",
        "unitManufacturingCost": {"amount": 412, "currency": "USD"},
        "supplier": "Shenzhen Widgets Ltd",
        "documentDate": "2025-02-01",
        "source": "invoice",
        "createdAt": case["mcdeDocument"]["createdAt"],
        "updatedAt": case["mcdeDocument"]["updatedAt"],
    }
    assert [entry["action"] for entry in case["auditLog"]] == ["created", "linked"]
    assert case["auditLog"][1]["actor"] == "mcde"
    assert case["auditLog"][1]["document"]["linkedAfterEvent"] is True
    assert case["rawData"]["reimbursements"][0]["rowKey"] == "R1|SKU-A||"


# -- GET /api/cases --------------------------------------------------------------------------


async def _ledger(runtime: Runtime) -> None:
    await seed(
        runtime,
        USER,
        reimbursements=[
            reimbursement(f"R{n}", f"SKU-{n % 3}", approved_at=T0 + timedelta(days=n // 2))
            for n in range(10)
        ]
        + [
            reimbursement("J1", "SKU-J", currency="JPY", amount_total=1500, amount_per_unit=750),
            reversal("V1", "R1", "SKU-1"),
        ],
        ledger=[ledger_event("lost", sku="SKU-L", reason="E", quantity=-1)],
    )
    await _build(runtime)


async def test_pages_never_skip_or_repeat(
    client: httpx2.AsyncClient, settings: Settings, runtime: Runtime
) -> None:
    await _ledger(runtime)
    items = await _all_pages(client, settings, limit=3)
    ids = [item["id"] for item in items]
    assert len(ids) == len(set(ids)) == await count_cases(runtime, USER) == 12
    events = [item["normalized"]["eventAt"] for item in items]
    assert events == sorted(events, reverse=True)
    for limit in (1, 5, 500):
        assert [i["id"] for i in await _all_pages(client, settings, limit=limit)] == ids


async def test_case_items_carry_typed_fields_and_money(
    client: httpx2.AsyncClient, settings: Settings, runtime: Runtime
) -> None:
    await _ledger(runtime)
    items = {i["claimId"]: i for i in await _all_pages(client, settings, limit=500)}
    jpy = items["J1:SKU-J"]
    assert set(jpy) == {
        "id",
        "claimId",
        "caseStatus",
        "mcdeDocId",
        "linkedAfterEvent",
        "normalized",
        "syncedAt",
        "createdAt",
    }
    assert jpy["normalized"]["amountTotal"] == {"amount": 1500, "currency": "JPY"}
    assert jpy["normalized"]["amountPerUnit"] == {"amount": 750, "currency": "JPY"}
    assert jpy["normalized"]["eventDate"] == "2025-01-10"
    assert jpy["syncedAt"].endswith("Z") or "+00:00" in jpy["syncedAt"]
    reversed_ = items["R1:SKU-1"]
    assert reversed_["caseStatus"] == "reversed"
    assert reversed_["normalized"]["netAmount"] == {"amount": 0, "currency": "USD"}
    assert reversed_["normalized"]["reversals"][0]["amount"] == {"amount": -1000, "currency": "USD"}
    detected = items["ledger:lost"]
    assert detected["caseStatus"] == "detected"
    assert detected["normalized"]["amountTotal"] is None
    assert detected["normalized"]["quantityUnreimbursed"] == 1


async def test_filters(client: httpx2.AsyncClient, settings: Settings, runtime: Runtime) -> None:
    await _ledger(runtime)
    await _post(client, settings, [_document("d1", sku="SKU-2", documentDate="2024-01-01")])
    await tasks.link_documents({"runtime": runtime}, user_id=USER)  # type: ignore[typeddict-item]

    async def claims(query: str) -> list[str]:
        return sorted(i["claimId"] for i in await _all_pages(client, settings, query, limit=500))

    assert await claims("&status=reversed") == ["R1:SKU-1"]
    assert await claims("&status=detected") == ["ledger:lost"]
    assert await claims("&sku=SKU-0") == ["R0:SKU-0", "R3:SKU-0", "R6:SKU-0", "R9:SKU-0"]
    assert await claims("&asin=B00SKU-J") == ["J1:SKU-J"]
    assert await claims("&reason=Damaged_Warehouse") == ["ledger:lost"]
    assert await claims("&linked=true") == ["R2:SKU-2", "R5:SKU-2", "R8:SKU-2"]
    assert len(await claims("&linked=false")) == 9
    assert await claims("&status=linked&sku=SKU-2") == ["R2:SKU-2", "R5:SKU-2", "R8:SKU-2"]
    # R8, R9 were approved on 2025-01-14 (T0 + 4 days); `to` is exclusive.
    assert await claims("&from=2025-01-14") == ["R8:SKU-2", "R9:SKU-0"]
    assert await claims("&from=2025-01-14T12:00:00%2B00:00") == ["R8:SKU-2", "R9:SKU-0"]
    assert await claims("&from=2025-01-14T12:00:01Z") == []
    assert await claims("&from=2025-01-13&to=2025-01-14") == ["R6:SKU-0", "R7:SKU-1"]
    assert await claims("&from=2025-01-14T13:00:00%2B01:00&to=2025-01-14T12:00:01Z") == [
        "R8:SKU-2",
        "R9:SKU-0",
    ]


@pytest.mark.parametrize(
    "query",
    [
        "from=2025-01-14T12:00:00",
        "from=not-a-date",
        "to=2025-13-01",
        "linked=maybe",
        "limit=501",
        "limit=0",
    ],
)
async def test_bad_filters_are_422(
    client: httpx2.AsyncClient, settings: Settings, query: str
) -> None:
    response = await client.get(f"/api/cases?{query}", headers=bearer(settings))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


async def test_bad_cursor_is_400(client: httpx2.AsyncClient, settings: Settings) -> None:
    for cursor in ("garbage!", "WzEsMiwzXQ"):  # not base64 JSON / [1,2,3]
        response = await client.get(f"/api/cases?cursor={cursor}", headers=bearer(settings))
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_cursor"


async def test_another_users_case_is_404_and_invisible(
    client: httpx2.AsyncClient, settings: Settings, runtime: Runtime
) -> None:
    await seed(runtime, "user-b", reimbursements=[reimbursement("R1", "SKU-A")])
    await _build(runtime, "user-b")
    other = await client.get("/api/cases", headers=bearer(settings, "user-b"))
    [case] = other.json()["data"]

    mine = await client.get("/api/cases", headers=bearer(settings))
    stolen = await client.get(f"/api/cases/{case['id']}", headers=bearer(settings))
    missing = await client.get("/api/v1/cases/no-such-case", headers=bearer(settings))
    owner = await client.get(f"/api/v1/cases/{case['id']}", headers=bearer(settings, "user-b"))

    assert mine.json()["data"] == []
    assert stolen.status_code == 404
    assert stolen.json()["error"]["code"] == "case_not_found"
    assert missing.status_code == 404
    assert owner.status_code == 200
    assert owner.json()["data"]["claimId"] == "R1:SKU-A"


async def test_routes_need_a_token(client: httpx2.AsyncClient) -> None:
    assert (await client.get("/api/cases")).status_code == 401
    assert (await client.post("/api/mcde/documents", json={"documents": []})).status_code == 401
