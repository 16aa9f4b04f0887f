from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from opside_hub.db.models import OAuthState, Token
from opside_hub.db.types import utcnow
from opside_hub.runtime import Runtime
from opside_hub.sandbox.amazon.service import selling_partner_id
from tests.integrations.conftest import Seller, callback_params
from tests.sandbox.helpers import query_of, without_query


@pytest.mark.parametrize("provider", ["amazon", "gmail", "stripe"])
async def test_connect_then_disconnect(
    seller: Seller, live_runtime: Runtime, provider: str
) -> None:
    connected = await seller.connect(provider)

    assert connected["provider"] == provider
    assert connected["connected"] is True
    status = (await seller.integrations())[provider]
    assert status["connected"] is True
    assert status["status"] == "active"
    assert status["accountId"] == connected["accountId"]
    assert status["lastRefreshedAt"] is not None

    gone = await seller.http.delete(f"/api/{provider}/disconnect", headers=seller.auth)
    assert gone.status_code == 200, gone.text
    assert gone.json()["data"] == {"provider": provider, "disconnected": True}
    assert (await seller.integrations())[provider]["connected"] is False
    async with live_runtime.sessions() as session:
        assert (await session.execute(select(Token))).scalars().all() == []


async def test_amazon_account_is_the_selling_partner(seller: Seller, live_runtime: Runtime) -> None:
    connected = await seller.connect("amazon")

    assert connected["accountId"] == selling_partner_id("Acme Goods")
    # The onboarding and first-sync jobs are sent once the connection is committed.
    assert await live_runtime.queue.count("queued") >= 2


async def test_gmail_account_is_the_mailbox_address(seller: Seller) -> None:
    assert (await seller.connect("gmail"))["accountId"] == "seller@example.com"


async def test_stripe_account_is_the_connected_account(seller: Seller) -> None:
    assert str((await seller.connect("stripe"))["accountId"]).startswith("acct_")


async def test_browser_callbacks_redirect_to_the_frontend(seller: Seller) -> None:
    answer = await seller.callback(await seller.consent("gmail"), json=False)

    assert answer.status_code == 302
    assert without_query(answer.headers["location"]) == f"{seller.live.url}/"
    assert query_of(answer.headers["location"]) == {"integration": "gmail", "status": "connected"}


async def test_deny_at_the_provider_stores_nothing(seller: Seller, live_runtime: Runtime) -> None:
    answer = await seller.callback(await seller.consent("stripe", "deny"))

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "access_denied"
    assert (await seller.integrations())["stripe"]["connected"] is False


# State attacks --------------------------------------------------------------------------------


async def _tokens(runtime: Runtime) -> list[Token]:
    async with runtime.sessions() as session:
        return list((await session.execute(select(Token))).scalars().all())


async def test_forged_state_is_rejected(seller: Seller, live_runtime: Runtime) -> None:
    url = await seller.consent("amazon")
    params = callback_params(url)
    forged = url.replace(params["state"], "forged-" + params["state"][7:])

    answer = await seller.callback(forged)

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "state_unknown"
    assert await _tokens(live_runtime) == []


async def test_replayed_state_is_rejected(seller: Seller) -> None:
    url = await seller.consent("gmail")
    assert (await seller.callback(url)).status_code == 200

    replay = await seller.callback(url)

    assert replay.status_code == 400
    assert replay.json()["error"]["code"] == "state_reused"


async def test_expired_state_is_rejected(seller: Seller, live_runtime: Runtime) -> None:
    url = await seller.consent("stripe")
    async with live_runtime.sessions() as session:
        await session.execute(update(OAuthState).values(expires_at=utcnow() - timedelta(seconds=1)))
        await session.commit()

    answer = await seller.callback(url)

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "state_expired"
    assert await _tokens(live_runtime) == []


