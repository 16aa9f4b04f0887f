"""Connecting providers over real HTTP: the app on a live port, its sandbox as the provider."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2
import pytest

from opside_hub.runtime import Runtime
from tests.conftest import LiveServer, bearer
from tests.sandbox.helpers import press, query_of

PROVIDER_ACCOUNT = {
    "amazon": "Acme Goods",
    "gmail": "seller@example.com",
    "stripe": "payouts@acme.example",
}


@pytest.fixture
def live_runtime(live_server: LiveServer) -> Runtime:
    runtime: Runtime = live_server.app.state.runtime
    return runtime


@dataclass
class Seller:
    """A browser session of one user against the live app."""

    user_id: str
    http: httpx2.AsyncClient
    live: LiveServer
    token_calls: list[str] = field(default_factory=list)

    @property
    def auth(self) -> dict[str, str]:
        return bearer(self.live.settings, self.user_id)

    async def start(self, provider: str) -> dict[str, str]:
        response = await self.http.get(f"/api/{provider}/auth", headers=self.auth)
        assert response.status_code == 200, response.text
        data: dict[str, str] = response.json()["data"]
        return data

    async def consent(self, provider: str, decision: str = "approve") -> str:
        """Start, open the consent page, press a button; returns the callback URL."""
        auth_url = (await self.start(provider))["authUrl"]
        page = await self.http.get(auth_url)
        answer = await press(self.http, self.live, page, decision, PROVIDER_ACCOUNT[provider])
        assert answer.status_code == 302, answer.text
        return answer.headers["location"]

    async def callback(self, url: str, *, json: bool = True) -> httpx2.Response:
        headers = {"Accept": "application/json"} if json else {}
        return await self.http.get(url, headers=headers)

    async def connect(self, provider: str) -> dict[str, object]:
        response = await self.callback(await self.consent(provider))
        assert response.status_code == 200, response.text
        data: dict[str, object] = response.json()["data"]
        return data

    async def first_sync(self) -> dict[str, Any]:
        """Connecting Amazon starts a sync by itself (trigger `oauth`): wait for it to end."""
        async with asyncio.timeout(180):
            while True:
                history = await self.http.get("/api/sync/history", headers=self.auth)
                items = history.json()["data"]
                if items and items[0]["status"] in ("completed", "failed", "cancelled"):
                    item: dict[str, Any] = items[0]
                    return item
                await asyncio.sleep(0.2)

    async def integrations(self) -> dict[str, dict[str, object]]:
        response = await self.http.get("/api/integrations", headers=self.auth)
        assert response.status_code == 200, response.text
        data: dict[str, dict[str, object]] = response.json()["data"]
        return data


@pytest.fixture
async def seller_factory(live_server: LiveServer) -> AsyncIterator[Callable[[str], Seller]]:
    clients: list[httpx2.AsyncClient] = []

    def make(user_id: str) -> Seller:
        http = httpx2.AsyncClient(base_url=live_server.url, follow_redirects=False)
        clients.append(http)
        return Seller(user_id=user_id, http=http, live=live_server)

    yield make
    for http in clients:
        await http.aclose()


@pytest.fixture
def seller(seller_factory: Callable[[str], Seller]) -> Seller:
    return seller_factory("seller-a")


def callback_params(url: str) -> dict[str, str]:
    return query_of(url)
