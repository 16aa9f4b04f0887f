"""Talking to the sandbox Stripe as the platform, and to its test controls."""

from __future__ import annotations

from typing import Any

import httpx2

from tests.conftest import LiveServer

API = "/sandbox/stripe"
ADMIN = "/sandbox/_admin/stripe"


def secret_key(live: LiveServer) -> str:
    return live.settings.client_credentials("stripe")[1]


def platform(live: LiveServer, account: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {secret_key(live)}"}
    if account is not None:
        headers["Stripe-Account"] = account
    return headers


async def admin(http: httpx2.AsyncClient, path: str, body: dict[str, Any]) -> Any:
    response = await http.post(f"{ADMIN}{path}", json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def list_all(
    http: httpx2.AsyncClient, live: LiveServer, account: str, **params: str
) -> list[dict[str, Any]]:
    """Every balance transaction the sandbox lists for the account, newest first."""
    found: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        query = {"limit": "100", **params, **({"starting_after": after} if after else {})}
        response = await http.get(
            f"{API}/v1/balance_transactions", params=query, headers=platform(live, account)
        )
        assert response.status_code == 200, response.text
        body = response.json()
        found.extend(body["data"])
        if not body["has_more"]:
            return found
        after = body["data"][-1]["id"]
