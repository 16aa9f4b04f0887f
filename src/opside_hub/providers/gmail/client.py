"""Gmail API client (`Authorization: Bearer <access token>`), token-fresh and retrying.

Every call gets its token from a `TokenSource` (the vault for a user). Then:
- 401: the token is handed back to the source as rejected, once, which refreshes it (the vault
  refreshes only if it is still the stored one), and the call is retried;
- 429, 5xx, a 403 whose reason is a rate limit, and transport errors: exponential backoff with
  jitter (`Retry-After` honoured), up to `max_attempts`, then `GmailUnavailable` (503);
- 400 → `GmailBadRequest` (400: a bad `q` or page token is the caller's input), 404 →
  `GmailNotFound`, anything else → `GmailApiError`, each carrying Google's status and reason.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx2
from pydantic import SecretStr, ValidationError

from opside_hub.core.exceptions import ProviderError
from opside_hub.core.logging import get_logger
from opside_hub.observability.metrics import count_throttle, observe_provider_call
from opside_hub.providers.gmail.schemas import (
    ListHistoryResponse,
    ListMessagesResponse,
    Message,
    Profile,
)

log = get_logger(__name__)

USERS_PATH = "/gmail/v1/users/{user}"
PROFILE_PATH = USERS_PATH + "/profile"
MESSAGES_PATH = USERS_PATH + "/messages"
MESSAGE_PATH = USERS_PATH + "/messages/{id}"
ATTACHMENT_PATH = USERS_PATH + "/messages/{message_id}/attachments/{id}"
HISTORY_PATH = USERS_PATH + "/history"
MAX_ATTEMPTS = 6
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 32.0
RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})

TokenSource = Callable[[SecretStr | None], Awaitable[SecretStr]]


class GmailApiError(ProviderError):
    """Gmail answered with an error we cannot resolve here; `details` has Google's status and
    reason."""

    code = "gmail_error"
    message = "The Gmail API returned an error."

    def __init__(
        self,
        message: str | None = None,
        *,
        operation: str = "",
        status: int = 0,
        reason: str = "",
        details: Any = None,
    ) -> None:
        self.operation = operation
        self.status = status
        self.reason = reason
        super().__init__(
            message,
            details=details
            if details is not None
            else {"operation": operation, "status": status, "reason": reason},
        )


class GmailBadRequest(GmailApiError):
    status_code = 400
    code = "gmail_bad_request"
    message = "Gmail rejected the request."


class GmailNotFound(GmailApiError):
    status_code = 404
    code = "gmail_not_found"
    message = "Gmail does not know this entity."


class GmailUnavailable(GmailApiError):
    status_code = 503
    code = "gmail_unavailable"
    message = "Gmail is unavailable or rate limiting; try again later."


async def get_profile(
    http: httpx2.AsyncClient, base_url: str, access_token: SecretStr
) -> dict[str, Any]:
    """users.getProfile with a token in hand (the connect flow, before the vault has one)."""
    response = await observe_provider_call(
        "gmail",
        "users.getProfile",
        http.get(
            base_url + PROFILE_PATH.format(user="me"),
            headers={"Authorization": f"Bearer {access_token.get_secret_value()}"},
        ),
    )
    if response.is_error:
        raise GmailApiError(
            f"users.getProfile answered {response.status_code}.",
            operation="users.getProfile",
            status=response.status_code,
        )
    profile: dict[str, Any] = response.json()
    return profile


def vault_tokens(runtime: Any, user_id: str) -> TokenSource:
    """The user's Gmail access token from the vault (`runtime` is a `Runtime`)."""
    from opside_hub.vault.service import get_access_token  # vault → providers: import late

    async def token(rejected: SecretStr | None) -> SecretStr:
        return await get_access_token(runtime, user_id, "gmail", rejected=rejected)

    return token


def _google_error(response: httpx2.Response) -> tuple[str, str]:
    """Google's `{"error": {"message", "errors": [{"reason"}]}}`: (message, reason)."""
    try:
        error = response.json().get("error", {})
    except ValueError:
        return "", ""
    if not isinstance(error, dict):
        return str(error), ""
    errors = error.get("errors") or [{}]
    reason = errors[0].get("reason", "") if isinstance(errors[0], dict) else ""
    return str(error.get("message", "")), str(reason)


def decode_data(data: str) -> bytes:
    """Gmail's `format: byte` (base64url, padding optional)."""
    try:
        return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    except (binascii.Error, ValueError) as exc:
        raise GmailApiError("Gmail sent data that is not base64url.") from exc


@dataclass
class CallStats:
    calls: Counter[str] = field(default_factory=Counter)
    retried: Counter[str] = field(default_factory=Counter)
    refreshed: int = 0


