"""Cross-tenant matrix: user B, holding user A's ids, gets nothing of A's — on every route of the
OpenAPI document and on the WebSocket.

Two tenants with full data (Amazon connected and synced through the sandbox, Gmail and Stripe
connected and synced, an MCDE document, two syncs) share one live server for the module. The
matrix is built from `app.openapi()["paths"]`, so a new route is tried as soon as it exists:

- a route with a path parameter is called by B with A's id for it and must answer 404 — not 403
  (which would confirm the id exists), not A's data. A path parameter without an entry in
  `PATH_IDS` fails the suite: whoever adds such a route says which of A's ids to try;
- every other route is called by B with A's values wherever it takes something id-like (A's
  paging cursor, A's SKU, A's gmail address as a search, A's MCDE document id, A's fresh OAuth
  code and state on the authenticated connect routes, a webhook naming A's Stripe account), and
  must answer without a 5xx and without any of A's values (ids of A's rows that B does not have
  too), as must the GET routes outside the document (`UNDOCUMENTED_GETS`: dashboard, /metrics).
  A required query parameter or a request body without an entry here fails the suite the same
  way;
- afterwards A's own view (connections, syncs, cases, documents) is unchanged.

The OAuth callbacks are the one place where A's values are deliberately not tried: they are
public, and A's unused callback URL is a bearer credential for A's own flow (see `QUERY_IDS`).
The server runs without its cron schedules, so no scheduled sync changes a tenant meanwhile.

On the WebSocket a socket only ever carries its authenticated user's events (the hub keys
mailboxes by the JWT's `sub`; client messages other than `ping` are ignored), so B's sockets,
whatever they send or put in the URL, see none of A's sync while it runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx2
import pytest
from sqlalchemy import select, text
from websockets.asyncio.client import ClientConnection, connect

from opside_hub.config import EvidenceSettings
from opside_hub.db.base import Base
from opside_hub.db.models import McdeDocument
from opside_hub.realtime.service import publish
from opside_hub.runtime import Runtime
from tests.conftest import LiveServer, truncate_all
from tests.realtime.conftest import HANG_GUARD_S, next_event, user_socket, ws_url
from tests.sandbox.helpers import query_of
from tests.security.helpers import (
    Tenant,
    callback_url,
    populate,
    serve_without_schedules,
    start_sync,
    tenant_for,
    wait_for_sync,
)

pytestmark = pytest.mark.slow

# Columns whose values identify a row or an account (provider ids, our ids, natural keys): the
# values a leak would show. Amounts, dates and statuses are shared by everyone and prove nothing.
IDENTIFYING_COLUMNS = frozenset(
    {
        "id",
        "user_id",
        "row_key",
        "reimbursement_id",
        "case_id",
        "amazon_order_id",
        "reference_id",
        "original_reimbursement_id",
        "claim_id",
        "sync_id",
        "document_id",
        "mcde_doc_id",
        "thread_id",
        "message_id",
        "stripe_account_id",
        "account_id",
        "account",
        "event_id",
        "report_id",
        "report_document_id",
        "sha256",
        "storage_key",
        "email",
        "subject",
        "supplier",
    }
)
MIN_VALUE_LENGTH = 6
# Shorter values are matched as whole JSON strings only: a 6-digit id may well occur inside an
# unrelated longer number or text.
SUBSTRING_MATCH_LENGTH = 16


@dataclass
class Tenants:
    live: LiveServer
    a: Tenant
    b: Tenant

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.live.app.state.runtime
        return runtime


@pytest.fixture(autouse=True)
def _clean_tables() -> None:
    """The module shares one dataset (`tenants`), which cleans up after the last test; the
    harness's per-test cleanup would wipe it after the first."""


@pytest.fixture(scope="module")
async def tenants(
    database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Tenants]:
    evidence = EvidenceSettings(
        storage_dir=tmp_path_factory.mktemp("evidence"), api_url="", jwt_secret=""
    )
    try:
        async with (
            serve_without_schedules(database_url, redis_url, evidence=evidence) as live,
            httpx2.AsyncClient(base_url=live.url) as http_a,
            httpx2.AsyncClient(base_url=live.url) as http_b,
        ):
            a = await populate(tenant_for(live, http_a, "tenant-alpha", "Alpha"))
            b = await populate(tenant_for(live, http_b, "tenant-bravo", "Bravo"))
            yield Tenants(live=live, a=a, b=b)
    finally:
        await truncate_all(database_url)


