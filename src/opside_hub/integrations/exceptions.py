from __future__ import annotations

from opside_hub.core.exceptions import BadRequest, ProviderError


class InvalidState(BadRequest):
    """The OAuth `state` is missing, unknown, reused, expired, or for another provider/user."""

    code = "invalid_state"
    message = "The authorization request is invalid or has expired; start again."


class ConnectDenied(BadRequest):
    code = "access_denied"
    message = "The authorization was denied at the provider."


class ConnectFailed(ProviderError):
    """The provider refused our code exchange (bad/expired code) or could not be reached."""

    status_code = 400
    code = "connect_failed"
    message = "The provider did not accept the authorization; start again."


class DisconnectFailed(ProviderError):
    code = "disconnect_failed"
    message = "The provider could not revoke the connection; try again."
