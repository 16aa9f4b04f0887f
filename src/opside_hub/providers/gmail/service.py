"""Connecting a seller's Gmail (Google OAuth with PKCE, offline access)."""

from __future__ import annotations

from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from opside_hub.core.concurrency import gather_bounded
from opside_hub.core.exceptions import BadRequest
from opside_hub.core.logging import get_logger
from opside_hub.core.pagination import PageParams, encode_cursor
from opside_hub.core.schemas import Page, PageMeta
from opside_hub.db.models import GmailMessage, User
from opside_hub.integrations.exceptions import ConnectFailed, DisconnectFailed
from opside_hub.integrations.schemas import AuthStart, Connected
from opside_hub.integrations.service import accept_callback, consume_state, issue_state
from opside_hub.providers.gmail import oauth, repository
from opside_hub.providers.gmail.client import (
    GmailApiError,
    GmailBadRequest,
    GmailClient,
    GmailNotFound,
    get_profile,
    vault_tokens,
)
from opside_hub.providers.gmail.rows import headers_of, internal_at
from opside_hub.providers.gmail.schemas import (
    GmailAttachment,
    GmailEmail,
    GmailMessageSummary,
    Message,
)
from opside_hub.providers.oauth2 import OAuthError
from opside_hub.runtime import Runtime
from opside_hub.vault import repository as vault_repository
from opside_hub.vault.service import open_access_token, open_refresh_token, save_grant

log = get_logger(__name__)
PROVIDER = oauth.PROVIDER


async def start_connect(session: AsyncSession, runtime: Runtime, user: User) -> AuthStart:
    verifier = oauth.new_code_verifier()
    state = await issue_state(
        session, runtime.keyring, user_id=user.id, provider=PROVIDER, code_verifier=verifier
    )
    return AuthStart(
        auth_url=oauth.authorization_url(runtime.settings, state.value, verifier, user.email),
        state=state.value,
        expires_at=state.expires_at,
    )


async def complete_callback(
    session: AsyncSession,
    runtime: Runtime,
    *,
    state: str | None,
    code: str | None,
    error: str | None = None,
) -> Connected:
    consumed = await accept_callback(
        session,
        runtime.keyring,
        provider=PROVIDER,
        state=state,
        error=error,
        required={"code": code},
    )
    assert code is not None
    return await _exchange_and_store(
        session, runtime, consumed.user_id, code, consumed.code_verifier, redirect_uri=None
    )


async def connect_with_code(
    session: AsyncSession,
    runtime: Runtime,
    user: User,
    *,
    code: str,
    state: str | None,
    code_verifier: str | None,
    redirect_uri: str | None,
) -> Connected:
    """The popup flow: the frontend obtained `code` itself and hands it to us.

    With `state` (from our `/auth`), the verifier we kept is used; otherwise the frontend's own
    `code_verifier`. The redirect URI must be ours or Google's popup value `postmessage`.
    """
    allowed = {runtime.settings.redirect_uri(PROVIDER), oauth.POPUP_REDIRECT_URI}
    if redirect_uri is not None and redirect_uri not in allowed:
        raise BadRequest("redirectUri is not an allowed redirect URI.", code="invalid_redirect_uri")
    verifier = SecretStr(code_verifier) if code_verifier else None
    if state is not None:
        consumed = await consume_state(
            session, runtime.keyring, value=state, provider=PROVIDER, user_id=user.id
        )
        verifier = consumed.code_verifier or verifier
    return await _exchange_and_store(session, runtime, user.id, code, verifier, redirect_uri)


