"""Every attack on the ways in (user JWTs, the OAuth flows, Stripe webhooks) and the test that
proves it. Most cases live next to the code they exercise; this module adds the missing ones and
is the index. Short names: E = auth/test_endpoints.py::test_a_bad_token_is_a_401_with_its_reason,
C = integrations/test_connect.py, W = providers/stripe/test_webhooks.py, R = here,
test_every_authenticated_route_refuses_forged_tokens (the case on every route of the OpenAPI).

User JWTs: each a 401 with its reason code in the error envelope and `WWW-Authenticate: Bearer`.
- alg `none` / `None` (token_bad_algorithm): E[alg-none], E[alg-None-capitalized], R.
- HS256 signed with an RSA public key as the secret (token_bad_signature):
  E[hs256-signed-with-the-public-key], R.
- RS256 where HS256 is expected; HS512 (token_bad_algorithm): E[rs256], E[hs512], R.
- expired (token_expired): E[expired], R; on the WebSocket, 4401 with the code:
  realtime/test_endpoint.py::test_a_bad_token_is_closed_with_4401_before_any_data.
- not yet valid, `nbf` or `iat` in the future (token_not_yet_valid): E[nbf-in-the-future],
  E[iat-in-the-future], R; within the 30 s leeway it passes: auth/test_endpoints.py::
  test_clock_skew_within_the_leeway_is_tolerated.
- wrong or missing `aud` (token_bad_audience, token_bad_claims): E[wrong-audience],
  E[no-audience], R.
- wrong issuer: not applicable, no issuer is configured (Supabase's `iss` differs per project);
  the pinned algorithm, our secret and `aud` are what bind a token to us.
- wrong key, tampered payload (token_bad_signature): E[wrong-key], E[tampered-payload], R.
- huge (token_malformed): 10 kB E[huge]; 1 MB over ASGI and over real HTTP:
  test_a_megabyte_token_is_refused_early. On the WebSocket: 414 in the URL, 431 in a header,
  test_a_megabyte_token_on_the_websocket_handshake_is_refused; 1009 as the auth message,
  realtime/test_endpoint.py::test_an_oversized_auth_message_closes_with_1009.
- malformed (token_malformed): E[garbage], E[three-garbage-segments], E[non-numeric-expiry].
- missing, empty, numeric or overlong `sub`; no `exp` (token_bad_claims): E[no-subject],
  E[empty-subject], E[numeric-subject], E[overlong-subject], E[no-expiry], R.
- no token, Basic scheme, empty Bearer (token_missing):
  auth/test_endpoints.py::test_a_missing_token_is_a_401.

OAuth: the callbacks are public and the `state` is the credential; a refusal stores nothing.
- forged state (state_unknown): C::test_forged_state_is_rejected; a random state on each
  provider's callback, refused before the code reaches the provider:
  test_a_random_state_is_refused_on_every_callback.
- replay (state_reused): C::test_replayed_state_is_rejected,
  C::test_concurrent_callbacks_with_one_state_connect_once.
- cross-provider, Amazon's state on the Gmail callback (state_wrong_provider):
  C::test_state_of_another_provider_is_rejected.
- expired state (state_expired): C::test_expired_state_is_rejected; missing (state_missing):
  C::test_missing_state_is_rejected.
- another user's state (state_unknown): C::test_another_user_can_neither_see_nor_use_a_connection;
  another user's JWT on a callback changes nothing: test_the_callbacks_ignore_a_bearer_token.
- PKCE mismatch (connect_failed): popup flow with a wrong `codeVerifier`:
  C::test_popup_code_with_a_wrong_verifier_is_refused; on the callback, a code injected into
  another flow (whose verifier does not match):
  test_a_code_injected_into_another_flow_fails_pkce_cleanly; the sandbox token endpoint itself
  (missing, wrong, plain verifier): sandbox/test_google.py::test_pkce_is_verified.

Stripe webhooks: 400, nothing stored, no job.
- missing `Stripe-Signature`, wrong secret, tampered body, `v0` only, no `v1`, garbage
  (invalid_signature): W::test_bad_signatures_are_400_and_store_nothing[no header, other secret,
  body, v0 only, no v1, garbage]; W::test_one_matching_v1_among_several_is_enough.
- timestamp outside the 300 s tolerance (signature_expired):
  W::test_bad_signatures_are_400_and_store_nothing[old timestamp]; 290 s passes:
  W::test_within_the_tolerance_is_accepted. A future timestamp is accepted, as Stripe's own SDK
  does: it still needs our secret.
- replayed event id, the same delivery or re-signed (200, `duplicate: true`, one row, one job):
  W::test_a_replayed_delivery_is_a_no_op.
- an unsigned event naming another seller's account: security/test_cross_tenant.py (the matrix
  posts one to /api/stripe/webhook).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

import httpx2
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from opside_hub.db.models import OAuthState, Token
from opside_hub.runtime import Runtime
from tests.auth.test_endpoints import BAD_TOKENS
from tests.conftest import LiveServer, bearer
from tests.integrations.conftest import Seller, callback_params
from tests.realtime.conftest import HANG_GUARD_S, ws_url

# The forged-token cases tried on every authenticated route (the full list runs on /api/me).
EVERY_ROUTE_CASES = (
    "alg-none",
    "hs256-signed-with-the-public-key",
    "rs256",
    "expired",
    "nbf-in-the-future",
    "wrong-audience",
    "wrong-key",
    "no-subject",
)
MEGABYTE = 1_000_000


def authenticated_operations(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every operation the OpenAPI document says needs the bearer token,
    path parameters filled with a placeholder."""
    found = []
    for path, methods in app.openapi()["paths"].items():
        for method, spec in methods.items():
            if spec.get("security"):
                found.append((method.upper(), re.sub(r"\{[^}]+\}", "x", path)))
    return found


