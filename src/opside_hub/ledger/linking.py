"""Which MCDE cost document a case links to: a pure rule, so every decision can be explained.

- **Pool**: the user's documents for the case's SKU; only when there is none, those for its ASIN
  (a SKU names the exact listing, an ASIN may be shared by several SKUs and conditions).
- **Choice**: the document with the latest `document_date` on or before the case's event date
  (the cost that applied when the loss or reimbursement happened); when every document is dated
  after it, the earliest one, flagged `linkedAfterEvent`. A case without an event date takes the
  latest document. Documents of the same date: the lowest `document_id` wins, always.
- The decision records its reason and the candidates considered, for the audit trail.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

MAX_CANDIDATES_AUDITED = 20

Rule = Literal["latest_on_or_before", "earliest_after", "latest_no_event_date"]


@dataclass(frozen=True)
class Document:
    id: str  # our row id (`mcde_documents.id`)
    document_id: str  # the MCDE service's id
    sku: str | None
    asin: str | None
    document_date: date
    unit_cost_amount: int = 0
    currency: str = "USD"
    supplier: str | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "documentId": self.document_id,
            "documentDate": self.document_date.isoformat(),
            "sku": self.sku,
            "asin": self.asin,
            "unitCost": {"amount": self.unit_cost_amount, "currency": self.currency},
        }


@dataclass(frozen=True)
class LinkDecision:
    document: Document
    matched_by: Literal["sku", "asin"]
    rule: Rule
    linked_after_event: bool
    event_date: date | None
    candidates: tuple[Document, ...]

    @property
    def reason(self) -> str:
        when = {
            "latest_on_or_before": "the latest document dated on or before the event",
            "earliest_after": "no document dated on or before the event: the earliest after it",
            "latest_no_event_date": "the case has no event date: the latest document",
        }[self.rule]
        return f"same {self.matched_by.upper()}; {when}"

    def audit(self) -> dict[str, Any]:
        return {
            "documentId": self.document.document_id,
            "matchedBy": self.matched_by,
            "rule": self.rule,
            "reason": self.reason,
            "linkedAfterEvent": self.linked_after_event,
            "eventDate": self.event_date.isoformat() if self.event_date else None,
            "candidateCount": len(self.candidates),
            "candidates": [d.summary() for d in self.candidates[:MAX_CANDIDATES_AUDITED]],
        }


def _order(document: Document) -> tuple[date, str]:
    return document.document_date, document.document_id


class DocumentIndex:
    """A user's documents by SKU and by ASIN, each list in (date, document_id) order."""

    def __init__(self, documents: Iterable[Document]) -> None:
        self.by_sku: dict[str, list[Document]] = {}
        self.by_asin: dict[str, list[Document]] = {}
        self.by_id: dict[str, Document] = {}
        for document in documents:
            self.by_id[document.id] = document
            if document.sku:
                self.by_sku.setdefault(document.sku, []).append(document)
            if document.asin:
                self.by_asin.setdefault(document.asin, []).append(document)
        for pool in (*self.by_sku.values(), *self.by_asin.values()):
            pool.sort(key=_order)

    def __len__(self) -> int:
        return len(self.by_id)


def choose_document(
    index: DocumentIndex, *, sku: str | None, asin: str | None, event_date: date | None
) -> LinkDecision | None:
    matched_by: Literal["sku", "asin"]
    if sku and index.by_sku.get(sku):
        pool, matched_by = index.by_sku[sku], "sku"
    elif asin and index.by_asin.get(asin):
        pool, matched_by = index.by_asin[asin], "asin"
    else:
        return None
    rule: Rule
    if event_date is None:
        latest = pool[-1].document_date
        chosen, rule = _first_of_day(pool, latest), "latest_no_event_date"
    else:
        before = [d for d in pool if d.document_date <= event_date]
        if before:
            chosen, rule = _first_of_day(pool, before[-1].document_date), "latest_on_or_before"
        else:
            chosen, rule = pool[0], "earliest_after"
    return LinkDecision(
        document=chosen,
        matched_by=matched_by,
        rule=rule,
        linked_after_event=rule == "earliest_after",
        event_date=event_date,
        candidates=tuple(pool),
    )


def _first_of_day(pool: list[Document], day: date) -> Document:
    return next(d for d in pool if d.document_date == day)
