"""`GET /metrics`: the registry in the Prometheus text format, protected as configured.

- `METRICS_ENABLED=false`: 404, the same answer as a path that does not exist.
- `METRICS_TOKEN` set: `Authorization: Bearer <token>`, compared in constant time, else 401.
- no token in production: only a loopback client that came through no proxy may scrape (a
  sidecar or node agent on the same host); anyone else gets 404, so the route is not
  advertised. A request relayed by a local reverse proxy carries forwarding headers and is
  therefore refused, even though its TCP peer is 127.0.0.1.
- no token outside production: open, like the rest of a development server.

At the root like `/health`, outside the OpenAPI schema: it is for scrapers, not API clients.
"""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import APIRouter, HTTPException, Request, Response
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from opside_hub.api.deps import RuntimeDep
from opside_hub.config import MetricsSettings, Settings
from opside_hub.core.exceptions import Unauthorized
from opside_hub.observability.collectors import refresh_scrape_gauges

router = APIRouter(include_in_schema=False)
FORWARDING_HEADERS = frozenset({b"x-forwarded-for", b"forwarded", b"x-real-ip"})


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, runtime: RuntimeDep) -> Response:
    authorize_scrape(request, runtime.settings)
    await refresh_scrape_gauges(runtime)
    # The classic text format (0.0.4) that every Prometheus-compatible scraper reads.
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_PLAIN_0_0_4)


def authorize_scrape(request: Request, settings: Settings) -> None:
    config: MetricsSettings = settings.metrics
    if not config.enabled:
        raise HTTPException(status_code=404)
    token = config.token.get_secret_value()
    if token:
        if not _bearer_matches(request.headers.get("authorization", ""), token):
            raise Unauthorized("A valid metrics token is required.", code="invalid_metrics_token")
        return
    if settings.is_production and not _direct_loopback_client(request):
        raise HTTPException(status_code=404)


def _bearer_matches(header: str, token: str) -> bool:
    scheme, _, given = header.partition(" ")
    # Compared even when the scheme is wrong, so the time taken says nothing about the token.
    same = hmac.compare_digest(given.strip().encode(), token.encode())
    return scheme.lower() == "bearer" and same


def _direct_loopback_client(request: Request) -> bool:
    # With no forwarding header, the TCP peer is the client, whoever the trusted proxies are.
    if any(name in FORWARDING_HEADERS for name, _ in request.scope.get("headers", [])):
        return False
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback
