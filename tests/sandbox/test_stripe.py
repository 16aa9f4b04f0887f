from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

import httpx2

from opside_hub.runtime import Runtime
from opside_hub.sandbox.oauth_store import resolve_access_token
from opside_hub.sandbox.stripe.service import stripe_user_id
from tests.conftest import LiveServer
from tests.sandbox.helpers import parse_form, press, query_of, without_query

AUTHORIZE = "/sandbox/stripe/oauth/authorize"
TOKEN = "/sandbox/stripe/oauth/token"
DEAUTHORIZE = "/sandbox/stripe/oauth/deauthorize"


def authorize_url(live: LiveServer, **params: str | None) -> str:
    client_id, _ = live.settings.client_credentials("stripe")
    query: dict[str, str | None] = {
        "response_type": "code",
        "client_id": client_id,
        "scope": "read_write",
        "state": "s-state",
        "redirect_uri": live.settings.redirect_uri("stripe"),
        **params,
    }
    return f"{AUTHORIZE}?{urlencode({k: v for k, v in query.items() if v is not None})}"


def secret_key(live: LiveServer) -> str:
    return live.settings.client_credentials("stripe")[1]


def bearer(live: LiveServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret_key(live)}"}


async def connect(
    http: httpx2.AsyncClient, live: LiveServer, email: str = "owner@shop.example"
) -> dict[str, str]:
    page = await http.get(authorize_url(live))
    approved = await press(http, live, page, "approve", email)
    assert approved.status_code == 302, approved.text
    return query_of(approved.headers["location"])


async def exchange(http: httpx2.AsyncClient, live: LiveServer, code: str) -> httpx2.Response:
    return await http.post(
        TOKEN, data={"grant_type": "authorization_code", "code": code}, headers=bearer(live)
    )


async def test_connect_exchange_rotate_and_deauthorize(
    http: httpx2.AsyncClient, live_server: LiveServer, live_runtime: Runtime
) -> None:
    page = await http.get(
        authorize_url(live_server, **{"stripe_user[email]": "Owner@Shop.example"})
    )
    assert page.status_code == 200
    form = parse_form(page.text)
    assert form.labels["account"] == "Account email"
    assert ("hidden", "stripe_user[email]", "Owner@Shop.example") in form.inputs

    approved = await press(http, live_server, page, "approve")
    location = approved.headers["location"]
    assert without_query(location) == live_server.settings.redirect_uri("stripe")
    callback = query_of(location)
    assert callback["scope"] == "read_write"
    assert callback["state"] == "s-state"
    assert re.fullmatch(r"ac_[A-Za-z0-9]{32}", callback["code"])

    tokens = await exchange(http, live_server, callback["code"])
    assert tokens.status_code == 200, tokens.text
    body: dict[str, Any] = tokens.json()
    assert set(body) == {
        "access_token",
        "livemode",
        "refresh_token",
        "scope",
        "stripe_publishable_key",
        "stripe_user_id",
        "token_type",
    }
    account = stripe_user_id("owner@shop.example")
    assert body["stripe_user_id"] == account
    assert re.fullmatch(r"acct_[A-Za-z0-9]{16}", account)
    assert body["access_token"].startswith("sk_test_")
    assert body["refresh_token"].startswith("rt_")
    assert body["stripe_publishable_key"].startswith("pk_test_")
    assert body["livemode"] is False
    assert body["token_type"] == "bearer"
    assert body["scope"] == "read_write"

    key = live_runtime.redis_server.key
    grant = await resolve_access_token(live_runtime.redis, key, "stripe", body["access_token"])
    assert grant is not None
    assert grant.subject == account
    assert grant.access_expires_at is None  # Connect access tokens do not expire on a clock

    rotated = await http.post(
        TOKEN,
        data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        auth=(secret_key(live_server), ""),
    )
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["refresh_token"] != body["refresh_token"]
    assert rotated.json()["stripe_user_id"] == account
    stale = await http.post(
        TOKEN,
        data={
            "grant_type": "refresh_token",
            "refresh_token": body["refresh_token"],
            "client_secret": secret_key(live_server),
        },
    )
    assert stale.status_code == 400
    assert stale.json()["error"] == "invalid_grant"

    client_id, _ = live_server.settings.client_credentials("stripe")
    gone = await http.post(
        DEAUTHORIZE,
        data={"client_id": client_id, "stripe_user_id": account},
        headers=bearer(live_server),
    )
    assert gone.status_code == 200
    assert gone.json() == {"stripe_user_id": account}
    for token in (body["access_token"], rotated.json()["access_token"]):
        assert await resolve_access_token(live_runtime.redis, key, "stripe", token) is None
    dead = await http.post(
        TOKEN,
        data={"grant_type": "refresh_token", "refresh_token": rotated.json()["refresh_token"]},
        headers=bearer(live_server),
    )
    assert dead.json()["error"] == "invalid_grant"
    twice = await http.post(
        DEAUTHORIZE,
        data={"client_id": client_id, "stripe_user_id": account},
        headers=bearer(live_server),
    )
    assert twice.status_code == 401
    assert twice.json()["error"] == "invalid_client"
    assert account in twice.json()["error_description"]


