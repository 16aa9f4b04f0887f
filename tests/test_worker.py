"""The queue loop end to end: a real worker consumes jobs from Redis and reaches the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from saq import Job, Status, Worker

from opside_hub.core.queue import JobContext, defer_job
from opside_hub.db.session import transaction
from opside_hub.runtime import Runtime
from opside_hub.worker import TASKS
from tests.conftest import running_worker


def test_the_worker_knows_every_task_by_its_dotted_name() -> None:
    names = [task.name for task in TASKS]
    assert "system.ping" in names
    assert len(names) == len(set(names))
    assert all("." in name for name in names)


async def test_system_ping_round_trip(runtime: Runtime, worker: Worker[JobContext]) -> None:
    result = await runtime.queue.apply("system.ping", timeout=10, poll_interval=0.05, message="hi")

    assert result["reply"] == "pong"
    assert result["echo"] == "hi"
    assert result["database"] is True
    answered_at = datetime.fromisoformat(result["at"])
    assert answered_at.tzinfo is not None
    assert abs(datetime.now(UTC) - answered_at) < timedelta(minutes=5)


async def test_a_job_deferred_in_a_committed_transaction_is_run(runtime: Runtime) -> None:
    async with transaction(runtime.sessions) as session:
        defer_job(session, "system.ping", job_options={"key": "deferred-ping"}, message="later")

    # Sent before any worker runs: it waits in Redis, and the next worker picks it up.
    async with running_worker(runtime):
        job = await runtime.queue.job("deferred-ping")
        assert isinstance(job, Job)
        await job.refresh(until_complete=10)

    assert job.status == Status.COMPLETE
    assert job.result["echo"] == "later"
    assert await runtime.queue.count("queued") == 0