async def test_every_authenticated_route_refuses_forged_tokens(
    app: FastAPI, client: httpx2.AsyncClient
) -> None:
    """No route forgot the dependency, and the answer does not depend on the route."""
    operations = authenticated_operations(app)
    assert len(operations) >= 40
    answers: dict[str, set[tuple[int, str]]] = {}
    for case in EVERY_ROUTE_CASES:
        make, code = BAD_TOKENS[case]
        headers = {"Authorization": f"Bearer {make()}"}
        for method, path in operations:
            response = await client.request(method, path, headers=headers, json={})
            body = response.json()
            answers.setdefault(case, set()).add((response.status_code, body["error"]["code"]))
            assert response.headers.get("www-authenticate") == "Bearer", (case, method, path)
        assert answers[case] == {(401, code)}, case


def megabyte_token() -> str:
    """A JWT-shaped token whose header alone is a megabyte."""
    header = {"alg": "HS256", "typ": "JWT", "kid": "k" * MEGABYTE}
    encoded = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    return f"{encoded}.eyJzdWIiOiJ4In0.c2ln"


async def test_a_megabyte_token_is_refused_early(
    client: httpx2.AsyncClient, live_server: LiveServer
) -> None:
    token = megabyte_token()
    headers = {"Authorization": f"Bearer {token}"}

    over_asgi = await client.get("/api/me", headers=headers)
    async with httpx2.AsyncClient(base_url=live_server.url) as http:
        over_http = await http.get("/api/me", headers=headers)

    for response in (over_asgi, over_http):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "token_malformed"


@pytest.mark.parametrize(("where", "status"), [("url", 414), ("header", 431)])
async def test_a_megabyte_token_on_the_websocket_handshake_is_refused(
    live_server: LiveServer, where: str, status: int
) -> None:
    """Over websockets' 8 KiB line limit the handshake is answered (414 in the URL, 431 in a
    header) and the connection closed; before realtime/protocol.py it was never answered."""
    token = megabyte_token()
    url = ws_url(live_server, token if where == "url" else None)
    headers = {"Authorization": f"Bearer {token}"} if where == "header" else None

    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, proxy=None, open_timeout=HANG_GUARD_S, additional_headers=headers):
            pass

    assert refused.value.response.status_code == status


