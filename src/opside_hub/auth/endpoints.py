from __future__ import annotations

from fastapi import APIRouter

from opside_hub.api.deps import CurrentUser
from opside_hub.auth.schemas import Me
from opside_hub.core.schemas import Envelope

router = APIRouter(tags=["auth"])


@router.get("/me", response_model=Envelope[Me], summary="The authenticated user")
async def me(user: CurrentUser) -> Envelope[Me]:
    return Envelope(data=Me(id=user.id, email=user.email, created_at=user.created_at))
