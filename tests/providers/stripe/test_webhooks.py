"""`POST /api/stripe/webhook`: signatures made by Stripe's own SDK, the inbox, and what each
event does."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx2
import pytest
import stripe
from pydantic import SecretStr
from saq import Job
from sqlalchemy import select

from opside_hub.auth.repository import get_or_create_user
from opside_hub.config import Settings, StripeSettings
from opside_hub.db.models import StripeAccount, StripeBalanceTransaction, StripeEvent, SyncJob
from opside_hub.db.session import transaction
from opside_hub.providers.oauth2 import TokenGrant
from opside_hub.providers.stripe import webhooks
from opside_hub.providers.stripe.exceptions import InvalidSignature
from opside_hub.runtime import Runtime
from opside_hub.vault import repository as vault_repository
from opside_hub.vault.service import save_grant
from tests.conftest import (
    LiveServer,
    bearer,
    client_for,
    make_settings,
    running_app,
    running_worker,
)
from tests.integrations.conftest import Seller
from tests.providers.stripe.helpers import admin, list_all
from tests.providers.stripe.openapi import schema_errors

WEBHOOK = "/api/stripe/webhook"
ACCOUNT = "acct_1WebhookTest0000"


def event(
    event_type: str, account: str | None = ACCOUNT, obj: dict[str, Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "evt_1" + str(time.time_ns())[-20:],
        "object": "event",
        "api_version": "2023-08-16",
        "created": int(time.time()),
        "data": {"object": obj or {"id": "ch_3Test", "object": "charge"}},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }
    if account is not None:
        body["account"] = account
    return body


def secret(settings: Settings) -> str:
    return settings.stripe_webhook_secrets()[0]


def signed(payload: str, key: str, timestamp: int | None = None) -> dict[str, str]:
    """Stripe's SDK signs: the header our endpoint must accept."""
    header = stripe.WebhookSignature.generate_signature_header(payload, key, timestamp=timestamp)
    return {"Stripe-Signature": header, "Content-Type": "application/json"}


def v1(payload: str, key: str, timestamp: int) -> str:
    return stripe.WebhookSignature._compute_signature(f"{timestamp}.{payload}", key)


async def inbox(runtime: Runtime) -> list[StripeEvent]:
    async with runtime.sessions() as session:
        return list((await session.execute(select(StripeEvent))).scalars())


async def queued_jobs(runtime: Runtime, function: str) -> list[Job]:
    return [job async for job in runtime.queue.iter_jobs() if job.function == function]


async def test_a_signed_event_is_stored_once_and_its_job_sent(
    client: httpx2.AsyncClient, settings: Settings, runtime: Runtime
) -> None:
    payload = json.dumps(event("charge.succeeded"))
    response = await client.post(
        WEBHOOK, content=payload, headers=signed(payload, secret(settings))
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    assert body["data"] == {
        "received": True,
        "eventId": json.loads(payload)["id"],
        "duplicate": False,
    }
    (stored,) = await inbox(runtime)
    assert (stored.type, stored.account, stored.status) == ("charge.succeeded", ACCOUNT, "received")
    assert stored.payload == json.loads(payload)
    (job,) = await queued_jobs(runtime, webhooks.PROCESS_JOB)
    assert job.kwargs == {"inbox_id": stored.id}


async def test_a_replayed_delivery_is_a_no_op(
    client: httpx2.AsyncClient, settings: Settings, runtime: Runtime
) -> None:
    payload = json.dumps(event("payout.paid"))
    headers = signed(payload, secret(settings))
    first = await client.post(WEBHOOK, content=payload, headers=headers)
    again = await client.post(WEBHOOK, content=payload, headers=headers)
    # Stripe retrying with a fresh signature is the same event too.
    retried = await client.post(WEBHOOK, content=payload, headers=signed(payload, secret(settings)))

    assert first.json()["data"]["duplicate"] is False
    assert again.status_code == retried.status_code == 200
    assert again.json()["data"]["duplicate"] is retried.json()["data"]["duplicate"] is True
    assert len(await inbox(runtime)) == 1
    assert len(await queued_jobs(runtime, webhooks.PROCESS_JOB)) == 1


@pytest.mark.parametrize(
    "tamper",
    ["body", "old timestamp", "other secret", "no header", "no v1", "garbage", "v0 only"],
)
async def test_bad_signatures_are_400_and_store_nothing(
    client: httpx2.AsyncClient, settings: Settings, runtime: Runtime, tamper: str
) -> None:
    payload = json.dumps(event("charge.succeeded"))
    now = int(time.time())
    headers = signed(payload, secret(settings))
    sent = payload
    if tamper == "body":
        sent = payload.replace("charge.succeeded", "charge.refunded")
    elif tamper == "old timestamp":
        headers = signed(payload, secret(settings), timestamp=now - 301)
    elif tamper == "other secret":
        headers = signed(payload, "whsec_someone_else")
    elif tamper == "no header":
        headers = {"Content-Type": "application/json"}
    elif tamper == "no v1":
        headers["Stripe-Signature"] = f"t={now}"
    elif tamper == "garbage":
        headers["Stripe-Signature"] = "not a signature"
    elif tamper == "v0 only":
        headers["Stripe-Signature"] = f"t={now},v0={v1(payload, secret(settings), now)}"

    response = await client.post(WEBHOOK, content=sent, headers=headers)

    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] in ("invalid_signature", "signature_expired")
    assert await inbox(runtime) == []
    assert await queued_jobs(runtime, webhooks.PROCESS_JOB) == []