# -- what is A's --------------------------------------------------------------------------------


async def identifying_values(runtime: Runtime, user_id: str) -> set[str]:
    """Every identifying value of the user's rows, in every table that has a `user_id`."""
    values: set[str] = {user_id}
    async with runtime.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            if "user_id" not in table.columns:
                continue
            columns = [c for c in table.columns if c.name in IDENTIFYING_COLUMNS]
            rows = await connection.execute(
                select(*columns).where(table.columns["user_id"] == user_id)
            )
            for row in rows:
                values.update(str(v) for v in row if isinstance(v, str))
    return {v for v in values if len(v) >= MIN_VALUE_LENGTH}


async def values_only_a_has(tenants: Tenants) -> set[str]:
    a_values = await identifying_values(tenants.runtime, tenants.a.user_id)
    b_values = await identifying_values(tenants.runtime, tenants.b.user_id)
    only_a = a_values - b_values
    # The check below is only as good as this set: it must hold A's ids of every kind.
    for must in (*tenants.a.sync_ids, tenants.a.mcde_document_id, tenants.a.accounts.gmail):
        assert must in only_a, must
    return only_a


def json_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from json_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from json_strings(item)


def leaked(response: httpx2.Response, secrets: set[str]) -> set[str]:
    """Which of `secrets` the response shows: as a JSON string, or inside any text if long."""
    try:
        strings = set(json_strings(response.json()))
    except ValueError:
        strings = {response.text}
    found = secrets & strings
    body = response.text
    found.update(s for s in secrets if len(s) >= SUBSTRING_MATCH_LENGTH and s in body)
    found.update(s for s in secrets if s in json.dumps(dict(response.headers)))
    return found


# -- the matrix -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # as in the OpenAPI document, e.g. /api/v1/cases/{case_id}
    spec: dict[str, Any]

    @property
    def key(self) -> str:
        """The path without its mount (`/api` and `/api/v1` serve the same handlers)."""
        return re.sub(r"^/api(/v1)?(?=/)", "", self.path)

    def parameters(self, where: str) -> list[dict[str, Any]]:
        return [p for p in self.spec.get("parameters", []) if p["in"] == where]

    @property
    def path_parameters(self) -> list[str]:
        return [p["name"] for p in self.parameters("path")]

    @property
    def has_body(self) -> bool:
        return "requestBody" in self.spec


def operations(app: Any) -> list[Operation]:
    found = [
        Operation(method.upper(), path, spec)
        for path, methods in app.openapi()["paths"].items()
        for method, spec in methods.items()
    ]
    # Reads first, then writes, deletes last: B's own writes (a sync, a disconnect) must not
    # change what B's later reads are compared with.
    order = {"GET": 0, "POST": 1, "PUT": 1, "PATCH": 1, "DELETE": 2}
    return sorted(found, key=lambda op: order.get(op.method, 1))


@dataclass
class Inputs:
    """A's ids and values, the ones B tries."""

    case_id: str
    sync_id: str
    transaction_id: str
    sku: str
    asin: str
    gmail_code: str
    gmail_state: str
    stripe_code: str
    stripe_state: str
    stripe_account: str
    mcde_document_id: str
    cursors: dict[str, str]


# Which of A's ids B puts in each path parameter. A new path parameter needs an entry.
PATH_IDS: dict[str, Callable[[Inputs], str]] = {
    "case_id": lambda a: a.case_id,
    "sync_id": lambda a: a.sync_id,
    "transaction_id": lambda a: a.transaction_id,
}

# Query parameters that name something of A's. Others (limits, dates, statuses) are left out,
# unless required: then they need an entry.
QUERY_IDS: dict[str, Callable[[Inputs, Operation], str | None]] = {
    "cursor": lambda a, op: a.cursors.get(op.key),
    "pageToken": lambda a, op: a.cursors.get(op.key),
    "sku": lambda a, _: a.sku,
    "asin": lambda a, _: a.asin,
    "q": lambda a, _: f"from:{a.stripe_account} OR {a.sku}",
}
# Not here: the OAuth callbacks' `state` and `code`. The callbacks are public and the state is a
# bearer credential by design (DESIGN §3): whoever holds A's unused callback URL completes A's
# flow, for A, as A's browser would. What protects it (unguessable, single use, bound to user and
# provider, 10 minutes) is proven in test_auth_attacks.py; B's *authenticated* use of A's code and
# state (`POST /gmail/connect`, `/stripe/connect`) is in BODIES below and must fail.

