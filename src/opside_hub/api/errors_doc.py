"""Error responses declared on the API routes, so the OpenAPI document is complete and strict.

Every router declares the errors any of its routes can answer (`ERROR_RESPONSES` on the
authenticated routers, `PUBLIC_ERROR_RESPONSES`, without 401, on the public ones); a route adds
the statuses of its own failures with `error_response(...)` (409, 502, 503...). Every error body
is the `ErrorEnvelope`. tests/fuzz checks each response against these declarations.
"""

from __future__ import annotations

from typing import Any

from opside_hub.core.schemas import ErrorEnvelope

Responses = dict[int | str, dict[str, Any]]


def error_response(description: str) -> dict[str, Any]:
    return {"model": ErrorEnvelope, "description": description}


PUBLIC_ERROR_RESPONSES: Responses = {
    400: error_response("Bad request"),
    404: error_response("Not found"),
    413: error_response("Request body too large"),
    422: error_response("Validation error"),
    429: error_response("Rate limited (see Retry-After)"),
}

ERROR_RESPONSES: Responses = {
    **PUBLIC_ERROR_RESPONSES,
    401: error_response("Missing or invalid bearer token"),
}

# The failures of routes that call a provider with the seller's stored tokens.
NEEDS_REAUTHORIZATION = error_response(
    "The connection needs re-authorization (`reauthorization_required`)"
)
PROVIDER_FAILED = error_response("The provider answered with an error or could not be reached")
