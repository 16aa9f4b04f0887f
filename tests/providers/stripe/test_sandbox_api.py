"""The sandbox Stripe API at Stripe's HTTP shapes, checked against Stripe's OpenAPI spec and
driven by Stripe's own SDK."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
import pytest
import stripe

from tests.conftest import LiveServer, serve_live
from tests.integrations.conftest import Seller
from tests.providers.stripe.helpers import API, admin, list_all, platform, secret_key
from tests.providers.stripe.openapi import response_errors, schema_errors

TXNS = f"{API}/v1/balance_transactions"


async def connect(seller: Seller) -> str:
    data = await seller.connect("stripe")
    account = data["accountId"]
    assert isinstance(account, str)
    assert account.startswith("acct_")
    return account


def assert_stripe_error(response: httpx2.Response, status: int, **expected: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert schema_errors("error", body) == []
    for name, value in expected.items():
        assert body["error"][name] == value, body
    assert response.headers["request-id"].startswith("req_")


async def test_authentication_is_stripes(
    http: httpx2.AsyncClient, live_server: LiveServer, seller: Seller
) -> None:
    assert_stripe_error(await http.get(TXNS), 401, type="invalid_request_error")
    unknown = await http.get(TXNS, headers={"Authorization": "Bearer sk_test_nope0123456789"})
    assert_stripe_error(unknown, 401, type="invalid_request_error")
    assert "sk_test_nope0123456789" not in unknown.text  # masked, as Stripe does

    # HTTP Basic with the key as the username works as well as Bearer.
    basic = await http.get(TXNS, auth=(secret_key(live_server), ""))
    assert basic.status_code == 200, basic.text

    # A connected account only once it connected to the platform.
    stranger = await http.get(TXNS, headers=platform(live_server, "acct_1NotConnected0000"))
    assert_stripe_error(stranger, 403, code="account_invalid")
    account = await connect(seller)
    assert (await http.get(TXNS, headers=platform(live_server, account))).status_code == 200


async def test_lists_are_stripes_and_page_without_gaps_or_repeats(
    http: httpx2.AsyncClient, live_server: LiveServer, seller: Seller
) -> None:
    account = await connect(seller)
    first = await http.get(TXNS, params={"limit": "3"}, headers=platform(live_server, account))
    body = first.json()
    assert response_errors("/v1/balance_transactions", "get", body) == []
    assert body["object"] == "list"
    assert body["url"] == "/v1/balance_transactions"
    assert len(body["data"]) == 3
    assert body["has_more"] is True

    everything = await list_all(http, live_server, account)
    ids = [item["id"] for item in everything]
    assert len(ids) == len(set(ids))
    assert 200 <= len(ids) <= 280  # SANDBOX_STRIPE_BALANCE_TRANSACTIONS=240 per 540 days
    created = [item["created"] for item in everything]
    assert created == sorted(created, reverse=True)
    assert everything[:3] == body["data"]
    for item in everything:
        assert schema_errors("balance_transaction", item) == [], item
        assert item["net"] == item["amount"] - item["fee"]
        assert item["fee"] == sum(fee["amount"] for fee in item["fee_details"])
    assert {item["type"] for item in everything} >= {"charge", "refund", "payout"}
    assert {item["currency"] for item in everything} >= {"usd", "eur"}

    # ending_before pages back up: the page just before the tenth item is items 5..9.
    before = await http.get(
        TXNS,
        params={"limit": "5", "ending_before": everything[9]["id"]},
        headers=platform(live_server, account),
    )
    assert [i["id"] for i in before.json()["data"]] == ids[4:9]
    assert before.json()["has_more"] is True

    # Deterministic: the same account lists the same history again.
    assert await list_all(http, live_server, account) == everything


async def test_filters(http: httpx2.AsyncClient, live_server: LiveServer, seller: Seller) -> None:
    account = await connect(seller)
    everything = await list_all(http, live_server, account)
    middle = everything[len(everything) // 2]["created"]

    newer = await list_all(http, live_server, account, **{"created[gte]": str(middle)})
    assert newer == [item for item in everything if item["created"] >= middle]
    month_before = middle - 86_400 * 30
    bounds = {"created[gt]": str(month_before), "created[lt]": str(middle)}
    window = await list_all(http, live_server, account, **bounds)
    assert window == [i for i in everything if month_before < i["created"] < middle]
    exact = await list_all(http, live_server, account, created=str(middle))
    assert exact == [item for item in everything if item["created"] == middle]

    payouts = await list_all(http, live_server, account, type="payout")
    assert payouts == [item for item in everything if item["type"] == "payout"]
    euros = await list_all(http, live_server, account, currency="EUR")
    assert euros == [item for item in everything if item["currency"] == "eur"]

    # A payout lists itself and what it paid out: everything since the previous payout.
    payout = payouts[1]
    paid = await list_all(http, live_server, account, payout=payout["source"])
    position = everything.index(payout)
    previous = next(i for i in everything[position + 1 :] if i["type"] == "payout")
    assert paid == everything[position : everything.index(previous)]


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"created[gte]": "yesterday"}, "created[gte]"),
        ({"created[after]": "1"}, "created[after]"),
        ({"colour": "blue"}, "colour"),
        ({"starting_after": "txn_1Unknown"}, "starting_after"),
        ({"starting_after": "txn_1A", "ending_before": "txn_1B"}, "ending_before"),
        ({"payout": "po_1Unknown"}, "payout"),
    ],
)
async def test_bad_parameters_are_stripe_errors(
    http: httpx2.AsyncClient, live_server: LiveServer, params: dict[str, str], param: str
) -> None:
    response = await http.get(TXNS, params=params, headers=platform(live_server))
    assert_stripe_error(response, 400, type="invalid_request_error", param=param)


async def test_retrieve_a_balance_transaction(
    http: httpx2.AsyncClient, live_server: LiveServer, seller: Seller
) -> None:
    account = await connect(seller)
    item = (await list_all(http, live_server, account))[7]
    one = await http.get(f"{TXNS}/{item['id']}", headers=platform(live_server, account))
    assert one.json() == item

    other = await http.get(f"{TXNS}/{item['id']}", headers=platform(live_server))
    assert_stripe_error(other, 404, code="resource_missing")  # another account's transaction
    missing = await http.get(f"{TXNS}/txn_1Nope", headers=platform(live_server, account))
    assert_stripe_error(missing, 404, code="resource_missing", param="id")


async def test_an_oauth_access_token_acts_on_its_own_account(
    http: httpx2.AsyncClient, live_server: LiveServer, seller: Seller, live_runtime: Any
) -> None:
    # Exchange a code directly so the test holds the account's access token.
    from tests.sandbox.test_stripe import connect as consent
    from tests.sandbox.test_stripe import exchange

    code = (await consent(http, live_server, "token-owner@shop.example"))["code"]
    tokens = (await exchange(http, live_server, code)).json()
    account, token = tokens["stripe_user_id"], tokens["access_token"]
    own = {"Authorization": f"Bearer {token}"}

    via_token = await http.get(TXNS, params={"limit": "20"}, headers=own)
    via_platform = await http.get(
        TXNS, params={"limit": "20"}, headers=platform(live_server, account)
    )
    assert via_token.json() == via_platform.json()
    me = (await http.get(f"{API}/v1/account", headers=own)).json()
    assert me["id"] == account
    assert me["email"] == "token-owner@shop.example"
    elsewhere = await http.get(TXNS, headers={**own, "Stripe-Account": "acct_1Other000000000"})
    assert_stripe_error(elsewhere, 403, code="account_invalid")


async def test_accounts_retrieve_and_create_idempotently(
    http: httpx2.AsyncClient, live_server: LiveServer, seller: Seller
) -> None:
    connected = await connect(seller)
    account = (await http.get(f"{API}/v1/account", headers=platform(live_server, connected))).json()
    assert schema_errors("account", account) == []
    assert (account["id"], account["type"]) == (connected, "standard")
    assert account["email"] == "payouts@acme.example"
    own = (await http.get(f"{API}/v1/account", headers=platform(live_server))).json()
    assert schema_errors("account", own) == []
    assert own["id"] != connected

    form = {
        "type": "express",
        "country": "GB",
        "email": "seller@shop.example",
        "capabilities[card_payments][requested]": "true",
        "capabilities[transfers][requested]": "true",
        "metadata[opside_user_id]": "user-1",
    }
    headers = {**platform(live_server), "Idempotency-Key": "key-1"}
    created = await http.post(f"{API}/v1/accounts", data=form, headers=headers)
    assert created.status_code == 200, created.text
    express = created.json()
    assert schema_errors("account", express) == []
    assert (express["type"], express["country"], express["default_currency"]) == (
        "express",
        "GB",
        "gbp",
    )
    assert express["metadata"] == {"opside_user_id": "user-1"}
    assert express["capabilities"] == {"card_payments": "inactive", "transfers": "inactive"}
    assert not express["charges_enabled"]
    assert not express["details_submitted"]

    again = await http.post(f"{API}/v1/accounts", data=form, headers=headers)
    assert again.json() == express
    assert again.headers["idempotent-replayed"] == "true"
    changed = await http.post(f"{API}/v1/accounts", data={**form, "country": "US"}, headers=headers)
    assert_stripe_error(changed, 400, type="idempotency_error")
    other_key = await http.post(
        f"{API}/v1/accounts", data=form, headers={**platform(live_server), "Idempotency-Key": "2"}
    )
    assert other_key.json()["id"] != express["id"]

    fetched = await http.get(f"{API}/v1/accounts/{express['id']}", headers=platform(live_server))
    assert fetched.json() == express
    # A created account is connected: the platform acts on it; it has no history yet.
    empty = await http.get(TXNS, headers=platform(live_server, express["id"]))
    assert empty.json()["data"] == []
    listed = (await http.get("/sandbox/_admin/stripe/accounts")).json()["data"]
    assert {a["id"] for a in listed} == {express["id"], other_key.json()["id"]}


@pytest.mark.parametrize(
    ("form", "param"),
    [
        ({"country": "US"}, "type"),
        ({"type": "premium"}, "type"),
        ({"type": "express", "country": "ZZ"}, "country"),
        ({"type": "express", "email": "not-an-email"}, "email"),
        ({"type": "express"}, "capabilities"),
        ({"type": "standard", "favourite_colour": "blue"}, "favourite_colour"),
        ({"type": "standard", "default_currency": "dollars"}, "default_currency"),
        ({"type": "standard", "metadata": "not-a-hash"}, "metadata"),
        ({"type": "express", "capabilities[transfers]": "yes"}, "capabilities[transfers]"),
    ],
)
async def test_account_creation_validates_like_stripe(
    http: httpx2.AsyncClient, live_server: LiveServer, form: dict[str, str], param: str
) -> None:
    headers = {**platform(live_server), "Idempotency-Key": f"bad-{param}"}
    response = await http.post(f"{API}/v1/accounts", data=form, headers=headers)
    assert_stripe_error(response, 400, type="invalid_request_error", param=param)
    # Refused before it ran: the key saved nothing and can be used for a valid request.
    valid = {"type": "standard"}
    retried = await http.post(f"{API}/v1/accounts", data=valid, headers=headers)
    assert retried.status_code == 200, retried.text


async def test_queued_faults_fail_the_next_requests_then_stop(
    http: httpx2.AsyncClient, live_server: LiveServer
) -> None:
    await admin(http, "/faults", {"method": "GET", "path": "/v1/account", "statuses": [503, 429]})
    first = await http.get(f"{API}/v1/account", headers=platform(live_server))
    assert_stripe_error(first, 503, type="api_error")
    assert first.headers["stripe-should-retry"] == "true"
    second = await http.get(f"{API}/v1/account", headers=platform(live_server))
    assert_stripe_error(second, 429, code="rate_limit")
    assert (await http.get(f"{API}/v1/account", headers=platform(live_server))).status_code == 200


async def test_a_fault_rate_fails_requests_reproducibly(database_url: str, redis_url: str) -> None:
    async with (
        serve_live(
            database_url,
            redis_url,
            sandbox_fault_rate=1.0,
            sandbox_fault_kinds="500",
            sandbox_fault_seed=7,
        ) as live,
        httpx2.AsyncClient(base_url=live.url) as http,
    ):
        response = await http.get(f"{API}/v1/account", headers=platform(live))
        assert_stripe_error(response, 500, type="api_error")


async def test_added_transactions_arrive_on_top(
    http: httpx2.AsyncClient, live_server: LiveServer, seller: Seller
) -> None:
    account = await connect(seller)
    before = await list_all(http, live_server, account)
    added = (await admin(http, "/balance_transactions", {"account": account, "count": 2}))["data"]
    after = await list_all(http, live_server, account)
    assert [item["id"] for item in after[:2]] == [added[1]["id"], added[0]["id"]]
    assert after[2:] == before
    for item in added:
        assert schema_errors("balance_transaction", item) == []
        assert item["status"] == "pending"  # a charge is available two days later
    one = await http.get(f"{TXNS}/{added[0]['id']}", headers=platform(live_server, account))
    assert one.json() == added[0]


async def test_stripes_own_sdk_works_against_the_sandbox(
    live_server: LiveServer, seller: Seller
) -> None:
    """DESIGN §6: an official client pointed at the sandbox prefix works unchanged."""
    account = await connect(seller)
    client = stripe.StripeClient(
        secret_key(live_server),
        base_addresses={"api": f"{live_server.url}{API}"},
        max_network_retries=0,
    )

    def run() -> dict[str, Any]:
        page = client.v1.balance_transactions.list(
            {"limit": 50, "created": {"gte": 0}}, {"stripe_account": account}
        )
        listed = [txn.id for txn in page.auto_paging_iter()]
        created = client.v1.accounts.create(
            {
                "type": "express",
                "country": "US",
                "email": "sdk@shop.example",
                "capabilities": {"transfers": {"requested": True}},
            },
            {"idempotency_key": "sdk-key"},
        )
        replayed = client.v1.accounts.create(
            {
                "type": "express",
                "country": "US",
                "email": "sdk@shop.example",
                "capabilities": {"transfers": {"requested": True}},
            },
            {"idempotency_key": "sdk-key"},
        )
        own = client.v1.accounts.retrieve_current(options={"stripe_account": account})
        return {"listed": listed, "created": created.id, "replayed": replayed.id, "own": own.id}

    result = await asyncio.to_thread(run)
    async with httpx2.AsyncClient(base_url=live_server.url) as http:
        expected = [item["id"] for item in await list_all(http, live_server, account)]
    assert result["listed"] == expected
    assert result["created"] == result["replayed"]
    assert result["own"] == account
