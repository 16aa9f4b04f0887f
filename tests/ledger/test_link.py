"""`link_documents` against a real database, and the job the MCDE route defers."""

from __future__ import annotations

from datetime import date

from sqlalchemy import update

from opside_hub.core.queue import JobContext
from opside_hub.db.models import McdeDocument, RefundEngineCase
from opside_hub.db.session import transaction
from opside_hub.ledger import tasks
from opside_hub.ledger.service import build_cases, link_documents
from opside_hub.runtime import Runtime
from tests.ledger.helpers import (
    T0,
    add_document,
    cases_of,
    create_sync,
    events_of,
    ledger_event,
    reimbursement,
    seed,
)

USER = "seller-1"
EVENT_DAY = T0.date()  # 2025-01-10


async def _one_case(runtime: Runtime) -> str:
    await seed(runtime, USER, reimbursements=[reimbursement("R1", "SKU-A")])
    await build_cases(runtime, USER, sync_id=None)
    return "R1:SKU-A"


async def _document_of(runtime: Runtime, claim: str) -> str | None:
    case = (await cases_of(runtime, USER))[claim]
    if case.mcde_doc_id is None:
        return None
    async with runtime.sessions() as session:
        document = await session.get(McdeDocument, case.mcde_doc_id)
        assert document is not None
        return document.document_id


async def test_same_day_document_links_and_is_audited(runtime: Runtime) -> None:
    claim = await _one_case(runtime)
    await add_document(runtime, USER, "doc-old", document_date=date(2024, 6, 1), sku="SKU-A")
    await add_document(runtime, USER, "doc-same-day", document_date=EVENT_DAY, sku="SKU-A")
    await add_document(runtime, USER, "doc-after", document_date=date(2025, 2, 1), sku="SKU-A")
    sync_id = await create_sync(runtime, USER)

    counts = await link_documents(runtime, USER, sync_id=sync_id)

    assert (counts.linked, counts.relinked, counts.unlinked) == (1, 0, 0)
    case = (await cases_of(runtime, USER))[claim]
    assert case.case_status == "linked"
    assert await _document_of(runtime, claim) == "doc-same-day"
    entry = case.audit_log[-1]
    assert entry["action"] == "linked"
    assert (entry["actor"], entry["syncId"]) == ("sync", sync_id)
    assert entry["status"] == {"from": "synced", "to": "linked"}
    document = entry["document"]
    assert document["documentId"] == "doc-same-day"
    assert (document["matchedBy"], document["rule"], document["linkedAfterEvent"]) == (
        "sku",
        "latest_on_or_before",
        False,
    )
    assert document["eventDate"] == "2025-01-10"
    assert [c["documentId"] for c in document["candidates"]] == [
        "doc-old",
        "doc-same-day",
        "doc-after",
    ]
    assert "doc-same-day" in entry["message"]
    event = (await events_of(runtime, USER))[-1]
    assert (event.kind, event.stage, event.case_id) == ("case.linked", "linking_documents", case.id)


async def test_only_later_documents_link_flagged_then_a_better_one_relinks(
    runtime: Runtime,
) -> None:
    claim = await _one_case(runtime)
    await add_document(runtime, USER, "doc-later", document_date=date(2025, 3, 1), sku="SKU-A")
    await link_documents(runtime, USER, sync_id=None)
    case = (await cases_of(runtime, USER))[claim]
    assert case.audit_log[-1]["document"]["linkedAfterEvent"] is True
    assert case.audit_log[-1]["document"]["rule"] == "earliest_after"

    await add_document(runtime, USER, "doc-before", document_date=date(2024, 12, 1), sku="SKU-A")
    counts = await link_documents(runtime, USER, sync_id=None)

    assert (counts.linked, counts.relinked) == (0, 1)
    assert await _document_of(runtime, claim) == "doc-before"
    case = (await cases_of(runtime, USER))[claim]
    entry = case.audit_log[-1]
    assert entry["action"] == "relinked"
    assert entry["previousDocumentId"] == "doc-later"
    assert entry["document"]["documentId"] == "doc-before"
    assert "status" not in entry  # linked → linked
    assert case.case_status == "linked"


