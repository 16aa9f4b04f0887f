from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _clean_tables() -> None:
    """Overrides the suite-wide cleanup after each test: the fuzz tests share one seeded seller
    (a module-scoped fixture), which empties the tables itself when the module is done."""