async def test_one_matching_v1_among_several_is_enough(
    client: httpx2.AsyncClient, settings: Settings, runtime: Runtime
) -> None:
    payload = json.dumps(event("charge.succeeded"))
    now = int(time.time())
    # What Stripe sends while a secret is rolled: a signature per secret.
    header = (
        f"t={now},v1={v1(payload, 'whsec_retired', now)},"
        f"v1={v1(payload, secret(settings), now)},v0=ignored"
    )
    response = await client.post(WEBHOOK, content=payload, headers={"Stripe-Signature": header})
    assert response.status_code == 200, response.text
    wrong = f"t={now},v1={v1(payload, 'whsec_a', now)},v1={v1(payload, 'whsec_b', now)}"
    refused = await client.post(WEBHOOK, content=payload, headers={"Stripe-Signature": wrong})
    assert refused.status_code == 400


async def test_within_the_tolerance_is_accepted(
    client: httpx2.AsyncClient, settings: Settings
) -> None:
    payload = json.dumps(event("charge.succeeded"))
    headers = signed(payload, secret(settings), timestamp=int(time.time()) - 290)
    assert (await client.post(WEBHOOK, content=payload, headers=headers)).status_code == 200


@pytest.mark.parametrize(
    "body", [b"not json", b"[]", b'{"object": "charge", "id": "ch_1"}', b'{"object": "event"}']
)
async def test_signed_bodies_that_are_not_events_are_400(
    client: httpx2.AsyncClient, settings: Settings, runtime: Runtime, body: bytes
) -> None:
    payload = body.decode()
    response = await client.post(WEBHOOK, content=body, headers=signed(payload, secret(settings)))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_event"
    assert await inbox(runtime) == []


async def test_configured_secrets_replace_the_sandbox_one(
    database_url: str, redis_url: str
) -> None:
    live_no_secret = make_settings(database_url, redis_url, provider_mode="live")
    payload = json.dumps(event("charge.succeeded"))
    async with running_app(live_no_secret) as app, client_for(app) as client:
        headers = signed(payload, "whsec_anything")
        response = await client.post(WEBHOOK, content=payload, headers=headers)
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "webhook_not_configured"

    two = make_settings(
        database_url,
        redis_url,
        provider_mode="live",
        stripe=StripeSettings(webhook_secret=SecretStr("whsec_platform, whsec_connect")),
    )
    async with running_app(two) as app, client_for(app) as client:
        for key in ("whsec_platform", "whsec_connect"):
            body = json.dumps(event("charge.succeeded"))
            ok = await client.post(WEBHOOK, content=body, headers=signed(body, key))
            assert ok.status_code == 200, ok.text
        sandbox_key = make_settings(database_url, redis_url).stripe_webhook_secrets()[0]
        refused = await client.post(WEBHOOK, content=payload, headers=signed(payload, sandbox_key))
        assert refused.status_code == 400


def test_our_verifier_agrees_with_stripes() -> None:
    key = "whsec_agreement"
    payload = json.dumps(event("charge.succeeded"))
    now = int(time.time())
    good = v1(payload, key, now)
    cases = [
        stripe.WebhookSignature.generate_signature_header(payload, key),
        f"t={now},v1={good}",
        f"t={now},v1=00{good[2:]},v1={good}",
        f"v1={good},t={now}",
        f"t={now - 400},v1={v1(payload, key, now - 400)}",
        f"t={now},v1={good[:-1]}",
        f"t={now},v1={v1(payload, 'whsec_other', now)}",
        f"t={now + 1},v1={good}",
        f"t={now}",
        "",
        "t=abc,v1=abc",
    ]
    for header in cases:
        try:
            stripe.WebhookSignature.verify_header(payload, header, key, tolerance=300)
            sdk = True
        except stripe.SignatureVerificationError:
            sdk = False
        try:
            webhooks.verify_signature(payload.encode(), header, [key])
            ours = True
        except InvalidSignature:
            ours = False
        assert ours is sdk, header


