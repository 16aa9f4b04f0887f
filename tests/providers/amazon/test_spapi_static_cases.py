"""Amazon's own `x-amzn-api-sandbox` static cases, replayed through our SP-API client.

For every operation we use, each case's request is sent by `SpApiClient` to a server that
answers exactly what Amazon's model says it answers: a 2xx must parse into our typed models,
an error must surface as `SpApiError` carrying Amazon's `errors` list.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest
from pydantic import BaseModel, SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from opside_hub.auth.repository import get_or_create_user
from opside_hub.config import AmazonSettings, Settings
from opside_hub.core.token_bucket import Rate
from opside_hub.db.session import transaction
from opside_hub.providers.amazon.client import OPERATION_RATES, SpApiClient, SpApiError
from opside_hub.providers.amazon.rows import financial_event_rows
from opside_hub.providers.amazon.schemas import (
    CreateReportResponse,
    GetMarketplaceParticipationsResponse,
    GetReportsResponse,
    ListFinancialEventsResponse,
    Report,
    ReportDocument,
)
from opside_hub.providers.oauth2 import TokenGrant
from opside_hub.runtime import Runtime
from opside_hub.vault.service import save_grant
from tests.conftest import repo_root

SPECS = repo_root().parent / "shared" / "specs" / "amazon"
MODELS: dict[str, type[BaseModel]] = {
    "createReport": CreateReportResponse,
    "getReports": GetReportsResponse,
    "getReport": Report,
    "getReportDocument": ReportDocument,
    "listFinancialEvents": ListFinancialEventsResponse,
    "getMarketplaceParticipations": GetMarketplaceParticipationsResponse,
}
SPEC_FILES = ("reports_2021-06-30.json", "financesV0.json", "sellers.json")


def _cases() -> list[Any]:
    cases = []
    for name in SPEC_FILES:
        spec = json.loads((SPECS / name).read_text())
        for path, operations in spec["paths"].items():
            for method, operation in operations.items():
                if not isinstance(operation, dict) or operation.get("operationId") not in MODELS:
                    continue
                for status, response in operation["responses"].items():
                    for index, case in enumerate(
                        response.get("x-amzn-api-sandbox", {}).get("static", [])
                    ):
                        cases.append(
                            pytest.param(
                                operation["operationId"],
                                method.upper(),
                                path,
                                operation,
                                int(status),
                                case,
                                id=f"{operation['operationId']}-{status}-{index}",
                            )
                        )
    return cases


def _request(
    path: str, operation: dict[str, Any], case: dict[str, Any]
) -> tuple[str, dict[str, Any], Any]:
    declared = {p["name"]: p for p in operation.get("parameters", []) if "name" in p}
    params: dict[str, Any] = {}
    body = None
    for name, spec in case["request"]["parameters"].items():
        value = spec["value"]
        where = declared.get(name, {}).get("in", "body" if name == "body" else "query")
        if where == "path":
            path = path.replace("{" + name + "}", str(value))
        elif where == "body":
            body = value
        else:
            params[name] = value
    return path, params, body


@pytest.fixture
async def replay(runtime: Runtime) -> AsyncIterator[dict[str, Any]]:
    answer: dict[str, Any] = {}

    async def respond(request: Request) -> JSONResponse:
        answer["seen"] = request
        assert request.headers["x-amz-access-token"] == "Atza|static-case-token"
        return JSONResponse(answer["body"], status_code=answer["status"])

    amazon = Starlette(routes=[Route("/{path:path}", respond, methods=["GET", "POST", "DELETE"])])
    runtime.http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=amazon))
    runtime.settings = runtime.settings.model_copy(
        update={"amazon": AmazonSettings(spapi_base_url="http://sellingpartnerapi.test")}
    )
    async with transaction(runtime.sessions) as session:
        await get_or_create_user(session, "seller", None)
        await save_grant(
            session,
            runtime.keyring,
            user_id="seller",
            provider="amazon",
            grant=TokenGrant(SecretStr("Atza|static-case-token"), SecretStr("Atzr|r"), 3600),
        )
    yield answer
    await runtime.http.aclose()


@pytest.mark.parametrize(
    ("operation_id", "method", "path", "operation", "status", "case"), _cases()
)
async def test_static_case_through_our_client(
    runtime: Runtime,
    replay: dict[str, Any],
    settings: Settings,
    operation_id: str,
    method: str,
    path: str,
    operation: dict[str, Any],
    status: int,
    case: dict[str, Any],
) -> None:
    replay.update(status=status, body=case["response"])
    fast = {name: Rate(1000.0, 1000) for name in OPERATION_RATES}
    client = SpApiClient(runtime, user_id="seller", selling_partner_id="A1STATIC", rates=fast)
    url_path, params, body = _request(path, operation, case)

    if status < 400:
        payload = await client.call(operation_id, method, url_path, params=params, json=body)
        parsed = MODELS[operation_id].model_validate(payload)
        if isinstance(parsed, ListFinancialEventsResponse) and parsed.payload:
            financial_event_rows(parsed.payload.FinancialEvents)
    else:
        with pytest.raises(SpApiError) as raised:
            await client.call(operation_id, method, url_path, params=params, json=body)
        assert raised.value.status == status
        assert raised.value.errors == case["response"]["errors"]
    assert replay["seen"].url.path == url_path


def test_every_operation_we_use_is_replayed() -> None:
    assert {str(case.values[0]) for case in _cases()} == set(MODELS)
