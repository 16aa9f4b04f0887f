"""The case ledger's rules: which case a raw Amazon row belongs to, and what the case says.

Pure functions over typed views of the raw rows (no database, no clock), so the rules can be
read and tested in one place. A case is always rebuilt from *all* of its source rows, never
patched by the row that changed, so building is idempotent and independent of row order.

**Claim ids** (`refund_engine_cases.claim_id`, unique per user):
- a reimbursement row that is not a reversal: `"{reimbursement-id}:{sku}"` (`"{reimbursement-id}"`
  when the row has no SKU) — the claim id `/api/amazon/claims` shows for the same row. One
  reimbursement id spanning several SKUs gives one case per SKU;
- a reversal row (original-reimbursement-id set) belongs to the case it reverses,
  `"{original-reimbursement-id}:{sku}"`: both rows are in its `raw_data`, its amounts and
  quantities are netted and its status is `reversed`. A reversal whose original is not synced
  (older than the backfill) still opens that case, flagged `originalMissing`;
- a financial adjustment (one item of an AdjustmentEvent) whose `TransactionNumber` and
  `SellerSKU` name a synced reimbursement row is that reimbursement being paid out: it joins the
  row's case as a *settlement*. Any other adjustment is a case of its own, `"adj:{row_key}"`.
  When the matching reimbursement arrives later, the `adj:` case becomes `merged` (`mergedInto`
  names the reimbursement's case) and the adjustment moves to that case;
- a ledger loss (below) with units Amazon has not made good: `"ledger:{row_key}"`;
- an id over 128 characters (only with SKUs beyond Amazon's 40-character limit) replaces the SKU
  with `#` and a hash of it.

**Ledger losses.** An inventory-ledger row of event type `Adjustments` with a negative quantity
is a loss Amazon owes for when its reason code says Amazon lost or damaged sellable stock:
`M` (misplaced) and `5` (unrecoverable) are *lost*; `E` (damaged at an Amazon fulfillment
center: sellable → warehouse-damaged) and `Q` (damaged, miscellaneous) are *damaged*. The other
damage codes (`6 7 H K U`) move units that were already unsellable, and `D` (disposed) is
normally the seller's own removal order, so neither is claimable. Per item (FNSKU, else SKU),
units Amazon made good cover losses oldest first, never a loss dated after them: units found
again (`F` adjustments) cover lost units; reimbursements with reason `Lost_Warehouse` or
`Damaged_Warehouse`, net of their reversals, cover lost or damaged units. A loss with uncovered
units is a `detected` case the refund engine can file; once fully covered it becomes `resolved`
(a fully covered loss never opens a case). Customer returns that never came back are not
detected: that needs the refund events of orders, which the hub does not sync.

**Statuses.** The ledger owns `detected`, `synced` (reimbursement or adjustment data),
`reversed`, `resolved`, `merged` and `linked` (a `synced` case linked to an MCDE document;
`detected` and `reversed` keep their status when linked: their `mcdeDocId` shows the link). Any
other status was set downstream (e.g. by the refund engine) and is never overwritten.

Money is integer minor units with its ISO currency; timestamps are UTC ISO 8601 strings.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

MAX_CLAIM_ID = 128
REIMBURSEMENT_CLAIM = "reimbursement"
ADJUSTMENT_PREFIX = "adj:"
LEDGER_PREFIX = "ledger:"

DETECTED = "detected"
SYNCED = "synced"
LINKED = "linked"
REVERSED = "reversed"
RESOLVED = "resolved"
MERGED = "merged"
LEDGER_STATUSES = frozenset({DETECTED, SYNCED, LINKED, REVERSED, RESOLVED, MERGED})
# Cases whose cost document the ledger maintains (merged and resolved cases need none).
LINKABLE_STATUSES = frozenset({DETECTED, SYNCED, LINKED, REVERSED})

LEDGER_ADJUSTMENTS = "Adjustments"
LOST_CODES = frozenset({"M", "5"})
DAMAGED_CODES = frozenset({"E", "Q"})
FOUND_CODE = "F"
LOSS_CODES = LOST_CODES | DAMAGED_CODES
LEDGER_CODES = LOSS_CODES | {FOUND_CODE}
WAREHOUSE_REASONS = frozenset({"Lost_Warehouse", "Damaged_Warehouse"})
# Bump when a rule changes: the next build then re-derives every case (not only changed rows).
RULES_VERSION = 1

LossKind = Literal["lost", "damaged"]


@dataclass(frozen=True)
class ReimbursementRow:
    """A row of `amazon_reimbursements` (GET_FBA_REIMBURSEMENTS_DATA)."""

    id: int
    row_key: str
    reimbursement_id: str
    sku: str | None
    currency: str
    fnsku: str | None = None
    asin: str | None = None
    case_id: str | None = None
    amazon_order_id: str | None = None
    reason: str | None = None
    condition: str | None = None
    amount_per_unit: int = 0
    amount_total: int = 0
    quantity_cash: int = 0
    quantity_inventory: int = 0
    quantity_total: int = 0
    original_reimbursement_id: str | None = None
    original_reimbursement_type: str | None = None
    approved_at: datetime | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)
    synced_at: datetime | None = None  # when the row last changed (incremental builds)

    @property
    def is_reversal(self) -> bool:
        return bool(self.original_reimbursement_id)

    @property
    def case_reimbursement_id(self) -> str:
        """The reimbursement whose case this row belongs to."""
        return self.original_reimbursement_id or self.reimbursement_id


@dataclass(frozen=True)
class AdjustmentRow:
    """An AdjustmentEvent item of `amazon_financial_events`."""

    id: int
    row_key: str
    currency: str
    event_type: str | None = None
    posted_at: datetime | None = None
    sku: str | None = None
    fnsku: str | None = None
    asin: str | None = None
    quantity: int = 0
    amount: int = 0
    description: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)
    synced_at: datetime | None = None

    @property
    def transaction_number(self) -> str | None:
        return transaction_number(self.raw)


@dataclass(frozen=True)
class LedgerRow:
    """A row of `amazon_ledger_events` (GET_LEDGER_DETAIL_VIEW_DATA)."""

    id: int
    row_key: str
    event_at: datetime | None
    event_type: str | None
    reason: str | None
    quantity: int
    sku: str | None = None
    fnsku: str | None = None
    asin: str | None = None
    reference_id: str | None = None
    fulfillment_center: str | None = None
    disposition: str | None = None
    country: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)
    synced_at: datetime | None = None


@dataclass(frozen=True)
class CaseDraft:
    """What a case should say: the build compares it with the stored case."""

    claim_id: str
    status: str  # the ledger's status before linking (`synced`, not `linked`)
    normalized: dict[str, Any]
    raw_data: dict[str, Any]


# -- claim ids ---------------------------------------------------------------------------------


def reimbursement_claim_id(reimbursement_id: str, sku: str | None) -> str:
    claim = f"{reimbursement_id}:{sku}" if sku else reimbursement_id
    if len(claim) <= MAX_CLAIM_ID:
        return claim
    digest = hashlib.sha256((sku or "").encode()).hexdigest()[:24]
    return f"{reimbursement_id[: MAX_CLAIM_ID - 26]}:#{digest}"


def claim_id_of_reimbursement(row: ReimbursementRow) -> str:
    return reimbursement_claim_id(row.case_reimbursement_id, row.sku)


def adjustment_claim_id(row_key: str) -> str:
    return f"{ADJUSTMENT_PREFIX}{row_key}"


def ledger_claim_id(row_key: str) -> str:
    return f"{LEDGER_PREFIX}{row_key}"


def transaction_number(raw: Mapping[str, Any]) -> str | None:
    """The reimbursement id an adjustment item carries (Finances' `TransactionNumber`)."""
    item = raw.get("item")
    if not isinstance(item, Mapping):
        return None
    value = item.get("TransactionNumber")
    return str(value) if value not in (None, "") else None


# -- reimbursement cases ---------------------------------------------------------------------


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def iso_date(value: datetime | None) -> str | None:
    return value.astimezone(UTC).date().isoformat() if value is not None else None


def _source_row(row_key: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    return {"rowKey": row_key, "raw": dict(raw)}


def _settlement(adjustment: AdjustmentRow) -> dict[str, Any]:
    return {
        "rowKey": adjustment.row_key,
        "adjustmentType": adjustment.event_type,
        "transactionNumber": adjustment.transaction_number,
        "postedAt": iso(adjustment.posted_at),
        "amount": adjustment.amount,
        "currency": adjustment.currency,
        "quantity": adjustment.quantity,
    }


def reimbursement_case(
    rows: Sequence[ReimbursementRow], adjustments: Sequence[AdjustmentRow] = ()
) -> CaseDraft:
    """The case of one `(reimbursement id, sku)`: its row, the reversals of it and the financial
    adjustments that paid them out. `rows` must all belong to the same claim."""
    if not rows:
        raise ValueError("a reimbursement case needs at least one row")
    claims = {claim_id_of_reimbursement(row) for row in rows}
    if len(claims) != 1:
        raise ValueError(f"rows of several claims: {sorted(claims)}")
    originals = sorted((r for r in rows if not r.is_reversal), key=lambda r: r.row_key)
    reversals = sorted(
        (r for r in rows if r.is_reversal),
        key=lambda r: (iso(r.approved_at) or "", r.reimbursement_id, r.row_key),
    )
    original = originals[0] if originals else None
    base = original or reversals[0]
    currency = base.currency
    mismatch = False

    reversed_amount = reversed_quantity = 0
    reversal_items = []
    for reversal in reversals:
        amount = -abs(reversal.amount_total)
        quantity = -abs(reversal.quantity_total or reversal.quantity_cash)
        if reversal.currency == currency:
            reversed_amount += amount
        else:
            mismatch = True
        reversed_quantity += quantity
        reversal_items.append(
            {
                "reimbursementId": reversal.reimbursement_id,
                "approvedAt": iso(reversal.approved_at),
                "amount": amount,
                "currency": reversal.currency,
                "quantity": quantity,
            }
        )
    settlements = sorted(
        (_settlement(a) for a in adjustments), key=lambda s: (s["postedAt"] or "", s["rowKey"])
    )
    settled_amount = 0
    for settlement in settlements:
        if settlement["currency"] == currency:
            settled_amount += settlement["amount"]
        else:
            mismatch = True

    amount_total = original.amount_total if original else 0
    quantity_total = original.quantity_total if original else 0
    event_at = original.approved_at if original else reversals[0].approved_at
    if event_at is None:
        posted = [a.posted_at for a in adjustments if a.posted_at is not None]
        event_at = min(posted) if posted else None
    net_amount = amount_total + reversed_amount
    net_quantity = quantity_total + reversed_quantity
    product_name = (original or base).raw.get("product-name") or None
    normalized: dict[str, Any] = {
        "source": REIMBURSEMENT_CLAIM,
        "reimbursementId": base.case_reimbursement_id,
        "amazonCaseId": base.case_id,
        "amazonOrderId": base.amazon_order_id,
        "sku": base.sku,
        "fnsku": base.fnsku,
        "asin": base.asin,
        "productName": product_name,
        "reason": original.reason if original else base.original_reimbursement_type,
        "condition": base.condition,
        "currency": currency,
        "amountPerUnit": original.amount_per_unit if original else 0,
        "amountTotal": amount_total,
        "quantityCash": original.quantity_cash if original else 0,
        "quantityInventory": original.quantity_inventory if original else 0,
        "quantityTotal": quantity_total,
        "approvedAt": iso(original.approved_at) if original else None,
        "reversals": reversal_items,
        "reversedAmount": reversed_amount,
        "reversedQuantity": reversed_quantity,
        "netAmount": net_amount,
        "netQuantity": net_quantity,
        "fullyReversed": bool(original and reversals and net_amount <= 0 and net_quantity <= 0),
        "originalMissing": original is None,
        "settlements": settlements,
        "settledAmount": settled_amount,
        "currencyMismatch": mismatch,
        "eventAt": iso(event_at),
        "eventDate": iso_date(event_at),
    }
    raw_data = {
        "reimbursements": [_source_row(r.row_key, r.raw) for r in originals],
        "reversals": [_source_row(r.row_key, r.raw) for r in reversals],
        "adjustments": [
            _source_row(a.row_key, a.raw) for a in sorted(adjustments, key=lambda a: a.row_key)
        ],
    }
    return CaseDraft(
        claim_id=next(iter(claims)),
        status=REVERSED if reversals else SYNCED,
        normalized=normalized,
        raw_data=raw_data,
    )


# -- adjustment cases ------------------------------------------------------------------------


def adjustment_case(row: AdjustmentRow, *, merged_into: str | None = None) -> CaseDraft:
    """An adjustment no synced reimbursement accounts for; `merged_into` once one does."""
    normalized: dict[str, Any] = {
        "source": "adjustment",
        "adjustmentType": row.event_type,
        "transactionNumber": row.transaction_number,
        "sku": row.sku,
        "fnsku": row.fnsku,
        "asin": row.asin,
        "productName": row.description,
        "reason": row.event_type,
        "currency": row.currency,
        "amountTotal": row.amount,
        "quantityTotal": row.quantity,
        "postedAt": iso(row.posted_at),
        "eventAt": iso(row.posted_at),
        "eventDate": iso_date(row.posted_at),
    }
    if merged_into is not None:
        normalized["mergedInto"] = merged_into
    return CaseDraft(
        claim_id=adjustment_claim_id(row.row_key),
        status=MERGED if merged_into is not None else SYNCED,
        normalized=normalized,
        raw_data={"adjustments": [_source_row(row.row_key, row.raw)]},
    )


# -- ledger losses ---------------------------------------------------------------------------


def loss_kind(row: LedgerRow) -> LossKind | None:
    if row.event_type != LEDGER_ADJUSTMENTS or row.quantity >= 0:
        return None
    if row.reason in LOST_CODES:
        return "lost"
    if row.reason in DAMAGED_CODES:
        return "damaged"
    return None


def is_found(row: LedgerRow) -> bool:
    return row.event_type == LEDGER_ADJUSTMENTS and row.reason == FOUND_CODE and row.quantity > 0


def item_key(fnsku: str | None, sku: str | None) -> str | None:
    """What a ledger loss and a reimbursement must share to cover each other."""
    if fnsku:
        return fnsku
    return f"sku:{sku}" if sku else None


@dataclass(frozen=True)
class Cover:
    kind: Literal["found", "reimbursement"]
    reference: str
    day: date
    units: int

    @property
    def covers(self) -> frozenset[LossKind]:
        return frozenset({"lost"}) if self.kind == "found" else frozenset({"lost", "damaged"})


@dataclass
class LossAssessment:
    row: LedgerRow
    kind: LossKind
    units: int
    covered_by: list[dict[str, Any]] = field(default_factory=list)

    @property
    def covered(self) -> int:
        return sum(int(c["quantity"]) for c in self.covered_by)

    @property
    def uncovered(self) -> int:
        return self.units - self.covered


def _day(value: datetime | None) -> date:
    return value.astimezone(UTC).date() if value is not None else date.min


def covers_from(
    ledger: Iterable[LedgerRow], reimbursements: Iterable[ReimbursementRow]
) -> dict[str, list[Cover]]:
    """Units Amazon made good, per item: found units, and warehouse reimbursements net of
    their reversals (a reversal takes back units of the reimbursement it names)."""
    covers: dict[str, list[Cover]] = {}
    for row in ledger:
        key = item_key(row.fnsku, row.sku)
        if key and is_found(row):
            covers.setdefault(key, []).append(
                Cover("found", row.row_key, _day(row.event_at), row.quantity)
            )
    originals: dict[tuple[str, str | None], ReimbursementRow] = {}
    taken_back: dict[tuple[str, str | None], int] = {}
    for r in reimbursements:
        claim = (r.case_reimbursement_id, r.sku)
        if r.is_reversal:
            taken_back[claim] = taken_back.get(claim, 0) + abs(r.quantity_total)
        elif r.reason in WAREHOUSE_REASONS:
            originals[claim] = r
    for claim, original in originals.items():
        key = item_key(original.fnsku, original.sku)
        units = original.quantity_total - taken_back.get(claim, 0)
        if key and units > 0:
            covers.setdefault(key, []).append(
                Cover("reimbursement", original.reimbursement_id, _day(original.approved_at), units)
            )
    return covers


def assess_losses(
    ledger: Iterable[LedgerRow], reimbursements: Iterable[ReimbursementRow]
) -> list[LossAssessment]:
    """Every loss of the given rows with the units that cover it (first in, first covered).

    Give all the ledger rows and reimbursements of the items concerned: covering is per item
    and depends on every loss and cover of that item.
    """
    ledger = list(ledger)
    losses: dict[str, list[LossAssessment]] = {}
    for row in ledger:
        kind = loss_kind(row)
        key = item_key(row.fnsku, row.sku)
        if kind and key:
            losses.setdefault(key, []).append(LossAssessment(row, kind, -row.quantity))
    covers = covers_from(ledger, reimbursements)
    assessed: list[LossAssessment] = []
    for key in sorted(losses):
        item_losses = sorted(losses[key], key=lambda a: (iso(a.row.event_at) or "", a.row.row_key))
        _allocate(item_losses, covers.get(key, []))
        assessed.extend(item_losses)
    return assessed


def _allocate(losses: list[LossAssessment], covers: list[Cover]) -> None:
    """Each cover, in date order, pays the oldest open losses of its kinds dated on or before
    it. Both lists are in date order, so each kind's queue of open losses only moves forward."""
    queues: dict[LossKind, deque[LossAssessment]] = {
        "lost": deque(a for a in losses if a.kind == "lost"),
        "damaged": deque(a for a in losses if a.kind == "damaged"),
    }
    order = {"found": 0, "reimbursement": 1}
    for cover in sorted(covers, key=lambda c: (c.day, order[c.kind], c.reference)):
        units = cover.units
        while units > 0:
            heads = [
                queues[kind][0]
                for kind in sorted(cover.covers)
                if queues[kind] and _day(queues[kind][0].row.event_at) <= cover.day
            ]
            if not heads:
                break
            loss = min(heads, key=lambda a: (iso(a.row.event_at) or "", a.row.row_key))
            take = min(units, loss.uncovered)
            loss.covered_by.append(
                {
                    "kind": cover.kind,
                    "reference": cover.reference,
                    "date": cover.day.isoformat(),
                    "quantity": take,
                }
            )
            units -= take
            if loss.uncovered == 0:
                queues[loss.kind].popleft()


def _int_or_none(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def ledger_case(assessment: LossAssessment) -> CaseDraft:
    row = assessment.row
    normalized: dict[str, Any] = {
        "source": "ledger",
        "eventType": row.event_type,
        "reasonCode": row.reason,
        "reason": "Lost_Warehouse" if assessment.kind == "lost" else "Damaged_Warehouse",
        "lossKind": assessment.kind,
        "referenceId": row.reference_id,
        "sku": row.sku,
        "fnsku": row.fnsku,
        "asin": row.asin,
        "productName": row.raw.get("title") or None,
        "fulfillmentCenter": row.fulfillment_center,
        "disposition": row.disposition,
        "country": row.country,
        "quantityTotal": assessment.units,
        "quantityCovered": assessment.covered,
        "quantityUnreimbursed": assessment.uncovered,
        "coveredBy": assessment.covered_by,
        "reconciledQuantity": _int_or_none(row.raw.get("reconciled-quantity")),
        "unreconciledQuantity": _int_or_none(row.raw.get("unreconciled-quantity")),
        "eventAt": iso(row.event_at),
        "eventDate": iso_date(row.event_at),
    }
    return CaseDraft(
        claim_id=ledger_claim_id(row.row_key),
        status=DETECTED if assessment.uncovered > 0 else RESOLVED,
        normalized=normalized,
        raw_data={"ledger": [_source_row(row.row_key, row.raw)]},
    )


# -- statuses and changes --------------------------------------------------------------------


def case_status(current: str | None, base: str, *, linked: bool) -> str:
    """The status a case should have: the ledger's own, unless someone downstream owns it."""
    if current is not None and current not in LEDGER_STATUSES:
        return current
    if base == SYNCED and linked:
        return LINKED
    return base


def changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Field by field, what differs between two normalized cases."""
    return {
        name: {"from": old.get(name), "to": new.get(name)}
        for name in sorted(set(old) | set(new))
        if old.get(name) != new.get(name)
    }


def row_keys(raw_data: Mapping[str, Any]) -> set[str]:
    return {
        str(item.get("rowKey"))
        for rows in raw_data.values()
        if isinstance(rows, list)
        for item in rows
        if isinstance(item, Mapping)
    }
