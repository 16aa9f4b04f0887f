"""Timestamps from query strings: an offset is required, so nobody guesses a timezone.

Pydantic's lax mode also reads a number (`0.5`, `"1700000000"`) as a Unix timestamp, which the
OpenAPI `format: date-time`/`date` does not allow and no client means: `IsoDatetime` and `IsoDate`
accept ISO 8601 text only (a 422 otherwise), and keep the schema of `datetime`/`date`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import BeforeValidator

from opside_hub.core.exceptions import Unprocessable


def _iso_datetime(value: object) -> object:
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("an ISO 8601 timestamp, e.g. 2025-01-31T00:00:00Z") from None
    elif not isinstance(value, datetime):
        raise ValueError("an ISO 8601 timestamp, e.g. 2025-01-31T00:00:00Z")
    return value


def _iso_date(value: object) -> object:
    if isinstance(value, str):
        try:
            date.fromisoformat(value)
        except ValueError:
            raise ValueError("an ISO 8601 date, e.g. 2025-01-31") from None
    elif not isinstance(value, date) or isinstance(value, datetime):
        raise ValueError("an ISO 8601 date, e.g. 2025-01-31")
    return value


IsoDatetime = Annotated[datetime, BeforeValidator(_iso_datetime)]
IsoDate = Annotated[date, BeforeValidator(_iso_date)]


def aware(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise Unprocessable(
            f"{name}: give an offset (e.g. 2025-01-31T00:00:00Z)",
            details=[
                {
                    "field": f"query.{name}",
                    "message": "offset required",
                    "type": "timezone_required",
                }
            ],
        )
    return value.astimezone(UTC)
