from __future__ import annotations

import asyncio

import pytest

from opside_hub.core.token_bucket import Rate, TokenBuckets
from opside_hub.runtime import Runtime


def _buckets(runtime: Runtime) -> TokenBuckets:
    return TokenBuckets(runtime.redis, runtime.redis_server.key("test-buckets"))


async def test_burst_is_free_then_callers_queue_at_the_rate(runtime: Runtime) -> None:
    buckets = _buckets(runtime)
    rate = Rate(per_second=2.0, burst=3)

    waits = [await buckets.reserve("seller:op", rate) for _ in range(6)]

    assert waits[:3] == [0.0, 0.0, 0.0]
    # Each further caller is given the next slot: 0.5 s apart at 2/s.
    assert [round(w, 1) for w in waits[3:]] == [0.5, 1.0, 1.5]


async def test_concurrent_reservations_never_share_a_slot(runtime: Runtime) -> None:
    buckets = _buckets(runtime)
    rate = Rate(per_second=10.0, burst=1)

    waits = await asyncio.gather(*(buckets.reserve("seller:shared", rate) for _ in range(20)))

    slots = sorted(round(w * 10) for w in waits)
    assert slots == list(range(20))  # one caller per 100 ms slot, none twice


async def test_buckets_are_per_key(runtime: Runtime) -> None:
    buckets = _buckets(runtime)
    rate = Rate(per_second=1.0, burst=1)

    assert await buckets.reserve("seller-a:op", rate) == 0.0
    assert await buckets.reserve("seller-b:op", rate) == 0.0
    assert await buckets.reserve("seller-a:op", rate) > 0.0


async def test_announced_rate_replaces_the_model_rate(runtime: Runtime) -> None:
    buckets = _buckets(runtime)
    model = Rate(per_second=1.0, burst=1)
    await buckets.reserve("seller:op", model)

    await buckets.adopt_rate("seller:op", 4.0)

    assert await buckets.reserve("seller:op", model) == pytest.approx(0.25, abs=0.05)


async def test_a_429_drains_what_was_left(runtime: Runtime) -> None:
    buckets = _buckets(runtime)
    rate = Rate(per_second=1.0, burst=5)
    await buckets.reserve("seller:op", rate)

    await buckets.drain("seller:op")

    assert await buckets.reserve("seller:op", rate) == pytest.approx(1.0, abs=0.05)
