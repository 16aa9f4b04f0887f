from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from typing import Any
from urllib.parse import urlencode

import httpx2

from opside_hub.sandbox.google.service import GMAIL_SCOPE
from tests.conftest import LiveServer
from tests.sandbox.helpers import parse_form, press, query_of, without_query
from tests.sandbox.specs import discovery_errors, gmail_discovery

AUTH = "/sandbox/google/o/oauth2/v2/auth"
TOKEN = "/sandbox/google/token"
REVOKE = "/sandbox/google/revoke"
PROFILE = "/sandbox/google/gmail/v1/users/{}/profile"


def new_verifier() -> str:
    return secrets.token_urlsafe(48)


def challenge_of(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


def auth_url(live: LiveServer, **params: str | None) -> str:
    client_id, _ = live.settings.client_credentials("gmail")
    query: dict[str, str | None] = {
        "client_id": client_id,
        "redirect_uri": live.settings.redirect_uri("gmail"),
        "response_type": "code",
        "scope": GMAIL_SCOPE,
        "state": "g-state",
        "access_type": "offline",
        "prompt": "consent",
        **params,
    }
    return f"{AUTH}?{urlencode({k: v for k, v in query.items() if v is not None})}"


def credentials(live: LiveServer) -> dict[str, str]:
    client_id, secret = live.settings.client_credentials("gmail")
    return {"client_id": client_id, "client_secret": secret}


async def consent(
    http: httpx2.AsyncClient,
    live: LiveServer,
    email: str = "seller@example.com",
    **params: str | None,
) -> dict[str, str]:
    page = await http.get(auth_url(live, **params))
    approved = await press(http, live, page, "approve", email)
    assert approved.status_code == 302, approved.text
    return query_of(approved.headers["location"])


async def exchange(
    http: httpx2.AsyncClient, live: LiveServer, code: str, **extra: str
) -> httpx2.Response:
    return await http.post(
        TOKEN,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": live.settings.redirect_uri("gmail"),
            **credentials(live),
            **extra,
        },
    )


async def refresh(http: httpx2.AsyncClient, live: LiveServer, token: str) -> httpx2.Response:
    return await http.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": token, **credentials(live)}
    )


async def profile(http: httpx2.AsyncClient, token: str, user_id: str = "me") -> httpx2.Response:
    return await http.get(PROFILE.format(user_id), headers={"Authorization": f"Bearer {token}"})


def assert_google_error(response: httpx2.Response, code: int, status: str) -> dict[str, Any]:
    assert response.status_code == code, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    assert error["status"] == status
    assert error["message"]
    assert error["errors"]
    assert {"message", "domain", "reason"} <= set(error["errors"][0])
    return error


async def test_pkce_flow_profile_refresh_and_revoke(
    http: httpx2.AsyncClient, live_server: LiveServer
) -> None:
    verifier = new_verifier()
    page = await http.get(
        auth_url(
            live_server,
            code_challenge=challenge_of(verifier),
            code_challenge_method="S256",
            login_hint="Buyer@Example.com",
            include_granted_scopes="true",
        )
    )
    assert page.status_code == 200
    form = parse_form(page.text)
    assert form.labels["account"] == "Email address"
    assert ("email", "email", "Buyer@Example.com") in form.inputs

    approved = await press(http, live_server, page, "approve")
    location = approved.headers["location"]
    assert without_query(location) == live_server.settings.redirect_uri("gmail")
    callback = query_of(location)
    assert callback["state"] == "g-state"
    assert callback["scope"] == GMAIL_SCOPE
    assert callback["code"].startswith("4/0")

    tokens = await exchange(http, live_server, callback["code"], code_verifier=verifier)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert set(body) == {"access_token", "expires_in", "refresh_token", "scope", "token_type"}
    assert body["access_token"].startswith("ya29.")
    assert body["refresh_token"].startswith("1//")
    assert body["token_type"] == "Bearer"
    assert body["scope"] == GMAIL_SCOPE
    assert body["expires_in"] == 3600

    me = await profile(http, body["access_token"])
    assert me.status_code == 200
    assert discovery_errors(gmail_discovery(), "Profile", me.json()) == []
    assert set(me.json()) == {"emailAddress", "messagesTotal", "threadsTotal", "historyId"}
    assert me.json()["emailAddress"] == "buyer@example.com"
    assert (await profile(http, body["access_token"], "buyer@example.com")).json() == me.json()
    assert_google_error(
        await profile(http, body["access_token"], "other@example.com"), 403, "PERMISSION_DENIED"
    )

    refreshed = await refresh(http, live_server, body["refresh_token"])
    assert refreshed.status_code == 200
    assert "refresh_token" not in refreshed.json()
    assert set(refreshed.json()) == {"access_token", "expires_in", "scope", "token_type"}
    assert (await profile(http, refreshed.json()["access_token"])).status_code == 200

    revoked = await http.post(REVOKE, data={"token": body["refresh_token"]})
    assert revoked.status_code == 200

    after = await refresh(http, live_server, body["refresh_token"])
    assert after.status_code == 400
    assert after.json() == {
        "error": "invalid_grant",
        "error_description": "Token has been expired or revoked.",
    }
    for token in (body["access_token"], refreshed.json()["access_token"]):
        assert_google_error(await profile(http, token), 401, "UNAUTHENTICATED")
    again = await http.post(REVOKE, data={"token": body["refresh_token"]})
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_token"