# Processing --------------------------------------------------------------------------------


async def receive_and_process(
    client: httpx2.AsyncClient, settings: Settings, runtime: Runtime, body: dict[str, Any]
) -> str:
    payload = json.dumps(body)
    response = await client.post(
        WEBHOOK, content=payload, headers=signed(payload, secret(settings))
    )
    assert response.status_code == 200, response.text
    async with runtime.sessions() as session:
        inbox_id = (
            await session.execute(select(StripeEvent.id).where(StripeEvent.event_id == body["id"]))
        ).scalar_one()
    return await webhooks.process(runtime, inbox_id)


async def connect_stripe(runtime: Runtime, user_id: str, account: str = ACCOUNT) -> None:
    async with transaction(runtime.sessions) as session:
        await get_or_create_user(session, user_id, None)
        await save_grant(
            session,
            runtime.keyring,
            user_id=user_id,
            provider="stripe",
            grant=TokenGrant(SecretStr("sk_test_connected"), SecretStr("rt_connected"), None),
            account_id=account,
        )


async def test_account_updated_refreshes_the_onboarding_flags(
    client: httpx2.AsyncClient, settings: Settings, runtime: Runtime
) -> None:
    async with transaction(runtime.sessions) as session:
        await get_or_create_user(session, "user-a", None)
        session.add(StripeAccount(user_id="user-a", stripe_account_id=ACCOUNT, status="onboarding"))
    submitted = event(
        "account.updated",
        obj={
            "id": ACCOUNT,
            "object": "account",
            "charges_enabled": False,
            "payouts_enabled": False,
            "details_submitted": True,
            "requirements": {"disabled_reason": None},
        },
    )
    assert await receive_and_process(client, settings, runtime, submitted) == "processed"
    enabled = event(
        "account.updated",
        obj={
            "id": ACCOUNT,
            "object": "account",
            "charges_enabled": True,
            "payouts_enabled": True,
            "details_submitted": True,
        },
    )
    assert await receive_and_process(client, settings, runtime, enabled) == "processed"
    async with runtime.sessions() as session:
        row = (await session.execute(select(StripeAccount))).scalar_one()
        events = (await session.execute(select(StripeEvent))).scalars().all()
    assert (row.charges_enabled, row.payouts_enabled, row.details_submitted) == (True, True, True)
    assert row.status == "active"
    assert {(e.status, e.attempts) for e in events} == {("processed", 1)}
    assert all(e.processed_at is not None for e in events)

    # Processing an event again (a redelivered job) changes nothing.
    assert await webhooks.process(runtime, events[0].id) == "processed"
    stranger = event("account.updated", obj={"id": "acct_1Unknown", "object": "account"})
    assert await receive_and_process(client, settings, runtime, stranger) == "ignored"


async def test_deauthorization_revokes_the_connection(
    client: httpx2.AsyncClient, settings: Settings, runtime: Runtime
) -> None:
    await connect_stripe(runtime, "user-a")
    body = event(
        "account.application.deauthorized",
        obj={"id": "ca_platform", "object": "application", "name": "Opside"},
    )
    assert await receive_and_process(client, settings, runtime, body) == "processed"

    async with runtime.sessions() as session:
        token = await vault_repository.get_token(session, "user-a", "stripe")
    assert token is not None
    assert (token.status, token.access_token_enc, token.refresh_token_enc) == (
        "revoked",
        None,
        None,
    )
    integrations = await client.get("/api/integrations", headers=bearer(settings))
    stripe_status = integrations.json()["data"]["stripe"]
    assert (stripe_status["connected"], stripe_status["status"]) == (False, "revoked")
    # Nothing more to do for a balance event of a revoked connection.
    assert await receive_and_process(client, settings, runtime, event("payout.paid")) == "ignored"


async def test_balance_events_start_a_stripe_sync_of_the_accounts_seller(
    client: httpx2.AsyncClient, settings: Settings, runtime: Runtime
) -> None:
    await connect_stripe(runtime, "user-a")
    for event_type in ("balance.available", "charge.refunded", "payout.paid"):
        assert (
            await receive_and_process(client, settings, runtime, event(event_type)) == "processed"
        )
    starts = await queued_jobs(runtime, "sync.start_for_user")
    assert [job.kwargs for job in starts] == [
        {"user_id": "user-a", "trigger": "webhook", "providers": ["stripe"]}
    ] * 3
    ignored = ("customer.created", "invoice.paid")
    for event_type in ignored:
        assert await receive_and_process(client, settings, runtime, event(event_type)) == "ignored"
    platform_own = event("balance.available", account=None)
    assert await receive_and_process(client, settings, runtime, platform_own) == "ignored"


