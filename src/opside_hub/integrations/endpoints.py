from __future__ import annotations

from fastapi import APIRouter

from opside_hub.api.deps import CurrentUser, SessionDep
from opside_hub.core.schemas import Envelope
from opside_hub.integrations.schemas import Integration
from opside_hub.integrations.service import list_integrations

router = APIRouter(tags=["integrations"])


@router.get(
    "/integrations",
    response_model=Envelope[dict[str, Integration]],
    summary="Connection status of Amazon, Gmail and Stripe for the user",
)
async def integrations(user: CurrentUser, session: SessionDep) -> Envelope[dict[str, Integration]]:
    return Envelope(data=await list_integrations(session, user.id))
