"""Stripe jobs: apply a stored webhook event; re-send the jobs of events left unprocessed."""

from __future__ import annotations

from opside_hub.core.queue import JobContext, Schedule, Task
from opside_hub.providers.stripe import webhooks


async def process_event(ctx: JobContext, *, inbox_id: str) -> str:
    return await webhooks.process(ctx["runtime"], inbox_id)


async def sweep_events(ctx: JobContext) -> dict[str, int]:
    return {"resent": await webhooks.sweep(ctx["runtime"])}


PROCESS_EVENT = Task(webhooks.PROCESS_JOB, process_event)
SWEEP_EVENTS = Task("stripe.events.sweep", sweep_events)
TASKS = [PROCESS_EVENT, SWEEP_EVENTS]
SCHEDULES = [Schedule(SWEEP_EVENTS, cron="*/5 * * * *")]
