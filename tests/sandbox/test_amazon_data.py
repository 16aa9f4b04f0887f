"""The sandbox seller's data: deterministic, windowed by time, full of the cases that break
naive clients, and streamed (never built whole) when a report is downloaded."""

from __future__ import annotations

import inspect
import zlib
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from opside_hub.sandbox.amazon.data import (
    CURRENCIES,
    LEDGER_REPORT,
    REIMBURSEMENT_COLUMNS,
    REIMBURSEMENTS_REPORT,
    DataSizes,
    SellerData,
    expected_financial_events,
    expected_inventory,
    expected_ledger_events,
    expected_reimbursements,
)
from opside_hub.sandbox.amazon.spapi import reports
from tests.sandbox.spapi import gunzip_rows, spapi_server

SELLER = "A3SANDBOXSELL1"
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
START, END = NOW - timedelta(days=540), NOW


def test_the_same_seller_gets_the_same_data() -> None:
    first = list(expected_reimbursements(SELLER, START, END, now=NOW))
    again = list(SellerData(SELLER).reimbursements(START, END))
    other = list(expected_reimbursements("A9SOMEONEELSE0", START, END, now=NOW))

    assert first == again
    assert first != other
    assert list(expected_ledger_events(SELLER, START, END, now=NOW)) == list(
        SellerData(SELLER).ledger_events(START, END)
    )
    assert [e.body for e in expected_financial_events(SELLER, START, END)] == [
        e.body for e in SellerData(SELLER).financial_events(START, END)
    ]
    assert expected_inventory(SELLER, "ATVPDKIKX0DER", now=NOW) == SellerData(SELLER).inventory(
        "ATVPDKIKX0DER", NOW
    )


def test_sizes_are_events_per_540_days_and_windows_partition() -> None:
    sizes = DataSizes(reimbursements=1000, ledger_events=2000, financial_events=500)
    seller = SellerData(SELLER, sizes)
    middle = START + timedelta(days=200, seconds=7)

    whole = list(seller.reimbursements(START, END))
    halves = list(seller.reimbursements(START, middle)) + list(seller.reimbursements(middle, END))

    assert whole == halves  # [start, end) windows: no row twice, none lost
    events = {row["reimbursement-id"] for row in whole}
    assert 950 <= len(events) <= 1050
    assert 1900 <= len(list(seller.ledger_events(START, END))) <= 2200
    assert 475 <= len(list(seller.financial_events(START, END))) <= 525
    times = [row["approval-date"] for row in whole]
    assert times == sorted(times)
    assert all(START <= datetime.fromisoformat(t) < END for t in times)


def test_reimbursements_hold_the_hard_cases() -> None:
    rows = list(
        expected_reimbursements(SELLER, START, END, DataSizes(reimbursements=2000), now=NOW)
    )
    by_id: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_id.setdefault(row["reimbursement-id"], []).append(row)
    assert set(rows[0]) == set(REIMBURSEMENT_COLUMNS)

    reversals = [row for row in rows if row["original-reimbursement-id"]]
    assert reversals
    for reversal in reversals:
        original = [
            row
            for row in by_id.get(reversal["original-reimbursement-id"], [])
            if row["sku"] == reversal["sku"]
        ]
        if not original:  # approved before the window
            continue
        assert original[0]["approval-date"] < reversal["approval-date"]
        assert reversal["reason"] == "Reimbursement_Reversal"
        assert reversal["original-reimbursement-type"] == original[0]["reason"]
        assert Decimal(reversal["amount-total"]) == -Decimal(original[0]["amount-total"])
        assert int(reversal["quantity-reimbursed-cash"]) < 0

    assert {row["currency-unit"] for row in rows} == set(CURRENCIES)
    for row in rows:
        if row["currency-unit"] == "JPY":
            assert "." not in row["amount-total"]
        else:
            assert row["amount-total"].split(".")[1].__len__() == 2
        quantity_cash = int(row["quantity-reimbursed-cash"])
        assert Decimal(row["amount-per-unit"]) * quantity_cash == Decimal(row["amount-total"])
        assert int(row["quantity-reimbursed-total"]) == quantity_cash + int(
            row["quantity-reimbursed-inventory"]
        )
    kinds = Counter(
        ("cash" if int(r["quantity-reimbursed-cash"]) else "")
        + ("inventory" if int(r["quantity-reimbursed-inventory"]) else "")
        for r in rows
    )
    assert kinds.keys() == {"cash", "inventory", "cashinventory"}
    multi = [lines for lines in by_id.values() if len({r["sku"] for r in lines}) > 1]
    assert multi  # one reimbursement id over several SKUs
    names = {row["product-name"] for row in rows}
    assert any('"' in name for name in names)
    assert any(not name.isascii() for name in names)
    assert len({(r["reimbursement-id"], r["sku"]) for r in rows}) == len(rows)


