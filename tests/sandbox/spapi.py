"""The sandbox SP-API under test: a live server, sellers with access tokens, the models' schemas.

Responses are validated with `jsonschema` against the response schema that Amazon's Swagger 2.0
model declares for the operation and status (`#/definitions/...` resolved in the model). The
models leave objects open; here every object that lists its properties is closed
(`additionalProperties: false`), so the sandbox cannot drift by inventing fields.
"""

from __future__ import annotations

import copy
import csv
import io
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import httpx2
import jsonschema

from opside_hub.runtime import Runtime
from opside_hub.sandbox.amazon.service import selling_partner_id
from opside_hub.sandbox.oauth_store import Authorization, OAuthStore, utc_now
from tests.conftest import LiveServer, serve_live
from tests.sandbox.specs import load_spec

PREFIX = "/sandbox/amazon"
# Reports finish at once and no quota applies, unless a test asks otherwise.
FAST: dict[str, object] = {"sandbox_report_delay_seconds": 0.0, "sandbox_rate_scale": 0.0}

SPEC_OF_PREFIX = {
    "/reports/": "amazon/reports_2021-06-30.json",
    "/finances/": "amazon/financesV0.json",
    "/fba/inventory/": "amazon/fbaInventory.json",
    "/sellers/": "amazon/sellers.json",
}


@dataclass
class SpApi:
    """A live app whose sandbox plays Amazon, and a client at the SP-API base URL."""

    live: LiveServer
    http: httpx2.AsyncClient

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.live.app.state.runtime
        return runtime

    @property
    def base_url(self) -> str:
        return self.live.url + PREFIX

    async def seller(self, name: str = "Acme Goods", *, ttl_seconds: int = 3600) -> Seller:
        """A selling partner who authorized the app, with a fresh access token (as if the
        consent and LWA flows had run: the OAuth store is what they write)."""
        store = OAuthStore(self.runtime.redis, self.runtime.redis_server.key, "amazon")
        now = utc_now()
        partner_id = selling_partner_id(name)
        client_id, _ = self.live.settings.client_credentials("amazon")
        token = f"Atza|test-{partner_id}-{now.timestamp()}-{ttl_seconds}"
        await store.create_grant(
            Authorization(
                client_id=client_id,
                redirect_uri=self.live.settings.redirect_uri("amazon"),
                subject=partner_id,
                scopes=(),
                issued_at=now,
                expires_at=now + timedelta(minutes=5),
                attributes={"seller_name": name},
            ),
            access_token=token,
            access_ttl=timedelta(seconds=ttl_seconds),
            refresh_token=f"Atzr|test-{partner_id}-{now.timestamp()}",
        )
        return Seller(partner_id, token)


@dataclass(frozen=True)
class Seller:
    seller_id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"x-amz-access-token": self.token, "Accept": "application/json"}


@asynccontextmanager
async def spapi_server(
    database_url: str, redis_url: str, **overrides: object
) -> AsyncIterator[SpApi]:
    async with (
        serve_live(database_url, redis_url, **{**FAST, **overrides}) as live,
        httpx2.AsyncClient(base_url=live.url + PREFIX, timeout=30) as http,
    ):
        yield SpApi(live, http)


# -- the models ------------------------------------------------------------------------------


def _spec_for(path: str) -> str:
    for prefix, spec in SPEC_OF_PREFIX.items():
        if path.startswith(prefix):
            return spec
    raise KeyError(path)


def _closed(schema: Any) -> Any:
    """A copy of a Swagger schema whose objects with `properties` reject unknown ones."""
    if isinstance(schema, dict):
        closed = {key: _closed(value) for key, value in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema:
            closed["additionalProperties"] = False
        return closed
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    return schema


FORMATS = jsonschema.FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.tzinfo is not None


@cache
def _validator(spec_file: str, method: str, path: str, status: int) -> jsonschema.Draft4Validator:
    spec = load_spec(spec_file)
    response = spec["paths"][path][method.lower()]["responses"][str(status)]
    schema = {
        **copy.deepcopy(response["schema"]),
        "definitions": _closed(copy.deepcopy(spec["definitions"])),
    }
    return jsonschema.Draft4Validator(_closed(schema), format_checker=FORMATS)


def schema_errors(method: str, path: str, status: int, body: Any) -> list[str]:
    """Every way `body` breaks the model's schema for (method, path template, status)."""
    validator = _validator(_spec_for(path), method, path, status)
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in validator.iter_errors(body)
    ]


def assert_model(response: httpx2.Response, method: str, path: str) -> Any:
    """The response's JSON, checked against the model for its status; SP-API headers too."""
    body = response.json()
    assert schema_errors(method, path, response.status_code, body) == [], response.text
    assert response.headers["x-amzn-RequestId"]
    assert float(response.headers["x-amzn-RateLimit-Limit"]) > 0
    return body


# -- documents -------------------------------------------------------------------------------


def gunzip_rows(data: bytes) -> list[dict[str, str]]:
    """A whole (small) report document: gunzip, then tab-separated rows by header name.
    Amazon does not quote fields, so neither does this reader."""
    text = zlib.decompress(data, 16 + zlib.MAX_WBITS).decode("utf-8")
    reader = csv.DictReader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE)
    return [dict(row) for row in reader]
