from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, status

from opside_hub.api.deps import CurrentUser, SessionDep
from opside_hub.core.pagination import PageDep
from opside_hub.core.schemas import Envelope, ErrorEnvelope, Page
from opside_hub.sync import service
from opside_hub.sync.schemas import SyncStart, SyncStarted, SyncStatistics, SyncStatus

router = APIRouter(prefix="/sync", tags=["sync"])


@router.post(
    "/start",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Envelope[SyncStarted],
    responses={409: {"model": ErrorEnvelope, "description": "A sync is already running"}},
    summary="Start a sync of the connected providers (one at a time per user)",
)
async def start(
    user: CurrentUser, session: SessionDep, body: Annotated[SyncStart | None, Body()] = None
) -> Envelope[SyncStarted]:
    job = await service.start_sync(
        session,
        user.id,
        providers=list(body.providers) if body and body.providers else None,
        trigger="manual",
    )
    return Envelope(data=SyncStarted(sync_id=job.id, status="queued"))


@router.get("/status/{sync_id}", response_model=Envelope[SyncStatus], summary="A sync's progress")
async def sync_status(sync_id: str, user: CurrentUser, session: SessionDep) -> Envelope[SyncStatus]:
    return Envelope(data=await service.get_status(session, user.id, sync_id))


@router.get("/history", response_model=Page[SyncStatus], summary="The user's syncs, newest first")
async def history(user: CurrentUser, session: SessionDep, page: PageDep) -> Page[SyncStatus]:
    return await service.history_page(session, user.id, page)


@router.delete(
    "/cancel/{sync_id}",
    response_model=Envelope[SyncStatus],
    responses={409: {"model": ErrorEnvelope, "description": "The sync has already finished"}},
    summary="Cancel a sync; a running one stops at its next safe point",
)
async def cancel(sync_id: str, user: CurrentUser, session: SessionDep) -> Envelope[SyncStatus]:
    return Envelope(data=await service.cancel(session, user.id, sync_id))


@router.get("/statistics", response_model=Envelope[SyncStatistics], summary="Sync statistics")
async def statistics(user: CurrentUser, session: SessionDep) -> Envelope[SyncStatistics]:
    return Envelope(data=await service.get_statistics(session, user.id))