def test_catalog_links_the_datasets() -> None:
    seller = SellerData(SELLER)
    catalog = {p.sku: p for p in seller.catalog}
    reimbursed = {row["sku"] for row in seller.reimbursements(START, END)}
    ledger = list(seller.ledger_events(START, END))
    fees = list(seller.financial_events(START, END))

    assert reimbursed <= set(catalog)
    assert {row["MSKU"] for row in ledger} <= set(catalog)
    assert all(catalog[row["MSKU"]].fnsku == row["FNSKU"] for row in ledger)
    assert {s["sellerSku"] for s in seller.inventory("ATVPDKIKX0DER", NOW)} == set(catalog)
    assert any(p.fnsku == p.asin for p in catalog.values())  # commingled stock
    ids = {
        row["reimbursement-id"] for row in seller.reimbursements(START - timedelta(days=30), END)
    }
    numbers = [
        item["TransactionNumber"]
        for event in fees
        if event.list_name == "AdjustmentEventList"
        for item in event.body["AdjustmentItemList"]
    ]
    assert numbers
    assert set(numbers) <= ids
    identical = Counter(
        str(e.body) for e in fees if e.list_name == "ServiceFeeEventList"
    ).most_common(1)[0][1]
    assert identical > 1  # monthly subscription fees nothing tells apart


def test_ledger_rows_have_amazons_columns_and_duplicates() -> None:
    rows = list(expected_ledger_events(SELLER, START, END, DataSizes(ledger_events=3000), now=NOW))

    assert {row["Event Type"] for row in rows} >= {"Shipments", "CustomerReturns", "Adjustments"}
    for row in rows[:200]:
        local = datetime.fromisoformat(row["Date and Time"])
        assert local.utcoffset() == timedelta(hours=-8)
        assert row["Date"] == local.strftime("%m/%d/%Y")
    counts = Counter(tuple(row.values()) for row in rows)
    assert max(counts.values()) == 2  # the same movement written twice


def test_old_data_is_not_served() -> None:
    assert (
        list(expected_reimbursements(SELLER, datetime(2020, 1, 1, tzinfo=UTC), START, now=NOW))
        != []
    )
    ancient = datetime(2024, 1, 1, tzinfo=UTC)
    assert (
        list(expected_reimbursements(SELLER, ancient, ancient + timedelta(days=30), now=NOW)) == []
    )


def test_documents_stream_through_gzip_as_generators() -> None:
    seller = SellerData(SELLER)
    assert inspect.isgeneratorfunction(SellerData.report_lines)
    assert inspect.isgeneratorfunction(reports.gzip_chunks)

    chunks = reports.gzip_chunks(seller.report_lines(REIMBURSEMENTS_REPORT, START, END))
    rows = gunzip_rows(b"".join(chunks))
    assert rows == list(seller.reimbursements(START, END))
    ledger = gunzip_rows(
        b"".join(reports.gzip_chunks(seller.report_lines(LEDGER_REPORT, START, END)))
    )
    assert ledger == list(seller.ledger_events(START, END))


async def test_a_200k_row_report_downloads_streaming(database_url: str, redis_url: str) -> None:
    """The download is a generator all the way (rows → gzip chunks → the socket); the client
    counts lines as chunks arrive and keeps nothing."""
    sizes = DataSizes(reimbursements=160_000)
    async with spapi_server(
        database_url, redis_url, sandbox_amazon_reimbursements=160_000
    ) as spapi:
        seller = await spapi.seller("Big Seller")
        end = datetime.now(UTC).replace(microsecond=0)
        start = end - timedelta(days=539)
        created = await spapi.http.post(
            "/reports/2021-06-30/reports",
            headers=seller.headers,
            json={
                "reportType": REIMBURSEMENTS_REPORT,
                "dataStartTime": start.isoformat(),
                "dataEndTime": end.isoformat(),
                "marketplaceIds": ["ATVPDKIKX0DER"],
            },
        )
        report_id = created.json()["reportId"]
        done = (
            await spapi.http.get(f"/reports/2021-06-30/reports/{report_id}", headers=seller.headers)
        ).json()
        info = (
            await spapi.http.get(
                f"/reports/2021-06-30/documents/{done['reportDocumentId']}", headers=seller.headers
            )
        ).json()

        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        lines = chunks = 0
        async with spapi.http.stream("GET", info["url"], timeout=120) as response:
            assert response.status_code == 200
            assert "content-length" not in response.headers  # chunked: never sized up front
            async for chunk in response.aiter_raw():
                chunks += 1
                lines += inflater.decompress(chunk).count(b"\n")
        assert inflater.eof

    expected = sum(1 for _ in expected_reimbursements(seller.seller_id, start, end, sizes))
    assert expected >= 200_000
    assert lines == expected + 1  # and the header
    assert chunks > 10