async def test_state_of_another_provider_is_rejected(seller: Seller, live_runtime: Runtime) -> None:
    amazon_state = (await seller.start("amazon"))["state"]
    url = await seller.consent("gmail")
    params = callback_params(url)
    crossed = url.replace(params["state"], amazon_state)

    answer = await seller.callback(crossed)

    assert answer.json()["error"]["code"] == "state_wrong_provider"
    assert await _tokens(live_runtime) == []


async def test_missing_state_is_rejected(seller: Seller) -> None:
    answer = await seller.callback("/api/amazon/callback?spapi_oauth_code=x&selling_partner_id=A1")

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "state_missing"


async def test_states_are_stored_hashed_and_single_use(
    seller: Seller, live_runtime: Runtime
) -> None:
    state = (await seller.start("amazon"))["state"]

    async with live_runtime.sessions() as session:
        rows = (await session.execute(select(OAuthState))).scalars().all()
    assert len(rows) == 1
    assert rows[0].state_hash != state
    assert state not in rows[0].state_hash
    assert len(state) >= 43  # 256 bits, base64url


# PKCE -----------------------------------------------------------------------------------------


async def test_gmail_uses_pkce_s256(seller: Seller) -> None:
    auth_url = (await seller.start("gmail"))["authUrl"]
    params = query_of(auth_url)

    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) == 43
    assert params["access_type"] == "offline"
    assert params["prompt"] == "consent"
    assert params["scope"] == "https://www.googleapis.com/auth/gmail.readonly"


async def test_popup_code_with_a_wrong_verifier_is_refused(seller: Seller) -> None:
    url = await seller.consent("gmail")
    code = callback_params(url)["code"]

    answer = await seller.http.post(
        "/api/gmail/connect",
        headers=seller.auth,
        json={"code": code, "codeVerifier": "x" * 43},
    )

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "connect_failed"
    assert (await seller.integrations())["gmail"]["connected"] is False


async def test_popup_code_with_our_state_connects(seller: Seller) -> None:
    url = await seller.consent("gmail")
    params = callback_params(url)

    answer = await seller.http.post(
        "/api/gmail/connect",
        headers=seller.auth,
        json={"code": params["code"], "state": params["state"]},
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["accountId"] == "seller@example.com"


# Isolation ------------------------------------------------------------------------------------


async def test_another_user_can_neither_see_nor_use_a_connection(
    seller: Seller, seller_factory: object, live_runtime: Runtime
) -> None:
    other: Seller = seller_factory("seller-b")  # type: ignore[operator]
    await seller.connect("stripe")
    url = await seller.consent("gmail")
    params = callback_params(url)

    assert (await other.integrations())["stripe"]["connected"] is False
    stolen = await other.http.post(
        "/api/gmail/connect",
        headers=other.auth,
        json={"code": params["code"], "state": params["state"]},
    )
    assert stolen.status_code == 400
    assert stolen.json()["error"]["code"] == "state_unknown"
    # Even on the wrong provider, another user's state is just unknown: nothing confirms it.
    amazon_state = query_of((await seller.start("amazon"))["authUrl"])["state"]
    crossed = await other.http.post(
        "/api/gmail/connect", headers=other.auth, json={"code": "x", "state": amazon_state}
    )
    assert crossed.status_code == 400
    assert crossed.json()["error"]["code"] == "state_unknown"
    removed = await other.http.delete("/api/stripe/disconnect", headers=other.auth)
    assert removed.json()["data"]["disconnected"] is False
    assert (await seller.integrations())["stripe"]["connected"] is True
    owners = {row.user_id for row in await _tokens(live_runtime)}
    assert owners == {"seller-a"}


async def test_concurrent_callbacks_with_one_state_connect_once(
    seller: Seller, live_runtime: Runtime
) -> None:
    url = await seller.consent("stripe")

    answers = await asyncio.gather(*(seller.callback(url) for _ in range(5)))

    assert sorted(a.status_code for a in answers) == [200, 400, 400, 400, 400]
    assert len(await _tokens(live_runtime)) == 1
