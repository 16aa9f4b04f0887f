from __future__ import annotations

import gzip
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime

import pytest

from opside_hub.providers.amazon.parsing import (
    Record,
    RowError,
    TruncatedDocument,
    decompressed_lines,
    normalize_header,
    parse_money,
    parse_timestamp,
    records,
)
from opside_hub.providers.amazon.rows import LedgerKeys, ledger_row, reimbursement_row

HEADER = (
    "approval-date\treimbursement-id\tcase-id\tamazon-order-id\treason\tsku\tfnsku\tasin\t"
    "product-name\tcondition\tcurrency-unit\tamount-per-unit\tamount-total\t"
    "quantity-reimbursed-cash\tquantity-reimbursed-inventory\tquantity-reimbursed-total\t"
    "original-reimbursement-id\toriginal-reimbursement-type"
)


async def _chunks(data: bytes, size: int = 7) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def _parse(text: str, *, gz: bool = False, size: int = 7) -> list[Record | RowError]:
    data = text.encode()
    if gz:
        data = gzip.compress(data)
    return [item async for item in records(decompressed_lines(_chunks(data, size), gzip=gz))]


def _rows(lines: Iterable[str]) -> str:
    return "\n".join(lines) + "\n"


async def test_reimbursement_rows_parse_by_header_with_bom_crlf_and_gzip() -> None:
    text = "\ufeff" + _rows(
        [
            HEADER,
            "2024-03-01T10:00:00+00:00\t1001\t55\t111-1\tLost_Warehouse\tSKU-1\tX001\tB001\tMug\t"
            "NewItem\tUSD\t12.50\t25.00\t2\t0\t2\t\t",
        ]
    ).replace("\n", "\r\n")

    items = await _parse(text, gz=True)

    assert len(items) == 1
    record = items[0]
    assert isinstance(record, Record)
    row = reimbursement_row(record)
    assert row["row_key"] == "1001|SKU-1||"
    assert (row["amount_per_unit"], row["amount_total"], row["currency"]) == (1250, 2500, "USD")
    assert (row["quantity_cash"], row["quantity_inventory"], row["quantity_total"]) == (2, 0, 2)
    assert row["approved_at"] == datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert row["case_id"] == "55"
    assert row["original_reimbursement_id"] is None


async def test_reordered_and_extra_columns_parse_the_same() -> None:
    header = "currency-unit\tnew-column\tsku\treimbursement-id\tamount-total\tapproval-date"
    items = await _parse(_rows([header, "JPY\tx\tSKU-9\t2002\t-1500\t2024-01-02"]))

    row = reimbursement_row(items[0])  # type: ignore[arg-type]
    assert (row["reimbursement_id"], row["sku"], row["amount_total"], row["currency"]) == (
        "2002",
        "SKU-9",
        -1500,
        "JPY",
    )
    assert row["amount_per_unit"] == 0  # missing column = empty value
    assert row["approved_at"] == datetime(2024, 1, 2, tzinfo=UTC)


async def test_quoted_fields_may_hold_tabs_and_newlines() -> None:
    header = "reimbursement-id\tproduct-name\tcurrency-unit\tamount-total"
    items = await _parse(_rows([header, '3003\t"Mug\twith\ttabs\nand a newline"\tEUR\t9.99']))

    assert len(items) == 1
    record = items[0]
    assert isinstance(record, Record)
    assert record.get("product-name") == "Mug\twith\ttabs\nand a newline"
    assert reimbursement_row(record)["amount_total"] == 999


async def test_malformed_rows_are_reported_with_their_line_and_do_not_stop_the_report() -> None:
    header = "reimbursement-id\tcurrency-unit\tamount-total"
    items = await _parse(
        _rows(
            [
                header,
                "4001\tUSD\t1.00",
                "4002\tUSD\tnot-money",
                "\tUSD\t3.00",
                "4004\tUSD\t4.00\textra\tfields",
                "4005\tUSD\t5",
            ]
        )
    )

    outcomes: list[str] = []
    for item in items:
        if isinstance(item, RowError):
            outcomes.append(f"error@{item.line}")
            continue
        try:
            outcomes.append(reimbursement_row(item)["reimbursement_id"])
        except RowError as exc:
            outcomes.append(f"error@{exc.line}:{exc.reason.split(':')[0]}")
    assert outcomes == [
        "4001",
        "error@3:amount-total",
        "error@4:reimbursement-id is empty",
        "error@5",
        "4005",
    ]


async def test_truncated_gzip_is_detected() -> None:
    data = gzip.compress(_rows([HEADER] + ["x"] * 1000).encode())

    async def cut() -> AsyncIterator[bytes]:
        yield data[: len(data) // 2]

    with pytest.raises(TruncatedDocument):
        _ = [line async for line in decompressed_lines(cut(), gzip=True)]


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("12.34", "USD", 1234),
        ("-0.5", "EUR", -50),
        ("1,234.00", "USD", 123400),
        ("150", "JPY", 150),
        ("1.234", "KWD", 1234),
        ("", "USD", 0),
    ],
)
def test_money_is_integer_minor_units(text: str, currency: str, minor: int) -> None:
    assert parse_money(text, currency, field="x") == minor


def test_money_with_too_many_decimals_is_an_error_not_a_rounding() -> None:
    with pytest.raises(RowError):
        parse_money("1.5", "JPY", field="x")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-01T10:00:00-08:00", datetime(2024, 3, 1, 18, tzinfo=UTC)),
        ("03/01/2024", datetime(2024, 3, 1, tzinfo=UTC)),
        ("2024-03-01T10:00:00Z", datetime(2024, 3, 1, 10, tzinfo=UTC)),
    ],
)
def test_timestamps_become_utc(text: str, expected: datetime) -> None:
    assert parse_timestamp(text, field="d") == expected


def test_headers_are_normalized() -> None:
    assert normalize_header("\ufeff Event Type ") == "event-type"
    assert normalize_header("Date_and_Time") == "date-and-time"


async def test_identical_ledger_rows_of_a_day_keep_distinct_stable_keys() -> None:
    header = "Date\tFNSKU\tASIN\tMSKU\tEvent Type\tQuantity\tFulfillment Center\tReason"
    line = "03/01/2024\tX1\tB1\tSKU-1\tAdjustments\t-1\tPHX7\tM"
    parsed = [
        item for item in await _parse(_rows([header, line, line])) if isinstance(item, Record)
    ]

    first_pass = [ledger_row(r, LedgerKeys())["row_key"] for r in parsed[:1]]
    keys = LedgerKeys()
    both = [ledger_row(r, keys)["row_key"] for r in parsed]
    again = LedgerKeys()
    repeat = [ledger_row(r, again)["row_key"] for r in parsed]

    assert len(set(both)) == 2
    assert both == repeat
    assert first_pass[0] == both[0]
