"""Onboarding jobs. `onboarding.stripe_account.create` is deferred by the Amazon connection
(providers/amazon/service.py) with the job key `onboarding.stripe_account.create:<user>`."""

from __future__ import annotations

from typing import Any

from opside_hub.core.queue import JobContext, Task
from opside_hub.onboarding import service


async def create_stripe_account(ctx: JobContext, *, user_id: str) -> dict[str, Any]:
    result = await service.create_express_account(ctx["runtime"], user_id)
    return result.as_dict()


CREATE_STRIPE_ACCOUNT = Task(service.CREATE_JOB, create_stripe_account)
TASKS = [CREATE_STRIPE_ACCOUNT]
