"""Rich progress bars for a sync: one per step, and the whole run, fed by its status events.

The events carry the run's `stage` and overall `percent`; a step's own progress follows from
the pipeline's step weights (`sync.steps.STEPS`, the same table the pipeline computes the
percent from): every step before the current stage is done, the current one has covered
`(percent - start) / span` of its share. A stage this client does not know (a newer server)
gets a bar of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

STAGE_LABELS = {
    "queued": "Waiting for a worker",
    "starting": "Starting",
    "fetching_reimbursements": "Reimbursements report",
    "fetching_inventory_ledger": "Inventory ledger report",
    "fetching_financial_events": "Financial events",
    "fetching_inventory": "Inventory summaries",
    "building_cases": "Building cases",
    "linking_documents": "Linking MCDE documents",
    "processing_stripe": "Stripe balance transactions",
    "scanning_email": "Gmail messages",
    "finalizing": "Finalizing",
}
TERMINAL = ("completed", "failed", "cancelled")


def stage_label(stage: str) -> str:
    return STAGE_LABELS.get(stage) or stage.replace("_", " ").replace(".", " ").capitalize()


@dataclass(frozen=True)
class StepShare:
    stage: str
    start: float  # percent of the run where the step starts
    span: float  # its share of the run, in percent


def step_shares(providers: list[str]) -> list[StepShare]:
    """The steps a run over `providers` goes through, with their shares of its percent."""
    from opside_hub.sync.steps import STEPS

    steps = [s for s in STEPS if s.provider is None or s.provider in providers]
    total = sum(step.weight for step in steps) or 1
    shares: list[StepShare] = []
    start = 0.0
    for step in steps:
        span = 100.0 * step.weight / total
        shares.append(StepShare(step.stage, start, span))
        start += span
    return shares


def make_progress(console: Console | None = None) -> Progress:
    return Progress(
        TextColumn("{task.description:<30}"),
        BarColumn(bar_width=32),
        TaskProgressColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=console,
    )


class SyncBars:
    """The bars of one sync inside a `Progress`; call `update` with each status."""

    def __init__(self, progress: Progress, *, title: str = "Sync") -> None:
        self.progress = progress
        self.title = title
        self.overall: TaskID | None = None
        self.shares: list[StepShare] = []
        self.steps: dict[str, TaskID] = {}
        self.last: dict[str, Any] | None = None

    def _start(self, status: dict[str, Any]) -> None:
        self.shares = step_shares(list(status.get("providers") or []))
        self.overall = self.progress.add_task(self.title, total=100, info="")
        # A step's clock starts when the run reaches it, so each shows its own duration.
        for share in self.shares:
            self.steps[share.stage] = self.progress.add_task(
                f"  {stage_label(share.stage)}", total=100, info="", start=False
            )

    def update(self, status: dict[str, Any]) -> None:
        if self.overall is None:
            self._start(status)
        assert self.overall is not None
        self.last = status
        state, stage, percent = status["status"], status.get("stage", ""), status["percent"]
        info = f"[bold]{state}[/]" if state in TERMINAL else stage_label(stage)
        if status.get("totalCases"):
            info += f"  {status.get('processedCases', 0)}/{status['totalCases']} cases"
        self.progress.update(self.overall, completed=percent, info=info)
        if state == "completed":
            for task in self.steps.values():
                self.progress.start_task(task)
                self.progress.update(task, completed=100, info="[green]done[/]")
            return
        current = next((i for i, s in enumerate(self.shares) if s.stage == stage), None)
        if current is None:
            if stage not in ("queued", "starting", *TERMINAL) and stage not in self.steps:
                self.steps[stage] = self.progress.add_task(
                    f"  {stage_label(stage)}", total=100, info=""
                )
            if stage in self.steps and state not in TERMINAL:
                self.progress.update(self.steps[stage], info="running")
            return
        for index, share in enumerate(self.shares):
            task = self.steps[share.stage]
            if index <= current:
                self.progress.start_task(task)
            if index < current:
                self.progress.update(task, completed=100, info="[green]done[/]")
            elif index == current:
                done = 100.0 * (percent - share.start) / share.span if share.span else 0.0
                label = "running" if state not in TERMINAL else f"[red]{state}[/]"
                self.progress.update(task, completed=max(0.0, min(100.0, done)), info=label)

    def summary(self) -> str:
        status = self.last or {}
        seconds = duration_seconds(status)
        took = f" in {seconds:.1f} s" if seconds is not None else ""
        line = f"sync {status.get('syncId')} {status.get('status')}{took}"
        line += f": {status.get('totalCases', 0)} cases"
        if status.get("error"):
            line += f" ({status['error']})"
        return line


def duration_seconds(status: dict[str, Any]) -> float | None:
    started, finished = status.get("startedAt"), status.get("finishedAt")
    if not started or not finished:
        return None
    return (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()
