"""The security suites use the live-server fixtures of the integration tests."""

from tests.integrations.conftest import (  # noqa: F401 - shared fixtures
    live_runtime,
    seller,
    seller_factory,
)
