"""Routes of the sandbox Stripe API (api.stripe.com) under `/sandbox/stripe`, API 2023-08-16.

- `GET /v1/balance_transactions`: Stripe's list — newest first, `limit` (1-100, default 10),
  `starting_after` / `ending_before` (an id of the list), `created` (a Unix time, or
  `created[gt|gte|lt|lte]`), `type`, `currency`, `source`, `payout`; answers
  `{"object": "list", "data": [...], "has_more": ..., "url": "/v1/balance_transactions"}`.
- `GET /v1/balance_transactions/{id}`.
- `POST /v1/accounts` (idempotent with `Idempotency-Key`), `GET /v1/accounts/{id}`, and
  `GET /v1/account` (the account acted on: `Stripe-Account`, the OAuth token's, or the
  platform's own).

Parameters are read by hand, not declared to FastAPI, so that a bad one is answered as Stripe
answers it (`{"error": {"type": "invalid_request_error", "param": ...}}`). See `guard.py` for
authentication and faults, `data.py` for the transactions, `accounts.py` for accounts.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from starlette.responses import Response

from opside_hub.api.deps import RuntimeDep
from opside_hub.sandbox.oauth import MAX_PARAM_BYTES
from opside_hub.sandbox.routing import SandboxRoute
from opside_hub.sandbox.stripe.accounts import (
    AccountStore,
    fingerprint,
    new_account,
    parse_nested,
    standard_account,
)
from opside_hub.sandbox.stripe.data import HISTORY, AddedTransactions, Ledger, SortKey
from opside_hub.sandbox.stripe.guard import (
    Caller,
    admit,
    invalid_request,
    oauth_store,
    platform_account_id,
    resource_missing,
)

router = APIRouter(prefix="/stripe", route_class=SandboxRoute)

LIST_URL = "/v1/balance_transactions"
DEFAULT_LIMIT = 10
MAX_LIMIT = 100
LIST_PARAMS = frozenset(
    {"limit", "starting_after", "ending_before", "created", "type", "currency", "payout"}
    | {"source", "expand"}
)
RANGE_KEYS = ("gt", "gte", "lt", "lte")


def now_s() -> int:
    return int(time.time())


def accounts(caller: Caller) -> AccountStore:
    return AccountStore(caller.runtime.redis, caller.runtime.redis_server.key)


async def ledger_of(caller: Caller) -> Ledger:
    """Accounts with a past (the platform's, the sellers' connected ones) have generated
    history; accounts the platform just created start empty."""
    created = caller.account in await accounts(caller).created_ids()
    size = 0 if created else caller.runtime.settings.sandbox_stripe_balance_transactions
    return Ledger(caller.account, size)


# -- balance transactions --------------------------------------------------------------------


@dataclass(frozen=True)
class ListQuery:
    limit: int = DEFAULT_LIMIT
    starting_after: str | None = None
    ending_before: str | None = None
    created_min: int | None = None  # inclusive
    created_max: int | None = None  # inclusive
    type: str | None = None
    currency: str | None = None
    payout: str | None = None
    source: str | None = None


def _integer(value: Any, param: str) -> int:
    if not isinstance(value, str):
        raise invalid_request(f"Invalid integer: {value}", param=param)
    try:
        return int(value)
    except ValueError:
        raise invalid_request(f"Invalid integer: {value}", param=param) from None


def list_query(pairs: list[tuple[str, str]]) -> ListQuery:
    params = parse_nested(pairs)
    unknown = sorted(set(params) - LIST_PARAMS)
    if unknown:
        raise invalid_request(f"Received unknown parameter: {unknown[0]}", param=unknown[0])
    if params.get("expand"):
        raise invalid_request("The sandbox does not expand objects.", param="expand")
    limit = _integer(params.get("limit", str(DEFAULT_LIMIT)), "limit")
    if limit < 1:
        raise invalid_request("This value must be greater than or equal to 1.", param="limit")
    if limit > MAX_LIMIT:
        raise invalid_request(
            f"This value must be less than or equal to {MAX_LIMIT} (it currently is '{limit}').",
            param="limit",
        )
    if params.get("starting_after") and params.get("ending_before"):
        raise invalid_request(
            "You may only specify one of these parameters: ending_before, starting_after.",
            param="ending_before",
        )
    created_min = created_max = None
    created = params.get("created")
    if isinstance(created, str):
        created_min = created_max = _integer(created, "created")
    elif isinstance(created, dict):
        for name, value in created.items():
            if name not in RANGE_KEYS:
                raise invalid_request(
                    f"Received unknown parameter: created[{name}]", param=f"created[{name}]"
                )
            bound = _integer(value, f"created[{name}]")
            if name in ("gt", "gte"):
                low = bound + 1 if name == "gt" else bound
                created_min = low if created_min is None else max(created_min, low)
            else:
                high = bound - 1 if name == "lt" else bound
                created_max = high if created_max is None else min(created_max, high)
    elif created is not None:
        raise invalid_request("Invalid created: must be an integer or a hash", param="created")
    strings = {}
    for name in ("starting_after", "ending_before", "type", "currency", "payout", "source"):
        value = params.get(name)
        if value is not None and not isinstance(value, str):
            raise invalid_request(f"Invalid string: {value}", param=name)
        strings[name] = value or None
    return ListQuery(
        limit=limit,
        created_min=created_min,
        created_max=created_max,
        starting_after=strings["starting_after"],
        ending_before=strings["ending_before"],
        type=strings["type"],
        currency=strings["currency"].lower() if strings["currency"] else None,
        payout=strings["payout"],
        source=strings["source"],
    )


Entry = tuple[SortKey, dict[str, Any] | int]  # an added object, or a generated k


def _key_of(
    ledger: Ledger, added: list[tuple[SortKey, dict[str, Any]]], object_id: str, param: str
) -> SortKey:
    k = ledger.index_of(object_id, "txn_1")
    if k is not None:
        return (ledger.created(k), 0, k)
    for key, item in added:
        if item["id"] == object_id:
            return key
    raise invalid_request(
        f"No such balance transaction: '{object_id}'", param=param, code="resource_missing"
    )


def _descending(
    ledger: Ledger,
    added: list[tuple[SortKey, dict[str, Any]]],
    top: int,
    bottom: int,
    below: SortKey | None,
) -> Iterator[Entry]:
    def generated() -> Iterator[Entry]:
        start = top
        skip_from: int | None = None
        if below is not None:
            start = min(start, below[0])
            if below[1] == 0:
                skip_from = below[2]
        for k in ledger.descending(start, bottom):
            if skip_from is None or k < skip_from:
                yield (ledger.created(k), 0, k), k

    extra: list[Entry] = sorted(
        (
            (key, item)
            for key, item in added
            if bottom <= key[0] <= top and (below is None or key < below)
        ),
        key=lambda entry: entry[0],
        reverse=True,
    )
    return heapq.merge(generated(), extra, key=lambda entry: entry[0], reverse=True)


def _ascending(
    ledger: Ledger,
    added: list[tuple[SortKey, dict[str, Any]]],
    bottom: int,
    top: int,
    above: SortKey,
) -> Iterator[Entry]:
    def generated() -> Iterator[Entry]:
        start = max(bottom, above[0] if above[1] == 0 else above[0] + 1)
        for k in ledger.ascending(start, top):
            if above[1] == 1 or k > above[2]:
                yield (ledger.created(k), 0, k), k

    extra: list[Entry] = sorted(
        ((key, item) for key, item in added if bottom <= key[0] <= top and key > above),
        key=lambda entry: entry[0],
    )
    return heapq.merge(generated(), extra, key=lambda entry: entry[0])


def list_page(
    ledger: Ledger, added: list[tuple[SortKey, dict[str, Any]]], query: ListQuery, now: int
) -> tuple[list[dict[str, Any]], bool]:
    top = now if query.created_max is None else min(now, query.created_max)
    bottom = now - HISTORY if query.created_min is None else max(now - HISTORY, query.created_min)
    members: set[int] | None = None
    if query.payout is not None:
        k_payout = ledger.index_of(query.payout, "po_1")
        if k_payout is None or ledger.kind(k_payout) != "payout":
            raise invalid_request(
                f"No such payout: '{query.payout}'", param="payout", code="resource_missing"
            )
        members = ledger.payout_members(k_payout, now - HISTORY)

    def wanted(item: dict[str, Any], k: int | None) -> bool:
        if members is not None and (k is None or k not in members):
            return False
        return (
            (query.type is None or item["type"] == query.type)
            and (query.currency is None or item["currency"] == query.currency)
            and (query.source is None or item["source"] == query.source)
        )

    if query.ending_before is not None:
        above = _key_of(ledger, added, query.ending_before, "ending_before")
        entries = _ascending(ledger, added, bottom, top, above)
    else:
        below = (
            _key_of(ledger, added, query.starting_after, "starting_after")
            if query.starting_after is not None
            else None
        )
        entries = _descending(ledger, added, top, bottom, below)
    found: list[dict[str, Any]] = []
    for _, entry in entries:
        k = entry if isinstance(entry, int) else None
        item = ledger.transaction(entry, now) if isinstance(entry, int) else entry
        if wanted(item, k):
            found.append(item)
            if len(found) > query.limit:
                break
    has_more = len(found) > query.limit
    found = found[: query.limit]
    if query.ending_before is not None:
        found.reverse()
    return found, has_more


@router.get("/v1/balance_transactions")
async def list_balance_transactions(request: Request, runtime: RuntimeDep) -> Response:
    caller = await admit(request, runtime)
    query = list_query(request.query_params.multi_items())
    now = now_s()
    added = await AddedTransactions(runtime.redis, runtime.redis_server.key, caller.account).all(
        now
    )
    data, has_more = list_page(await ledger_of(caller), added, query, now)
    return caller.json({"object": "list", "data": data, "has_more": has_more, "url": LIST_URL})


@router.get("/v1/balance_transactions/{transaction_id}")
async def retrieve_balance_transaction(
    transaction_id: str, request: Request, runtime: RuntimeDep
) -> Response:
    caller = await admit(request, runtime)
    now = now_s()
    ledger = await ledger_of(caller)
    k = ledger.index_of(transaction_id, "txn_1")
    if k is not None and now - HISTORY <= ledger.created(k) <= now:
        return caller.json(ledger.transaction(k, now))
    store = AddedTransactions(runtime.redis, runtime.redis_server.key, caller.account)
    for key, item in await store.all(now):
        if item["id"] == transaction_id and key[0] <= now:
            return caller.json(item)
    raise resource_missing("balance transaction", transaction_id)


# -- accounts --------------------------------------------------------------------------------


async def account_of(caller: Caller, account_id: str) -> dict[str, Any] | None:
    stored = await accounts(caller).get(account_id)
    if stored is not None:
        return stored
    if account_id == platform_account_id(caller.client.client_id):
        return standard_account(account_id, None, platform=True)
    store = oauth_store(caller.runtime)
    if await store.consented_scopes(caller.client.client_id, account_id) is None:
        return None
    grants = await store.grants_of(account_id)
    email = next((g.attributes.get("email") for g in grants if g.attributes.get("email")), None)
    return standard_account(account_id, email)


@router.get("/v1/account")
async def retrieve_own_account(request: Request, runtime: RuntimeDep) -> Response:
    caller = await admit(request, runtime)
    account = await account_of(caller, caller.account)
    if account is None:  # an OAuth token whose consent was withdrawn meanwhile
        raise resource_missing("account", caller.account)
    return caller.json(account)


@router.get("/v1/accounts/{account_id}")
async def retrieve_account(account_id: str, request: Request, runtime: RuntimeDep) -> Response:
    caller = await admit(request, runtime)
    if (not caller.platform or caller.connected) and account_id != caller.account:
        raise resource_missing("account", account_id, param="account")
    account = await account_of(caller, account_id)
    if account is None:
        raise resource_missing("account", account_id, param="account")
    return caller.json(account)


@router.post("/v1/accounts")
async def create_account(request: Request, runtime: RuntimeDep) -> Response:
    caller = await admit(request, runtime)
    if not caller.platform or caller.connected:
        raise invalid_request(
            "Only a platform can create connected accounts: use the platform's secret key "
            "without a Stripe-Account header.",
            status_code=403,
        )
    pairs = await _form_pairs(request)
    store = accounts(caller)

    async def create() -> dict[str, Any]:
        account = new_account(parse_nested(pairs), now_s())
        await store.save(account)
        return account

    body, replayed = await store.idempotent(
        caller.idempotency_scope,
        request.headers.get("idempotency-key"),
        fingerprint("POST", "/v1/accounts", pairs),
        create,
    )
    extra = {"Idempotent-Replayed": "true"} if replayed else {}
    return caller.json(body, extra)


async def _form_pairs(request: Request) -> list[tuple[str, str]]:
    body = await request.body()
    if len(body) > MAX_PARAM_BYTES:
        raise invalid_request("The request body is too large.")
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise invalid_request("The request body is not UTF-8.") from None
