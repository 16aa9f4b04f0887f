"""The pipeline's mechanics with steps of our own: claim, checkpoints, resume, cancel, reaper."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx2
import pytest
from pydantic import SecretStr
from sqlalchemy import select, update

from opside_hub.auth.repository import get_or_create_user
from opside_hub.config import Settings
from opside_hub.core.exceptions import ProviderError
from opside_hub.db.models import SyncEvent, SyncJob
from opside_hub.db.session import transaction
from opside_hub.db.types import utcnow
from opside_hub.providers.oauth2 import TokenGrant
from opside_hub.runtime import Runtime
from opside_hub.sync import pipeline
from opside_hub.sync.pipeline import Step, StepContext, run_sync
from opside_hub.sync.service import start_sync
from opside_hub.sync.tasks import reap
from opside_hub.vault.service import save_grant
from tests.conftest import bearer

USER = "seller"


async def _connect(runtime: Runtime, user_id: str = USER, provider: str = "amazon") -> None:
    async with transaction(runtime.sessions) as session:
        await get_or_create_user(session, user_id, None)
        await save_grant(
            session,
            runtime.keyring,
            user_id=user_id,
            provider=provider,
            grant=TokenGrant(SecretStr("Atza|x"), SecretStr("Atzr|y"), 3600),
            account_id="A1TEST",
        )


async def _queued(runtime: Runtime, user_id: str = USER) -> str:
    async with transaction(runtime.sessions) as session:
        job = await start_sync(session, user_id, providers=None, trigger="manual")
        return job.id


async def _job(runtime: Runtime, sync_id: str) -> SyncJob:
    async with runtime.sessions() as session:
        job = await session.get(SyncJob, sync_id)
        assert job is not None
        return job


class Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.percents: list[int] = []

    def step(self, name: str, *, fail_once: bool = False, ticks: int = 3) -> Step:
        failed = {"done": not fail_once}

        async def run(ctx: StepContext) -> dict[str, Any]:
            self.calls.append(name)
            for tick in range(ticks):
                await ctx.report((tick + 1) / ticks)
                self.percents.append((await _job(ctx.runtime, ctx.sync_id)).percent)
            if not failed["done"]:
                failed["done"] = True
                raise ProviderError("amazon said 503", details={"status": 503})
            return {"ticks": ticks}

        return Step(name, f"stage_{name}", 10, None, run)


@pytest.fixture(autouse=True)
def _fast_safe_points(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "PUBLISH_EVERY_S", 0.0)
    monkeypatch.setattr(pipeline, "CANCEL_CHECK_EVERY_S", 0.0)


async def test_a_run_goes_through_every_step_with_monotonic_progress(runtime: Runtime) -> None:
    await _connect(runtime)
    sync_id = await _queued(runtime)
    recorder = Recorder()

    status = await run_sync(runtime, sync_id, [recorder.step("a"), recorder.step("b")])

    job = await _job(runtime, sync_id)
    assert status == "completed"
    assert (job.status, job.percent, job.stage) == ("completed", 100, "completed")
    assert recorder.calls == ["a", "b"]
    assert recorder.percents == sorted(recorder.percents)
    assert max(recorder.percents) < 100  # 100 only once the run is complete
    assert job.checkpoint["done"] == ["a", "b"]
    assert job.started_at is not None
    assert job.finished_at is not None


async def test_a_failed_run_resumes_at_the_unfinished_step(runtime: Runtime) -> None:
    await _connect(runtime)
    sync_id = await _queued(runtime)
    recorder = Recorder()
    steps = [recorder.step("a"), recorder.step("b", fail_once=True), recorder.step("c")]

    with pytest.raises(ProviderError):
        await run_sync(runtime, sync_id, steps)
    await pipeline.requeue_after_error(runtime, sync_id, "503")
    assert (await _job(runtime, sync_id)).status == "queued"
    status = await run_sync(runtime, sync_id, steps)

    assert status == "completed"
    assert recorder.calls == ["a", "b", "b", "c"]  # "a" is not fetched again
    job = await _job(runtime, sync_id)
    assert job.attempts == 2
    async with runtime.sessions() as session:
        kinds = (
            (
                await session.execute(
                    select(SyncEvent.kind)
                    .where(SyncEvent.sync_id == sync_id)
                    .order_by(SyncEvent.id)
                )
            )
            .scalars()
            .all()
        )
    assert "sync.resumed" in kinds
    assert kinds[-1] == "sync.completed"


async def test_cancel_stops_a_running_sync_at_the_next_safe_point(
    runtime: Runtime, client: httpx2.AsyncClient, settings: Settings
) -> None:
    await _connect(runtime)
    sync_id = await _queued(runtime)
    later: list[str] = []

    async def slow(ctx: StepContext) -> dict[str, Any]:
        cancelled = await client.delete(
            f"/api/sync/cancel/{sync_id}", headers=bearer(settings, USER)
        )
        assert cancelled.status_code == 200, cancelled.text
        await ctx.report(0.5)
        later.append("kept going")
        return {}

    async def never(ctx: StepContext) -> dict[str, Any]:
        later.append("next step")
        return {}

    status = await run_sync(
        runtime, sync_id, [Step("slow", "s", 1, None, slow), Step("never", "n", 1, None, never)]
    )

    assert status == "cancelled"
    assert later == []
    assert (await _job(runtime, sync_id)).status == "cancelled"


async def test_a_queued_sync_cancelled_never_runs(
    runtime: Runtime, client: httpx2.AsyncClient, settings: Settings
) -> None:
    await _connect(runtime)
    sync_id = await _queued(runtime)

    answer = await client.delete(f"/api/sync/cancel/{sync_id}", headers=bearer(settings, USER))
    status = await run_sync(runtime, sync_id, [Recorder().step("a")])

    assert answer.json()["data"]["status"] == "cancelled"
    assert status == "skipped"
    again = await client.delete(f"/api/sync/cancel/{sync_id}", headers=bearer(settings, USER))
    assert again.status_code == 409


async def test_two_workers_never_run_one_sync_at_once(runtime: Runtime) -> None:
    await _connect(runtime)
    sync_id = await _queued(runtime)
    gate = asyncio.Event()

    async def wait(ctx: StepContext) -> dict[str, Any]:
        await gate.wait()
        return {}

    first = asyncio.create_task(run_sync(runtime, sync_id, [Step("w", "w", 1, None, wait)]))
    await asyncio.sleep(0.2)
    second = await run_sync(runtime, sync_id, [Step("w", "w", 1, None, wait)])
    gate.set()

    assert second == "skipped"
    assert await first == "completed"


async def test_start_is_202_then_409_with_the_running_id(
    runtime: Runtime, client: httpx2.AsyncClient, settings: Settings
) -> None:
    await _connect(runtime)
    headers = bearer(settings, USER)

    first = await client.post("/api/sync/start", headers=headers)
    second = await client.post(
        "/api/v1/sync/start", headers=headers, json={"providers": ["amazon"]}
    )

    assert first.status_code == 202, first.text
    sync_id = first.json()["data"]["syncId"]
    assert second.status_code == 409
    assert second.json()["error"]["details"] == {"syncId": sync_id}
    status = await client.get(f"/api/sync/status/{sync_id}", headers=headers)
    assert status.json()["data"]["status"] == "queued"
    assert {
        "syncId",
        "status",
        "stage",
        "percent",
        "totalCases",
        "processedCases",
        "audit",
        "updatedAt",
    } <= set(status.json()["data"])


async def test_concurrent_starts_create_one_sync(
    runtime: Runtime, client: httpx2.AsyncClient, settings: Settings
) -> None:
    await _connect(runtime)
    answers = await asyncio.gather(
        *(client.post("/api/sync/start", headers=bearer(settings, USER)) for _ in range(6))
    )

    assert sorted(a.status_code for a in answers) == [202, 409, 409, 409, 409, 409]


async def test_start_without_a_connection_is_refused(
    client: httpx2.AsyncClient, settings: Settings
) -> None:
    answer = await client.post("/api/sync/start", headers=bearer(settings, "nobody"))

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "nothing_to_sync"


async def test_another_users_sync_is_not_found(
    runtime: Runtime, client: httpx2.AsyncClient, settings: Settings
) -> None:
    await _connect(runtime)
    sync_id = await _queued(runtime)

    for method, path in (
        ("GET", f"/api/sync/status/{sync_id}"),
        ("DELETE", f"/api/sync/cancel/{sync_id}"),
    ):
        answer = await client.request(method, path, headers=bearer(settings, "intruder"))
        assert answer.status_code == 404


async def test_the_reaper_requeues_a_run_whose_worker_vanished(runtime: Runtime) -> None:
    await _connect(runtime)
    sync_id = await _queued(runtime)
    async with transaction(runtime.sessions) as session:
        await session.execute(
            update(SyncJob)
            .where(SyncJob.id == sync_id)
            .values(status="running", heartbeat_at=utcnow() - timedelta(minutes=10))
        )
    before = await runtime.queue.count("queued")

    result = await reap({"runtime": runtime})  # type: ignore[typeddict-item]

    assert result == {"reaped": 1}
    assert await runtime.queue.count("queued") == before + 1
    # And the stale run can be claimed and finished by whoever picks it up.
    assert await run_sync(runtime, sync_id, [Recorder().step("a")]) == "completed"


async def test_history_and_statistics_measure_real_runs(
    runtime: Runtime, client: httpx2.AsyncClient, settings: Settings
) -> None:
    await _connect(runtime)
    headers = bearer(settings, USER)
    for _ in range(3):
        await run_sync(runtime, await _queued(runtime), [Recorder().step("a", ticks=1)])

    page = await client.get("/api/sync/history?limit=2", headers=headers)
    rest = await client.get(
        f"/api/sync/history?cursor={page.json()['meta']['nextCursor']}", headers=headers
    )
    stats = (await client.get("/api/sync/statistics", headers=headers)).json()["data"]

    ids = [item["syncId"] for item in page.json()["data"] + rest.json()["data"]]
    assert len(ids) == len(set(ids)) == 3
    assert rest.json()["meta"]["nextCursor"] is None
    assert (stats["total"], stats["successful"], stats["failed"]) == (3, 3, 0)
    assert stats["successRate"] == 1.0
    assert stats["averageDurationSeconds"] is not None
    assert stats["averageDurationSeconds"] >= 0
    assert stats["lastSync"]["syncId"] == ids[0]