async def test_a_failed_event_is_recorded_and_retried(
    client: httpx2.AsyncClient,
    settings: Settings,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    payload = json.dumps(event("balance.available"))
    await client.post(WEBHOOK, content=payload, headers=signed(payload, secret(settings)))
    (stored,) = await inbox(runtime)

    async def broken(*args: Any) -> str:
        raise RuntimeError("database went away")

    monkeypatch.setattr(webhooks, "_balance_changed", broken)
    with pytest.raises(RuntimeError):
        await webhooks.process(runtime, stored.id)
    (failed,) = await inbox(runtime)
    assert (failed.status, failed.attempts) == ("failed", 1)
    assert failed.error is not None
    assert "database went away" in failed.error

    monkeypatch.undo()
    assert await webhooks.process(runtime, stored.id) == "ignored"  # no connection: nothing to do
    (done,) = await inbox(runtime)
    assert (done.status, done.attempts, done.error) == ("ignored", 2, None)


async def test_the_sweep_resends_events_whose_job_was_lost(
    client: httpx2.AsyncClient, settings: Settings, runtime: Runtime
) -> None:
    payload = json.dumps(event("balance.available"))
    await client.post(WEBHOOK, content=payload, headers=signed(payload, secret(settings)))
    assert await webhooks.sweep(runtime) == 0  # too recent: its job is on its way
    async with transaction(runtime.sessions) as session:
        (stored,) = (await session.execute(select(StripeEvent))).scalars()
        stored.received_at = stored.received_at.replace(year=2020)
    assert await webhooks.sweep(runtime) == 1
    assert len(await queued_jobs(runtime, webhooks.PROCESS_JOB)) == 2


async def test_a_sandbox_balance_event_syncs_the_new_transactions_end_to_end(
    seller: Seller, live_server: LiveServer, live_runtime: Runtime, http: httpx2.AsyncClient
) -> None:
    """Stripe (the sandbox) signs and delivers; the worker applies it; a sync runs."""
    account = (await seller.connect("stripe"))["accountId"]
    assert isinstance(account, str)
    added = await admin(http, "/balance_transactions", {"account": account, "count": 2})
    async with running_worker(live_runtime):
        sent = await admin(http, "/events", {"type": "balance.available", "account": account})
        assert sent["delivery"]["status"] == 200, sent
        assert schema_errors("event", sent["event"]) == []
        assert sent["delivery"]["body"]["data"]["duplicate"] is False
        job = await _finished_sync(live_runtime, seller.user_id)
    assert (job.status, job.trigger, job.providers) == ("completed", "webhook", ["stripe"])
    async with live_runtime.sessions() as session:
        ids = set(
            (
                await session.execute(
                    select(StripeBalanceTransaction.row_key).where(
                        StripeBalanceTransaction.user_id == seller.user_id
                    )
                )
            ).scalars()
        )
    assert {item["id"] for item in added["data"]} <= ids
    assert ids == {item["id"] for item in await list_all(http, live_server, account)}

    # The same delivery again (Stripe's retry): stored once, nothing more happens.
    again = await http.post(
        WEBHOOK,
        content=sent["payload"].encode(),
        headers={"Stripe-Signature": sent["signature"], "Content-Type": "application/json"},
    )
    assert again.json()["data"]["duplicate"] is True


async def test_sandbox_deauthorization_reaches_the_app(
    seller: Seller, live_runtime: Runtime, http: httpx2.AsyncClient
) -> None:
    account = (await seller.connect("stripe"))["accountId"]
    async with running_worker(live_runtime):
        sent = await admin(
            http, "/events", {"type": "account.application.deauthorized", "account": account}
        )
        assert sent["delivery"]["status"] == 200
        for _ in range(200):
            integrations = await seller.integrations()
            if integrations["stripe"]["status"] == "revoked":
                break
            await asyncio.sleep(0.05)
    assert integrations["stripe"]["status"] == "revoked"


async def _finished_sync(runtime: Runtime, user_id: str) -> SyncJob:
    for _ in range(400):
        async with runtime.sessions() as session:
            job = (
                await session.execute(select(SyncJob).where(SyncJob.user_id == user_id))
            ).scalar_one_or_none()
        if job is not None and job.status in ("completed", "failed", "cancelled"):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError("the webhook's sync did not finish")
