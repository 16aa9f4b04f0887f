"""The ledger's rules, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from opside_hub.ledger.normalize import (
    AdjustmentRow,
    LedgerRow,
    ReimbursementRow,
    adjustment_case,
    adjustment_claim_id,
    assess_losses,
    case_status,
    changes,
    claim_id_of_reimbursement,
    ledger_case,
    loss_kind,
    reimbursement_case,
    reimbursement_claim_id,
    transaction_number,
)
from opside_hub.providers.amazon.service import claim_id as api_claim_id

T0 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
_ids = iter(range(1, 10_000))


def reimb(rid: str, sku: str | None = "SKU-A", **kw: Any) -> ReimbursementRow:
    values: dict[str, Any] = {
        "id": next(_ids),
        "row_key": "|".join(
            (
                rid,
                sku or "",
                kw.get("original_reimbursement_id") or "",
                kw.get("original_reimbursement_type") or "",
            )
        ),
        "reimbursement_id": rid,
        "sku": sku,
        "currency": "USD",
        "fnsku": "X001",
        "asin": "B001",
        "reason": "Lost_Warehouse",
        "amount_per_unit": 500,
        "amount_total": 1000,
        "quantity_cash": 2,
        "quantity_total": 2,
        "approved_at": T0,
        "raw": {"reimbursement-id": rid, "product-name": "Mat"},
    }
    values.update(kw)
    return ReimbursementRow(**values)


def reversal(rid: str, original: str, sku: str = "SKU-A", **kw: Any) -> ReimbursementRow:
    values: dict[str, Any] = {
        "original_reimbursement_id": original,
        "original_reimbursement_type": "Lost_Warehouse",
        "reason": "Reimbursement_Reversal",
        "amount_total": -1000,
        "quantity_cash": -2,
        "quantity_total": -2,
        "approved_at": T0 + timedelta(days=20),
    }
    values.update(kw)
    return reimb(rid, sku, **values)


def adj(row_key: str, number: str | None, sku: str | None = "SKU-A", **kw: Any) -> AdjustmentRow:
    values: dict[str, Any] = {
        "id": next(_ids),
        "row_key": row_key,
        "currency": "USD",
        "event_type": "WAREHOUSE_LOST",
        "posted_at": T0 + timedelta(days=2),
        "sku": sku,
        "quantity": 2,
        "amount": 1000,
        "raw": {"event": {}, "item": {"TransactionNumber": number, "SellerSKU": sku}},
    }
    values.update(kw)
    return AdjustmentRow(**values)


def loss(
    key: str,
    reason: str = "M",
    quantity: int = -1,
    *,
    days: int = 0,
    fnsku: str | None = "X001",
    sku: str = "SKU-A",
    event_type: str = "Adjustments",
) -> LedgerRow:
    return LedgerRow(
        id=next(_ids),
        row_key=key,
        event_at=T0 + timedelta(days=days),
        event_type=event_type,
        reason=reason,
        quantity=quantity,
        sku=sku,
        fnsku=fnsku,
        asin="B001",
        raw={"title": "Mat", "reconciled-quantity": "0", "unreconciled-quantity": "1"},
    )


# -- claim ids -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (reimb("R1", "SKU-A"), "R1:SKU-A"),
        (reimb("R1", None), "R1"),
        (reimb("R1", "SKU with space/+"), "R1:SKU with space/+"),
        (reversal("R2", "R1"), "R1:SKU-A"),
    ],
)
def test_claim_ids(row: ReimbursementRow, expected: str) -> None:
    assert claim_id_of_reimbursement(row) == expected


def test_non_reversal_claim_id_is_the_claims_route_id() -> None:
    for row in (reimb("R1", "SKU-A"), reimb("R7", None), reimb("R8", "a:b")):
        assert claim_id_of_reimbursement(row) == api_claim_id("reimbursement", row.row_key)


def test_overlong_claim_id_hashes_the_sku() -> None:
    long_sku = "S" * 300
    claim = reimbursement_claim_id("R1", long_sku)
    assert len(claim) <= 128
    assert claim.startswith("R1:#")
    assert claim == reimbursement_claim_id("R1", long_sku)
    assert claim != reimbursement_claim_id("R1", long_sku + "x")


def test_adjustment_claim_id_and_transaction_number() -> None:
    assert adjustment_claim_id("abc:1") == "adj:abc:1"
    assert transaction_number({"item": {"TransactionNumber": 123}}) == "123"
    assert transaction_number({"item": None}) is None
    assert transaction_number({"event": {}}) is None
    assert transaction_number({"item": {"TransactionNumber": ""}}) is None


# -- reimbursement cases ---------------------------------------------------------------------


def test_reimbursement_case_fields() -> None:
    draft = reimbursement_case([reimb("R1", case_id="C9", quantity_inventory=1, quantity_total=3)])
    n = draft.normalized
    assert draft.claim_id == "R1:SKU-A"
    assert draft.status == "synced"
    assert n["source"] == "reimbursement"
    assert (n["sku"], n["fnsku"], n["asin"], n["reason"]) == (
        "SKU-A",
        "X001",
        "B001",
        "Lost_Warehouse",
    )
    assert (n["amountTotal"], n["amountPerUnit"], n["currency"]) == (1000, 500, "USD")
    assert (n["quantityCash"], n["quantityInventory"], n["quantityTotal"]) == (2, 1, 3)
    assert n["amazonCaseId"] == "C9"
    assert n["productName"] == "Mat"
    assert n["approvedAt"] == n["eventAt"] == "2025-03-01T09:30:00+00:00"
    assert n["eventDate"] == "2025-03-01"
    assert (n["netAmount"], n["reversals"], n["originalMissing"]) == (1000, [], False)
    assert draft.raw_data["reimbursements"][0]["rowKey"] == "R1|SKU-A||"


def test_reversal_nets_the_original_case() -> None:
    original = reimb("R1")
    taken_back = reversal("R2", "R1")
    draft = reimbursement_case([taken_back, original])
    n = draft.normalized
    assert draft.claim_id == "R1:SKU-A"
    assert draft.status == "reversed"
    assert (n["amountTotal"], n["reversedAmount"], n["netAmount"]) == (1000, -1000, 0)
    assert (n["quantityTotal"], n["reversedQuantity"], n["netQuantity"]) == (2, -2, 0)
    assert n["fullyReversed"] is True
    assert n["reason"] == "Lost_Warehouse"
    assert n["eventAt"] == "2025-03-01T09:30:00+00:00"  # the original's approval
    assert n["reversals"] == [
        {
            "reimbursementId": "R2",
            "approvedAt": "2025-03-21T09:30:00+00:00",
            "amount": -1000,
            "currency": "USD",
            "quantity": -2,
        }
    ]
    assert [r["rowKey"] for r in draft.raw_data["reversals"]] == ["R2|SKU-A|R1|Lost_Warehouse"]
    assert [r["rowKey"] for r in draft.raw_data["reimbursements"]] == ["R1|SKU-A||"]


def test_partial_reversal_and_positive_reversal_amounts_are_taken_back() -> None:
    draft = reimbursement_case(
        [reimb("R1"), reversal("R2", "R1", amount_total=500, quantity_cash=1, quantity_total=1)]
    )
    n = draft.normalized
    assert (n["netAmount"], n["netQuantity"], n["fullyReversed"]) == (500, 1, False)
    assert draft.status == "reversed"


def test_reversal_without_its_original() -> None:
    draft = reimbursement_case([reversal("R2", "R1")])
    n = draft.normalized
    assert draft.claim_id == "R1:SKU-A"
    assert n["originalMissing"] is True
    assert n["reimbursementId"] == "R1"
    assert n["reason"] == "Lost_Warehouse"
    assert (n["amountTotal"], n["netAmount"]) == (0, -1000)
    assert n["eventAt"] == "2025-03-21T09:30:00+00:00"
    assert n["fullyReversed"] is False


def test_rows_of_two_claims_are_refused() -> None:
    with pytest.raises(ValueError, match="several claims"):
        reimbursement_case([reimb("R1", "A"), reimb("R1", "B")])
    with pytest.raises(ValueError, match="at least one"):
        reimbursement_case([])


def test_currencies_stay_in_minor_units_and_mismatches_are_flagged() -> None:
    jpy = reimbursement_case([reimb("R1", currency="JPY", amount_total=1500, amount_per_unit=750)])
    assert (jpy.normalized["amountTotal"], jpy.normalized["currency"]) == (1500, "JPY")
    mixed = reimbursement_case(
        [reimb("R1", currency="EUR"), reversal("R2", "R1", currency="USD")],
        [adj("a1", "R1", currency="GBP")],
    )
    n = mixed.normalized
    assert n["currency"] == "EUR"
    assert n["currencyMismatch"] is True
    assert n["reversedAmount"] == 0  # another currency is never netted
    assert n["settledAmount"] == 0
    assert n["reversals"][0]["currency"] == "USD"


def test_settlements_are_the_adjustments_paying_the_claim() -> None:
    draft = reimbursement_case(
        [reimb("R1"), reversal("R2", "R1")],
        [adj("a2", "R2", amount=-1000), adj("a1", "R1", posted_at=T0 + timedelta(days=1))],
    )
    n = draft.normalized
    assert [s["rowKey"] for s in n["settlements"]] == ["a1", "a2"]
    assert n["settledAmount"] == 0
    assert n["settlements"][0]["transactionNumber"] == "R1"
    assert [r["rowKey"] for r in draft.raw_data["adjustments"]] == ["a1", "a2"]


def test_adjustment_case_and_its_merge() -> None:
    row = adj("k:1", None, currency="CAD", amount=-250)
    draft = adjustment_case(row)
    assert draft.claim_id == "adj:k:1"
    assert draft.status == "synced"
    n = draft.normalized
    assert (n["source"], n["amountTotal"], n["currency"], n["reason"]) == (
        "adjustment",
        -250,
        "CAD",
        "WAREHOUSE_LOST",
    )
    assert n["eventDate"] == "2025-03-03"
    merged = adjustment_case(row, merged_into="R1:SKU-A")
    assert merged.status == "merged"
    assert merged.normalized["mergedInto"] == "R1:SKU-A"
    assert merged.claim_id == draft.claim_id


# -- ledger losses ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "kind"),
    [
        (loss("a", "M"), "lost"),
        (loss("a", "5"), "lost"),
        (loss("a", "E"), "damaged"),
        (loss("a", "Q"), "damaged"),
        (loss("a", "D"), None),  # disposed: the seller's removal
        (loss("a", "H"), None),  # was already customer-damaged
        (loss("a", "F", 1), None),
        (loss("a", "M", 1), None),  # a positive M is no loss
        (loss("a", "M", event_type="Shipments"), None),
        (loss("a", "", event_type="CustomerReturns"), None),
    ],
)
def test_loss_kinds(row: LedgerRow, kind: str | None) -> None:
    assert loss_kind(row) == kind


def test_uncovered_loss_is_detected() -> None:
    [assessment] = assess_losses([loss("l1", "M", -2)], [])
    draft = ledger_case(assessment)
    n = draft.normalized
    assert draft.claim_id == "ledger:l1"
    assert draft.status == "detected"
    assert (n["lossKind"], n["reason"], n["reasonCode"]) == ("lost", "Lost_Warehouse", "M")
    assert (n["quantityTotal"], n["quantityCovered"], n["quantityUnreimbursed"]) == (2, 0, 2)
    assert (n["reconciledQuantity"], n["unreconciledQuantity"]) == (0, 1)
    assert n["eventDate"] == "2025-03-01"
    assert draft.raw_data == {"ledger": [{"rowKey": "l1", "raw": dict(assessment.row.raw)}]}


def test_reimbursements_and_found_units_cover_oldest_losses_first() -> None:
    rows = [
        loss("l1", "M", -1, days=0),
        loss("l2", "E", -1, days=1),
        loss("l3", "M", -1, days=2),
        loss("f1", "F", 1, days=3),  # found: covers the oldest lost unit (l1)
    ]
    paid = reimb("R1", quantity_total=1, approved_at=T0 + timedelta(days=5))  # → l2
    result = {a.row.row_key: a for a in assess_losses(rows, [paid])}
    assert result["l1"].covered_by == [
        {"kind": "found", "reference": "f1", "date": "2025-03-04", "quantity": 1}
    ]
    assert result["l2"].covered_by[0]["reference"] == "R1"
    assert result["l3"].uncovered == 1
    assert sorted(result) == ["l1", "l2", "l3"]


def test_found_units_never_cover_damage_and_covers_never_predate_the_loss() -> None:
    rows = [loss("d1", "E", -1, days=5), loss("f1", "F", 1, days=6)]
    early = reimb("R1", quantity_total=1, approved_at=T0)  # approved before the damage
    [assessment] = assess_losses(rows, [early])
    assert assessment.uncovered == 1
    assert ledger_case(assessment).status == "detected"


def test_reversed_and_non_warehouse_reimbursements_do_not_cover() -> None:
    rows = [loss("l1", "M", -2)]
    later = T0 + timedelta(days=3)
    reimbursements = [
        reimb("R1", quantity_total=2, approved_at=later),
        reversal("R2", "R1", quantity_total=-1),
        reimb("R3", quantity_total=5, reason="CustomerReturn", approved_at=later),
    ]
    [assessment] = assess_losses(rows, reimbursements)
    assert (assessment.covered, assessment.uncovered) == (1, 1)


def test_fully_covered_loss_is_resolved() -> None:
    [assessment] = assess_losses(
        [loss("l1", "5", -1)], [reimb("R1", quantity_total=3, approved_at=T0)]
    )
    assert ledger_case(assessment).status == "resolved"


def test_items_match_by_fnsku_else_sku() -> None:
    other_item = reimb("R1", fnsku="X999", quantity_total=1, approved_at=T0 + timedelta(days=1))
    [assessment] = assess_losses([loss("l1")], [other_item])
    assert assessment.uncovered == 1
    no_fnsku = loss("l2", fnsku=None, sku="SKU-Z")
    by_sku = reimb("R2", "SKU-Z", fnsku=None, quantity_total=1, approved_at=T0)
    [assessment] = assess_losses([no_fnsku], [by_sku])
    assert assessment.uncovered == 0


# -- status and changes ----------------------------------------------------------------------


def test_case_status_rules() -> None:
    assert case_status(None, "synced", linked=False) == "synced"
    assert case_status("synced", "synced", linked=True) == "linked"
    assert case_status("linked", "reversed", linked=True) == "reversed"
    assert case_status("detected", "detected", linked=True) == "detected"
    assert case_status("filed", "synced", linked=True) == "filed"  # downstream owns it


def test_changes_lists_fields_that_differ() -> None:
    assert changes({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": None}) == {"b": {"from": 2, "to": 3}}
    assert changes({"a": [1]}, {"a": [1]}) == {}
