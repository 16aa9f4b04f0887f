"""The one place that turns exceptions into the error envelope of DESIGN §3."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from opside_hub.core.exceptions import AppError
from opside_hub.core.logging import get_logger
from opside_hub.core.schemas import error_content

log = get_logger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
}


def register_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected_error)


async def _app_error(_request: Request, exc: AppError) -> JSONResponse:
    return JSONResponse(
        error_content(exc.code, exc.message, exc.details),
        status_code=exc.status_code,
        headers=exc.headers,
    )


async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    details = [_field_error(error) for error in exc.errors()]
    first = details[0] if details else {"field": "request", "message": "invalid"}
    return JSONResponse(
        error_content("validation_error", f"{first['field']}: {first['message']}", details),
        status_code=422,
    )


def _field_error(error: Any) -> dict[str, str]:
    location = ".".join(str(part) for part in error.get("loc", ()))
    return {
        "field": location or "request",
        "message": str(error.get("msg", "invalid")),
        "type": str(error.get("type", "invalid")),
    }


async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = _HTTP_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return JSONResponse(
        error_content(code, message), status_code=exc.status_code, headers=exc.headers
    )


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("http.unhandled_error", path=request.url.path, error_type=type(exc).__name__)
    return JSONResponse(
        error_content("internal_error", "An unexpected error occurred; it has been logged."),
        status_code=500,
    )
