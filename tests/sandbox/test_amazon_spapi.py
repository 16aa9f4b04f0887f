"""The sandbox Selling Partner API over real HTTP: each operation's answers match Amazon's model
(schemas, status codes, error bodies, headers), reports live and die as Amazon's do, and the
data served is the generator's truth."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
import pytest

from opside_hub.sandbox.amazon import data
from opside_hub.sandbox.amazon.data import (
    LEDGER_REPORT,
    REIMBURSEMENTS_REPORT,
    expected_financial_events,
    expected_inventory,
    expected_ledger_events,
    expected_reimbursements,
)
from opside_hub.sandbox.amazon.spapi import service
from opside_hub.sandbox.amazon.spapi.guard import UNLIMITED_RATE, format_rate
from opside_hub.sandbox.oauth_store import expire_access_tokens, revoke_subject
from tests.sandbox.spapi import Seller, SpApi, assert_model, gunzip_rows, spapi_server

US = "ATVPDKIKX0DER"
CA = "A2EUQ1WTGCTBG2"
REPORTS = "/reports/2021-06-30/reports"
REPORT = "/reports/2021-06-30/reports/{reportId}"
DOCUMENT = "/reports/2021-06-30/documents/{reportDocumentId}"
FINANCES = "/finances/v0/financialEvents"
INVENTORY = "/fba/inventory/v1/summaries"
PARTICIPATIONS = "/sellers/v1/marketplaceParticipations"


@pytest.fixture
async def spapi(database_url: str, redis_url: str) -> AsyncIterator[SpApi]:
    async with spapi_server(database_url, redis_url) as server:
        yield server


@pytest.fixture
async def acme(spapi: SpApi) -> Seller:
    return await spapi.seller("Acme Goods")


def z(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def hour_floor(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


async def create(
    spapi: SpApi,
    seller: Seller,
    report_type: str,
    start: datetime,
    end: datetime,
    marketplaces: tuple[str, ...] = (US,),
) -> str:
    response = await spapi.http.post(
        REPORTS,
        headers=seller.headers,
        json={
            "reportType": report_type,
            "dataStartTime": z(start),
            "dataEndTime": z(end),
            "marketplaceIds": list(marketplaces),
        },
    )
    assert response.status_code == 202, response.text
    body = assert_model(response, "POST", REPORTS)
    report_id: str = body["reportId"]
    return report_id


async def report(spapi: SpApi, seller: Seller, report_id: str) -> dict[str, object]:
    response = await spapi.http.get(f"{REPORTS}/{report_id}", headers=seller.headers)
    assert response.status_code == 200, response.text
    body: dict[str, object] = assert_model(response, "GET", REPORT)
    return body


async def document(spapi: SpApi, seller: Seller, document_id: str, **params: str) -> dict[str, str]:
    response = await spapi.http.get(
        f"/reports/2021-06-30/documents/{document_id}", headers=seller.headers, params=params
    )
    assert response.status_code == 200, response.text
    body: dict[str, str] = assert_model(response, "GET", DOCUMENT)
    return body


# -- Sellers ---------------------------------------------------------------------------------


async def test_marketplace_participations_are_the_sellers_own(spapi: SpApi, acme: Seller) -> None:
    response = await spapi.http.get(PARTICIPATIONS, headers=acme.headers)

    assert response.status_code == 200
    body = assert_model(response, "GET", PARTICIPATIONS)
    ids = [item["marketplace"]["id"] for item in body["payload"]]
    assert ids[0] == US
    assert set(ids) <= {US, CA}
    assert body["payload"][0]["storeName"] == "Acme Goods"
    # Quotas are off in this server (FAST): it announces a rate no client will reach.
    assert response.headers["x-amzn-RateLimit-Limit"] == format_rate(UNLIMITED_RATE)
    again = await spapi.http.get(PARTICIPATIONS, headers=acme.headers)
    assert again.json() == body
    # Deterministic per seller, and sellers differ: some sell in Canada, some do not.
    spread = {len(data.SellerData(f"A{n:013d}").marketplaces()) for n in range(40)}
    assert spread == {1, 2}


@pytest.mark.parametrize(
    ("headers", "details"),
    [
        ({}, "Access token is missing in the request header."),
        (
            {"x-amz-access-token": "Atza|never-issued"},
            "The access token you provided is revoked, malformed or invalid.",
        ),
    ],
)
async def test_missing_or_unknown_token_is_403_unauthorized(
    spapi: SpApi, headers: dict[str, str], details: str
) -> None:
    response = await spapi.http.get(PARTICIPATIONS, headers=headers)

    assert response.status_code == 403
    body = assert_model(response, "GET", PARTICIPATIONS)
    assert body == {
        "errors": [
            {
                "code": "Unauthorized",
                "message": "Access to requested resource is denied.",
                "details": details,
            }
        ]
    }


async def test_expired_and_revoked_tokens_are_refused(spapi: SpApi, acme: Seller) -> None:
    runtime = spapi.runtime
    await expire_access_tokens(runtime.redis, runtime.redis_server.key, "amazon", token=acme.token)
    expired = await spapi.http.get(REPORTS, headers=acme.headers, params={"reportTypes": "X"})
    assert expired.status_code == 403
    assert_model(expired, "GET", REPORTS)
    assert expired.json()["errors"][0]["details"] == "The access token you provided has expired."

    other = await spapi.seller("Other Goods")
    await revoke_subject(runtime.redis, runtime.redis_server.key, "amazon", other.seller_id)
    revoked = await spapi.http.get(PARTICIPATIONS, headers=other.headers)
    assert revoked.status_code == 403
    assert "revoked" in revoked.json()["errors"][0]["details"]


# -- Reports: lifecycle and documents --------------------------------------------------------


async def test_report_lifecycle_document_and_rows(database_url: str, redis_url: str) -> None:
    async with spapi_server(database_url, redis_url, sandbox_report_delay_seconds=4.0) as spapi:
        seller = await spapi.seller()
        end = hour_floor(datetime.now(UTC))
        start = end - timedelta(days=180)
        report_id = await create(spapi, seller, REIMBURSEMENTS_REPORT, start, end, (US, CA))

        queued = await report(spapi, seller, report_id)
        assert queued["processingStatus"] == "IN_QUEUE"
        assert "reportDocumentId" not in queued
        assert queued["marketplaceIds"] == [US, CA]
        assert datetime.fromisoformat(str(queued["dataStartTime"])) == start
        await asyncio.sleep(2.5)  # queued for half the delay, then in progress
        running = await report(spapi, seller, report_id)
        assert running["processingStatus"] == "IN_PROGRESS"
        assert "processingStartTime" in running
        await asyncio.sleep(2.0)
        done = await report(spapi, seller, report_id)
        assert done["processingStatus"] == "DONE"
        assert "processingEndTime" in done

        info = await document(spapi, seller, str(done["reportDocumentId"]))
        assert info["compressionAlgorithm"] == "GZIP"
        assert info["url"].startswith(f"{spapi.live.url}/sandbox/amazon/_documents/")
        download = await spapi.http.get(info["url"])  # pre-signed: no SP-API token
        assert download.status_code == 200
        assert download.headers["content-type"] == "text/plain; charset=UTF-8"
        assert "content-encoding" not in download.headers
        rows = gunzip_rows(download.content)
        assert rows == list(expected_reimbursements(seller.seller_id, start, end))
        assert len(rows) > 50
        assert list(rows[0]) == list(data.REIMBURSEMENT_COLUMNS)


async def test_ledger_report_rows_are_the_truth(spapi: SpApi, acme: Seller) -> None:
    end = hour_floor(datetime.now(UTC))
    start = end - timedelta(days=120)
    report_id = await create(spapi, acme, LEDGER_REPORT, start, end)
    done = await report(spapi, acme, report_id)
    info = await document(spapi, acme, str(done["reportDocumentId"]))

    rows = gunzip_rows((await spapi.http.get(info["url"])).content)

    assert rows == list(expected_ledger_events(acme.seller_id, start, end))
    assert list(rows[0]) == list(data.LEDGER_COLUMNS)


async def test_content_encoding_header_on_request(spapi: SpApi, acme: Seller) -> None:
    end = datetime.now(UTC)
    report_id = await create(spapi, acme, REIMBURSEMENTS_REPORT, end - timedelta(days=90), end)
    done = await report(spapi, acme, report_id)

    info = await document(
        spapi, acme, str(done["reportDocumentId"]), enableContentEncodingUrlHeader="true"
    )
    download = await spapi.http.get(info["url"])

    assert download.headers["content-encoding"] == "gzip"
    assert download.text.startswith("approval-date\treimbursement-id")  # decoded by the client


async def test_a_window_without_data_ends_cancelled(spapi: SpApi, acme: Seller) -> None:
    ancient = datetime(2019, 1, 1, tzinfo=UTC)  # beyond the 18 months Amazon keeps
    report_id = await create(
        spapi, acme, REIMBURSEMENTS_REPORT, ancient, ancient + timedelta(days=30)
    )
    tiny_end = datetime.now(UTC) - timedelta(days=3)
    quiet = None
    for minutes in range(1, 200):  # a recent window too short to hold an event
        start = tiny_end - timedelta(minutes=minutes)
        if not list(expected_reimbursements(acme.seller_id, start, start + timedelta(seconds=30))):
            quiet = start
            break
    assert quiet is not None
    quiet_id = await create(
        spapi, acme, REIMBURSEMENTS_REPORT, quiet, quiet + timedelta(seconds=30)
    )

    for rid in (report_id, quiet_id):
        body = await report(spapi, acme, rid)
        assert body["processingStatus"] == "CANCELLED"
        assert "reportDocumentId" not in body
        assert "processingEndTime" in body


async def test_cancel_report_only_while_queued(database_url: str, redis_url: str) -> None:
    async with spapi_server(database_url, redis_url, sandbox_report_delay_seconds=60) as spapi:
        seller = await spapi.seller()
        end = datetime.now(UTC)
        report_id = await create(
            spapi, seller, REIMBURSEMENTS_REPORT, end - timedelta(days=30), end
        )

        cancelled = await spapi.http.delete(f"{REPORTS}/{report_id}", headers=seller.headers)
        assert cancelled.status_code == 200
        assert (await report(spapi, seller, report_id))["processingStatus"] == "CANCELLED"
        again = await spapi.http.delete(f"{REPORTS}/{report_id}", headers=seller.headers)
        assert again.status_code == 400
        assert_model(again, "DELETE", REPORT)
        assert again.json()["errors"][0]["code"] == "InvalidInput"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"reportType": "GET_MERCHANT_LISTINGS_ALL_DATA", "marketplaceIds": [US]}, "report type"),
        ({"reportType": REIMBURSEMENTS_REPORT}, "marketplaceIds"),
        ({"reportType": REIMBURSEMENTS_REPORT, "marketplaceIds": []}, "marketplaceIds"),
        ({"reportType": REIMBURSEMENTS_REPORT, "marketplaceIds": ["NOPE"]}, "marketplace"),
        (
            {
                "reportType": REIMBURSEMENTS_REPORT,
                "marketplaceIds": [US],
                "dataStartTime": "yesterday",
            },
            "dataStartTime",
        ),
        (
            {
                "reportType": REIMBURSEMENTS_REPORT,
                "marketplaceIds": [US],
                "dataStartTime": "2024-02-01T00:00:00Z",
                "dataEndTime": "2024-01-01T00:00:00Z",
            },
            "dataStartTime",
        ),
    ],
)
async def test_create_report_rejects_bad_input(
    spapi: SpApi, acme: Seller, body: dict[str, object], needle: str
) -> None:
    response = await spapi.http.post(REPORTS, headers=acme.headers, json=body)

    assert response.status_code == 400, response.text
    errors = assert_model(response, "POST", REPORTS)["errors"]
    assert errors[0]["code"] == "InvalidInput"
    assert needle.lower() in (errors[0]["message"] + errors[0].get("details", "")).lower()


async def test_get_reports_filters_and_pages(spapi: SpApi, acme: Seller) -> None:
    end = hour_floor(datetime.now(UTC))
    created = [
        await create(
            spapi,
            acme,
            REIMBURSEMENTS_REPORT,
            end - timedelta(days=d + 30),
            end - timedelta(days=d),
        )
        for d in (0, 30, 60)
    ]
    ledger = await create(spapi, acme, LEDGER_REPORT, end - timedelta(days=30), end)
    other = await spapi.seller("Someone Else")
    await create(spapi, other, REIMBURSEMENTS_REPORT, end - timedelta(days=30), end)

    first = await spapi.http.get(
        REPORTS, headers=acme.headers, params={"reportTypes": REIMBURSEMENTS_REPORT, "pageSize": 2}
    )
    body = assert_model(first, "GET", REPORTS)
    assert [r["reportId"] for r in body["reports"]] == created[::-1][:2]  # newest first
    mixed = await spapi.http.get(
        REPORTS, headers=acme.headers, params={"nextToken": body["nextToken"], "pageSize": 2}
    )
    assert mixed.status_code == 400
    assert_model(mixed, "GET", REPORTS)
    rest = await spapi.http.get(
        REPORTS, headers=acme.headers, params={"nextToken": body["nextToken"]}
    )
    page2 = assert_model(rest, "GET", REPORTS)
    assert [r["reportId"] for r in page2["reports"]] == created[:1]
    assert "nextToken" not in page2

    both = await spapi.http.get(
        REPORTS,
        headers=acme.headers,
        params={
            "reportTypes": f"{REIMBURSEMENTS_REPORT},{LEDGER_REPORT}",
            "processingStatuses": "DONE,CANCELLED",
            "marketplaceIds": US,
            "createdSince": z(datetime.now(UTC) - timedelta(minutes=5)),
        },
    )
    ids = {r["reportId"] for r in assert_model(both, "GET", REPORTS)["reports"]}
    assert ids == {*created, ledger}  # not the other seller's

    for params in ({}, {"reportTypes": REIMBURSEMENTS_REPORT, "processingStatuses": "BAD_VALUE"}):
        bad = await spapi.http.get(REPORTS, headers=acme.headers, params=params)
        assert bad.status_code == 400
        assert_model(bad, "GET", REPORTS)


async def test_other_sellers_reports_and_unknown_ids(spapi: SpApi, acme: Seller) -> None:
    end = datetime.now(UTC)
    report_id = await create(spapi, acme, REIMBURSEMENTS_REPORT, end - timedelta(days=30), end)
    done = await report(spapi, acme, report_id)
    other = await spapi.seller("Someone Else")

    for path, template in (
        (f"{REPORTS}/{report_id}", REPORT),
        (f"/reports/2021-06-30/documents/{done['reportDocumentId']}", DOCUMENT),
        (f"{REPORTS}/99999999999999", REPORT),
    ):
        response = await spapi.http.get(path, headers=other.headers)
        assert response.status_code == 404, path
        assert_model(response, "GET", template)
    malformed = await spapi.http.get(f"{REPORTS}/badReportId1", headers=acme.headers)
    assert malformed.status_code == 400
    assert_model(malformed, "GET", REPORT)


async def test_document_urls_expire_like_s3(database_url: str, redis_url: str) -> None:
    async with spapi_server(database_url, redis_url, sandbox_document_url_ttl_seconds=2) as spapi:
        seller = await spapi.seller()
        end = datetime.now(UTC)
        report_id = await create(
            spapi, seller, REIMBURSEMENTS_REPORT, end - timedelta(days=60), end
        )
        info = await document(
            spapi, seller, str((await report(spapi, seller, report_id))["reportDocumentId"])
        )
        assert (await spapi.http.get(info["url"])).status_code == 200

        parts = urlsplit(info["url"])
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        tampered = {**query, "X-Amz-Expires": "86400"}
        forged = await spapi.http.get(
            f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(tampered)}"
        )
        assert forged.status_code == 403
        assert "<Code>SignatureDoesNotMatch</Code>" in forged.text

        await asyncio.sleep(2.1)
        expired = await spapi.http.get(info["url"])
        assert expired.status_code == 403
        assert expired.headers["content-type"].startswith("application/xml")
        assert "<Code>AccessDenied</Code><Message>Request has expired</Message>" in expired.text
        assert "<X-Amz-Expires>2</X-Amz-Expires>" in expired.text
        # A fresh getReportDocument gives a fresh URL.
        renewed = await document(
            spapi, seller, str((await report(spapi, seller, report_id))["reportDocumentId"])
        )
        assert (await spapi.http.get(renewed["url"])).status_code == 200


# -- Finances --------------------------------------------------------------------------------


async def test_financial_events_pages_are_the_truth(spapi: SpApi, acme: Seller) -> None:
    before = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    after = before - timedelta(days=180)
    page_size = 10
    truth = list(expected_financial_events(acme.seller_id, after, before))
    offsets = range(0, len(truth), page_size)
    while not any(
        service.empty_page_first(acme.seller_id, after, before, page_size, o) for o in offsets
    ):
        before -= timedelta(seconds=1)  # a window with at least one empty page
    truth = list(expected_financial_events(acme.seller_id, after, before))
    params = {
        "PostedAfter": z(after),
        "PostedBefore": z(before),
        "MaxResultsPerPage": str(page_size),
    }
    collected: dict[str, list[object]] = {"AdjustmentEventList": [], "ServiceFeeEventList": []}
    pages = empty_pages = 0
    token = None
    while True:
        response = await spapi.http.get(
            FINANCES,
            headers=acme.headers,
            params={**params, **({"NextToken": token} if token else {})},
        )
        body = assert_model(response, "GET", FINANCES)
        events = body["payload"]["FinancialEvents"]
        pages += 1
        empty_pages += not any(events.values())
        for name, items in events.items():
            collected[name].extend(items)
        token = body["payload"].get("NextToken")
        if not token:
            break

    assert len(truth) > 30
    for name in collected:
        assert collected[name] == [e.body for e in truth if e.list_name == name]
    # "Note that this operation can return empty pages."
    expected_empty = sum(
        service.empty_page_first(acme.seller_id, after, before, page_size, o)
        for o in range(0, len(truth), page_size)
    )
    assert empty_pages == expected_empty >= 1
    assert pages == len(range(0, len(truth), page_size)) + expected_empty


@pytest.mark.parametrize(
    "params",
    [
        {"PostedAfter": "{recent}"},
        {"PostedAfter": "{old}", "PostedBefore": "{recent}"},
        {"PostedBefore": "{old}"},
        {"PostedAfter": "{old}", "MaxResultsPerPage": "101"},
        {"PostedAfter": "{old}", "MaxResultsPerPage": "0"},
        {"PostedAfter": "not-a-date"},
    ],
)
async def test_financial_events_validate_like_the_model(
    spapi: SpApi, acme: Seller, params: dict[str, str]
) -> None:
    now = datetime.now(UTC)
    values = {"recent": z(now - timedelta(seconds=60)), "old": z(now - timedelta(days=3))}
    response = await spapi.http.get(
        FINANCES, headers=acme.headers, params={k: v.format(**values) for k, v in params.items()}
    )

    assert response.status_code == 400
    body = assert_model(response, "GET", FINANCES)
    assert body["errors"][0]["code"] == "InvalidInput"


async def test_next_token_requires_the_same_arguments(spapi: SpApi, acme: Seller) -> None:
    before = datetime.now(UTC) - timedelta(minutes=5)
    params = {
        "PostedAfter": z(before - timedelta(days=170)),
        "PostedBefore": z(before),
        "MaxResultsPerPage": "1",
    }
    token = None
    while token is None:  # past any empty page, to a real token
        body = (await spapi.http.get(FINANCES, headers=acme.headers, params=params)).json()
        token = body["payload"]["NextToken"]
    changed = {**params, "PostedAfter": z(before - timedelta(days=100)), "NextToken": token}
    response = await spapi.http.get(FINANCES, headers=acme.headers, params=changed)
    assert response.status_code == 400
    assert_model(response, "GET", FINANCES)
    garbage = await spapi.http.get(
        FINANCES, headers=acme.headers, params={**params, "NextToken": "xyz"}
    )
    assert garbage.status_code == 400

    too_long = {"PostedAfter": z(before - timedelta(days=200)), "PostedBefore": z(before)}
    empty = assert_model(
        await spapi.http.get(FINANCES, headers=acme.headers, params=too_long), "GET", FINANCES
    )
    assert not any(empty["payload"]["FinancialEvents"].values())  # > 180 days: empty, per the model


# -- FBA Inventory ---------------------------------------------------------------------------


async def inventory_pages(spapi: SpApi, seller: Seller, **params: str) -> list[dict[str, object]]:
    base = {"granularityType": "Marketplace", "granularityId": US, "marketplaceIds": US, **params}
    summaries: list[dict[str, object]] = []
    token = None
    while True:
        response = await spapi.http.get(
            INVENTORY,
            headers=seller.headers,
            params={**base, **({"nextToken": token} if token else {})},
        )
        assert response.status_code == 200, response.text
        body = assert_model(response, "GET", INVENTORY)
        assert len(body["payload"]["inventorySummaries"]) <= 50
        summaries.extend(body["payload"]["inventorySummaries"])
        token = body.get("pagination", {}).get("nextToken")
        if not token:
            return summaries


async def test_inventory_summaries_pages_and_filters(spapi: SpApi, acme: Seller) -> None:
    everything = await inventory_pages(spapi, acme, details="true")
    assert everything == expected_inventory(acme.seller_id, US)
    assert len(everything) == 120
    assert all("inventoryDetails" in s for s in everything)

    plain = await inventory_pages(spapi, acme)
    assert all("inventoryDetails" not in s for s in plain)

    awkward = [
        str(s["sellerSku"]) for s in everything if any(c in str(s["sellerSku"]) for c in " /+")
    ]
    assert awkward  # SKUs with spaces, slashes and plus signs travel URL-encoded
    chosen = [*awkward[:3], str(everything[0]["sellerSku"])]
    picked = await inventory_pages(spapi, acme, sellerSkus=",".join(chosen))
    assert sorted(str(s["sellerSku"]) for s in picked) == sorted(chosen)

    since = datetime.now(UTC) - timedelta(days=2)
    changed = await inventory_pages(spapi, acme, startDateTime=z(since))
    assert 0 < len(changed) < len(everything)
    assert all(datetime.fromisoformat(str(s["lastUpdatedTime"])) > since for s in changed)


async def test_inventory_rejects_bad_requests_and_stale_tokens(
    spapi: SpApi, acme: Seller, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = {"granularityType": "Marketplace", "granularityId": US, "marketplaceIds": US}
    for params in (
        {"granularityId": US, "marketplaceIds": US},
        {**base, "granularityType": "Region"},
        {**base, "marketplaceIds": f"{US},{CA}"},
        {**base, "granularityId": "A1PA6795UKMFR9", "marketplaceIds": "A1PA6795UKMFR9"},
        {**base, "startDateTime": z(datetime.now(UTC) - timedelta(days=600))},
    ):
        response = await spapi.http.get(INVENTORY, headers=acme.headers, params=params)
        assert response.status_code == 400, params
        assert assert_model(response, "GET", INVENTORY)["errors"][0]["code"] == "InvalidInput"

    first = (await spapi.http.get(INVENTORY, headers=acme.headers, params=base)).json()
    token = first["pagination"]["nextToken"]
    monkeypatch.setattr(service, "INVENTORY_TOKEN_TTL", timedelta(seconds=-1))
    stale = await spapi.http.get(
        INVENTORY, headers=acme.headers, params={**base, "nextToken": token}
    )
    assert stale.status_code == 400
    assert "expired" in stale.json()["errors"][0]["message"]


# -- quotas and faults -----------------------------------------------------------------------


async def test_quota_exhausted_is_429_quota_exceeded(database_url: str, redis_url: str) -> None:
    async with spapi_server(database_url, redis_url, sandbox_rate_scale=1.0) as spapi:
        seller, other = await spapi.seller("Busy Seller"), await spapi.seller("Calm Seller")
        params = {"reportTypes": REIMBURSEMENTS_REPORT}
        burst = [
            await spapi.http.get(REPORTS, headers=seller.headers, params=params) for _ in range(10)
        ]
        assert {r.status_code for r in burst} == {200}
        assert {r.headers["x-amzn-RateLimit-Limit"] for r in burst} == {"0.0222"}

        throttled = await spapi.http.get(REPORTS, headers=seller.headers, params=params)

        assert throttled.status_code == 429
        assert throttled.json() == {
            "errors": [
                {
                    "code": "QuotaExceeded",
                    "message": "You exceeded your quota for the requested resource.",
                    "details": "",
                }
            ]
        }
        assert_model(throttled, "GET", REPORTS)
        # Buckets are per seller and per operation.
        assert (
            await spapi.http.get(REPORTS, headers=other.headers, params=params)
        ).status_code == 200
        assert (await spapi.http.get(PARTICIPATIONS, headers=seller.headers)).status_code == 200


async def test_rate_scale_speeds_up_the_plan_and_announces_it(
    database_url: str, redis_url: str
) -> None:
    async with spapi_server(database_url, redis_url, sandbox_rate_scale=100.0) as spapi:
        seller = await spapi.seller()
        params = {"reportTypes": REIMBURSEMENTS_REPORT}
        statuses = []
        for _ in range(14):
            response = await spapi.http.get(REPORTS, headers=seller.headers, params=params)
            statuses.append(response.status_code)
            await asyncio.sleep(0.5)  # 2.22 requests/second refill

        assert set(statuses) == {200}
        assert response.headers["x-amzn-RateLimit-Limit"] == "2.22"


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("429", 429, "QuotaExceeded"),
        ("500", 500, "InternalFailure"),
        ("503", 503, "ServiceUnavailable"),
    ],
)
async def test_injected_faults_answer_like_amazon(
    database_url: str, redis_url: str, kind: str, status: int, code: str
) -> None:
    async with spapi_server(
        database_url, redis_url, sandbox_fault_rate=1.0, sandbox_fault_kinds=kind
    ) as spapi:
        seller = await spapi.seller()
        response = await spapi.http.get(
            FINANCES, headers=seller.headers, params={"PostedAfter": "2024-01-01T00:00:00Z"}
        )

        assert response.status_code == status
        assert assert_model(response, "GET", FINANCES)["errors"][0]["code"] == code


async def test_injected_hang_outlasts_the_client_timeout(database_url: str, redis_url: str) -> None:
    async with spapi_server(
        database_url,
        redis_url,
        sandbox_fault_rate=1.0,
        sandbox_fault_kinds="timeout",
        sandbox_fault_hang_seconds=0.5,
    ) as spapi:
        seller = await spapi.seller()
        with pytest.raises(httpx2.ReadTimeout):
            await spapi.http.get(PARTICIPATIONS, headers=seller.headers, timeout=0.2)
        slow = await spapi.http.get(PARTICIPATIONS, headers=seller.headers, timeout=5)
        assert slow.status_code == 200  # served late, not refused


async def test_injected_truncated_download(database_url: str, redis_url: str) -> None:
    async with spapi_server(
        database_url, redis_url, sandbox_fault_rate=1.0, sandbox_fault_kinds="truncate"
    ) as spapi:
        seller = await spapi.seller()
        end = datetime.now(UTC)
        report_id = await create(
            spapi, seller, REIMBURSEMENTS_REPORT, end - timedelta(days=90), end
        )
        info = await document(
            spapi, seller, str((await report(spapi, seller, report_id))["reportDocumentId"])
        )

        download = await spapi.http.get(info["url"])

        assert download.status_code == 200
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        partial = inflater.decompress(download.content)
        assert not inflater.eof  # the gzip member never ends
        assert partial.startswith(b"approval-date\t")


async def test_injected_slow_download_outlives_its_url(database_url: str, redis_url: str) -> None:
    """`slow`: the headers come at once, the body trickles past the URL's lifetime. A patient
    client still gets the whole document (S3 checks the URL when the request arrives); the URL
    is expired afterwards; a client whose read timeout is shorter than the pause drops it."""
    async with spapi_server(
        database_url,
        redis_url,
        sandbox_fault_rate=1.0,
        sandbox_fault_kinds="slow",
        sandbox_fault_hang_seconds=1.5,
        sandbox_document_url_ttl_seconds=1,
    ) as spapi:
        seller = await spapi.seller()
        end = datetime.now(UTC)
        start = end - timedelta(days=60)
        report_id = await create(spapi, seller, REIMBURSEMENTS_REPORT, start, end)
        document_id = str((await report(spapi, seller, report_id))["reportDocumentId"])
        info = await document(spapi, seller, document_id)

        patient = await spapi.http.get(info["url"], timeout=10)
        assert patient.status_code == 200
        assert gunzip_rows(patient.content) == list(
            expected_reimbursements(seller.seller_id, start, end)
        )
        late = await spapi.http.get(info["url"])
        assert late.status_code == 403
        assert "<Message>Request has expired</Message>" in late.text

        fresh = await document(spapi, seller, document_id)
        timeout = httpx2.Timeout(5.0, read=0.3)
        async with spapi.http.stream("GET", fresh["url"], timeout=timeout) as impatient:
            assert impatient.status_code == 200
            with pytest.raises(httpx2.ReadTimeout):
                await impatient.aread()


async def test_seeded_faults_are_reproducible(database_url: str, redis_url: str) -> None:
    async def statuses() -> list[int]:
        async with spapi_server(
            database_url,
            redis_url,
            sandbox_fault_rate=0.5,
            sandbox_fault_seed=7,
            sandbox_fault_kinds="429,500,503",
        ) as spapi:
            seller = await spapi.seller("Flaky Seller")
            return [
                (await spapi.http.get(PARTICIPATIONS, headers=seller.headers)).status_code
                for _ in range(24)
            ]

    first, second = await statuses(), await statuses()

    assert first == second
    assert 200 in first
    assert len(set(first)) >= 3
