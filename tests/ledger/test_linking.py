"""Choosing a case's MCDE document, without a database."""

from __future__ import annotations

from datetime import date

from opside_hub.ledger.linking import Document, DocumentIndex, LinkDecision, choose_document

EVENT = date(2025, 3, 10)


def doc(
    document_id: str, day: date, *, sku: str | None = "SKU-A", asin: str | None = None
) -> Document:
    return Document(
        id=f"id-{document_id}", document_id=document_id, sku=sku, asin=asin, document_date=day
    )


def choose(
    documents: list[Document],
    *,
    sku: str | None = "SKU-A",
    asin: str | None = "B001",
    event: date | None = EVENT,
) -> LinkDecision | None:
    return choose_document(DocumentIndex(documents), sku=sku, asin=asin, event_date=event)


def test_latest_document_on_or_before_the_event_wins() -> None:
    decision = choose(
        [doc("old", date(2024, 1, 1)), doc("new", date(2025, 2, 1)), doc("later", date(2025, 4, 1))]
    )
    assert decision is not None
    assert decision.document.document_id == "new"
    assert (decision.rule, decision.matched_by, decision.linked_after_event) == (
        "latest_on_or_before",
        "sku",
        False,
    )
    assert [d.document_id for d in decision.candidates] == ["old", "new", "later"]


def test_a_document_of_the_event_day_counts_as_before() -> None:
    decision = choose([doc("same-day", EVENT), doc("later", date(2025, 3, 11))])
    assert decision is not None
    assert decision.document.document_id == "same-day"
    assert not decision.linked_after_event


def test_only_later_documents_link_the_earliest_flagged() -> None:
    decision = choose([doc("b", date(2025, 5, 1)), doc("a", date(2025, 4, 1))])
    assert decision is not None
    assert decision.document.document_id == "a"
    assert decision.rule == "earliest_after"
    assert decision.linked_after_event


def test_sku_is_preferred_over_asin() -> None:
    by_asin = doc("asin-doc", date(2025, 3, 1), sku=None, asin="B001")
    by_sku = doc("sku-doc", date(2025, 6, 1))  # even dated after the event
    decision = choose([by_asin, by_sku])
    assert decision is not None
    assert decision.document.document_id == "sku-doc"
    assert decision.matched_by == "sku"
    fallback = choose([by_asin, doc("other-sku", date(2025, 1, 1), sku="SKU-B")])
    assert fallback is not None
    assert (fallback.document.document_id, fallback.matched_by) == ("asin-doc", "asin")


def test_ties_go_to_the_lowest_document_id() -> None:
    same = date(2025, 3, 1)
    decision = choose([doc("doc-b", same), doc("doc-c", same), doc("doc-a", same)])
    assert decision is not None
    assert decision.document.document_id == "doc-a"
    later = date(2025, 4, 1)
    after = choose([doc("z", later), doc("y", later)])
    assert after is not None
    assert after.document.document_id == "y"


def test_no_event_date_takes_the_latest_and_no_match_links_nothing() -> None:
    decision = choose([doc("a", date(2024, 1, 1)), doc("b", date(2025, 1, 1))], event=None)
    assert decision is not None
    assert (decision.document.document_id, decision.rule) == ("b", "latest_no_event_date")
    assert choose([doc("a", date(2024, 1, 1), sku="OTHER")]) is None
    assert choose([doc("a", date(2024, 1, 1))], sku=None, asin=None) is None


def test_audit_names_the_reason_and_the_candidates() -> None:
    decision = choose([doc("a", date(2025, 1, 1)), doc("b", date(2025, 4, 1))])
    assert decision is not None
    audit = decision.audit()
    assert audit["documentId"] == "a"
    assert audit["matchedBy"] == "sku"
    assert audit["rule"] == "latest_on_or_before"
    assert audit["eventDate"] == "2025-03-10"
    assert audit["candidateCount"] == 2
    assert [c["documentId"] for c in audit["candidates"]] == ["a", "b"]
    assert audit["candidates"][0]["unitCost"] == {"amount": 0, "currency": "USD"}
    assert "on or before" in audit["reason"]
