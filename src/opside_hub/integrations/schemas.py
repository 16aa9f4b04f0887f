from __future__ import annotations

from datetime import datetime
from typing import Literal

from opside_hub.core.schemas import ApiModel

IntegrationStatus = Literal["active", "needs_reauth", "revoked", "not_connected"]


class Integration(ApiModel):
    provider: str
    connected: bool
    status: IntegrationStatus
    account_id: str | None = None
    scopes: list[str] = []
    expires_at: datetime | None = None
    last_refreshed_at: datetime | None = None
    connected_at: datetime | None = None
    last_sync_at: datetime | None = None
    details: dict[str, object] = {}


class Integrations(ApiModel):
    """`GET /api/integrations`: each provider's connection, always all three."""

    amazon: Integration
    gmail: Integration
    stripe: Integration


class AuthStart(ApiModel):
    """Where to send the seller's browser to consent, and the single-use state it carries."""

    auth_url: str
    state: str
    expires_at: datetime


class Disconnected(ApiModel):
    provider: str
    disconnected: bool


class Connected(ApiModel):
    provider: str
    connected: bool
    account_id: str | None
