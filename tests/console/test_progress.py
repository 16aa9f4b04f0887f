"""The per-step bars of `opside-hub sync`, computed from status events like the server's."""

from __future__ import annotations

from io import StringIO
from typing import Any

from rich.console import Console

from opside_hub.console.progress import SyncBars, make_progress, step_shares
from opside_hub.sync.steps import STEPS


def _status(stage: str, percent: int, status: str = "running") -> dict[str, Any]:
    return {
        "syncId": "s1",
        "status": status,
        "stage": stage,
        "percent": percent,
        "providers": ["amazon"],
        "totalCases": 0,
        "processedCases": 0,
    }


def _bars() -> tuple[SyncBars, Any]:
    progress = make_progress(Console(file=StringIO(), width=120))
    return SyncBars(progress), progress


def _completed(bars: SyncBars, progress: Any) -> dict[str, float]:
    return {stage: progress.tasks[task].completed for stage, task in bars.steps.items()}


def test_the_shares_follow_the_pipelines_weights() -> None:
    shares = step_shares(["amazon"])
    amazon_steps = [s for s in STEPS if s.provider in (None, "amazon")]

    assert [share.stage for share in shares] == [step.stage for step in amazon_steps]
    assert abs(sum(share.span for share in shares) - 100) < 1e-9
    assert shares[0].start == 0


def test_steps_before_the_stage_are_done_and_the_current_one_is_partial() -> None:
    bars, progress = _bars()
    shares = step_shares(["amazon"])
    third = shares[2]

    bars.update(_status(third.stage, int(third.start + third.span / 2)))

    done = _completed(bars, progress)
    assert done[shares[0].stage] == done[shares[1].stage] == 100
    assert 40 <= done[third.stage] <= 60
    assert all(done[share.stage] == 0 for share in shares[3:])
    assert progress.tasks[bars.overall].completed == int(third.start + third.span / 2)


def test_completion_fills_every_bar_and_unknown_stages_get_one() -> None:
    bars, progress = _bars()

    bars.update(_status("queued", 0, "queued"))
    bars.update(_status("a_stage_of_a_newer_server", 40))
    bars.update(_status("completed", 100, "completed"))

    assert "a_stage_of_a_newer_server" in bars.steps
    assert set(_completed(bars, progress).values()) == {100}
    assert bars.summary().startswith("sync s1 completed")
