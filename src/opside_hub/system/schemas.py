from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from opside_hub.core.schemas import ApiModel

CheckStatus = Literal["ok", "down"]


class Health(ApiModel):
    status: Literal["ok", "degraded"]
    version: str
    checks: dict[str, CheckStatus]


class HealthEnvelope(ApiModel):
    success: bool
    status: Literal["ok", "degraded"]
    data: Health


class PingCreate(ApiModel):
    message: str = Field(max_length=200)


class Ping(ApiModel):
    """What the `system.ping` job answered, from inside a worker."""

    reply: str
    echo: str
    database: bool
    at: datetime
