"""Timestamps from query strings: an offset is required, so nobody guesses a timezone."""

from __future__ import annotations

from datetime import UTC, datetime

from opside_hub.core.exceptions import Unprocessable


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
