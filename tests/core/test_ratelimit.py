"""Rate limits per user and per client IP; X-Forwarded-For is believed from trusted proxies only."""

from __future__ import annotations

import httpx2
import pytest
from starlette.types import Scope

from opside_hub.config import AuthSettings, RedisSettings, Settings
from opside_hub.core.ratelimit import client_ip, parse_networks
from tests.conftest import bearer, client_for, make_settings, running_app

PROXY = ("10.0.0.5", 1234)


def assert_rate_limited(response: httpx2.Response) -> None:
    assert response.status_code == 429
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert response.json() == {
        "success": False,
        "error": {"code": "rate_limited", "message": response.json()["error"]["message"]},
    }


async def test_each_user_has_a_budget_of_their_own(database_url: str, redis_url: str) -> None:
    settings = make_settings(database_url, redis_url, rate_limit_per_user="3/minute")
    alice, bob = bearer(settings, "alice"), bearer(settings, "bob")
    async with running_app(settings) as app, client_for(app) as client:
        spent = [await client.get("/api/me", headers=alice) for _ in range(3)]
        over = await client.get("/api/me", headers=alice)
        other = await client.get("/api/me", headers=bob)

    assert [response.status_code for response in spent] == [200, 200, 200]
    assert_rate_limited(over)
    assert "user" in over.json()["error"]["message"]
    assert other.status_code == 200


async def test_forged_tokens_do_not_spend_a_users_budget(database_url: str, redis_url: str) -> None:
    settings = make_settings(database_url, redis_url, rate_limit_per_user="3/minute")
    forger = make_settings(database_url, redis_url, auth=AuthSettings(jwt_secret="f" * 64))
    async with running_app(settings) as app, client_for(app) as client:
        forged = [await client.get("/api/me", headers=bearer(forger, "alice")) for _ in range(5)]
        genuine = [await client.get("/api/me", headers=bearer(settings, "alice")) for _ in range(3)]

    assert {response.status_code for response in forged} == {401}
    assert [response.status_code for response in genuine] == [200, 200, 200]


async def test_each_client_ip_has_a_budget_of_its_own(database_url: str, redis_url: str) -> None:
    settings = make_settings(database_url, redis_url, rate_limit_per_ip="3/minute")
    async with running_app(settings) as app:
        async with client_for(app, client=("198.51.100.1", 4000)) as first:
            spent = [await first.get("/api/me") for _ in range(3)]
            over = await first.get("/api/me")
        async with client_for(app, client=("198.51.100.2", 4000)) as second:
            other = await second.get("/api/me")

    # Unauthenticated requests count too: they are what a flood is made of.
    assert [response.status_code for response in spent] == [401, 401, 401]
    assert_rate_limited(over)
    assert "ip" in over.json()["error"]["message"]
    assert other.status_code == 401


async def test_a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(
    database_url: str, redis_url: str
) -> None:
    settings = make_settings(
        database_url, redis_url, rate_limit_per_ip="3/minute", trusted_proxies=["192.0.2.0/24"]
    )
    async with running_app(settings) as app, client_for(app, client=PROXY) as client:
        responses = [
            await client.get("/api/me", headers={"X-Forwarded-For": f"203.0.113.{n}"})
            for n in range(1, 5)
        ]

    assert [response.status_code for response in responses[:3]] == [401, 401, 401]
    assert_rate_limited(responses[3])


async def test_forwarded_for_from_a_trusted_proxy_names_the_client(
    database_url: str, redis_url: str
) -> None:
    settings = make_settings(
        database_url, redis_url, rate_limit_per_ip="3/minute", trusted_proxies=["10.0.0.0/8"]
    )
    async with running_app(settings) as app, client_for(app, client=PROXY) as client:

        async def get(forwarded_for: str) -> int:
            response = await client.get("/api/me", headers={"X-Forwarded-For": forwarded_for})
            return response.status_code

        spent = [await get("203.0.113.7") for _ in range(3)]
        over = await get("203.0.113.7")
        # Through a second proxy of ours, the same client is still the same client.
        via_two_proxies = await get("203.0.113.7, 10.0.0.9")
        other_client = await get("203.0.113.8")
        # A client cannot choose its key by prepending a value: the proxy appends the real peer.
        spoof_through_proxy = await get("203.0.113.8, 203.0.113.7")

    assert spent == [401, 401, 401]
    assert over == 429
    assert via_two_proxies == 429
    assert other_client == 401
    assert spoof_through_proxy == 429


async def test_health_is_never_rate_limited(database_url: str, redis_url: str) -> None:
    settings = make_settings(database_url, redis_url, rate_limit_per_ip="1/minute")
    async with running_app(settings) as app, client_for(app) as client:
        statuses = [(await client.get("/health")).status_code for _ in range(3)]
        api = [(await client.get("/api/me")).status_code for _ in range(2)]

    assert statuses == [200, 200, 200]
    assert api == [401, 429]


def _scope(peer: str, *forwarded: str) -> Scope:
    return {
        "type": "http",
        "client": (peer, 1),
        "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded],
    }


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        (_scope("203.0.113.1", "198.51.100.1"), "203.0.113.1"),  # untrusted peer
        (_scope("10.0.0.5", "198.51.100.1"), "198.51.100.1"),
        (_scope("10.0.0.5", "198.51.100.1, 10.1.2.3"), "198.51.100.1"),
        (_scope("10.0.0.5", "198.51.100.1", "10.1.2.3"), "198.51.100.1"),  # repeated header
        (_scope("10.0.0.5"), "10.0.0.5"),  # no header: the proxy itself
        (_scope("10.0.0.5", "10.1.2.3"), "10.0.0.5"),  # only our proxies
        (_scope("10.0.0.5", "not-an-ip"), "10.0.0.5"),  # garbage is not a client
        (_scope("10.0.0.5", "2001:db8::1"), "2001:db8::1"),
        (_scope("fd00::1", "198.51.100.1"), "198.51.100.1"),
    ],
)
def test_client_ip(scope: Scope, expected: str) -> None:
    assert client_ip(scope, parse_networks(["10.0.0.0/8", "fd00::/8"])) == expected


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert client_ip(_scope("10.0.0.5", "198.51.100.1"), []) == "10.0.0.5"


async def test_a_redis_outage_does_not_take_the_api_down(settings: Settings) -> None:
    # Redis is a transport (DESIGN §2): while it restarts, routes that need only the database
    # keep answering, unlimited, rather than failing with a 500.
    down = settings.model_copy(
        update={"redis": RedisSettings(url="redis://127.0.0.1:1/0", namespace="down")}
    )
    async with running_app(down) as app, client_for(app) as client:
        response = await client.get("/api/me", headers=bearer(settings, "during-outage"))

    assert response.status_code == 200
    assert response.json()["data"]["id"] == "during-outage"
