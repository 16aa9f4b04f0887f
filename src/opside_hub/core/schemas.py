"""The JSON envelope and conventions of DESIGN §3: camelCase, `{"success": true, "data": ...}`."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

T = TypeVar("T")


class ApiModel(BaseModel):
    """Base of every request/response body: camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class Envelope(ApiModel, Generic[T]):
    success: Literal[True] = True
    data: T


class PageMeta(ApiModel):
    next_cursor: str | None = None


class Page(ApiModel, Generic[T]):
    success: Literal[True] = True
    data: list[T]
    meta: PageMeta = Field(default_factory=PageMeta)


class ErrorBody(ApiModel):
    code: str
    message: str
    details: Any = None


class ErrorEnvelope(ApiModel):
    success: Literal[False] = False
    error: ErrorBody


def error_content(code: str, message: str, details: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return {"success": False, "error": body}


class Money(ApiModel):
    """Integer minor units and an ISO 4217 code: `{"amount": 1234, "currency": "USD"}`."""

    amount: int
    currency: str
