from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from opside_hub.api.deps import CurrentUser, SessionDep
from opside_hub.core.pagination import PageDep
from opside_hub.core.schemas import Envelope, Page
from opside_hub.ledger import cases as case_service
from opside_hub.ledger import mcde
from opside_hub.ledger.repository import CaseFilters
from opside_hub.ledger.schemas import Case, CaseDetail, McdeDocumentBatch, Registration

router = APIRouter()


@router.get(
    "/cases",
    response_model=Page[Case],
    tags=["ledger"],
    summary="The case ledger, newest event first",
)
async def list_cases(
    user: CurrentUser,
    session: SessionDep,
    page: PageDep,
    status: Annotated[str | None, Query(max_length=32, description="caseStatus")] = None,
    sku: Annotated[str | None, Query(max_length=255)] = None,
    asin: Annotated[str | None, Query(max_length=32)] = None,
    reason: Annotated[str | None, Query(max_length=128)] = None,
    from_: Annotated[
        str | None,
        Query(alias="from", max_length=40, description="event ≥ (a date, or ISO 8601 with offset)"),
    ] = None,
    to: Annotated[
        str | None, Query(max_length=40, description="event < (a date, or ISO 8601 with offset)")
    ] = None,
    linked: Annotated[bool | None, Query(description="has an MCDE document")] = None,
) -> Page[Case]:
    filters = CaseFilters(
        status=status,
        sku=sku,
        asin=asin,
        reason=reason,
        event_from=case_service.event_bound(from_, "from"),
        event_to=case_service.event_bound(to, "to"),
        linked=linked,
    )
    return await case_service.cases_page(session, user, filters, page)


@router.get(
    "/cases/{case_id}",
    response_model=Envelope[CaseDetail],
    tags=["ledger"],
    summary="One case with its MCDE document and audit trail",
)
async def get_case(user: CurrentUser, session: SessionDep, case_id: str) -> Envelope[CaseDetail]:
    return Envelope(data=await case_service.case_detail(session, user, case_id))


@router.post(
    "/mcde/documents",
    response_model=Envelope[Registration],
    tags=["mcde"],
    summary="Register MCDE cost documents (idempotent by documentId); cases relink in a job",
)
async def register_documents(
    user: CurrentUser, session: SessionDep, batch: McdeDocumentBatch
) -> Envelope[Registration]:
    return Envelope(data=await mcde.register_documents(session, user.id, batch))
