from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from opside_hub.auth.repository import get_or_create_user
from opside_hub.db.bulk import upsert_rows
from opside_hub.db.models import AmazonReimbursement
from opside_hub.db.session import transaction
from opside_hub.runtime import Runtime


def _row(n: int, amount: int = 1000) -> dict[str, Any]:
    return {
        "row_key": f"R{n}|SKU-{n}||",
        "reimbursement_id": f"R{n}",
        "sku": f"SKU-{n}",
        "currency": "USD",
        "amount_per_unit": amount,
        "amount_total": amount,
        "raw": {"reimbursement-id": f"R{n}", "amount-total": str(amount)},
    }


async def test_upsert_writes_new_rows_once_and_only_changed_rows_again(runtime: Runtime) -> None:
    async with transaction(runtime.sessions) as session:
        await get_or_create_user(session, "seller", None)
        first = await upsert_rows(
            session, AmazonReimbursement, "seller", [_row(n) for n in range(1200)]
        )
    async with transaction(runtime.sessions) as session:
        unchanged = await upsert_rows(
            session, AmazonReimbursement, "seller", [_row(n) for n in range(1200)]
        )
    async with transaction(runtime.sessions) as session:
        changed = await upsert_rows(
            session, AmazonReimbursement, "seller", [_row(0, amount=999), _row(1), _row(5000)]
        )
    async with runtime.sessions() as session:
        count = (
            await session.execute(select(func.count()).select_from(AmazonReimbursement))
        ).scalar()
        amount = (
            await session.execute(
                select(AmazonReimbursement.amount_total).where(
                    AmazonReimbursement.row_key == "R0|SKU-0||"
                )
            )
        ).scalar()

    assert (first, unchanged, changed) == (1200, 0, 2)
    assert count == 1201
    assert amount == 999


async def test_upsert_keeps_users_apart(runtime: Runtime) -> None:
    async with transaction(runtime.sessions) as session:
        for user in ("a", "b"):
            await get_or_create_user(session, user, None)
            await upsert_rows(session, AmazonReimbursement, user, [_row(1)])
    async with runtime.sessions() as session:
        owners = (
            (
                await session.execute(
                    select(AmazonReimbursement.user_id).order_by(AmazonReimbursement.user_id)
                )
            )
            .scalars()
            .all()
        )
    assert owners == ["a", "b"]
