from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2
import pytest

from opside_hub.providers.stripe import client as stripe_client
from tests.conftest import LiveServer
from tests.integrations.conftest import (  # noqa: F401 - fixtures shared with the Stripe tests
    live_runtime,
    seller,
    seller_factory,
)


@pytest.fixture
async def http(live_server: LiveServer) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(base_url=live_server.url, follow_redirects=False) as client:
        yield client


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stripe_client, "BACKOFF_S", 0.01)
