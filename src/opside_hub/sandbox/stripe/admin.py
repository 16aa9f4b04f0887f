"""Test controls of the sandbox Stripe, under `/sandbox/_admin/stripe` (JSON in, JSON out).

- `POST /balance_transactions` `{"account", "count"?, "amount"?, "currency"?, "type"?,
  "created"?}`: add transactions to an account, created now unless told (a payment arriving
  while a sync runs).
- `POST /faults` `{"method", "path", "status" | "statuses", "count"?}`: the next requests to
  that route (`/v1/accounts`, `/v1/balance_transactions`, ...) fail with those statuses.
- `GET /accounts`: the accounts the platform created (`POST /v1/accounts`).
- `POST /events` `{"type", "account"?, "object"?, "changes"?, "deliver"?}`: create an event as
  Stripe would and, unless `"deliver": false`, POST it to the app's `/api/stripe/webhook` with
  a valid `Stripe-Signature` (signed with the first of `settings.stripe_webhook_secrets()`).
  `account.updated` applies `changes` to the stored account and sends it (with
  `previous_attributes`); `account.application.deauthorized` disconnects the account from the
  platform first, as a seller's click in their Stripe dashboard would. The answer carries the
  event, the exact body and signature sent (to replay them), and the app's answer.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx2
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from opside_hub.api.deps import RuntimeDep
from opside_hub.runtime import Runtime
from opside_hub.sandbox.exceptions import ApiError
from opside_hub.sandbox.oauth import BASE62, random_string, registered_client
from opside_hub.sandbox.routing import SandboxRoute
from opside_hub.sandbox.stripe.accounts import AccountStore, standard_account
from opside_hub.sandbox.stripe.data import AddedTransactions, added_transaction
from opside_hub.sandbox.stripe.guard import API_VERSION, PROVIDER, oauth_store, queue_faults

router = APIRouter(prefix="/_admin/stripe", route_class=SandboxRoute)
MAX_ADDED = 1000


def _bad(message: str) -> ApiError:
    return ApiError(400, {"error": {"type": "invalid_request_error", "message": message}})


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise _bad("The body is not JSON.") from None
    if not isinstance(body, dict):
        raise _bad("The body must be a JSON object.")
    return body


def _int(body: dict[str, Any], name: str, default: int) -> int:
    value = body.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _bad(f"{name} must be an integer.")
    return value


@router.post("/balance_transactions")
async def add_transactions(request: Request, runtime: RuntimeDep) -> Response:
    body = await _json(request)
    account = body.get("account")
    if not isinstance(account, str) or not account.startswith("acct_"):
        raise _bad("account must be an acct_ id.")
    count = _int(body, "count", 1)
    if not 1 <= count <= MAX_ADDED:
        raise _bad(f"count must be between 1 and {MAX_ADDED}.")
    now = int(time.time())
    created = _int(body, "created", now)
    amount = _int(body, "amount", 2500)
    kind = str(body.get("type") or "charge")
    currency = str(body.get("currency") or "usd").lower()
    items = [
        added_transaction(
            "txn_1" + random_string(23, BASE62),
            created=created,
            amount=amount,
            currency=currency,
            kind=kind,
            now=now,
            description=body.get("description"),
        )
        for _ in range(count)
    ]
    await AddedTransactions(runtime.redis, runtime.redis_server.key, account).add(items)
    return JSONResponse({"object": "list", "data": items})


@router.post("/faults")
async def add_faults(request: Request, runtime: RuntimeDep) -> Response:
    body = await _json(request)
    method, path = str(body.get("method") or "GET").upper(), body.get("path")
    if not isinstance(path, str) or not path.startswith("/v1/"):
        raise _bad("path must be a Stripe API route, like /v1/accounts.")
    statuses = body.get("statuses")
    if statuses is None:
        statuses = [_int(body, "status", 500)] * _int(body, "count", 1)
    if not isinstance(statuses, list) or not all(
        isinstance(s, int) and 400 <= s <= 599 for s in statuses
    ):
        raise _bad("statuses must be HTTP error statuses.")
    await queue_faults(runtime, method, path, statuses)
    return JSONResponse({"queued": len(statuses)})


@router.get("/accounts")
async def created_accounts(runtime: RuntimeDep) -> Response:
    store = AccountStore(runtime.redis, runtime.redis_server.key)
    found = [await store.get(account_id) for account_id in sorted(await store.created_ids())]
    return JSONResponse({"object": "list", "data": [a for a in found if a is not None]})


@router.post("/events")
async def send_event(request: Request, runtime: RuntimeDep) -> Response:
    body = await _json(request)
    event_type = body.get("type")
    if not isinstance(event_type, str) or "." not in event_type:
        raise _bad("type must be a Stripe event type, like account.updated.")
    account = body.get("account")
    if account is not None and not isinstance(account, str):
        raise _bad("account must be an acct_ id.")
    data = await _event_data(runtime, event_type, account, body)
    event: dict[str, Any] = {
        "id": "evt_1" + random_string(23, BASE62),
        "object": "event",
        "api_version": API_VERSION,
        "created": int(time.time()),
        "data": data,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }
    if account is not None:
        event["account"] = account
    payload = json.dumps(event)
    signature = sign(payload, runtime.settings.stripe_webhook_secrets()[0])
    answer: dict[str, Any] = {"event": event, "payload": payload, "signature": signature}
    if body.get("deliver", True):
        answer["delivery"] = await deliver(runtime, payload, signature)
    return JSONResponse(answer)


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """Stripe's `Stripe-Signature`: `t=<time>,v1=<HMAC-SHA256 of "<time>.<payload>">`."""
    at = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{at}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


async def deliver(runtime: Runtime, payload: str, signature: str) -> dict[str, Any]:
    try:
        response = await runtime.http.post(
            f"{runtime.settings.base_url}/api/stripe/webhook",
            content=payload.encode(),
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": signature,
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            },
        )
    except httpx2.HTTPError as exc:
        return {"status": None, "error": type(exc).__name__}
    try:
        answer: Any = response.json()
    except ValueError:
        answer = response.text[:1000]
    return {"status": response.status_code, "body": answer}


async def _event_data(
    runtime: Runtime, event_type: str, account: str | None, body: dict[str, Any]
) -> dict[str, Any]:
    given = body.get("object")
    if given is not None and not isinstance(given, dict):
        raise _bad("object must be a JSON object.")
    client = registered_client(runtime.settings, PROVIDER)
    if event_type == "account.updated" and account is not None:
        store = AccountStore(runtime.redis, runtime.redis_server.key)
        current = await store.get(account) or standard_account(account, None)
        changes = body.get("changes") or {}
        if not isinstance(changes, dict):
            raise _bad("changes must be a JSON object.")
        previous = {name: current.get(name) for name in changes}
        updated = {**current, **changes}
        if account in await store.created_ids():
            await store.save(updated)
        return {"object": given or updated, "previous_attributes": previous}
    if event_type == "account.application.deauthorized" and account is not None:
        await oauth_store(runtime).revoke_subject(account, client_id=client.client_id)
        return {"object": given or {"id": client.client_id, "object": "application", "name": None}}
    if given is not None:
        return {"object": given}
    if event_type.startswith("balance."):
        return {
            "object": {
                "object": "balance",
                "available": [{"amount": 0, "currency": "usd", "source_types": {"card": 0}}],
                "livemode": False,
                "pending": [{"amount": 0, "currency": "usd", "source_types": {"card": 0}}],
            }
        }
    kind = event_type.split(".")[0]
    return {"object": {"id": f"{kind[:2]}_1" + random_string(23, BASE62), "object": kind}}
