"""Input the API cannot honour is a 422 with a reason, on both backends, never a 500.

Found by the fuzz suite (tests/fuzz): a NUL character in a filter or a JSON string made
PostgreSQL fail the query (500); a number given for a timestamp or a date was read as a Unix time.
"""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from opside_hub.config import Settings
from tests.api.test_errors import assert_envelope
from tests.conftest import bearer


def _document(**fields: Any) -> dict[str, Any]:
    document = {
        "documentId": "doc-1",
        "sku": "SKU-1",
        "unitManufacturingCost": {"amount": 1250, "currency": "USD"},
        "documentDate": "2025-01-31",
    }
    return {"documents": [{**document, **fields}]}


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/amazon/claims?sku=a%00b", "query.sku"),
        ("/api/v1/stripe/transactions?type=%00", "query.type"),
        ("/api/cases/case%00id", "path.case_id"),
        ("/api/sync/status/x%00", "path.sync_id"),
    ],
)
async def test_a_nul_character_in_the_url_is_422(
    client: httpx2.AsyncClient, settings: Settings, path: str, field: str
) -> None:
    error = assert_envelope(
        await client.get(path, headers=bearer(settings)), 422, "validation_error"
    )
    assert error["details"] == [
        {"field": field, "message": "contains U+0000", "type": "string_nul"}
    ]


async def test_a_nul_character_in_a_json_body_is_422(
    client: httpx2.AsyncClient, settings: Settings
) -> None:
    response = await client.post(
        "/api/mcde/documents", json=_document(supplier="Acme\x00"), headers=bearer(settings)
    )

    error = assert_envelope(response, 422, "validation_error")
    assert error["details"][0]["field"] == "body"


async def test_the_text_backslash_u0000_is_an_ordinary_string(
    client: httpx2.AsyncClient, settings: Settings
) -> None:
    response = await client.post(
        "/api/mcde/documents", json=_document(supplier="Acme \\u0000"), headers=bearer(settings)
    )

    assert response.status_code == 200, response.text


@pytest.mark.parametrize("value", ["0.5", "1700000000", "yesterday"])
async def test_a_timestamp_filter_takes_iso_8601_only(
    client: httpx2.AsyncClient, settings: Settings, value: str
) -> None:
    response = await client.get(
        "/api/stripe/transactions", params={"from": value}, headers=bearer(settings)
    )

    error = assert_envelope(response, 422, "validation_error")
    assert error["details"][0]["field"] == "query.from"


async def test_an_iso_8601_timestamp_filter_is_accepted(
    client: httpx2.AsyncClient, settings: Settings
) -> None:
    response = await client.get(
        "/api/amazon/fees", params={"from": "2025-01-31T00:00:00Z"}, headers=bearer(settings)
    )

    assert response.status_code == 200, response.text


@pytest.mark.parametrize("value", [0, 1700000000, "1700000000", "31/01/2025"])
async def test_an_mcde_document_date_is_an_iso_8601_date(
    client: httpx2.AsyncClient, settings: Settings, value: object
) -> None:
    response = await client.post(
        "/api/mcde/documents", json=_document(documentDate=value), headers=bearer(settings)
    )

    error = assert_envelope(response, 422, "validation_error")
    assert error["details"][0]["field"] == "body.documents.0.documentDate"
