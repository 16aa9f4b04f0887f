"""The OpenAPI document the fuzz suite and the declaration test read, and which of its
operations are fuzzed.

The document is the app's own (`app.openapi()`), built with the settings of the fuzzed server
(sandbox providers, development environment), so that it lists the sandbox-only `/api/dev/*`
routes too. Building it needs no database or Redis: only the lifespan connects to them.
"""

from __future__ import annotations

from typing import Any

from opside_hub.app import create_app
from tests.conftest import make_settings

# Not in the fuzzed surface, on purpose:
# - `/sandbox/*`: the sandbox providers are test doubles of Amazon, Google and Stripe at *their*
#   HTTP shapes (HTML consent pages, form posts, gzip downloads), not this API; they are kept out
#   of the schema and tested against the providers' own models in tests/sandbox.
# - `/`, `/assets/*`: the dashboard's HTML page and static files, not JSON API (also out of the
#   schema); tests/web covers them.
# - `/metrics`: Prometheus' text exposition format for the scraper, not JSON API (also out of the
#   schema); tests/observability covers it.
# - `WS /ws`: OpenAPI cannot describe a WebSocket; tests/realtime covers it.
EXCLUDED_PREFIXES = ("/sandbox", "/assets", "/metrics")

# Destructive operations run last, so that every other operation is fuzzed against a seller whose
# providers are still connected (their live routes reach the sandbox providers).
DESTRUCTIVE_SUFFIXES = ("/disconnect",)

Operation = tuple[str, str]  # (METHOD, path)


def api_document() -> dict[str, Any]:
    settings = make_settings(
        "sqlite+aiosqlite://",
        "redis://127.0.0.1:6379/0",
        provider_mode="sandbox",
        public_url="http://127.0.0.1:3000",
    )
    document: dict[str, Any] = create_app(settings, configure_logs=False).openapi()
    return document


def operations(document: dict[str, Any]) -> list[Operation]:
    """Every operation of the document, minus the exclusions, destructive ones last."""
    found = [
        (method.upper(), path)
        for path, item in document["paths"].items()
        if not path.startswith(EXCLUDED_PREFIXES)
        for method in item
    ]
    return sorted(found, key=lambda op: op[1].endswith(DESTRUCTIVE_SUFFIXES))


def is_public(document: dict[str, Any], operation: Operation) -> bool:
    """No bearer token needed: `/health`, OAuth callbacks, the Stripe webhook, dev sign-in."""
    method, path = operation
    return not document["paths"][path][method.lower()].get("security")
