from __future__ import annotations

from urllib.parse import urlencode

import httpx2

from opside_hub.config import ProviderMode
from opside_hub.sandbox.amazon.service import SANDBOX_APPLICATION_ID
from opside_hub.sandbox.google.service import GMAIL_SCOPE
from tests.conftest import LiveServer, serve_live
from tests.sandbox.helpers import press, query_of


async def test_admin_endpoints_need_exactly_one_target(
    http: httpx2.AsyncClient, live_server: LiveServer
) -> None:
    for body in ({}, {"token": "a", "subject": "b"}):
        for action in ("revoke", "expire"):
            response = await http.post(f"/sandbox/_admin/google/{action}", json=body)
            assert response.status_code == 400
            assert response.json()["error"] == "invalid_request"
    assert (await http.post("/sandbox/_admin/google/revoke", json={"token": "x"})).json() == {
        "revoked": 0
    }
    assert (
        await http.post("/sandbox/_admin/stripe/expire", json={"subject": "acct_x"})
    ).json() == {"expired": 0}
    assert (await http.post("/sandbox/_admin/ebay/expire", json={"token": "x"})).status_code == 422


async def test_the_token_lifetime_setting_sets_expires_in(
    database_url: str, redis_url: str
) -> None:
    async with (
        serve_live(database_url, redis_url, sandbox_token_ttl_seconds=120) as live,
        httpx2.AsyncClient(base_url=live.url) as http,
    ):
        settings = live.settings
        client_id, secret = settings.client_credentials("amazon")
        page = await http.get(
            "/sandbox/amazon/apps/authorize/consent?"
            + urlencode({"application_id": SANDBOX_APPLICATION_ID, "state": "s"})
        )
        code = query_of((await press(http, live, page, "approve")).headers["location"])[
            "spapi_oauth_code"
        ]
        amazon = await http.post(
            "/sandbox/amazon/auth/o2/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": settings.redirect_uri("amazon"),
                "client_id": client_id,
                "client_secret": secret,
            },
        )
        gmail_id, gmail_secret = settings.client_credentials("gmail")
        page = await http.get(
            "/sandbox/google/o/oauth2/v2/auth?"
            + urlencode(
                {
                    "client_id": gmail_id,
                    "redirect_uri": settings.redirect_uri("gmail"),
                    "response_type": "code",
                    "scope": GMAIL_SCOPE,
                }
            )
        )
        code = query_of((await press(http, live, page, "approve")).headers["location"])["code"]
        google = await http.post(
            "/sandbox/google/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": settings.redirect_uri("gmail"),
                "client_id": gmail_id,
                "client_secret": gmail_secret,
            },
        )

    assert amazon.json()["expires_in"] == 120
    assert google.json()["expires_in"] == 120


async def test_endpoints_point_at_the_live_sandbox(live_server: LiveServer) -> None:
    endpoints = live_server.settings.endpoints()

    assert (
        endpoints.amazon_consent_url == f"{live_server.url}/sandbox/amazon/apps/authorize/consent"
    )
    assert endpoints.google_token_url == f"{live_server.url}/sandbox/google/token"
    assert endpoints.stripe_connect_base_url == f"{live_server.url}/sandbox/stripe"


async def test_the_sandbox_is_not_mounted_in_live_mode(database_url: str, redis_url: str) -> None:
    async with (
        serve_live(database_url, redis_url, provider_mode=ProviderMode.live) as live,
        httpx2.AsyncClient(base_url=live.url) as http,
    ):
        response = await http.post("/sandbox/google/token", data={"grant_type": "refresh_token"})

    assert response.status_code == 404
