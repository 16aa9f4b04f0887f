"""Gmail API calls (`Authorization: Bearer <access token>`)."""

from __future__ import annotations

from typing import Any

import httpx2
from pydantic import SecretStr

from opside_hub.core.exceptions import ProviderError


class GmailApiError(ProviderError):
    code = "gmail_error"
    message = "The Gmail API returned an error."


async def get_profile(
    http: httpx2.AsyncClient, base_url: str, access_token: SecretStr
) -> dict[str, Any]:
    """users.getProfile: the mailbox address, totals and current historyId."""
    response = await http.get(
        f"{base_url}/gmail/v1/users/me/profile",
        headers={"Authorization": f"Bearer {access_token.get_secret_value()}"},
    )
    if response.is_error:
        raise GmailApiError(
            f"users.getProfile answered {response.status_code}.",
            details={"status": response.status_code},
        )
    profile: dict[str, Any] = response.json()
    return profile