# Request bodies B sends, keyed by `method key`. A new route with a body needs an entry.
BODIES: dict[str, Callable[[Inputs], Any]] = {
    "POST /system/ping": lambda a: {"message": "ping from B"},
    "POST /mcde/documents": lambda a: {
        "documents": [
            {
                "documentId": a.mcde_document_id,
                "sku": a.sku,
                "unitManufacturingCost": {"amount": 1, "currency": "USD"},
                "documentDate": "2019-01-01",
            }
        ]
    },
    "POST /sync/start": lambda a: {"providers": ["stripe"]},
    "POST /gmail/connect": lambda a: {"code": a.gmail_code, "state": a.gmail_state},
    "POST /stripe/connect": lambda a: {"code": a.stripe_code, "state": a.stripe_state},
    "POST /stripe/webhook": lambda a: {
        "id": "evt_1CrossTenant",
        "object": "event",
        "type": "account.application.deauthorized",
        "account": a.stripe_account,
        "data": {"object": {"id": a.stripe_account, "object": "account"}},
    },
}


@dataclass
class Call:
    operation: Operation
    path: str
    params: dict[str, str]
    body: Any

    @property
    def label(self) -> str:
        return f"{self.operation.method} {self.operation.path}"


class Unmapped(Exception):
    """A route takes an input this suite has no value of A's for."""


def plan(operation: Operation, a: Inputs) -> Call:
    path = operation.path
    for name in operation.path_parameters:
        if name not in PATH_IDS:
            raise Unmapped(f"path parameter {name!r}: add it to PATH_IDS")
        path = path.replace("{" + name + "}", quote(PATH_IDS[name](a), safe=""))
    params: dict[str, str] = {}
    for parameter in operation.parameters("query"):
        name = parameter["name"]
        value = QUERY_IDS[name](a, operation) if name in QUERY_IDS else None
        if value is not None:
            params[name] = value
        elif parameter.get("required"):
            raise Unmapped(f"required query parameter {name!r}: add it to QUERY_IDS")
    body = None
    if operation.has_body:
        label = f"{operation.method} {operation.key}"
        if label not in BODIES:
            raise Unmapped("request body: add it to BODIES")
        body = BODIES[label](a)
    return Call(operation, path, params, body)


async def send(tenant: Tenant, call: Call) -> httpx2.Response:
    headers = {**tenant.auth, "Accept": "application/json"}
    return await tenant.http.request(
        call.operation.method, call.path, params=call.params, json=call.body, headers=headers
    )


async def inputs_of(a: Tenant, app: Any) -> Inputs:
    case = (await a.get("/api/cases", limit=1))["data"][0]
    claim = (await a.get("/api/amazon/claims", limit=1))["data"][0]
    transaction = (await a.get("/api/stripe/transactions", limit=1))["data"][0]
    account = (await a.get("/api/integrations"))["data"]["stripe"]["accountId"]
    # Fresh OAuth codes of A's, as an attacker who intercepted A's redirect would hold them.
    gmail = query_of(await callback_url(a.seller, "gmail", a.accounts.gmail))
    stripe = query_of(await callback_url(a.seller, "stripe", a.accounts.stripe))
    return Inputs(
        case_id=case["id"],
        sync_id=a.sync_ids[-1],
        transaction_id=transaction["id"],
        sku=claim["sku"],
        asin=claim["asin"],
        gmail_code=gmail["code"],
        gmail_state=gmail["state"],
        stripe_code=stripe["code"],
        stripe_state=stripe["state"],
        stripe_account=account,
        mcde_document_id=a.mcde_document_id,
        cursors=await cursors_of(a, app),
    )


async def cursors_of(a: Tenant, app: Any) -> dict[str, str]:
    """A's `meta.nextCursor` of each paged route (its second page), keyed by route."""
    cursors: dict[str, str] = {}
    for operation in operations(app):
        names = {p["name"] for p in operation.parameters("query")}
        if operation.method != "GET" or "cursor" not in names or operation.path_parameters:
            continue
        params = {"limit": "1", **({"q": "invoice"} if "q" in names else {})}
        response = await a.http.get(operation.path, headers=a.auth, params=params)
        if response.status_code == 200:
            cursor = (response.json().get("meta") or {}).get("nextCursor")
            if cursor:
                cursors[operation.key] = cursor
    return cursors