class GmailClient:
    def __init__(
        self,
        http: httpx2.AsyncClient,
        base_url: str,
        tokens: TokenSource,
        *,
        user: str = "me",
        max_attempts: int = MAX_ATTEMPTS,
        backoff_base_s: float = BACKOFF_BASE_S,
    ) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.user = user
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.stats = CallStats()

    async def _get(self, operation: str, path: str, params: Mapping[str, Any]) -> dict[str, Any]:
        rejected: SecretStr | None = None
        query = {k: v for k, v in params.items() if v is not None and v != []}
        for attempt in range(1, self.max_attempts + 1):
            token = await self.tokens(rejected)
            self.stats.calls[operation] += 1
            try:
                response = await observe_provider_call(
                    "gmail",
                    operation,
                    self.http.get(
                        self.base_url + path,
                        params=query,
                        headers={
                            "Authorization": f"Bearer {token.get_secret_value()}",
                            "Accept": "application/json",
                        },
                    ),
                )
            except httpx2.TransportError as exc:
                if attempt == self.max_attempts:
                    raise GmailUnavailable(
                        f"{operation}: {type(exc).__name__}", operation=operation
                    ) from exc
                await self._backoff(operation, attempt, type(exc).__name__, None)
                continue
            status = response.status_code
            if status == 401 and rejected is None:
                rejected = token  # refresh once through the token source, then try again
                self.stats.refreshed += 1
                continue
            message, reason = _google_error(response) if response.is_error else ("", "")
            if status == 403 and reason in RATE_LIMIT_REASONS:
                count_throttle("gmail", operation)  # Google's other way to say 429
            if status == 429 or status >= 500 or (status == 403 and reason in RATE_LIMIT_REASONS):
                if attempt == self.max_attempts:
                    raise GmailUnavailable(
                        f"{operation} answered {status} {reason}".strip(),
                        operation=operation,
                        status=status,
                        reason=reason,
                    )
                await self._backoff(operation, attempt, f"HTTP {status}", response)
                continue
            if response.is_error:
                error = {400: GmailBadRequest, 404: GmailNotFound}.get(status, GmailApiError)
                raise error(
                    f"{operation} answered {status}: {message or reason}",
                    operation=operation,
                    status=status,
                    reason=reason,
                )
            try:
                body: dict[str, Any] = response.json()
            except ValueError as exc:
                raise GmailApiError(
                    f"{operation} answered with a body that is not JSON.", operation=operation
                ) from exc
            return body
        raise GmailUnavailable(f"{operation}: attempts exhausted", operation=operation)

    async def _backoff(
        self, operation: str, attempt: int, reason: str, response: httpx2.Response | None
    ) -> None:
        self.stats.retried[operation] += 1
        delay = min(BACKOFF_CAP_S, self.backoff_base_s * 2 ** (attempt - 1))
        delay *= 0.5 + random.random()  # noqa: S311 - jitter, not cryptography
        retry_after = response.headers.get("Retry-After", "") if response is not None else ""
        if retry_after.isdigit():
            delay = max(delay, min(float(retry_after), BACKOFF_CAP_S))
        log.warning(
            "gmail.api.retry",
            operation=operation,
            attempt=attempt,
            reason=reason,
            delay_s=round(delay, 2),
        )
        await asyncio.sleep(delay)

    def _path(self, template: str, **ids: str) -> str:
        from urllib.parse import quote

        return template.format(
            user=quote(self.user, safe="@"), **{k: quote(v, safe="") for k, v in ids.items()}
        )

    @staticmethod
    def _parse(model: Any, body: dict[str, Any], operation: str) -> Any:
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            raise GmailApiError(
                f"{operation} answered with an unexpected body.", operation=operation
            ) from exc

    async def get_profile(self) -> Profile:
        body = await self._get("users.getProfile", self._path(PROFILE_PATH), {})
        profile: Profile = self._parse(Profile, body, "users.getProfile")
        return profile

    async def list_messages(
        self,
        q: str | None,
        *,
        page_token: str | None = None,
        max_results: int = 100,
        label_ids: Sequence[str] = (),
    ) -> ListMessagesResponse:
        operation = "users.messages.list"
        body = await self._get(
            operation,
            self._path(MESSAGES_PATH),
            {
                "q": q or None,
                "pageToken": page_token,
                "maxResults": max_results,
                "labelIds": list(label_ids),
            },
        )
        page: ListMessagesResponse = self._parse(ListMessagesResponse, body, operation)
        return page

    async def get_message(
        self, message_id: str, *, fmt: str = "full", metadata_headers: Sequence[str] = ()
    ) -> Message:
        operation = "users.messages.get"
        body = await self._get(
            operation,
            self._path(MESSAGE_PATH, id=message_id),
            {"format": fmt, "metadataHeaders": list(metadata_headers)},
        )
        message: Message = self._parse(Message, body, operation)
        return message

    async def get_attachment(self, message_id: str, attachment_id: str) -> bytes:
        operation = "users.messages.attachments.get"
        body = await self._get(
            operation, self._path(ATTACHMENT_PATH, message_id=message_id, id=attachment_id), {}
        )
        data = body.get("data")
        if not isinstance(data, str):
            raise GmailApiError(f"{operation} answered without data.", operation=operation)
        return decode_data(data)

    async def list_history(
        self,
        start_history_id: str,
        *,
        page_token: str | None = None,
        history_types: Sequence[str] = ("messageAdded",),
        max_results: int = 500,
    ) -> ListHistoryResponse:
        operation = "users.history.list"
        body = await self._get(
            operation,
            self._path(HISTORY_PATH),
            {
                "startHistoryId": start_history_id,
                "pageToken": page_token,
                "historyTypes": list(history_types),
                "maxResults": max_results,
            },
        )
        page: ListHistoryResponse = self._parse(ListHistoryResponse, body, operation)
        return page
