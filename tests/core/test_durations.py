from __future__ import annotations

from datetime import timedelta

import pytest

from opside_hub.core.durations import parse_duration


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7d", timedelta(days=7)),
        ("5m", timedelta(minutes=5)),
        ("12h", timedelta(hours=12)),
        ("30s", timedelta(seconds=30)),
        ("2w", timedelta(weeks=2)),
        ("250ms", timedelta(milliseconds=250)),
        ("3600", timedelta(hours=1)),  # a bare number is seconds, as the seed read it
        ("1.5h", timedelta(minutes=90)),
        (" 10 M ", timedelta(minutes=10)),
    ],
)
def test_durations_in_the_seed_notation(value: str, expected: timedelta) -> None:
    assert parse_duration(value) == expected


@pytest.mark.parametrize("value", ["", "soon", "5 minutes", "-5m", "5y", "m5", "1e3"])
def test_anything_else_is_refused_with_the_value_in_the_message(value: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(value)
