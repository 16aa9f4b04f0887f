"""A small concurrent HTTP load generator, a watch on running syncs, and a digest of what a
sync stored for a user.

Shared by `tests/load` and `bench/load.py`/`bench/api_overhead.py` (which run it at a larger
scale). The generator keeps `clients` requests in flight over as many keep-alive connections and
records every answer: status, latency, or the transport error that replaced it. It never raises
on a bad answer; the caller decides what counts as a failure.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx2
from sqlalchemy import select

from opside_hub.db.models import SyncJob
from opside_hub.runtime import Runtime
from tests.sync.ledger import AMAZON_TABLES, fingerprint

TERMINAL = ("completed", "failed", "cancelled")


@dataclass(frozen=True)
class Call:
    """One request the load repeats: a GET of `path` as one user (or anonymously)."""

    label: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class LoadResult:
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # transport errors by type
    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    elapsed_s: float = 0.0

    @property
    def requests(self) -> int:
        return sum(self.statuses.values()) + sum(self.errors.values())

    @property
    def all_latencies_ms(self) -> list[float]:
        return [value for values in self.latencies_ms.values() for value in values]

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s else float("nan")

    def summary(self) -> str:
        every = self.all_latencies_ms
        rate = f"{self.requests_per_s:.0f} req/s"
        return (
            f"{self.requests} requests in {self.elapsed_s:.1f} s = {rate}; "
            f"p50 {percentile(every, 0.50):.1f} ms, p90 {percentile(every, 0.90):.1f} ms, "
            f"p99 {percentile(every, 0.99):.1f} ms, max {max(every, default=float('nan')):.1f} ms; "
            f"statuses {dict(self.statuses)}, transport errors {dict(self.errors)}"
        )

    def per_label(self) -> list[str]:
        return [
            f"  {label:<22} n={len(values):>6}  p50 {percentile(values, 0.5):7.1f} ms  "
            f"p99 {percentile(values, 0.99):7.1f} ms"
            for label, values in sorted(self.latencies_ms.items())
        ]


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


async def run_load(
    base_url: str,
    calls: Sequence[Call],
    *,
    clients: int,
    min_requests: int,
    max_seconds: float,
    keep_going: Callable[[], bool] = lambda: False,
    timeout_s: float = 30.0,
    progress: LoadResult | None = None,
) -> LoadResult:
    """Send `calls` round robin from `clients` concurrent loops until at least `min_requests`
    were answered and `keep_going()` is false, or `max_seconds` passed. The answers are counted
    into `progress` (when given) as they arrive, so a watcher can read how far the load got."""
    result = progress if progress is not None else LoadResult()
    limits = httpx2.Limits(max_connections=clients, max_keepalive_connections=clients)
    deadline = time.perf_counter() + max_seconds
    sent = 0

    def more() -> bool:
        if time.perf_counter() >= deadline:
            return False
        return sent < min_requests or keep_going()

    async def client_loop(http: httpx2.AsyncClient, index: int) -> None:
        nonlocal sent
        turn = index
        while more():
            call = calls[turn % len(calls)]
            turn += clients
            sent += 1
            begin = time.perf_counter()
            try:
                response = await http.get(call.path, headers=call.headers)
            except httpx2.HTTPError as exc:  # a refused, reset or timed-out request
                result.errors[type(exc).__name__] += 1
                continue
            result.latencies_ms[call.label].append((time.perf_counter() - begin) * 1000)
            result.statuses[response.status_code] += 1

    async with httpx2.AsyncClient(
        base_url=base_url, limits=limits, timeout=timeout_s, trust_env=False
    ) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(http, n) for n in range(clients)))
        result.elapsed_s = time.perf_counter() - started
    return result


async def synced_data_digest(runtime: Runtime, user_id: str) -> dict[str, Any]:
    """Counts and hashes of the user's Amazon tables and cases (see `tests/sync/ledger.py`):
    equal for two users synced from the same sandbox seller exactly when they stored the same
    rows and built the same cases."""
    return await fingerprint(runtime, user_id, AMAZON_TABLES)


async def sync_jobs(runtime: Runtime, users: Sequence[str]) -> list[SyncJob]:
    async with runtime.sessions() as session:
        query = select(SyncJob).where(SyncJob.user_id.in_(users)).order_by(SyncJob.user_id)
        return list((await session.execute(query)).scalars().all())


async def wait_for_syncs(runtime: Runtime, users: Sequence[str], timeout_s: float) -> list[SyncJob]:
    """Connecting Amazon starts a sync by itself: wait until each user's has ended."""
    async with asyncio.timeout(timeout_s):
        while True:
            jobs = await sync_jobs(runtime, users)
            if len(jobs) == len(users) and all(job.status in TERMINAL for job in jobs):
                return jobs
            await asyncio.sleep(0.2)


class SyncWatch:
    """Polls the syncs during a load: are any still to finish, and how many requests had been
    answered while at least one was running (whether the load really overlapped the syncs)."""

    def __init__(self, runtime: Runtime, users: Sequence[str]) -> None:
        self.runtime = runtime
        self.users = users
        self.running = True
        self.requests_during_syncs = 0

    async def watch(self, progress: LoadResult) -> None:
        while self.running:
            jobs = await sync_jobs(self.runtime, self.users)
            self.running = len(jobs) < len(self.users) or any(
                job.status not in TERMINAL for job in jobs
            )
            if self.running:
                self.requests_during_syncs = progress.requests
            await asyncio.sleep(0.2)
