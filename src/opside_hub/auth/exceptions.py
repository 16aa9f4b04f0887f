from __future__ import annotations

from opside_hub.core.exceptions import Unauthorized


class InvalidToken(Unauthorized):
    """A bearer token that cannot be trusted; `code` says why (token_expired, ...)."""