async def test_profile_is_the_same_for_the_same_address(
    http: httpx2.AsyncClient, live_server: LiveServer
) -> None:
    first = await exchange(
        http, live_server, (await consent(http, live_server, "a@example.com"))["code"]
    )
    second = await exchange(
        http, live_server, (await consent(http, live_server, "A@example.com"))["code"]
    )

    one = await profile(http, first.json()["access_token"])
    two = await profile(http, second.json()["access_token"])

    assert one.json() == two.json()


async def test_pkce_is_verified(http: httpx2.AsyncClient, live_server: LiveServer) -> None:
    verifier = new_verifier()
    pkce = {"code_challenge": challenge_of(verifier), "code_challenge_method": "S256"}

    missing = await exchange(http, live_server, (await consent(http, live_server, **pkce))["code"])
    wrong = await exchange(
        http,
        live_server,
        (await consent(http, live_server, **pkce))["code"],
        code_verifier=new_verifier(),
    )
    unneeded = await exchange(
        http, live_server, (await consent(http, live_server))["code"], code_verifier=verifier
    )
    plain_verifier = new_verifier()
    plain = await exchange(
        http,
        live_server,
        (await consent(http, live_server, code_challenge=plain_verifier))["code"],
        code_verifier=plain_verifier,
    )

    assert missing.json() == {
        "error": "invalid_grant",
        "error_description": "Missing code verifier.",
    }
    assert wrong.json() == {"error": "invalid_grant", "error_description": "Invalid code verifier."}
    assert unneeded.json()["error"] == "invalid_request"
    assert plain.status_code == 200  # no method: RFC 7636's default, plain


