"""A full sync (Amazon's four datasets, Stripe, Gmail) against flaky providers ends where a
fault-free one does.

Two hubs are started one after the other on the same database and the same Redis namespace, so
they see the same sandbox world (the Gmail mailbox's anchor, the document signing key, Stripe's
accounts): the first without faults, the second with `SANDBOX_FAULT_RATE` 20% on SP-API
(429, 500, 503 and timeouts on API calls; 500, 503, timeouts, truncated gzip and `slow`
downloads that outlive their URL) and on Stripe (429, 500, 503, timeouts). Gmail's sandbox has
no rate-based faults, only a per-mailbox list of statuses for its next calls: a few are queued
before the faulted sync. A user of each hub connects the same three sandbox accounts, which
starts a full sync; the faulted user's synced rows and cases must equal the clean user's.

The faulted hub's client timeout (`PROVIDER_TIMEOUT_SECONDS`) is shorter than the sandbox's
hang, which is longer than a document URL lives, so timeouts cost seconds, not minutes, and a
stalled download can only be finished with a fresh URL from getReportDocument. Faults follow
`SANDBOX_FAULT_SEED` (the n-th request of a seller's operation always meets the same fate).
A full sync downloads only about seven report documents, and 20% of seven cannot show five
download faults by chance: the default seed is one whose schedule does (found by replaying the
sandbox's draw offline), with every API and Stripe kind too. `FAULT_SEED=<n>` replays another
schedule; the injected faults are printed, and the test names any kind that schedule missed.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest
from sqlalchemy import select

from opside_hub.config import RedisSettings
from opside_hub.db.models import SyncJob
from opside_hub.runtime import Runtime
from opside_hub.sandbox.amazon.spapi import endpoints as spapi_endpoints
from opside_hub.sandbox.amazon.spapi import guard as spapi_guard
from opside_hub.sandbox.google.store import MailboxStore
from opside_hub.sandbox.stripe import guard as stripe_guard
from tests.conftest import LiveServer, serve_live
from tests.integrations.conftest import PROVIDER_ACCOUNT, Seller
from tests.sync.ledger import ALL_TABLES, duplicates, fingerprint, within_one_clock_hour

pytestmark = pytest.mark.slow

FAULT_SEED = int(os.environ.get("FAULT_SEED", "6050"))
FAULT_RATE = 0.2
CLIENT_TIMEOUT_S = 1.5
HANG_S = 2.5  # > the client's timeout, > the URL's lifetime
URL_TTL_S = 2
GMAIL_FAULTS = [429, 500, 503]  # in a row: fewer than the Gmail client's attempts
API_KINDS = ("429", "500", "503", "timeout")
DOWNLOAD_KINDS = ("500", "503", "timeout", "truncate", "slow")
STRIPE_KINDS = ("429", "500", "503", "timeout")
SYNC_DEADLINE_S = 240
HOUR_MARGIN_S = 180  # both runs, with room (see `within_one_clock_hour`)


@asynccontextmanager
async def _hub(
    database_url: str, redis_url: str, namespace: str, **faults: object
) -> AsyncIterator[LiveServer]:
    async with serve_live(
        database_url,
        redis_url,
        redis=RedisSettings(url=redis_url, namespace=namespace),
        run_worker_in_api=True,
        sandbox_report_delay_seconds=0.0,
        sandbox_rate_scale=0.0,
        sandbox_amazon_financial_events=1500,  # more pages: more calls to fail
        sandbox_amazon_inventory_skus=300,
        sandbox_stripe_balance_transactions=2000,  # ~20 pages
        sandbox_document_url_ttl_seconds=URL_TTL_S,
        sandbox_fault_hang_seconds=HANG_S,
        provider_timeout_seconds=CLIENT_TIMEOUT_S,
        **faults,
    ) as server:
        yield server


class InjectedFaults:
    """Counts the fate of every sandbox request that could be faulted, by provider and kind."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seen: Counter[tuple[str, str]] = Counter()
        pick, random_fault = spapi_guard.pick_fault, stripe_guard._random_fault

        async def amazon(runtime: Runtime, scope: str, allowed: frozenset[str]) -> str | None:
            fault = await pick(runtime, scope, allowed)
            where = "amazon-download" if scope.endswith(":download") else "amazon-api"
            self.seen[where, fault or "none"] += 1
            return fault

        async def stripe(runtime: Runtime, scope: str) -> str | None:
            fault = await random_fault(runtime, scope)
            self.seen["stripe", fault or "none"] += 1
            return fault

        monkeypatch.setattr(spapi_guard, "pick_fault", amazon)
        monkeypatch.setattr(spapi_endpoints, "pick_fault", amazon)
        monkeypatch.setattr(stripe_guard, "_random_fault", stripe)

    def of(self, where: str) -> dict[str, int]:
        return {kind: n for (place, kind), n in self.seen.items() if place == where}


