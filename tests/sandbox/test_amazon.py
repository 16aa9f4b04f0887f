from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlencode

import httpx2

from opside_hub.runtime import Runtime
from opside_hub.sandbox.amazon.service import SANDBOX_APPLICATION_ID, selling_partner_id
from opside_hub.sandbox.oauth_store import CodeStatus, OAuthStore, resolve_access_token, utc_now
from tests.conftest import LiveServer
from tests.sandbox.helpers import parse_form, press, query_of, without_query

CONSENT = "/sandbox/amazon/apps/authorize/consent"
TOKEN = "/sandbox/amazon/auth/o2/token"


def consent_url(live: LiveServer, **params: str) -> str:
    query = {
        "application_id": SANDBOX_APPLICATION_ID,
        "state": "state-123",
        "redirect_uri": live.settings.redirect_uri("amazon"),
        **params,
    }
    return f"{CONSENT}?{urlencode({k: v for k, v in query.items() if v is not None})}"


def credentials(live: LiveServer) -> dict[str, str]:
    client_id, secret = live.settings.client_credentials("amazon")
    return {"client_id": client_id, "client_secret": secret}


async def authorize(http: httpx2.AsyncClient, live: LiveServer, seller: str) -> dict[str, str]:
    page = await http.get(consent_url(live))
    approved = await press(http, live, page, "approve", seller)
    assert approved.status_code == 302
    return query_of(approved.headers["location"])


async def exchange(http: httpx2.AsyncClient, live: LiveServer, code: str) -> httpx2.Response:
    return await http.post(
        TOKEN,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": live.settings.redirect_uri("amazon"),
            **credentials(live),
        },
    )


async def test_consent_approve_exchange_refresh_and_revoke(
    http: httpx2.AsyncClient, live_server: LiveServer, live_runtime: Runtime
) -> None:
    page = await http.get(consent_url(live_server))

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "form-action *" in page.headers["content-security-policy"]
    form = parse_form(page.text)
    assert form.labels["account"] == "Seller name"
    assert {name for _, name, _ in form.inputs} >= {"application_id", "state", "seller_name"}

    approved = await press(http, live_server, page, "approve", "Acme Goods")
    assert approved.status_code == 302
    location = approved.headers["location"]
    assert without_query(location) == live_server.settings.redirect_uri("amazon")
    callback = query_of(location)
    assert callback["state"] == "state-123"
    assert callback["selling_partner_id"] == selling_partner_id("Acme Goods")
    assert re.fullmatch(r"A[A-Z0-9]{13}", callback["selling_partner_id"])

    tokens = await exchange(http, live_server, callback["spapi_oauth_code"])
    assert tokens.status_code == 200, tokens.text
    assert tokens.headers["cache-control"] == "no-store"
    body = tokens.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["access_token"].startswith("Atza|")
    assert body["refresh_token"].startswith("Atzr|")
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600

    key = live_runtime.redis_server.key
    grant = await resolve_access_token(live_runtime.redis, key, "amazon", body["access_token"])
    assert grant is not None
    assert grant.subject == callback["selling_partner_id"]
    assert grant.attributes["seller_name"] == "Acme Goods"

    refreshed = await http.post(
        TOKEN,
        data={
            "grant_type": "refresh_token",
            "refresh_token": body["refresh_token"],
            **credentials(live_server),
        },
    )
    assert refreshed.status_code == 200
    assert refreshed.json()["refresh_token"] == body["refresh_token"]  # LWA does not rotate
    assert refreshed.json()["access_token"] != body["access_token"]

    revoked = await http.post(
        "/sandbox/_admin/amazon/revoke", json={"subject": callback["selling_partner_id"]}
    )
    assert revoked.json() == {"revoked": 1}
    again = await http.post(
        TOKEN,
        data={
            "grant_type": "refresh_token",
            "refresh_token": body["refresh_token"],
            **credentials(live_server),
        },
    )
    assert again.status_code == 400
    assert again.json() == {
        "error": "invalid_grant",
        "error_description": "The request has an invalid grant parameter : refresh_token",
    }
    for token in (body["access_token"], refreshed.json()["access_token"]):
        assert await resolve_access_token(live_runtime.redis, key, "amazon", token) is None


async def test_seller_ids_are_deterministic() -> None:
    assert selling_partner_id("Acme Goods") == selling_partner_id("  acme   GOODS ")
    assert selling_partner_id("Acme Goods") != selling_partner_id("Acme Goods 2")
    assert selling_partner_id("Acme Goods") == "A" + selling_partner_id("Acme Goods")[1:]


async def test_deny_redirects_with_access_denied(
    http: httpx2.AsyncClient, live_server: LiveServer
) -> None:
    page = await http.get(consent_url(live_server))

    denied = await press(http, live_server, page, "deny")

    assert denied.status_code == 302
    assert query_of(denied.headers["location"]) == {"error": "access_denied", "state": "state-123"}


async def test_a_code_is_single_use_and_its_replay_revokes_the_tokens(
    http: httpx2.AsyncClient, live_server: LiveServer
) -> None:
    callback = await authorize(http, live_server, "Replay Seller")
    first = await exchange(http, live_server, callback["spapi_oauth_code"])
    assert first.status_code == 200

    replay = await exchange(http, live_server, callback["spapi_oauth_code"])

    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    refresh = await http.post(
        TOKEN,
        data={
            "grant_type": "refresh_token",
            "refresh_token": first.json()["refresh_token"],
            **credentials(live_server),
        },
    )
    assert refresh.json()["error"] == "invalid_grant"


