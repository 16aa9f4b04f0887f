"""Refresh storm: 2 processes x 1000 concurrent callers ask for one expired Amazon token.

Prints how many times the LWA token endpoint was called (goal: exactly 1), how many distinct
tokens the 2000 callers received (goal: 1), and the latency of `get_access_token` once the
token is fresh (p50/p99 over sequential calls, per process).

    uv run python bench/refresh_storm.py                       # SQLite + embedded Redis
    DATABASE_URL=postgresql://127.0.0.1/test REDIS_URL=redis://127.0.0.1:6379/0 \\
        uv run python bench/refresh_storm.py                   # PostgreSQL + Redis
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import statistics
import time
import uuid
from datetime import timedelta
from typing import Any

import httpx2
from _harness import Backend, backend, bench_settings, connect_amazon, live_app, percentile
from sqlalchemy import update

from opside_hub.db.models import Token
from opside_hub.db.types import utcnow
from opside_hub.runtime import Runtime
from opside_hub.vault.keys import generate_key
from opside_hub.vault.service import get_access_token

CALLERS = 1000
PROCESSES = 2
FRESH_CALLS = 2000
USER = "storm-seller"


def _settings(config: dict[str, Any]) -> Any:
    return bench_settings(
        Backend(config["database_url"], config["redis_url"], ""),
        config["namespace"],
        encryption_key=config["key"],
        public_url=config["url"],
        provider_mode="sandbox",
    )


async def _storm(config: dict[str, Any], barrier: Any) -> dict[str, Any]:
    runtime = await Runtime.start(_settings(config))
    token_url = runtime.settings.endpoints().amazon_lwa_token_url
    calls: list[str] = []

    async def count(request: httpx2.Request) -> None:
        if str(request.url) == token_url:
            calls.append("lwa")

    runtime.http.event_hooks["request"].append(count)
    try:
        await asyncio.to_thread(barrier.wait)
        started = time.perf_counter()
        tokens = await asyncio.gather(
            *(get_access_token(runtime, USER, "amazon") for _ in range(CALLERS))
        )
        storm_s = time.perf_counter() - started
        latencies = []
        for _ in range(FRESH_CALLS):
            begin = time.perf_counter()
            await get_access_token(runtime, USER, "amazon")
            latencies.append((time.perf_counter() - begin) * 1000)
    finally:
        await runtime.stop()
    return {
        "token_calls": len(calls),
        "tokens": sorted({t.get_secret_value()[-12:] for t in tokens}),
        "storm_s": storm_s,
        "p50_ms": statistics.median(latencies),
        "p99_ms": percentile(latencies, 0.99),
    }


def _child(config: dict[str, Any], barrier: Any, results: Any) -> None:
    results.put(asyncio.run(_storm(config, barrier)))


async def main() -> None:
    async with backend() as chosen:
        config: dict[str, Any] = {
            "database_url": chosen.database_url,
            "redis_url": chosen.redis_url,
            "namespace": f"bench-{uuid.uuid4().hex[:8]}",
            "key": generate_key(),
        }

        def factory(url: str) -> Any:
            config["url"] = url
            return _settings(config)

        async with live_app(factory) as (url, settings):
            await connect_amazon(url, settings, USER, "Storm Goods")
            runtime = await Runtime.start(settings)
            async with runtime.sessions() as session:
                await session.execute(update(Token).values(expires_at=utcnow() - timedelta(1)))
                await session.commit()
            await runtime.stop()

            context = mp.get_context("spawn")
            barrier = context.Barrier(PROCESSES)
            results = context.Queue()
            children = [
                context.Process(target=_child, args=(config, barrier, results))
                for _ in range(PROCESSES)
            ]
            for child in children:
                child.start()
            outcomes = [await asyncio.to_thread(results.get, True, 300) for _ in children]
            for child in children:
                child.join()

    total_calls = sum(o["token_calls"] for o in outcomes)
    distinct = {t for o in outcomes for t in o["tokens"]}
    print(f"backend: {chosen.label}")
    print(f"callers: {PROCESSES} processes x {CALLERS} concurrent, token expired")
    print(f"token-endpoint calls: {total_calls} (goal 1)")
    print(f"distinct tokens handed out: {len(distinct)} (goal 1)")
    for index, outcome in enumerate(outcomes, 1):
        print(
            f"process {index}: storm answered in {outcome['storm_s'] * 1000:.0f} ms; "
            f"fresh get_access_token p50 {outcome['p50_ms']:.2f} ms, "
            f"p99 {outcome['p99_ms']:.2f} ms over {FRESH_CALLS} calls"
        )


if __name__ == "__main__":
    asyncio.run(main())