async def _latest_job(runtime: Runtime, user_id: str) -> SyncJob | None:
    async with runtime.sessions() as session:
        result = await session.execute(
            select(SyncJob).where(SyncJob.user_id == user_id).order_by(SyncJob.created_at.desc())
        )
        return result.scalars().first()


async def _full_sync(live: LiveServer, user_id: str, *, gmail_faults: list[int]) -> SyncJob:
    """Connect Gmail and Stripe, then Amazon, whose connect starts a sync of all three."""
    runtime: Runtime = live.app.state.runtime
    async with httpx2.AsyncClient(base_url=live.url) as http:
        seller = Seller(user_id=user_id, http=http, live=live)
        await seller.connect("gmail")
        await seller.connect("stripe")
        if gmail_faults:
            queued = await http.post(
                "/sandbox/_admin/google/faults",
                json={"emailAddress": PROVIDER_ACCOUNT["gmail"], "statuses": gmail_faults},
            )
            assert queued.status_code == 200, queued.text
        await seller.connect("amazon")
    async with asyncio.timeout(SYNC_DEADLINE_S):
        while (job := await _latest_job(runtime, user_id)) is None or job.status in (
            "queued",
            "running",
        ):
            await asyncio.sleep(0.25)
    return job


async def _pending_gmail_faults(runtime: Runtime) -> int:
    store = MailboxStore(runtime.redis, runtime.redis_server.key)
    return int(await runtime.redis.llen(store.key(PROVIDER_ACCOUNT["gmail"], "faults")))


async def test_a_full_sync_under_injected_faults_equals_a_fault_free_one(
    database_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    namespace = f"opside-test-{uuid.uuid4().hex[:10]}"
    await within_one_clock_hour(HOUR_MARGIN_S)
    async with _hub(database_url, redis_url, namespace) as live:
        clean_job = await _full_sync(live, "clean-seller", gmail_faults=[])
        clean = await fingerprint(live.app.state.runtime, "clean-seller")

    injected = InjectedFaults(monkeypatch)
    async with _hub(
        database_url,
        redis_url,
        namespace,
        sandbox_fault_rate=FAULT_RATE,
        sandbox_fault_seed=FAULT_SEED,
    ) as live:
        runtime: Runtime = live.app.state.runtime
        faulted_job = await _full_sync(live, "faulted-seller", gmail_faults=GMAIL_FAULTS)
        faulted = await fingerprint(runtime, "faulted-seller")
        doubled = await duplicates(runtime, "faulted-seller")
        gmail_left = await _pending_gmail_faults(runtime)

    print(f"\nFAULT_SEED={FAULT_SEED}: injected {dict(sorted(injected.seen.items()))}")
    print(f"clean counts {clean['counts']}")
    assert (clean_job.status, clean_job.percent) == ("completed", 100), clean_job.error
    assert sorted(clean_job.providers or []) == ["amazon", "gmail", "stripe"]
    assert all(clean["counts"][model.__tablename__] > 0 for model in ALL_TABLES), clean
    assert clean["counts"]["refund_engine_cases"] > 0

    assert (faulted_job.status, faulted_job.percent) == ("completed", 100), faulted_job.error
    assert sorted(faulted_job.providers or []) == ["amazon", "gmail", "stripe"]
    assert faulted["counts"] == clean["counts"]
    differing = {t for t, digest in faulted["hashes"].items() if clean["hashes"][t] != digest}
    assert differing == set()
    assert set(doubled.values()) == {0}, doubled

    _assert_every_kind_injected(injected.of("amazon-api"), API_KINDS)
    _assert_every_kind_injected(injected.of("amazon-download"), DOWNLOAD_KINDS)
    _assert_every_kind_injected(injected.of("stripe"), STRIPE_KINDS)
    assert gmail_left == 0  # every queued Gmail fault was met, and survived


def _assert_every_kind_injected(
    counts: dict[str, Any], kinds: tuple[str, ...], *, at_least: int = 1
) -> None:
    faults = sum(n for kind, n in counts.items() if kind != "none")
    assert faults > 0, counts
    assert {kind: counts.get(kind, 0) for kind in kinds if counts.get(kind, 0) < at_least} == {}
