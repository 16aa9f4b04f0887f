from __future__ import annotations

from opside_hub.core.exceptions import AppError, Conflict, NotFound


class VaultDecryptError(Exception):
    """A sealed value cannot be opened (unknown key, tampered, or moved to another owner)."""


class NotConnected(NotFound):
    code = "not_connected"
    message = "This provider is not connected."


class ReauthorizationRequired(Conflict):
    """The provider rejected our refresh token (`invalid_grant`): the seller must reconnect."""

    code = "reauthorization_required"
    message = "The connection was revoked or expired at the provider; connect it again."


class TokenRefreshFailed(AppError):
    status_code = 502
    code = "token_refresh_failed"
    message = "The provider could not refresh the access token; try again later."
