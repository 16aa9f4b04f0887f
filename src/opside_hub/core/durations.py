"""Durations in the seed's notation (`7d`, `5m`, `3600`), as the Node service read them."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$", re.IGNORECASE)


def parse_duration(value: str) -> timedelta:
    match = _PATTERN.match(value)
    if not match:
        raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 5m, 12h, 7d)")
    number, unit = match.groups()
    return timedelta(seconds=float(number) * _UNITS[(unit or "s").lower()])
