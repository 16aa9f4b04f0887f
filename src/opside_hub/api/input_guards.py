"""Request input the database cannot store is refused up front, as a 422, never a 500.

PostgreSQL `text` and `jsonb` cannot hold the NUL character (U+0000): a query filter, path id or
JSON body string carrying one made the query fail with a database error. SQLite would store it,
so refusing it here also keeps both backends answering the same. A router-level dependency of
the API routers (after authentication), so every route gets it.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from opside_hub.core.exceptions import Unprocessable

NUL = "\x00"


async def reject_nul_characters(request: Request) -> None:
    for name, value in request.query_params.multi_items():
        if NUL in name or NUL in value:
            raise _nul_error(f"query.{name.replace(NUL, '')}")
    for name, value in request.path_params.items():
        if isinstance(value, str) and NUL in value:
            raise _nul_error(f"path.{name}")
    if "json" in request.headers.get("content-type", ""):
        body = await request.body()  # already read (and cached) by FastAPI for the route
        # In valid JSON a NUL can only be written as the escape `\u0000`.
        if b"\\u0000" in body and _has_nul(_parsed(body)):
            raise _nul_error("body")


def _parsed(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None  # FastAPI answers the malformed body itself


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


def _nul_error(field: str) -> Unprocessable:
    return Unprocessable(
        f"{field}: must not contain the NUL character (U+0000)",
        details=[{"field": field, "message": "contains U+0000", "type": "string_nul"}],
    )
