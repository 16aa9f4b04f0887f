from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from opside_hub.db.models import OAuthState, Token


async def get_token(session: AsyncSession, user_id: str, provider: str) -> Token | None:
    result = await session.execute(
        select(Token).where(Token.user_id == user_id, Token.provider == provider)
    )
    return result.scalar_one_or_none()


async def list_tokens(session: AsyncSession, user_id: str) -> Sequence[Token]:
    result = await session.execute(select(Token).where(Token.user_id == user_id))
    return result.scalars().all()


async def delete_token(session: AsyncSession, user_id: str, provider: str) -> bool:
    result = await session.execute(
        delete(Token).where(Token.user_id == user_id, Token.provider == provider)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def tokens_refreshed_before(
    session: AsyncSession, cutoff: datetime, limit: int
) -> Sequence[tuple[str, str]]:
    result = await session.execute(
        select(Token.user_id, Token.provider)
        .where(Token.status == "active", Token.refresh_token_enc.is_not(None))
        .where((Token.last_refreshed_at.is_(None)) | (Token.last_refreshed_at < cutoff))
        .order_by(Token.last_refreshed_at)
        .limit(limit)
    )
    return [(row.user_id, row.provider) for row in result]


async def token_batch(session: AsyncSession, after_id: str, limit: int) -> Sequence[Token]:
    result = await session.execute(
        select(Token).where(Token.id > after_id).order_by(Token.id).limit(limit)
    )
    return result.scalars().all()


async def state_batch(session: AsyncSession, after_id: str, limit: int) -> Sequence[OAuthState]:
    result = await session.execute(
        select(OAuthState)
        .where(OAuthState.id > after_id, OAuthState.code_verifier_enc.is_not(None))
        .order_by(OAuthState.id)
        .limit(limit)
    )
    return result.scalars().all()


async def replace_sealed(
    session: AsyncSession,
    model: type[Token] | type[OAuthState],
    row_id: str,
    column: str,
    old: str,
    new: str,
) -> bool:
    """Swap one sealed value only if nobody changed it meanwhile (a refresh may race a rotation)."""
    attribute = getattr(model, column)
    result = await session.execute(
        update(model).where(model.id == row_id, attribute == old).values({column: new})
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
