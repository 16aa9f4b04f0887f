"""The server process freezes its startup heap so full garbage collections stay short."""

from __future__ import annotations

import gc
import weakref

from opside_hub.app import create_app
from opside_hub.config import Settings


class _Node:
    """A reference cycle: only the cyclic collector can free it."""

    def __init__(self) -> None:
        self.me = self


async def test_a_served_app_hides_its_startup_heap_from_the_collector(settings: Settings) -> None:
    app = create_app(settings, configure_logs=False, freeze_heap=True)
    assert gc.get_freeze_count() == 0
    try:
        async with app.router.lifespan_context(app):
            assert gc.get_freeze_count() > 0
            # Garbage made while serving is still collected.
            cycle = _Node()
            gone = weakref.ref(cycle)
            del cycle
            gc.collect()
            assert gone() is None
    finally:
        gc.unfreeze()  # this process goes on with other tests


async def test_an_app_made_for_other_uses_freezes_nothing(settings: Settings) -> None:
    app = create_app(settings, configure_logs=False)
    async with app.router.lifespan_context(app):
        assert gc.get_freeze_count() == 0