async def view_of(tenant: Tenant) -> dict[str, Any]:
    """What a tenant sees of its own data; B's calls must not change any of it."""
    paths = (
        "/api/integrations",
        "/api/sync/history",
        "/api/cases",
        "/api/amazon/claims",
        "/api/amazon/inventory",
        "/api/amazon/fees",
        "/api/gmail/emails",
        "/api/stripe/transactions",
        "/api/stripe/account",
    )
    return {path: await tenant.get(path) for path in paths}


async def test_the_module_data_is_what_the_matrix_assumes(tenants: Tenants) -> None:
    """Both tenants really hold data of every kind, distinct from each other's."""
    for tenant in (tenants.a, tenants.b):
        for path in (
            "/api/cases",
            "/api/amazon/claims",
            "/api/amazon/inventory",
            "/api/amazon/fees",
            "/api/gmail/emails",
            "/api/stripe/transactions",
        ):
            assert (await tenant.get(path))["data"], (tenant.user_id, path)
    async with tenants.runtime.engine.connect() as connection:
        evidence = (
            await connection.execute(
                text("SELECT user_id, count(*) FROM evidence_documents GROUP BY user_id")
            )
        ).all()
    assert {row[0] for row in evidence} == {tenants.a.user_id, tenants.b.user_id}


async def test_b_gets_nothing_of_a_on_any_route(tenants: Tenants) -> None:
    a, b = tenants.a, tenants.b
    app = tenants.live.app
    inputs = await inputs_of(a, app)
    only_a = await values_only_a_has(tenants)
    a_before = await view_of(a)
    a_document = await mcde_document(tenants.runtime, a.user_id, a.mcde_document_id)

    failures: list[str] = []
    tried = 0
    for operation in operations(app):
        try:
            call = plan(operation, inputs)
        except Unmapped as exc:
            failures.append(f"{operation.method} {operation.path}: {exc}")
            continue
        response = await send(b, call)
        tried += 1
        sent = {str(v) for v in call.params.values()} | set(
            json_strings(call.body) if call.body is not None else ()
        )
        sent |= {inputs.case_id, inputs.sync_id, inputs.transaction_id} & set(call.path.split("/"))
        if operation.path_parameters and response.status_code != 404:
            failures.append(f"{call.label}: {response.status_code} for A's id, not 404")
        if response.status_code >= 500:
            failures.append(f"{call.label}: {response.status_code}")
        if shown := leaked(response, only_a - sent):
            failures.append(f"{call.label}: shows A's {sorted(shown)[:5]}")

    for path in UNDOCUMENTED_GETS:
        response = await b.http.get(path, headers=b.auth)
        tried += 1
        if response.status_code >= 500:
            failures.append(f"GET {path}: {response.status_code}")
        if shown := leaked(response, only_a):
            failures.append(f"GET {path}: shows A's {sorted(shown)[:5]}")

    assert failures == [], "\n".join(failures)
    assert tried >= 50  # both mounts of every route
    # B's own sync (from POST /sync/start) ends before A's view is compared and the module ends.
    (latest,) = (await b.get("/api/sync/history", limit=1))["data"]
    await wait_for_sync(b.seller, latest["syncId"])
    assert await view_of(a) == a_before
    assert await mcde_document(tenants.runtime, a.user_id, a.mcde_document_id) == a_document


# GET routes outside the OpenAPI document. (FastAPI 0.165 keeps included routers unflattened in
# `app.routes`, so they are listed by hand.)
UNDOCUMENTED_GETS = ("/", "/metrics", "/openapi.json")


async def mcde_document(runtime: Runtime, user_id: str, document_id: str) -> dict[str, Any]:
    async with runtime.sessions() as session:
        row = (
            await session.execute(
                select(McdeDocument).where(
                    McdeDocument.user_id == user_id, McdeDocument.document_id == document_id
                )
            )
        ).scalar_one()
        return {c.name: getattr(row, c.name) for c in McdeDocument.__table__.columns}