async def _exchange_and_store(
    session: AsyncSession,
    runtime: Runtime,
    user_id: str,
    code: str,
    verifier: SecretStr | None,
    redirect_uri: str | None,
) -> Connected:
    try:
        grant = await oauth.exchange_code(
            runtime.http,
            runtime.settings,
            code,
            code_verifier=verifier.get_secret_value() if verifier else None,
            redirect_uri=redirect_uri,
        )
        profile = await get_profile(
            runtime.http, runtime.settings.endpoints().gmail_api_base_url, grant.access_token
        )
    except OAuthError as exc:
        raise ConnectFailed(details={"providerError": exc.error}) from exc
    except (GmailApiError, ValueError) as exc:
        raise ConnectFailed(
            "Gmail did not return the mailbox profile.", code="gmail_profile"
        ) from exc
    email = str(profile.get("emailAddress", ""))
    await save_grant(
        session,
        runtime.keyring,
        user_id=user_id,
        provider=PROVIDER,
        grant=grant,
        account_id=email,
        details={"email": email, "historyId": str(profile.get("historyId", ""))},
    )
    log.info("gmail.connected", user_id=user_id)
    return Connected(provider=PROVIDER, connected=True, account_id=email)


async def disconnect(session: AsyncSession, runtime: Runtime, user: User) -> bool:
    """Revoke the grant at Google (the refresh token revokes it all), then forget it."""
    row = await vault_repository.get_token(session, user.id, PROVIDER)
    if row is None:
        return False
    token = open_refresh_token(runtime.keyring, row) or open_access_token(runtime.keyring, row)
    try:
        await oauth.revoke(runtime.http, runtime.settings, token)
    except OAuthError as exc:
        raise DisconnectFailed(details={"error": exc.error}) from exc
    return await vault_repository.delete_token(session, user.id, PROVIDER)


# -- synced messages and live search ----------------------------------------------------------

SEARCH_HEADERS = ("Subject", "From", "To")


def _email(row: GmailMessage) -> GmailEmail:
    return GmailEmail(
        id=row.row_key,
        thread_id=row.thread_id,
        history_id=row.history_id,
        label_ids=list(row.label_ids or []),
        snippet=row.snippet,
        internal_date=row.internal_at,
        size_estimate=row.size_estimate,
        subject=row.subject,
        from_=row.from_address,
        to=row.to_address,
        has_attachments=row.has_attachments,
        attachments=[GmailAttachment.model_validate(a) for a in row.attachments or []],
        synced_at=row.synced_at,
    )


async def emails_page(
    session: AsyncSession, user: User, filters: repository.EmailFilters, page: PageParams
) -> Page[GmailEmail]:
    rows, after = await repository.list_emails(session, user.id, filters, page)
    return Page(
        data=[_email(row) for row in rows],
        meta=PageMeta(next_cursor=encode_cursor(*after) if after else None),
    )


def _summary(message: Message) -> GmailMessageSummary:
    headers = headers_of(message)
    return GmailMessageSummary(
        id=message.id,
        thread_id=message.threadId,
        history_id=message.historyId,
        label_ids=list(message.labelIds),
        snippet=message.snippet,
        internal_date=internal_at(message),
        size_estimate=message.sizeEstimate,
        subject=headers.get("Subject"),
        from_=headers.get("From"),
        to=headers.get("To"),
    )


async def search(
    runtime: Runtime, user: User, *, q: str, page_token: str | None, limit: int
) -> Page[GmailMessageSummary]:
    """A live Gmail search through the user's token: one messages.list page, then each
    message's metadata (bounded concurrency), in Gmail's order. Gmail's `nextPageToken` is the
    next cursor."""
    client = GmailClient(
        runtime.http,
        runtime.settings.endpoints().gmail_api_base_url,
        vault_tokens(runtime, user.id),
    )
    try:
        page = await client.list_messages(q, page_token=page_token, max_results=limit)
    except GmailBadRequest as exc:
        raise BadRequest(
            f"Gmail rejected the search: {exc.message}", code="invalid_search"
        ) from exc

    async def metadata(message_id: str) -> Message | None:
        try:
            return await client.get_message(
                message_id, fmt="metadata", metadata_headers=SEARCH_HEADERS
            )
        except GmailNotFound:  # deleted between the list and the get
            return None

    messages = await gather_bounded(
        runtime.settings.gmail.fetch_concurrency, [ref.id for ref in page.messages], metadata
    )
    return Page(
        data=[_summary(message) for message in messages if message is not None],
        meta=PageMeta(next_cursor=page.nextPageToken),
    )