async def test_refresh_tokens_follow_access_type_and_prompt(
    http: httpx2.AsyncClient, live_server: LiveServer
) -> None:
    async def tokens(email: str, **params: str | None) -> dict[str, Any]:
        response = await exchange(
            http, live_server, (await consent(http, live_server, email, **params))["code"]
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    online = await tokens("online@example.com", access_type=None, prompt=None)
    first = await tokens("offline@example.com", prompt=None)
    second = await tokens("offline@example.com", prompt=None)
    forced = await tokens("offline@example.com", prompt="consent")

    assert "refresh_token" not in online
    assert "refresh_token" in first  # first consent of this account to this client
    assert "refresh_token" not in second  # already consented, no prompt=consent
    assert "refresh_token" in forced
    assert (await refresh(http, live_server, first["refresh_token"])).status_code == 200


async def test_include_granted_scopes_adds_earlier_grants(
    http: httpx2.AsyncClient, live_server: LiveServer
) -> None:
    await consent(http, live_server, "scopes@example.com")

    later = await consent(
        http, live_server, "scopes@example.com", scope="email", include_granted_scopes="true"
    )
    narrow = await consent(http, live_server, "scopes@example.com", scope="email")

    assert later["scope"].split() == ["email", GMAIL_SCOPE]
    assert narrow["scope"] == "email"


async def test_gmail_rejects_missing_unknown_expired_and_underscoped_tokens(
    http: httpx2.AsyncClient, live_server: LiveServer
) -> None:
    missing = await http.get(PROFILE.format("me"))
    error = assert_google_error(missing, 401, "UNAUTHENTICATED")
    assert error["errors"][0]["reason"] == "required"
    assert missing.headers["www-authenticate"].startswith("Bearer")
    unknown = assert_google_error(await profile(http, "ya29.unknown"), 401, "UNAUTHENTICATED")
    assert unknown["errors"][0]["reason"] == "authError"

    body = (await exchange(http, live_server, (await consent(http, live_server))["code"])).json()
    expired = await http.post("/sandbox/_admin/google/expire", json={"token": body["access_token"]})
    assert expired.json() == {"expired": 1}
    assert_google_error(await profile(http, body["access_token"]), 401, "UNAUTHENTICATED")
    renewed = (await refresh(http, live_server, body["refresh_token"])).json()
    assert (await profile(http, renewed["access_token"])).status_code == 200

    openid = (
        await exchange(
            http, live_server, (await consent(http, live_server, scope="openid email"))["code"]
        )
    ).json()
    scoped = assert_google_error(
        await profile(http, openid["access_token"]), 403, "PERMISSION_DENIED"
    )
    assert scoped["errors"][0]["reason"] == "insufficientPermissions"


async def test_revoke_takes_the_token_in_the_query_and_an_access_token_revokes_the_grant(
    http: httpx2.AsyncClient, live_server: LiveServer
) -> None:
    body = (await exchange(http, live_server, (await consent(http, live_server))["code"])).json()

    revoked = await http.post(f"{REVOKE}?{urlencode({'token': body['access_token']})}")

    assert revoked.status_code == 200
    assert (await refresh(http, live_server, body["refresh_token"])).json()[
        "error"
    ] == "invalid_grant"
    missing = await http.post(REVOKE)
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_request"


async def test_deny_redirects_with_access_denied(
    http: httpx2.AsyncClient, live_server: LiveServer
) -> None:
    page = await http.get(auth_url(live_server))

    denied = await press(http, live_server, page, "deny")

    assert query_of(denied.headers["location"]) == {"error": "access_denied", "state": "g-state"}


async def test_an_invalid_email_shows_the_form_again(
    http: httpx2.AsyncClient, live_server: LiveServer
) -> None:
    page = await http.get(auth_url(live_server))

    retry = await press(http, live_server, page, "approve", "not-an-address")

    assert retry.status_code == 400
    assert 'aria-invalid="true"' in retry.text
    assert 'role="alert"' in retry.text
    fixed = await press(
        http, live_server, httpx2.Response(200, text=retry.text), "approve", "ok@example.com"
    )
    assert fixed.status_code == 302


async def test_bad_authorization_requests_show_an_error_page(
    http: httpx2.AsyncClient, live_server: LiveServer
) -> None:
    cases: list[tuple[dict[str, str | None], int, str]] = [
        ({"client_id": "someone-else"}, 401, "invalid_client"),
        ({"client_id": None}, 400, "invalid_request"),
        ({"redirect_uri": "https://evil.example/cb"}, 400, "redirect_uri_mismatch"),
        ({"redirect_uri": None}, 400, "invalid_request"),
        ({"response_type": "token"}, 400, "unsupported_response_type"),
        ({"scope": None}, 400, "invalid_request"),
        ({"scope": "https://evil.example/all"}, 400, "invalid_scope"),
        ({"code_challenge": "short", "code_challenge_method": "S256"}, 400, "invalid_request"),
        ({"code_challenge": "x" * 43, "code_challenge_method": "S512"}, 400, "invalid_request"),
        ({"access_type": "forever"}, 400, "invalid_request"),
    ]
    for params, status, code in cases:
        response = await http.get(auth_url(live_server, **params))
        assert response.status_code == status, params
        assert "location" not in response.headers
        assert f"Error {status}: {code}" in response.text


async def test_prompt_none_cannot_succeed_without_a_session(
    http: httpx2.AsyncClient, live_server: LiveServer
) -> None:
    response = await http.get(auth_url(live_server, prompt="none"))

    assert response.status_code == 302
    assert query_of(response.headers["location"]) == {"error": "login_required", "state": "g-state"}


async def test_token_endpoint_errors(http: httpx2.AsyncClient, live_server: LiveServer) -> None:
    creds = credentials(live_server)
    redirect_uri = live_server.settings.redirect_uri("gmail")
    code = (await consent(http, live_server))["code"]
    cases: list[tuple[dict[str, str], int, str]] = [
        ({**creds, "code": code}, 400, "unsupported_grant_type"),
        ({**creds, "grant_type": "client_credentials"}, 400, "unsupported_grant_type"),
        ({"grant_type": "refresh_token", "refresh_token": "1//x"}, 400, "invalid_request"),
        (
            {"grant_type": "refresh_token", "refresh_token": "1//x", "client_id": "other"},
            401,
            "invalid_client",
        ),
        (
            {"grant_type": "refresh_token", "refresh_token": "1//x", **creds, "client_secret": "x"},
            401,
            "invalid_client",
        ),
        ({"grant_type": "refresh_token", **creds}, 400, "invalid_request"),
        (
            {"grant_type": "refresh_token", "refresh_token": "1//nope", **creds},
            400,
            "invalid_grant",
        ),
        (
            {"grant_type": "authorization_code", "redirect_uri": redirect_uri, **creds},
            400,
            "invalid_request",
        ),
        ({"grant_type": "authorization_code", "code": code, **creds}, 400, "invalid_request"),
        (
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": "https://x.example/",
                **creds,
            },
            400,
            "redirect_uri_mismatch",
        ),
        # The code was consumed by the attempt above: codes are good once.
        (
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                **creds,
            },
            400,
            "invalid_grant",
        ),
    ]
    for form, status, error in cases:
        response = await http.post(TOKEN, data=form)
        assert (response.status_code, response.json()["error"]) == (status, error), form


