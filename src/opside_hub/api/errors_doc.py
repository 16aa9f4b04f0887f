"""Error responses declared on every API route, so the OpenAPI document is complete."""

from __future__ import annotations

from typing import Any

from opside_hub.core.schemas import ErrorEnvelope

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorEnvelope, "description": "Bad request"},
    401: {"model": ErrorEnvelope, "description": "Missing or invalid bearer token"},
    404: {"model": ErrorEnvelope, "description": "Not found"},
    413: {"model": ErrorEnvelope, "description": "Request body too large"},
    422: {"model": ErrorEnvelope, "description": "Validation error"},
    429: {"model": ErrorEnvelope, "description": "Rate limited (see Retry-After)"},
}