async def test_a_code_expires_after_five_minutes(
    http: httpx2.AsyncClient, live_server: LiveServer, live_runtime: Runtime
) -> None:
    callback = await authorize(http, live_server, "Slow Seller")
    store = OAuthStore(live_runtime.redis, live_runtime.redis_server.key, "amazon")
    code = callback["spapi_oauth_code"]

    late = await store.redeem_code(code, now=utc_now() + timedelta(minutes=5, seconds=1))

    assert late.status is CodeStatus.expired
    assert (await exchange(http, live_server, code)).json()["error"] == "invalid_grant"


async def test_token_endpoint_errors(http: httpx2.AsyncClient, live_server: LiveServer) -> None:
    creds = credentials(live_server)
    callback = await authorize(http, live_server, "Error Seller")
    code = callback["spapi_oauth_code"]
    redirect_uri = live_server.settings.redirect_uri("amazon")
    cases: list[tuple[dict[str, str], int, str]] = [
        ({**creds, "code": code, "redirect_uri": redirect_uri}, 400, "invalid_request"),
        ({**creds, "grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"grant_type": "refresh_token", "refresh_token": "Atzr|x"}, 400, "invalid_request"),
        (
            {
                "grant_type": "refresh_token",
                "refresh_token": "Atzr|x",
                **creds,
                "client_secret": "no",
            },
            401,
            "invalid_client",
        ),
        ({"grant_type": "authorization_code", **creds}, 400, "invalid_request"),
        ({"grant_type": "refresh_token", **creds}, 400, "invalid_request"),
        (
            {"grant_type": "refresh_token", "refresh_token": "Atzr|nope", **creds},
            400,
            "invalid_grant",
        ),
        (
            {
                "grant_type": "authorization_code",
                "code": code,
                **creds,
                "redirect_uri": "http://x/",
            },
            400,
            "invalid_grant",
        ),
        ({"grant_type": "authorization_code", "code": code, **creds}, 400, "invalid_request"),
    ]
    for form, status, error in cases:
        response = await http.post(TOKEN, data=form)
        assert (response.status_code, response.json()["error"]) == (status, error), form
        assert "error_description" in response.json()


async def test_token_endpoint_takes_basic_auth_and_json_bodies(
    http: httpx2.AsyncClient, live_server: LiveServer
) -> None:
    client_id, secret = live_server.settings.client_credentials("amazon")
    first = await authorize(http, live_server, "Basic Seller")
    with_basic = await http.post(
        TOKEN,
        data={
            "grant_type": "authorization_code",
            "code": first["spapi_oauth_code"],
            "redirect_uri": live_server.settings.redirect_uri("amazon"),
        },
        auth=(client_id, secret),
    )
    assert with_basic.status_code == 200, with_basic.text

    as_json = await http.post(
        TOKEN,
        json={
            "grant_type": "refresh_token",
            "refresh_token": with_basic.json()["refresh_token"],
            "client_id": client_id,
            "client_secret": secret,
        },
    )
    assert as_json.status_code == 200, as_json.text


async def test_bad_authorization_requests_show_an_error_page(
    http: httpx2.AsyncClient, live_server: LiveServer
) -> None:
    registered = live_server.settings.redirect_uri("amazon")
    cases = [
        ({"application_id": "amzn1.sp.solution.unknown"}, 404, "invalid_application"),
        ({"application_id": ""}, 400, "invalid_request"),
        ({"redirect_uri": "https://evil.example/callback"}, 400, "MD5101"),
        ({"redirect_uri": registered + "#fragment"}, 400, "MD5110"),
    ]
    for params, status, code in cases:
        response = await http.get(consent_url(live_server, **params))
        assert response.status_code == status, params
        assert "location" not in response.headers
        assert code in response.text
        assert response.headers["content-security-policy"].startswith("default-src 'none'")


async def test_redirect_uri_defaults_to_the_registered_one(
    http: httpx2.AsyncClient, live_server: LiveServer
) -> None:
    page = await http.get(f"{CONSENT}?application_id={SANDBOX_APPLICATION_ID}&state=s")
    approved = await press(http, live_server, page, "approve")

    assert without_query(approved.headers["location"]) == live_server.settings.redirect_uri(
        "amazon"
    )


async def test_consent_page_escapes_what_it_echoes(
    http: httpx2.AsyncClient, live_server: LiveServer
) -> None:
    evil = '"><script>alert(1)</script>'
    page = await http.get(consent_url(live_server, state=evil))

    assert "<script>" not in page.text
    assert "&quot;&gt;&lt;script&gt;" in page.text
    approved = await press(http, live_server, page, "approve")
    assert query_of(approved.headers["location"])["state"] == evil


async def test_consent_form_refuses_a_cross_site_submission(
    http: httpx2.AsyncClient, live_server: LiveServer
) -> None:
    form = {"application_id": SANDBOX_APPLICATION_ID, "state": "s", "decision": "approve"}
    forged = [
        {"Origin": "https://evil.example"},
        {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ]
    for headers in forged:
        response = await http.post(CONSENT, data=form, headers=headers)
        assert response.status_code == 403, headers
        assert "location" not in response.headers

    own = await http.post(
        CONSENT, data=form, headers={"Origin": live_server.url, "Sec-Fetch-Site": "same-origin"}
    )
    assert own.status_code == 302
