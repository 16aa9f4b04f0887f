from __future__ import annotations

from tests.integrations.conftest import (  # noqa: F401 - shared fixtures
    live_runtime,
    seller,
    seller_factory,
)
from tests.providers.stripe.conftest import _fast_backoff, http  # noqa: F401 - shared fixtures
