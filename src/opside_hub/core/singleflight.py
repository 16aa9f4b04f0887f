"""Single-flight: concurrent callers asking for the same key share one in-flight computation."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class SingleFlight:
    def __init__(self) -> None:
        self._inflight: dict[Hashable, asyncio.Future[Any]] = {}

    async def run(self, key: Hashable, work: Callable[[], Awaitable[T]]) -> T:
        if (future := self._inflight.get(key)) is not None:
            # shield: one impatient caller cancelling must not cancel the others' result.
            result: T = await asyncio.shield(future)
            return result
        task = asyncio.ensure_future(work())
        self._inflight[key] = task
        task.add_done_callback(lambda _: self._inflight.pop(key, None))
        return await asyncio.shield(task)
