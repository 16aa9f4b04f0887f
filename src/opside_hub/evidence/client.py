"""Client of the evidence service; every request carries a fresh service JWT for its user."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import httpx2

from opside_hub.config import EvidenceSettings
from opside_hub.evidence.exceptions import EvidenceNotConfigured, EvidenceServiceError
from opside_hub.evidence.service import mint_service_token


class ServiceJWTAuth(httpx2.Auth):
    """Mints the token per request so retries and long jobs never send an expired one."""

    def __init__(self, settings: EvidenceSettings, *, user_id: str, email: str | None) -> None:
        self.settings = settings
        self.user_id = user_id
        self.email = email

    def auth_flow(
        self, request: httpx2.Request
    ) -> Generator[httpx2.Request, httpx2.Response, None]:
        token = mint_service_token(self.settings, user_id=self.user_id, email=self.email)
        request.headers["Authorization"] = f"Bearer {token}"
        yield request


class EvidenceClient:
    def __init__(self, http: httpx2.AsyncClient, settings: EvidenceSettings) -> None:
        if not settings.api_url:
            raise EvidenceNotConfigured("PYTHON_API_URL is not set")
        self.http = http
        self.settings = settings
        self.base_url = settings.api_url.rstrip("/")

    async def post_json(self, path: str, payload: Any, *, user_id: str, email: str | None) -> Any:
        response = await self.http.post(
            f"{self.base_url}/{path.lstrip('/')}",
            json=payload,
            auth=ServiceJWTAuth(self.settings, user_id=user_id, email=email),
        )
        if response.is_error:
            raise EvidenceServiceError(
                f"The evidence service answered {response.status_code}.",
                details={"status": response.status_code},
            )
        return response.json() if response.content else None
