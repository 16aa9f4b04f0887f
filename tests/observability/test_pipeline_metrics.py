"""How each way a sync run can end is counted, with steps of our own (see tests/sync)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from prometheus_client import REGISTRY

from opside_hub.config import Settings
from opside_hub.core.exceptions import ProviderError
from opside_hub.runtime import Runtime
from opside_hub.sync import pipeline
from opside_hub.sync.pipeline import Step, StepContext, run_sync
from opside_hub.vault.exceptions import ReauthorizationRequired
from tests.conftest import bearer
from tests.sync.test_pipeline import USER, _connect, _queued

RUNS = "opside_hub_sync_runs_total"
STEPS = "opside_hub_sync_step_duration_seconds_count"


@pytest.fixture(autouse=True)
def _fast_safe_points(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "CANCEL_CHECK_EVERY_S", 0.0)


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _counter(name: str, **labels: str) -> Callable[[], float]:
    start = _value(name, **labels)
    return lambda: _value(name, **labels) - start


async def _done(_ctx: StepContext) -> dict[str, Any]:
    return {}


async def test_a_run_the_seller_must_fix_is_counted_failed(runtime: Runtime) -> None:
    await _connect(runtime)
    sync_id = await _queued(runtime)
    failed_runs = _counter(RUNS, status="failed")
    failed_step = _counter(STEPS, step="needs-seller", outcome="failed")
    completed_step = _counter(STEPS, step="fine", outcome="completed")

    async def revoked(_ctx: StepContext) -> dict[str, Any]:
        raise ReauthorizationRequired()

    steps = [Step("fine", "s1", 1, None, _done), Step("needs-seller", "s2", 1, None, revoked)]
    assert await run_sync(runtime, sync_id, steps) == "failed"

    assert (failed_runs(), failed_step(), completed_step()) == (1, 1, 1)


async def test_a_run_cancelled_while_running_is_counted_cancelled(
    runtime: Runtime, client: httpx2.AsyncClient, settings: Settings
) -> None:
    await _connect(runtime)
    sync_id = await _queued(runtime)
    cancelled_runs = _counter(RUNS, status="cancelled")
    cancelled_step = _counter(STEPS, step="cancelled-midway", outcome="cancelled")

    async def cancelled_midway(ctx: StepContext) -> dict[str, Any]:
        answer = await client.delete(f"/api/sync/cancel/{sync_id}", headers=bearer(settings, USER))
        assert answer.status_code == 200, answer.text
        await ctx.report(0.5)  # the safe point that stops the run
        return {}

    steps = [Step("cancelled-midway", "s", 1, None, cancelled_midway)]
    assert await run_sync(runtime, sync_id, steps) == "cancelled"

    assert (cancelled_runs(), cancelled_step()) == (1, 1)


async def test_a_transient_failure_is_a_failed_step_but_not_yet_a_finished_run(
    runtime: Runtime,
) -> None:
    await _connect(runtime)
    sync_id = await _queued(runtime)
    ended = {status: _counter(RUNS, status=status) for status in ("completed", "failed")}
    failed_step = _counter(STEPS, step="flaky", outcome="failed")

    async def flaky(_ctx: StepContext) -> dict[str, Any]:
        raise ProviderError("amazon said 503", details={"status": 503})

    with pytest.raises(ProviderError):  # the job wrapper retries it
        await run_sync(runtime, sync_id, [Step("flaky", "s", 1, None, flaky)])

    assert failed_step() == 1
    assert {status: count() for status, count in ended.items()} == {"completed": 0, "failed": 0}


async def test_a_run_cancelled_while_queued_is_counted_cancelled(
    runtime: Runtime, client: httpx2.AsyncClient, settings: Settings
) -> None:
    await _connect(runtime)
    sync_id = await _queued(runtime)
    cancelled_runs = _counter(RUNS, status="cancelled")

    answer = await client.delete(f"/api/sync/cancel/{sync_id}", headers=bearer(settings, USER))

    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["status"] == "cancelled"
    assert cancelled_runs() == 1
