"""Errors of the sandbox providers, each rendered in its provider's own shape.

The sandbox answers like Amazon, Google and Stripe, not like this API: its errors never go
through the app's `{"success": false, ...}` envelope. `SandboxRoute` (see `routing.py`) turns a
`SandboxError` into the response it describes.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from starlette.responses import Response

# RFC 6749 §5.1: token responses must not be cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class SandboxError(Exception):
    def response(self) -> Response:
        raise NotImplementedError


class OAuthError(SandboxError):
    """An RFC 6749 error body, `{"error": ..., "error_description": ...}`, as the token,
    revoke and deauthorize endpoints of all three providers answer."""

    def __init__(self, error: str, description: str | None = None, status_code: int = 400) -> None:
        self.error = error
        self.description = description
        self.status_code = status_code
        super().__init__(f"{error}: {description}")

    def response(self) -> Response:
        body: dict[str, Any] = {"error": self.error}
        if self.description is not None:
            body["error_description"] = self.description
        return JSONResponse(body, status_code=self.status_code, headers=NO_STORE)


class ConsentError(SandboxError):
    """An authorization request so broken that the provider shows an error page instead of
    redirecting (unknown client, unregistered redirect URI): redirecting would hand the answer
    to whoever forged the request."""

    def __init__(self, provider: str, code: str, message: str, status_code: int = 400) -> None:
        self.provider = provider
        self.code = code
        self.message = message
        self.status_code = status_code
        super().__init__(f"{code}: {message}")

    def response(self) -> Response:
        from opside_hub.sandbox.pages import error_page

        return error_page(self.provider, self.code, self.message, self.status_code)


class RedirectError(SandboxError):
    """An authorization error reported to the client through its redirect URI."""

    def __init__(self, location: str) -> None:
        self.location = location
        super().__init__(location)

    def response(self) -> Response:
        return Response(status_code=302, headers={"Location": self.location})


class ApiError(SandboxError):
    """A ready-made provider API error response (Google's `{"error": {...}}`, ...)."""

    def __init__(self, status_code: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.status_code = status_code
        self.body = body
        self.headers = headers
        super().__init__(f"HTTP {status_code}")

    def response(self) -> Response:
        return JSONResponse(self.body, status_code=self.status_code, headers=self.headers)
