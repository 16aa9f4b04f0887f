from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2
import pytest

from opside_hub.runtime import Runtime
from tests.conftest import LiveServer


@pytest.fixture
async def http(live_server: LiveServer) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(base_url=live_server.url, follow_redirects=False) as client:
        yield client


@pytest.fixture
def live_runtime(live_server: LiveServer) -> Runtime:
    runtime: Runtime = live_server.app.state.runtime
    return runtime
