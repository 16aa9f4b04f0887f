from __future__ import annotations

from fastapi import APIRouter

from opside_hub.api.deps import CurrentUser, SessionDep
from opside_hub.core.schemas import Envelope
from opside_hub.integrations.schemas import Integrations
from opside_hub.integrations.service import list_integrations

router = APIRouter(tags=["integrations"])


@router.get(
    "/integrations",
    response_model=Envelope[Integrations],
    summary="Connection status of Amazon, Gmail and Stripe for the user",
)
async def integrations(user: CurrentUser, session: SessionDep) -> Envelope[Integrations]:
    return Envelope(data=Integrations.model_validate(await list_integrations(session, user.id)))