async def test_a_replayed_code_revokes_what_it_issued(
    http: httpx2.AsyncClient, live_server: LiveServer
) -> None:
    code = (await consent(http, live_server))["code"]
    first = await exchange(http, live_server, code)

    replay = await exchange(http, live_server, code)

    assert replay.json() == {"error": "invalid_grant", "error_description": "Bad Request"}
    assert (await refresh(http, live_server, first.json()["refresh_token"])).status_code == 400


async def test_a_popup_code_is_shown_and_exchanged_with_redirect_uri_postmessage(
    http: httpx2.AsyncClient, live_server: LiveServer
) -> None:
    page = await http.get(auth_url(live_server, redirect_uri="postmessage", state="popup"))

    shown = await press(http, live_server, page, "approve", "popup@example.com")

    assert shown.status_code == 200
    assert "location" not in shown.headers
    outputs = dict(re.findall(r'<output id="([^"]+)">([^<]*)</output>', shown.text))
    assert html.unescape(outputs["state"]) == "popup"
    code = html.unescape(outputs["code"])
    wrong = await exchange(http, live_server, code)
    assert wrong.json()["error"] == "redirect_uri_mismatch"
    code = html.unescape(
        dict(
            re.findall(
                r'<output id="([^"]+)">([^<]*)</output>',
                (
                    await press(
                        http,
                        live_server,
                        await http.get(auth_url(live_server, redirect_uri="postmessage")),
                        "approve",
                    )
                ).text,
            )
        )["code"]
    )
    tokens = await exchange(http, live_server, code, redirect_uri="postmessage")
    assert tokens.status_code == 200, tokens.text


async def test_the_token_endpoint_takes_client_secret_basic(
    http: httpx2.AsyncClient, live_server: LiveServer
) -> None:
    client_id, secret = live_server.settings.client_credentials("gmail")
    code = (await consent(http, live_server))["code"]

    tokens = await http.post(
        TOKEN,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": live_server.settings.redirect_uri("gmail"),
        },
        auth=(client_id, secret),
    )

    assert tokens.status_code == 200, tokens.text