async def test_path_ids_are_404_with_the_not_found_envelope(tenants: Tenants) -> None:
    """The exact answer to B for each of A's ids: the same as for an id that never existed."""
    a, b = tenants.a, tenants.b
    inputs = await inputs_of(a, tenants.live.app)
    for operation in operations(tenants.live.app):
        if not operation.path_parameters:
            continue
        theirs = await send(b, plan(operation, inputs))
        nobodys = await send(b, plan(operation, _nobodys(inputs)))
        assert theirs.status_code == nobodys.status_code == 404, operation.path
        assert theirs.json() == nobodys.json(), operation.path
        assert theirs.json()["success"] is False
        if operation.method == "GET":  # and A does see it: the id is real
            assert (await send(a, plan(operation, inputs))).status_code == 200, operation.path


def _nobodys(inputs: Inputs) -> Inputs:
    fields = {**inputs.__dict__}
    fields.update(
        case_id="00000000-0000-4000-8000-000000000000",
        sync_id="00000000-0000-4000-8000-000000000001",
        transaction_id="txn_1NobodysTransaction00000",
    )
    return Inputs(**fields)


async def test_b_registering_a_document_id_of_a_creates_its_own(tenants: Tenants) -> None:
    """Document ids are the MCDE service's, not unique across users: B's registration of the
    same id is B's document, never an update of A's."""
    a, b = tenants.a, tenants.b
    before = await mcde_document(tenants.runtime, a.user_id, a.mcde_document_id)
    registered = await b.http.post(
        "/api/mcde/documents",
        headers=b.auth,
        json={
            "documents": [
                {
                    "documentId": a.mcde_document_id,
                    "asin": "B0CROSS000",
                    "unitManufacturingCost": {"amount": 7, "currency": "EUR"},
                    "documentDate": "2018-01-01",
                }
            ]
        },
    )
    assert registered.status_code == 200, registered.text
    assert registered.json()["data"]["documents"][0]["status"] in ("created", "updated")
    assert await mcde_document(tenants.runtime, a.user_id, a.mcde_document_id) == before
    mine = await mcde_document(tenants.runtime, b.user_id, a.mcde_document_id)
    assert (mine["asin"], mine["currency"]) == ("B0CROSS000", "EUR")


# -- the WebSocket --------------------------------------------------------------------------------

MARKER = "cross_tenant_marker"


async def frames_until_marker(socket: ClientConnection) -> list[dict[str, Any]]:
    """Every frame B's socket got before our marker event (published to B after A's sync
    ended, so after every event of A's: one Redis connection delivers in publish order)."""
    frames: list[dict[str, Any]] = []
    while True:
        frame = await next_event(socket)
        if frame["event"] == MARKER:
            return frames
        frames.append(frame)


async def test_b_sockets_get_none_of_a_sync_events(tenants: Tenants) -> None:
    a, b = tenants.a, tenants.b
    live, runtime = tenants.live, tenants.runtime
    url_naming_a = ws_url(live, b.token) + f"&userId={a.user_id}&syncId={a.sync_ids[-1]}"
    async with (
        user_socket(live, a.user_id) as a_socket,
        user_socket(live, b.user_id) as b_socket,
        connect(url_naming_a, proxy=None, open_timeout=HANG_GUARD_S) as b_url_socket,
    ):
        assert await next_event(b_url_socket) == {
            "event": "connected",
            "data": {"userId": b.user_id},
        }
        # What a client could try to subscribe with; the server ignores every such message.
        for attempt in (
            {"type": "subscribe", "syncId": a.sync_ids[-1]},
            {"type": "subscribe", "channel": f"events:{a.user_id}"},
            {"type": "subscribe", "userId": a.user_id},
            {"type": "auth", "token": b.token, "userId": a.user_id},
        ):
            await b_socket.send(json.dumps(attempt))

        sync_id = await start_sync(a.seller)
        a_events = [await next_event(a_socket)]
        # A socket B opens while A's sync runs: its snapshot holds B's syncs only.
        async with user_socket(live, b.user_id) as b_late_socket:
            while a_events[-1]["event"] != "sync_completed":
                a_events.append(await next_event(a_socket))
            assert await publish(runtime, b.user_id, MARKER, {}) >= 1
            seen_by_b = [
                await frames_until_marker(socket)
                for socket in (b_socket, b_url_socket, b_late_socket)
            ]

    assert {e["data"]["syncId"] for e in a_events if e["event"].startswith("sync_")} == {sync_id}
    assert sum(e["event"] == "sync_progress_update" for e in a_events) >= 2
    # B has no sync running: its sockets get nothing at all but keepalives.
    assert seen_by_b == [[], [], []]
    assert (await wait_for_sync(a.seller, sync_id))["status"] == "completed"
