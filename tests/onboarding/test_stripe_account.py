"""Silent onboarding: one Stripe Connect Express account per seller, whatever happens."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
import pytest
from pydantic import SecretStr
from saq import Worker
from sqlalchemy import select

from opside_hub.auth.repository import get_or_create_user
from opside_hub.core.queue import JobContext
from opside_hub.db.models import StripeAccount
from opside_hub.db.session import transaction
from opside_hub.onboarding import service
from opside_hub.onboarding import tasks as onboarding_tasks
from opside_hub.providers.oauth2 import TokenGrant
from opside_hub.runtime import Runtime
from opside_hub.vault import repository as vault_repository
from opside_hub.vault.service import save_grant
from tests.conftest import LiveServer
from tests.integrations.conftest import Seller
from tests.providers.stripe.helpers import admin

US = {"id": "ATVPDKIKX0DER", "countryCode": "US", "participating": True}
UK = {"id": "A1F83G8C2ARO7P", "countryCode": "UK", "participating": True}
DE = {"id": "A1PA6795UKMFR9", "countryCode": "DE", "participating": True}
SA = {"id": "A17E79C6D8DWNP", "countryCode": "SA", "participating": True}


@pytest.mark.parametrize(
    ("marketplaces", "country"),
    [
        ([US], "US"),
        ([UK, US], "US"),  # the home marketplace (AMAZON_MARKETPLACE_ID) first
        ([UK], "GB"),  # Amazon says UK, ISO (and Stripe) GB
        ([DE, UK], "DE"),
        ([{**DE, "participating": False}, UK], "GB"),
        ([SA], "US"),  # Stripe does not serve it
        ([], "US"),
        (None, "US"),
    ],
)
def test_the_country_comes_from_the_amazon_marketplaces(
    marketplaces: list[dict[str, Any]] | None, country: str
) -> None:
    assert service.seller_country(marketplaces, "ATVPDKIKX0DER") == country


def test_the_idempotency_key_is_the_users_alone() -> None:
    key = service.idempotency_key("user-1")
    assert key == service.idempotency_key("user-1") != service.idempotency_key("user-2")
    assert len(key) <= 255
    assert "user-1" not in key


async def seller_with_amazon(
    runtime: Runtime, user_id: str, email: str | None, marketplaces: list[dict[str, Any]]
) -> None:
    async with transaction(runtime.sessions) as session:
        await get_or_create_user(session, user_id, email)
        await save_grant(
            session,
            runtime.keyring,
            user_id=user_id,
            provider="amazon",
            grant=TokenGrant(SecretStr("Atza|a"), SecretStr("Atzr|r"), 3600),
            account_id="A1SELLER",
            details={"marketplaces": marketplaces},
        )


async def sandbox_accounts(http: httpx2.AsyncClient) -> list[dict[str, Any]]:
    response = await http.get("/sandbox/_admin/stripe/accounts")
    accounts: list[dict[str, Any]] = response.json()["data"]
    return accounts


async def stored_accounts(runtime: Runtime) -> list[StripeAccount]:
    async with runtime.sessions() as session:
        return list((await session.execute(select(StripeAccount))).scalars())


async def test_retried_after_two_failures_it_creates_exactly_one_account(
    http: httpx2.AsyncClient, live_runtime: Runtime
) -> None:
    await seller_with_amazon(live_runtime, "user-1", "Seller@Shop.example", [DE])
    await admin(http, "/faults", {"method": "POST", "path": "/v1/accounts", "statuses": [503, 500]})

    result = await service.create_express_account(live_runtime, "user-1")

    assert result.outcome == "created"
    (account,) = await sandbox_accounts(http)
    assert account["id"] == result.stripe_account_id
    assert (account["type"], account["country"], account["email"]) == (
        "express",
        "DE",
        "Seller@Shop.example",
    )
    assert account["metadata"] == {"opside_user_id": "user-1"}
    (row,) = await stored_accounts(live_runtime)
    assert (row.user_id, row.stripe_account_id, row.account_type, row.country) == (
        "user-1",
        account["id"],
        "express",
        "DE",
    )
    assert (row.charges_enabled, row.payouts_enabled, row.status) == (False, False, "onboarding")


async def test_three_failures_give_up_and_log_no_secret(
    http: httpx2.AsyncClient,
    live_runtime: Runtime,
    live_server: LiveServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await seller_with_amazon(live_runtime, "user-1", None, [US])
    await admin(http, "/faults", {"method": "POST", "path": "/v1/accounts", "statuses": [503] * 3})

    result = await service.create_express_account(live_runtime, "user-1")

    assert result.outcome == "failed"
    assert await sandbox_accounts(http) == []
    assert await stored_accounts(live_runtime) == []
    logged = caplog.text
    assert "onboarding.stripe_account.failed" in logged
    assert live_server.settings.client_credentials("stripe")[1] not in logged
    # Not retried forever: a later attempt (the fault queue is empty now) succeeds.
    assert (await service.create_express_account(live_runtime, "user-1")).outcome == "created"


async def test_a_refusal_is_not_retried(http: httpx2.AsyncClient, live_runtime: Runtime) -> None:
    await seller_with_amazon(live_runtime, "user-1", None, [US])
    await admin(http, "/faults", {"method": "POST", "path": "/v1/accounts", "statuses": [400, 400]})
    assert (await service.create_express_account(live_runtime, "user-1")).outcome == "failed"
    # One attempt only: the second queued fault is still there.
    assert (await service.create_express_account(live_runtime, "user-1")).outcome == "failed"
    assert (await service.create_express_account(live_runtime, "user-1")).outcome == "created"


async def test_a_duplicate_job_is_a_no_op(http: httpx2.AsyncClient, live_runtime: Runtime) -> None:
    await seller_with_amazon(live_runtime, "user-1", None, [US])
    first = await service.create_express_account(live_runtime, "user-1")
    second = await service.create_express_account(live_runtime, "user-1")
    assert (first.outcome, second.outcome) == ("created", "exists")
    assert first.stripe_account_id == second.stripe_account_id
    assert len(await sandbox_accounts(http)) == 1
    assert len(await stored_accounts(live_runtime)) == 1


async def test_concurrent_jobs_create_one_account(
    http: httpx2.AsyncClient, live_runtime: Runtime
) -> None:
    await seller_with_amazon(live_runtime, "user-1", None, [US])
    results = await asyncio.gather(
        *[service.create_express_account(live_runtime, "user-1") for _ in range(4)]
    )
    assert {r.stripe_account_id for r in results if r.stripe_account_id} == {
        (await stored_accounts(live_runtime))[0].stripe_account_id
    }
    assert sorted(r.outcome for r in results).count("created") == 1
    assert len(await sandbox_accounts(http)) == 1


async def test_a_crash_before_the_commit_is_repaired_with_the_same_account(
    http: httpx2.AsyncClient, live_runtime: Runtime
) -> None:
    """Stripe created the account, the job died before storing it: the next job gets the same
    account back (same idempotency key), not a second one."""
    await seller_with_amazon(live_runtime, "user-1", None, [US])
    first = await service.create_express_account(live_runtime, "user-1")
    async with transaction(live_runtime.sessions) as session:
        (row,) = (await session.execute(select(StripeAccount))).scalars()
        await session.delete(row)

    again = await service.create_express_account(live_runtime, "user-1")

    assert (again.outcome, again.stripe_account_id) == ("created", first.stripe_account_id)
    assert len(await sandbox_accounts(http)) == 1


async def test_a_user_that_is_gone_is_skipped(live_runtime: Runtime) -> None:
    assert (await service.create_express_account(live_runtime, "nobody")).outcome == "no_user"


async def test_connecting_amazon_opens_the_account_through_the_job(
    seller: Seller, live_runtime: Runtime, http: httpx2.AsyncClient
) -> None:
    assert (await seller.http.get("/api/stripe/status", headers=seller.auth)).json() == {
        "success": True,
        "status": "not_found",
    }
    await seller.connect("amazon")  # defers the job, keyed per user, after its commit

    # A worker that runs onboarding only (the Amazon sync the connection also started waits).
    worker: Worker[JobContext] = Worker(
        live_runtime.queue,
        functions=[(task.name, task.function) for task in onboarding_tasks.TASKS],
        startup=_with_runtime(live_runtime),
    )
    worker.SIGNALS = []
    running = asyncio.create_task(worker.start())
    try:
        for _ in range(200):
            status = await seller.http.get("/api/stripe/status", headers=seller.auth)
            if status.json()["status"] == "created":
                break
            await asyncio.sleep(0.05)
    finally:
        await worker.stop()
        await running
    assert status.json() == {"success": True, "status": "created"}
    (account,) = await sandbox_accounts(http)
    async with live_runtime.sessions() as session:
        amazon = await vault_repository.get_token(session, seller.user_id, "amazon")
    assert amazon is not None
    home = amazon.details["marketplaces"]
    assert account["country"] == service.seller_country(home, "ATVPDKIKX0DER")

    # Amazon reconnects: the same job key again, and in any case a no-op.
    job = await live_runtime.queue.enqueue(
        service.CREATE_JOB, user_id=seller.user_id, key=f"{service.CREATE_JOB}:{seller.user_id}"
    )
    assert job is None or job.key == f"{service.CREATE_JOB}:{seller.user_id}"
    result = await service.create_express_account(live_runtime, seller.user_id)
    assert result.outcome == "exists"
    assert len(await sandbox_accounts(http)) == 1


def _with_runtime(runtime: Runtime) -> Any:
    async def startup(ctx: JobContext) -> None:
        ctx["runtime"] = runtime

    return startup
