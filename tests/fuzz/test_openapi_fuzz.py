"""Schemathesis over the app's whole OpenAPI document, strict.

Every operation (under `/api` and `/api/v1`, `/health`, the sandbox-only `/api/dev/*`; see
`openapi.EXCLUDED_PREFIXES` for what is left out and why) is fuzzed against the real app served
on a live port, authenticated as a real user whose Amazon, Gmail and Stripe are connected through
the sandbox providers and synced once, so the list routes answer with real rows and the id routes
are also tried with ids that exist. Each response must pass schemathesis' checks: no 5xx, a
status the operation declares, a declared content type and headers, a body that matches the
declared schema, invalid input rejected with a 4xx, authentication enforced, 405 for undeclared
methods.

How it runs: the server (uvicorn, the in-process worker) lives in the session event loop; each
operation's Hypothesis test runs in a thread (`asyncio.to_thread`), where schemathesis sends its
requests with `requests`, so the loop stays free to serve them. The test is built by
schemathesis' `create_test`, the builder behind `schema.parametrize()`, called directly so that
it can run in that thread (its ASGI transport would run the app in a loop of its own instead).
`derandomize=True` makes every run generate the same cases (reproducible in CI) while Hypothesis
still generates them from the schema, in schemathesis' three phases: the schema's examples, the
coverage phase (boundary values, missing/invalid parameters, undeclared methods) and random
fuzzing (positive and negative data).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2
import hypothesis
import pytest
import schemathesis
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.case import Case
from schemathesis.generation.hypothesis.builder import (
    HypothesisTestConfig,
    HypothesisTestMode,
    create_test,
)
from schemathesis.generation.overrides import Override
from schemathesis.schemas import APIOperation, BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from opside_hub.auth.service import create_user_token
from tests.conftest import QUICK_SANDBOX, serve_live, truncate_all
from tests.fuzz.openapi import Operation, api_document, operations
from tests.integrations.conftest import Seller

pytestmark = pytest.mark.slow
ApiOperation = APIOperation[Any, Any, Any, Any]

DOCUMENT = api_document()
OPERATIONS = operations(DOCUMENT)
USER_ID = "fuzz-seller"
# Cases per operation and pass (the coverage phase's deterministic cases come on top).
MAX_EXAMPLES = 25

# Schemathesis' default checks, minus those that do not apply here:
# - positive_data_acceptance: a schema-valid value is not always a valid one. Cursors, OAuth
#   states and codes, and Stripe signatures are opaque strings that only the server or the
#   provider issues; any other string is rightly refused with a 400 that names the reason.
# - use_after_free, ensure_resource_availability: stateful (link-following) checks.
# - object_level_authorization: needs two identities; tests/security covers cross-tenant access.
# - max_response_time: no timing thresholds in tests.
CHECKS: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    missing_required_header,
    unsupported_method,
    ignored_auth,
]

# Operations no generated input completes, and why; they must still refuse every case with a
# declared 4xx and an error envelope.
NO_SUCCESS_EXPECTED = {
    # A code bound to a fresh state, which only the provider's consent issues.
    "/gmail/connect": "provider code",
    "/stripe/connect": "provider code",
    # A Stripe-Signature over the exact body, made with the webhook secret.
    "/stripe/webhook": "signature",
    # The seeded sync has finished: cancelling it is the declared 409.
    "/sync/cancel/{sync_id}": "finished sync",
}


@dataclass
class FuzzTarget:
    url: str
    schema: BaseSchema
    known_ids: dict[str, str]
    statuses: dict[str, Counter[int]] = field(default_factory=dict)


@pytest.fixture(scope="module")
async def target(database_url: str, redis_url: str) -> AsyncIterator[FuzzTarget]:
    """The app on a live port with its worker, and a seller with all three providers synced."""
    async with serve_live(
        database_url,
        redis_url,
        **QUICK_SANDBOX,
        sandbox_amazon_reimbursements=60,
        sandbox_amazon_ledger_events=60,
        sandbox_amazon_inventory_skus=20,
        sandbox_amazon_financial_events=40,
        sandbox_stripe_balance_transactions=30,
    ) as live:
        async with httpx2.AsyncClient(base_url=live.url) as http:
            seller = Seller(user_id=USER_ID, http=http, live=live)
            # Amazon last: connecting it starts the first sync, of every connected provider.
            for provider in ("gmail", "stripe", "amazon"):
                await seller.connect(provider)
            known_ids = await _ids_after_first_sync(seller)
        token = create_user_token(USER_ID, live.settings.auth)
        target = FuzzTarget(
            url=live.url, schema=_schema(live.app.openapi(), token), known_ids=known_ids
        )
        yield target
    await truncate_all(database_url)
    _print_figures(target)


def _print_figures(target: FuzzTarget) -> None:
    """How much was sent (the cases; the checks' own probes come on top) and what came back."""
    totals: Counter[int] = Counter()
    for statuses in target.statuses.values():
        totals.update(statuses)
    print(
        f"\nfuzz: {len(target.statuses)} operations, {totals.total()} cases, "
        f"statuses {dict(sorted(totals.items()))}"
    )


def _schema(document: dict[str, Any], token: str) -> BaseSchema:
    config = SchemathesisConfig.from_dict(
        {
            # The user's JWT, through the document's own security scheme: schemathesis then knows
            # which requests carry credentials, leaves them out of the cases that test a missing
            # or invalid token, and probes that every secured operation enforces them.
            "auth": {"openapi": {"HTTPBearer": {"bearer": token}}},
            "generation": {
                "mode": "all",  # positive and negative cases
                "max-examples": MAX_EXAMPLES,
                # Unknown query parameters are ignored, as HTTP APIs conventionally do (a client
                # may add its own, e.g. a cache buster); no route reads any parameter it does not
                # declare, so a negative case made only of extra parameters proves nothing.
                "allow-extra-parameters": False,
            },
        }
    )
    return schemathesis.openapi.from_dict(document, config=config)


async def _ids_after_first_sync(seller: Seller) -> dict[str, str]:
    sync = await seller.first_sync()
    assert sync["status"] == "completed", sync
    case = await _linked_case(seller, await _first_item(seller, "/api/cases"))
    transaction = await _first_item(seller, "/api/stripe/transactions")
    return {"sync_id": sync["syncId"], "case_id": case["id"], "transaction_id": transaction["id"]}


async def _first_item(seller: Seller, path: str) -> dict[str, Any]:
    response = await seller.http.get(path, headers=seller.auth, params={"limit": 1})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["data"]
    assert items, path
    return items[0]


async def _linked_case(seller: Seller, case: dict[str, Any]) -> dict[str, Any]:
    """Registers an MCDE document for the case's SKU and returns a case it got linked to, so that
    case bodies with a document (and its audit entry) are checked too; linking runs in a job."""
    document = {
        "documentId": "fuzz-cost-1",
        "sku": case["normalized"]["sku"],
        "unitManufacturingCost": {"amount": 1250, "currency": "USD"},
        "documentDate": "2020-01-01",
    }
    response = await seller.http.post(
        "/api/mcde/documents", json={"documents": [document]}, headers=seller.auth
    )
    assert response.status_code == 200, response.text
    async with asyncio.timeout(30):
        while True:
            linked = await seller.http.get(
                "/api/cases", headers=seller.auth, params={"linked": "true", "limit": 1}
            )
            if items := linked.json()["data"]:
                item: dict[str, Any] = items[0]
                return item
            await asyncio.sleep(0.2)


def _hypothesis_test(
    operation: ApiOperation, target: FuzzTarget, override: Override
) -> Callable[[], None]:
    counter = target.statuses.setdefault(operation.label, Counter())

    def check(case: Case[Any]) -> None:
        response = case.call(base_url=target.url)
        counter[response.status_code] += 1
        case.validate_response(response, checks=CHECKS, transport_kwargs={"base_url": target.url})

    config = HypothesisTestConfig(
        project=target.schema.config,
        modes=list(HypothesisTestMode),
        override=override,
        settings=hypothesis.settings(
            max_examples=MAX_EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=[
                hypothesis.HealthCheck.too_slow,
                hypothesis.HealthCheck.filter_too_much,
            ],
        ),
    )
    test: Callable[[], None] = create_test(operation=operation, test_func=check, config=config)
    return test


def _known_path_parameters(operation: ApiOperation, target: FuzzTarget) -> dict[str, str]:
    names = {parameter.name for parameter in operation.path_parameters}
    return {name: value for name, value in target.known_ids.items() if name in names}


def _label(operation: Operation) -> str:
    return f"{operation[0]} {operation[1]}"


@pytest.mark.parametrize("operation", OPERATIONS, ids=_label)
async def test_every_response_is_declared_and_valid(
    target: FuzzTarget, operation: Operation
) -> None:
    method, path = operation
    api_operation = target.schema[path][method]
    await asyncio.to_thread(_hypothesis_test(api_operation, target, Override()))
    if known := _known_path_parameters(api_operation, target):
        # Generated ids are (almost) never the seller's: try the ids that exist too.
        await asyncio.to_thread(
            _hypothesis_test(api_operation, target, Override(path_parameters=known))
        )

    statuses = target.statuses[api_operation.label]
    # The fuzz got past validation and authentication into the handler at least once.
    if not path.endswith(tuple(NO_SUCCESS_EXPECTED)):
        assert any(200 <= status < 400 for status in statuses), statuses
