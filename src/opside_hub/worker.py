"""The SAQ worker: every domain's tasks and schedules, and a graceful shutdown.

Tasks and schedules are declared in each domain's `tasks.py` and listed here explicitly, so a
reader sees in one place everything a worker can run.
"""

from __future__ import annotations

import asyncio
import signal

from saq import Worker

from opside_hub.config import Settings
from opside_hub.core.logging import get_logger
from opside_hub.core.queue import JobContext, Schedule, Task
from opside_hub.ledger import tasks as ledger_tasks
from opside_hub.observability.server import (
    start_worker_metrics_server,
    stop_worker_metrics_server,
)
from opside_hub.onboarding import tasks as onboarding_tasks
from opside_hub.providers.stripe import tasks as stripe_tasks
from opside_hub.runtime import Runtime
from opside_hub.sync import tasks as sync_tasks
from opside_hub.system import tasks as system_tasks
from opside_hub.vault import tasks as vault_tasks

log = get_logger(__name__)

TASKS: list[Task] = [
    *system_tasks.TASKS,
    *vault_tasks.TASKS,
    *sync_tasks.TASKS,
    *onboarding_tasks.TASKS,
    *stripe_tasks.TASKS,
    *ledger_tasks.TASKS,
]
SCHEDULES: list[Schedule] = [
    *vault_tasks.SCHEDULES,
    *sync_tasks.SCHEDULES,
    *stripe_tasks.SCHEDULES,
]
SHUTDOWN_GRACE_S = 25


def build_worker(runtime: Runtime, *, concurrency: int = 10) -> Worker[JobContext]:
    async def startup(ctx: JobContext) -> None:
        ctx["runtime"] = runtime
        # Sweep once before this worker dequeues anything. SAQ's sweeper aborts ("swept") a job
        # it catches between dequeue and start (tobymao/saq#277); its first sweep runs at the
        # same moment as a new worker's first dequeues, so jobs waiting for that worker were
        # aborted. The sweep's 60 s lock then keeps the upkeep loop from sweeping at startup.
        await runtime.queue.sweep()

    worker = Worker(
        runtime.queue,
        functions=[(task.name, task.function) for task in TASKS],
        cron_jobs=[schedule.as_cron_job() for schedule in SCHEDULES],
        startup=startup,
        concurrency=concurrency,
        # 0: once `stop_worker` has waited for running jobs, idle loops are cancelled at once.
        shutdown_grace_period_s=None,
    )
    # SAQ would install its own SIGINT/SIGTERM handlers and steal them from uvicorn when the
    # worker runs inside the API process; whoever owns the process handles signals instead.
    worker.SIGNALS = []
    return worker


async def stop_worker(worker: Worker[JobContext], grace_s: float = SHUTDOWN_GRACE_S) -> None:
    """Stop taking jobs, let running ones finish (up to `grace_s`), then stop.

    SAQ's own grace period also waits for its idle upkeep and dequeue loops, which only end by
    cancellation, so every stop would take the full period; we wait for real jobs only. A job
    still running after the grace period is cancelled; its state lives in the database.
    """
    worker.event.set()
    deadline = asyncio.get_running_loop().time() + grace_s
    # SAQ exposes no event for "last job finished"; polling its job table is the only way.
    while worker.job_task_contexts and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    await worker.stop()


async def run_worker(settings: Settings, *, concurrency: int = 10) -> None:
    """Run until SIGINT/SIGTERM, then let running jobs finish within the grace period."""
    runtime = await Runtime.start(settings)
    worker = build_worker(runtime, concurrency=concurrency)
    # Its own counters (jobs run here record here); the API's /metrics cannot see them.
    metrics_server = start_worker_metrics_server(settings.metrics)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    running = asyncio.create_task(worker.start())
    log.info("worker.started", queue=runtime.queue.name, concurrency=concurrency)
    try:
        await stop.wait()
    finally:
        log.info("worker.stopping")
        await stop_worker(worker)
        await running
        await runtime.stop()
        stop_worker_metrics_server(metrics_server)
        log.info("worker.stopped")
