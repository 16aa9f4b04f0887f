"""Jobs that prove the queue loop works end to end."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from opside_hub.core.queue import JobContext, Task
from opside_hub.db.session import transaction
from opside_hub.db.types import utcnow


async def ping(ctx: JobContext, *, message: str = "ping") -> dict[str, Any]:
    """Round trip through Redis, the worker and the database."""
    runtime = ctx["runtime"]
    async with transaction(runtime.sessions) as session:
        database_ok = (await session.execute(text("SELECT 1"))).scalar_one() == 1
    return {"reply": "pong", "echo": message, "database": database_ok, "at": utcnow().isoformat()}


PING = Task("system.ping", ping)
TASKS = [PING]