async def test_sku_beats_asin_and_ties_go_to_the_lowest_document_id(runtime: Runtime) -> None:
    claim = await _one_case(runtime)
    await add_document(runtime, USER, "by-asin", document_date=date(2025, 1, 1), asin="B00SKU-A")
    await add_document(runtime, USER, "sku-b", document_date=date(2024, 5, 5), sku="SKU-A")
    await add_document(runtime, USER, "sku-a", document_date=date(2024, 5, 5), sku="SKU-A")
    await link_documents(runtime, USER, sync_id=None)
    assert await _document_of(runtime, claim) == "sku-a"


async def test_asin_is_the_fallback_and_unlinking_is_audited(runtime: Runtime) -> None:
    claim = await _one_case(runtime)
    await add_document(runtime, USER, "by-asin", document_date=date(2025, 1, 1), asin="B00SKU-A")
    await link_documents(runtime, USER, sync_id=None)
    assert await _document_of(runtime, claim) == "by-asin"
    async with transaction(runtime.sessions) as session:
        await session.execute(update(McdeDocument).values(asin="B-OTHER"))

    counts = await link_documents(runtime, USER, sync_id=None)

    assert counts.unlinked == 1
    case = (await cases_of(runtime, USER))[claim]
    assert (case.mcde_doc_id, case.case_status) == (None, "synced")
    assert case.audit_log[-1]["action"] == "unlinked"
    assert case.audit_log[-1]["previousDocumentId"] == "by-asin"


async def test_relinking_again_changes_nothing(runtime: Runtime) -> None:
    await _one_case(runtime)
    await add_document(runtime, USER, "doc", document_date=date(2024, 1, 1), sku="SKU-A")
    await link_documents(runtime, USER, sync_id=None)
    events = len(await events_of(runtime, USER))
    counts = await link_documents(runtime, USER, sync_id=None)
    assert (counts.linked, counts.relinked, counts.unlinked, counts.unchanged) == (0, 0, 0, 1)
    assert len(await events_of(runtime, USER)) == events
    # A rebuild keeps the link and the status.
    again = await build_cases(runtime, USER, sync_id=None)
    assert (again.updated, again.unchanged) == (0, 1)
    assert (await cases_of(runtime, USER))["R1:SKU-A"].case_status == "linked"


async def test_detected_cases_link_and_keep_their_status(runtime: Runtime) -> None:
    await seed(runtime, USER, ledger=[ledger_event("lost", sku="SKU-L", reason="M", quantity=-1)])
    await build_cases(runtime, USER, sync_id=None)
    await add_document(runtime, USER, "doc", document_date=date(2024, 1, 1), sku="SKU-L")
    await link_documents(runtime, USER, sync_id=None)
    case = (await cases_of(runtime, USER))["ledger:lost"]
    assert case.case_status == "detected"
    assert case.mcde_doc_id is not None
    assert "status" not in case.audit_log[-1]


async def test_downstream_statuses_keep_their_link(runtime: Runtime) -> None:
    claim = await _one_case(runtime)
    async with transaction(runtime.sessions) as session:
        await session.execute(update(RefundEngineCase).values(case_status="filed"))
    await add_document(runtime, USER, "doc", document_date=date(2024, 1, 1), sku="SKU-A")
    counts = await link_documents(runtime, USER, sync_id=None)
    assert counts.total == 0
    assert (await cases_of(runtime, USER))[claim].mcde_doc_id is None
    await build_cases(runtime, USER, sync_id=None)
    assert (await cases_of(runtime, USER))[claim].case_status == "filed"


async def test_the_job_skips_when_the_documents_were_already_linked(runtime: Runtime) -> None:
    claim = await _one_case(runtime)
    await add_document(runtime, USER, "doc", document_date=date(2024, 1, 1), sku="SKU-A")
    ctx: JobContext = {"runtime": runtime}  # type: ignore[typeddict-item]

    first = await tasks.link_documents(ctx, user_id=USER)
    second = await tasks.link_documents(ctx, user_id=USER)
    await add_document(runtime, USER, "doc-newer", document_date=date(2024, 6, 1), sku="SKU-A")
    third = await tasks.link_documents(ctx, user_id=USER)

    assert (first["skipped"], first["linked"]) == (False, 1)
    assert second == {"skipped": True}
    assert (third["skipped"], third["relinked"]) == (False, 1)
    assert await _document_of(runtime, claim) == "doc-newer"
    case = (await cases_of(runtime, USER))[claim]
    assert [e["actor"] for e in case.audit_log] == ["system", "mcde", "mcde"]