async def test_account_ids_are_deterministic() -> None:
    assert stripe_user_id("Owner@Shop.example ") == stripe_user_id("owner@shop.example")
    assert stripe_user_id("owner@shop.example") != stripe_user_id("other@shop.example")


async def test_deny_redirects_with_access_denied_and_a_description(
    http: httpx2.AsyncClient, live_server: LiveServer
) -> None:
    page = await http.get(authorize_url(live_server))

    denied = await press(http, live_server, page, "deny")

    assert query_of(denied.headers["location"]) == {
        "error": "access_denied",
        "error_description": "The user denied your request",
        "state": "s-state",
    }


async def test_a_replayed_code_revokes_what_it_issued(
    http: httpx2.AsyncClient, live_server: LiveServer
) -> None:
    code = (await connect(http, live_server))["code"]
    first = await exchange(http, live_server, code)

    replay = await exchange(http, live_server, code)

    assert replay.status_code == 400
    assert replay.json() == {
        "error": "invalid_grant",
        "error_description": "This authorization code has already been used. All tokens "
        "issued with this code have been revoked.",
    }
    refresh = await http.post(
        TOKEN,
        data={"grant_type": "refresh_token", "refresh_token": first.json()["refresh_token"]},
        headers=bearer(live_server),
    )
    assert refresh.json()["error"] == "invalid_grant"
    # The tokens are gone, the connection is not: the platform can still deauthorize.
    client_id, _ = live_server.settings.client_credentials("stripe")
    deauthorized = await http.post(
        DEAUTHORIZE,
        data={"client_id": client_id, "stripe_user_id": first.json()["stripe_user_id"]},
        headers=bearer(live_server),
    )
    assert deauthorized.status_code == 200


async def test_authorize_errors(http: httpx2.AsyncClient, live_server: LiveServer) -> None:
    registered = live_server.settings.redirect_uri("stripe")
    unknown = await http.get(authorize_url(live_server, client_id="ca_someone_else"))
    assert unknown.status_code == 401
    assert "location" not in unknown.headers
    assert "invalid_client" in unknown.text

    cases: list[tuple[dict[str, str | None], str]] = [
        ({"redirect_uri": "https://evil.example/cb"}, "invalid_redirect_uri"),
        ({"scope": "admin"}, "invalid_scope"),
        ({"response_type": None}, "unsupported_response_type"),
    ]
    for params, error in cases:
        response = await http.get(authorize_url(live_server, **params))
        assert response.status_code == 302, params
        location = response.headers["location"]
        assert without_query(location) == registered  # never the unregistered URI
        assert query_of(location)["error"] == error
        assert query_of(location)["state"] == "s-state"
        assert query_of(location)["error_description"]


async def test_token_errors(http: httpx2.AsyncClient, live_server: LiveServer) -> None:
    code = (await connect(http, live_server))["code"]
    no_key = await http.post(TOKEN, data={"grant_type": "authorization_code", "code": code})
    assert no_key.status_code == 401
    wrong_key = await http.post(
        TOKEN,
        data={"grant_type": "authorization_code", "code": code},
        headers={"Authorization": "Bearer sk_test_wrongwrongwrong"},
    )
    assert wrong_key.status_code == 401
    assert wrong_key.json()["error"] == "invalid_client"
    assert "wrongwrong" not in wrong_key.json()["error_description"]

    cases: list[tuple[dict[str, str], str, str | None]] = [
        ({"code": code}, "invalid_request", "No grant type specified"),
        ({"grant_type": "client_credentials"}, "unsupported_grant_type", None),
        ({"grant_type": "authorization_code"}, "invalid_request", None),
        ({"grant_type": "refresh_token"}, "invalid_request", None),
        ({"grant_type": "authorization_code", "code": "ac_nope"}, "invalid_grant", None),
        ({"grant_type": "refresh_token", "refresh_token": "rt_nope"}, "invalid_grant", None),
    ]
    for form, error, description in cases:
        response = await http.post(TOKEN, data=form, headers=bearer(live_server))
        assert (response.status_code, response.json()["error"]) == (400, error), form
        if description:
            assert response.json()["error_description"] == description
    # None of the failures above consumed the good code.
    assert (await exchange(http, live_server, code)).status_code == 200


async def test_deauthorize_errors(http: httpx2.AsyncClient, live_server: LiveServer) -> None:
    client_id, _ = live_server.settings.client_credentials("stripe")
    account = stripe_user_id("never@connected.example")
    cases: list[tuple[dict[str, str], int, str]] = [
        ({"stripe_user_id": account}, 400, "invalid_request"),
        ({"client_id": client_id}, 400, "invalid_request"),
        ({"client_id": client_id, "stripe_user_id": account}, 401, "invalid_client"),
        ({"client_id": "ca_other", "stripe_user_id": account}, 401, "invalid_client"),
    ]
    for form, status, error in cases:
        response = await http.post(DEAUTHORIZE, data=form, headers=bearer(live_server))
        assert (response.status_code, response.json()["error"]) == (status, error), form
    unauthenticated = await http.post(
        DEAUTHORIZE, data={"client_id": client_id, "stripe_user_id": account}
    )
    assert unauthenticated.status_code == 401
