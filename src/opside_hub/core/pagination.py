"""Cursor (keyset) pagination: `limit` 1-500 (default 50) and an opaque `cursor`.

A cursor encodes the sort key and the id of the last item served; the next page continues
strictly after it, so pages never skip or repeat rows while new rows arrive.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Query

from opside_hub.core.exceptions import BadRequest

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


@dataclass(frozen=True)
class PageParams:
    limit: int
    after: tuple[Any, ...] | None


def encode_cursor(*values: Any) -> str:
    payload = [value.isoformat() if isinstance(value, datetime) else value for value in values]
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[Any, ...]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise BadRequest("The cursor is not valid.", code="invalid_cursor") from exc
    if not isinstance(values, list) or not values:
        raise BadRequest("The cursor is not valid.", code="invalid_cursor")
    return tuple(values)


async def page_params(  # async: no thread-pool hop (see api/deps.py)
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page")] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=512, description="`meta.nextCursor` of the previous page")
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, after=decode_cursor(cursor) if cursor else None)


PageDep = Annotated[PageParams, Depends(page_params)]


def cursor_datetime(value: Any) -> datetime | None:
    """A datetime stored in a cursor (None stays None); malformed → 400."""
    if value is None:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise BadRequest("The cursor is not valid.", code="invalid_cursor") from exc
