"""The API under concurrent load while sandbox syncs run: no errors, and the syncs come out right.

One live app (uvicorn on loopback, the worker in the API process) and its sandbox Amazon. A
reference user connects a sandbox seller and syncs it on a quiet server; then three more users
connect the same seller (the sandbox gives the same data for the same seller name), which starts
their syncs, and at once 24 concurrent clients send a few thousand GETs over seven users' routes
until the syncs have ended. Every answer must be a 200 (no 5xx, no transport error, and no 429:
the per-user and per-IP limits are set above what the load sends), and every loaded sync must
complete with exactly the reference's rows and cases. Throughput and latency are printed, never
asserted (`pytest -s` shows them). Report windows end on the hour, so the test waits, if need
be, until the reference and the loaded syncs fit in one clock hour.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx2
import pytest

from opside_hub.db.models import SyncJob
from opside_hub.runtime import Runtime
from tests.conftest import QUICK_SANDBOX, LiveServer, bearer, serve_live
from tests.integrations.conftest import Seller
from tests.load.helpers import (
    Call,
    LoadResult,
    SyncWatch,
    run_load,
    synced_data_digest,
    wait_for_syncs,
)
from tests.sync.ledger import within_one_clock_hour

pytestmark = pytest.mark.slow

REFERENCE = "load-reference"
SYNCING = ("load-seller-1", "load-seller-2", "load-seller-3")
BROWSING = ("load-browser-1", "load-browser-2", "load-browser-3", "load-browser-4")
CLIENTS = 24
MIN_REQUESTS = 3000
LOAD_CAP_S = 90.0  # a bound on the test's time, not a requirement: the count is printed
SYNC_TIMEOUT_S = 120.0
HOUR_MARGIN_S = 150  # the reference and the loaded syncs (see `within_one_clock_hour`)
# The per-user pages the dashboard polls, and the public health probe.
USER_ROUTES = (
    ("me", "/api/v1/me"),
    ("integrations", "/api/integrations"),
    ("cases", "/api/v1/cases?limit=50"),
    ("claims", "/api/v1/amazon/claims?limit=50"),
    ("inventory", "/api/v1/amazon/inventory?limit=50"),
    ("sync.history", "/api/v1/sync/history"),
    ("sync.statistics", "/api/v1/sync/statistics"),
)


@pytest.fixture
async def live(database_url: str, redis_url: str) -> AsyncIterator[LiveServer]:
    # Quotas off and reports ready at once, a seller a few times the default size:
    # each sync takes seconds, long enough for the load to run beside it.
    async with serve_live(
        database_url,
        redis_url,
        **QUICK_SANDBOX,
        sandbox_amazon_reimbursements=1200,
        sandbox_amazon_ledger_events=1500,
        sandbox_amazon_inventory_skus=300,
        sandbox_amazon_financial_events=400,
    ) as server:
        yield server


def _calls(live: LiveServer) -> list[Call]:
    calls = [Call("health", "/health")]
    for user in (*SYNCING, *BROWSING):
        headers = bearer(live.settings, user)
        calls += [Call(label, path, headers) for label, path in USER_ROUTES]
    return calls


async def _connect(live: LiveServer, http: httpx2.AsyncClient, user: str) -> None:
    await Seller(user_id=user, http=http, live=live).connect("amazon")


async def test_the_api_answers_every_request_while_syncs_run(live: LiveServer) -> None:
    runtime: Runtime = live.app.state.runtime
    await within_one_clock_hour(HOUR_MARGIN_S)
    async with httpx2.AsyncClient(base_url=live.url) as http:
        await _connect(live, http, REFERENCE)
        [reference_job] = await wait_for_syncs(runtime, (REFERENCE,), SYNC_TIMEOUT_S)
        reference = await synced_data_digest(runtime, REFERENCE)

        for user in SYNCING:
            await _connect(live, http, user)
        progress = LoadResult()
        watch = SyncWatch(runtime, SYNCING)
        watching = asyncio.create_task(watch.watch(progress))
        loaded = await run_load(
            live.url,
            _calls(live),
            clients=CLIENTS,
            min_requests=MIN_REQUESTS,
            max_seconds=LOAD_CAP_S,
            keep_going=lambda: watch.running,
            progress=progress,
        )
        await watching
        jobs = await wait_for_syncs(runtime, SYNCING, SYNC_TIMEOUT_S)
        digests = {user: await synced_data_digest(runtime, user) for user in SYNCING}

    print(f"\nload while {len(SYNCING)} syncs ran: {loaded.summary()}")
    print(f"answered while a sync was running: {watch.requests_during_syncs}")
    print("\n".join(loaded.per_label()))
    _report_syncs([reference_job, *jobs])

    assert loaded.errors == {}
    assert dict(loaded.statuses) == {200: loaded.requests}
    assert watch.requests_during_syncs > 0, "the syncs ended before the load began"
    assert reference_job.status == "completed"
    assert all(count > 0 for count in reference["counts"].values()), reference
    assert [(job.status, job.percent) for job in jobs] == [("completed", 100)] * len(SYNCING)
    assert digests == dict.fromkeys(SYNCING, reference)


def _report_syncs(jobs: list[SyncJob]) -> None:
    for job in jobs:
        took = job.finished_at - job.started_at if job.finished_at and job.started_at else None
        print(f"sync of {job.user_id}: {job.status} in {took.total_seconds() if took else '?'} s")
