from __future__ import annotations

from pydantic import Field

from opside_hub.core.schemas import ApiModel


class GmailConnect(ApiModel):
    """A code the frontend obtained from Google itself (popup flow)."""

    code: str = Field(min_length=1, max_length=2048)
    state: str | None = Field(default=None, max_length=128)
    code_verifier: str | None = Field(default=None, min_length=43, max_length=128)
    redirect_uri: str | None = Field(default=None, max_length=2048)