def test_every_test_this_index_names_exists() -> None:
    """The index above stays true: each test it names is defined, each E[case] is a case."""
    assert __doc__ is not None
    sources = "\n".join(path.read_text() for path in Path(__file__).parents[1].rglob("test_*.py"))
    named = set(re.findall(r"\b(test_\w++)(?!\.py)", __doc__))  # test names, not file names
    assert len(named) >= 20
    assert {name for name in named if f"def {name}(" not in sources} == set()
    cases = {
        case.strip()
        for group in re.findall(r"\bE\[([^\]]+)\]", __doc__)
        for case in group.split(",")
    }
    assert cases - set(BAD_TOKENS) == set()


# -- OAuth ----------------------------------------------------------------------------------------


async def stored(runtime: Runtime, model: type[Token] | type[OAuthState]) -> int:
    async with runtime.sessions() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


CALLBACK_CODES: dict[str, Callable[[], dict[str, str]]] = {
    "amazon": lambda: {"spapi_oauth_code": "ANabcdefghijklmnopqrst", "selling_partner_id": "A1X"},
    "gmail": lambda: {"code": "4/0A" + secrets.token_urlsafe(54)},
    "stripe": lambda: {"code": "ac_" + secrets.token_hex(16)},
}


@pytest.mark.parametrize("provider", ["amazon", "gmail", "stripe"])
async def test_a_random_state_is_refused_on_every_callback(
    seller: Seller, live_runtime: Runtime, provider: str
) -> None:
    calls = _provider_calls(live_runtime)
    await seller.start(provider)  # a genuine pending flow exists: a random state still is no one's

    query = urlencode({"state": secrets.token_urlsafe(32), **CALLBACK_CODES[provider]()})
    answer = await seller.callback(f"/api/{provider}/callback?{query}")

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "state_unknown"
    assert await stored(live_runtime, Token) == 0
    assert calls == []  # refused before the code reached the provider


async def test_a_code_injected_into_another_flow_fails_pkce_cleanly(
    seller: Seller, live_runtime: Runtime
) -> None:
    """Code injection: a code from one Gmail flow replayed with the state of another. Our state
    brings its own PKCE verifier, which does not match the code's challenge, so Google refuses the
    exchange: the callback fails with its error code, stores no token and uses up the state."""
    victim_code = callback_params(await seller.consent("gmail"))["code"]
    other_flow = callback_params(await seller.consent("gmail"))
    calls = _provider_calls(live_runtime)

    answer = await seller.callback(
        f"/api/gmail/callback?state={other_flow['state']}&code={victim_code}"
    )

    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "connect_failed"
    assert [url for url in calls if "/token" in url] != []  # it did reach Google, which refused
    assert await stored(live_runtime, Token) == 0
    again = await seller.callback(
        f"/api/gmail/callback?state={other_flow['state']}&code={other_flow['code']}"
    )
    assert again.json()["error"]["code"] == "state_reused"
    # The browser form of the failure: back to the frontend with the code, no secret in the URL.
    third = callback_params(await seller.consent("gmail"))
    redirected = await seller.callback(
        f"/api/gmail/callback?state={third['state']}&code={victim_code}", json=False
    )
    assert redirected.status_code == 302
    assert callback_params(redirected.headers["location"]) == {
        "integration": "gmail",
        "status": "error",
        "error": "connect_failed",
    }


async def test_the_callbacks_ignore_a_bearer_token(
    seller: Seller, seller_factory: Callable[[str], Seller], live_runtime: Runtime
) -> None:
    """The state alone says whose flow it is: B's JWT on A's callback does not make the
    connection B's (nor does it fail A's flow)."""
    other = seller_factory("seller-b")
    url = await seller.consent("stripe")

    answer = await seller.http.get(
        url, headers={**bearer(seller.live.settings, other.user_id), "Accept": "application/json"}
    )

    assert answer.status_code == 200, answer.text
    async with live_runtime.sessions() as session:
        owners = (await session.execute(select(Token.user_id))).scalars().all()
    assert owners == [seller.user_id]


def _provider_calls(runtime: Runtime) -> list[str]:
    """URLs of the requests the app sends to the (sandbox) providers from now on."""
    calls: list[str] = []

    async def hook(request: httpx2.Request) -> None:
        calls.append(str(request.url))

    runtime.http.event_hooks["request"].append(hook)
    return calls
