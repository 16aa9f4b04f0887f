"""Rate governor: two worker processes share one seller's SP-API quota.

The sandbox enforces getInventorySummaries' model quota (2 requests/s, burst 2) per seller; each
of two processes runs several concurrent callers as fast as our governor lets them for a fixed
time. Printed: calls made, 429s received (goal 0 in steady state) and quota utilisation =
successful calls / what the quota allows in that time (burst + rate x seconds; goal >= 0.9).

    uv run python bench/rate_governor.py [--seconds 20] [--callers 4]
    DATABASE_URL=postgresql://127.0.0.1/test REDIS_URL=redis://127.0.0.1:6379/0 \\
        uv run python bench/rate_governor.py
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import time
import uuid
from typing import Any

from _harness import Backend, backend, bench_settings, connect_amazon, live_app

from opside_hub.providers.amazon.client import OPERATION_RATES
from opside_hub.providers.amazon.sync import load_account, spapi_client
from opside_hub.runtime import Runtime
from opside_hub.vault.keys import generate_key

USER = "governed-seller"
OPERATION = "getInventorySummaries"
PROCESSES = 2


def _settings(config: dict[str, Any]) -> Any:
    return bench_settings(
        Backend(config["database_url"], config["redis_url"], ""),
        config["namespace"],
        encryption_key=config["key"],
        public_url=config["url"],
        provider_mode="sandbox",
        sandbox_rate_scale=1.0,
    )


async def _hammer(config: dict[str, Any], barrier: Any) -> dict[str, float]:
    runtime = await Runtime.start(_settings(config))
    try:
        account, client = await load_account(runtime, spapi_client(runtime), USER)
        marketplace = account.marketplace_ids[0]
        await asyncio.to_thread(barrier.wait)
        started = time.time()
        deadline = time.monotonic() + config["seconds"]
        done = 0
        last = started

        async def caller() -> None:
            nonlocal done, last
            while time.monotonic() < deadline:
                await client.get_inventory_summaries(
                    marketplace, changed_since=None, next_token=None
                )
                done += 1
                last = time.time()

        await asyncio.gather(*(caller() for _ in range(config["callers"])))
        return {
            "ok": done,
            "throttled": client.stats.throttled[OPERATION],
            "calls": client.stats.calls[OPERATION],
            "started": started,
            "last": last,
        }
    finally:
        await runtime.stop()


def _child(config: dict[str, Any], barrier: Any, results: Any) -> None:
    results.put(asyncio.run(_hammer(config, barrier)))


async def main(seconds: float, callers: int) -> None:
    async with backend() as chosen:
        config: dict[str, Any] = {
            "database_url": chosen.database_url,
            "redis_url": chosen.redis_url,
            "namespace": f"bench-{uuid.uuid4().hex[:8]}",
            "key": generate_key(),
            "seconds": seconds,
            "callers": callers,
        }

        def factory(url: str) -> Any:
            config["url"] = url
            return _settings(config)

        async with live_app(factory) as (url, settings):
            await connect_amazon(url, settings, USER, "Governed Goods")
            context = mp.get_context("spawn")
            barrier = context.Barrier(PROCESSES)
            results = context.Queue()
            children = [
                context.Process(target=_child, args=(config, barrier, results))
                for _ in range(PROCESSES)
            ]
            for child in children:
                child.start()
            outcomes = [await asyncio.to_thread(results.get, True, seconds + 120) for _ in children]
            for child in children:
                child.join()

    rate = OPERATION_RATES[OPERATION]
    # From the first start to the last answer: calls reserved before the deadline finish after.
    elapsed = max(o["last"] for o in outcomes) - min(o["started"] for o in outcomes)
    allowed = rate.burst + rate.per_second * elapsed
    ok = sum(o["ok"] for o in outcomes)
    throttled = sum(o["throttled"] for o in outcomes)
    print(f"backend: {chosen.label}")
    print(
        f"{OPERATION}: quota {rate.per_second}/s burst {rate.burst}, shared by {PROCESSES} "
        f"processes x {callers} callers for {seconds:.0f} s"
    )
    print(
        f"successful calls: {ok} of {allowed:.0f} the quota allows; "
        f"utilisation {ok / allowed:.2f} (goal >= 0.9)"
    )
    print(f"429 QuotaExceeded received: {throttled} (goal 0)")
    for index, outcome in enumerate(outcomes, 1):
        print(
            f"process {index}: {outcome['ok']} ok, {outcome['throttled']} throttled, "
            f"{outcome['calls']} requests sent"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--callers", type=int, default=4)
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.callers))
