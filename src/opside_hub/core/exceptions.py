"""Domain errors carry their HTTP status and a stable machine-readable code.

One handler (`api/errors.py`) renders them as `{"success": false, "error": {...}}`. Anything
else that escapes a route is a bug and becomes a 500 without details.
"""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    status_code = 400
    code = "bad_request"
    message = "The request is invalid."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.details = details
        self.headers = headers
        super().__init__(self.message)


class BadRequest(AppError):
    pass


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"
    message = "Authentication is required."

    def __init__(self, message: str | None = None, *, code: str | None = None) -> None:
        super().__init__(message, code=code, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"
    message = "This action is not allowed."


class NotFound(AppError):
    status_code = 404
    code = "not_found"
    message = "Not found."


class Conflict(AppError):
    status_code = 409
    code = "conflict"
    message = "The request conflicts with the current state."


class Unprocessable(AppError):
    status_code = 422
    code = "validation_error"
    message = "The request is invalid."


class TooManyRequests(AppError):
    status_code = 429
    code = "rate_limited"
    message = "Too many requests."


class ServiceUnavailable(AppError):
    status_code = 503
    code = "unavailable"
    message = "A dependency is unavailable."


class ProviderError(AppError):
    """A provider answered with an error we cannot resolve here (surfaced, never swallowed)."""

    status_code = 502
    code = "provider_error"
    message = "The provider returned an error."
