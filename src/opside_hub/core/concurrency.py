"""Bounded fan-out: run a coroutine per item, at most `limit` at once, results in order."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


async def gather_bounded(
    limit: int, items: Iterable[T], function: Callable[[T], Awaitable[R]]
) -> list[R]:
    """Like `asyncio.gather`, but with at most `limit` calls in flight; the first failure
    cancels the rest (no call outlives this one) and is raised as itself, not as a group, so
    callers keep handling domain errors as usual."""
    semaphore = asyncio.Semaphore(limit)

    async def run(item: T) -> R:
        async with semaphore:
            return await function(item)

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(run(item)) for item in items]
    except BaseExceptionGroup as failures:
        raise failures.exceptions[0] from None
    return [task.result() for task in tasks]
