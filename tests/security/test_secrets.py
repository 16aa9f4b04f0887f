"""After a whole seller's life through the sandbox, no secret is in the database or the logs.

One run does what production does with secrets: a seller connects Amazon, Gmail and Stripe on
the sandbox consent pages (authorization codes, states, a PKCE verifier, client secrets on the
token endpoints), the first sync and a full sync of all three run (provider access tokens, the
evidence service's JWTs), every token is expired and refreshed by the next sync (refresh tokens;
Stripe rotates its own), Stripe delivers a signed webhook, and the dashboard's calls carry the
user's JWT in headers, in the WebSocket URL and from the demo login. Every one of those values
is collected where it travels (the app's outbound HTTP client, the callback URLs, the settings),
and then:

- a dump of every table (`Base.metadata.sorted_tables`, every row, `str()` of every value) and
- everything logged during the run (the production JSON logging at DEBUG, plus whatever else
  reached stdout/stderr), and `/metrics` at the end

contain none of them, nor anything shaped like a JWT or a provider token (`Atza|`, `Atzr|`,
`ya29.`, `1//`, `sk_`, `rk_`, `rt_`, `whsec_`, `ac_`, `4/0A`, as the sandbox issues them).
Supersedes the narrower tests/integrations/test_vault_live.py::
test_no_token_value_reaches_the_database_or_the_logs (provider tokens only: no sync, no codes,
no webhook, no configured secret).
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import parse_qsl

import httpx2
import pytest
from sqlalchemy import select, update
from websockets.asyncio.client import connect

from opside_hub.config import (
    AmazonSettings,
    AuthSettings,
    EvidenceSettings,
    GmailSettings,
    StripeSettings,
)
from opside_hub.core.logging import configure_logging
from opside_hub.db.base import Base
from opside_hub.db.models import StripeEvent, SyncJob, Token
from opside_hub.db.types import utcnow
from opside_hub.runtime import Runtime
from opside_hub.sync.steps import EVIDENCE_SYNC_PATH
from opside_hub.vault.service import get_access_token
from tests.conftest import LiveServer
from tests.integrations.conftest import Seller
from tests.providers.gmail.conftest import (
    EVIDENCE_SECRET,
    FakeEvidence,
    fake_evidence_app,
    serve_app,
)
from tests.realtime.conftest import HANG_GUARD_S, ws_url
from tests.sandbox.helpers import query_of
from tests.security.helpers import (
    FINISHED,
    SYNC_GUARD_S,
    Accounts,
    callback_url,
    serve_without_schedules,
    start_sync,
    wait_for_sync,
)

pytestmark = pytest.mark.slow

ACCOUNTS = Accounts(amazon="Secret Keeper", gmail="keeper@example.com", stripe="keeper@pay.example")
# Shapes of the credentials the sandbox (like the real providers) issues, and of a JWT.
SECRET_SHAPES = {
    "jwt": re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{16,}"),
    "lwa": re.compile(r"Atz[ar]\|"),
    "google access": re.compile(r"ya29\.[A-Za-z0-9_-]"),
    "google refresh": re.compile(r"\b1//0[A-Za-z0-9_-]{16,}"),
    "google code": re.compile(r"\b4/0A[A-Za-z0-9_-]{16,}"),
    "stripe key": re.compile(r"\b[sr]k_(test|live)_[A-Za-z0-9]{16,}"),
    "stripe refresh": re.compile(r"\brt_[A-Za-z0-9]{32,}"),
    "stripe code": re.compile(r"\bac_[A-Za-z0-9]{16,}"),
    "webhook secret": re.compile(r"whsec_[A-Za-z0-9_-]{8,}"),
}
# Form and JSON fields that carry a credential, on the way to and back from token endpoints.
SECRET_FIELDS = frozenset(
    {"code", "code_verifier", "client_secret", "refresh_token", "access_token", "id_token", "token"}
)
MIN_SECRET_LENGTH = 8


@dataclass
class Collected:
    """Every secret value seen during the run."""

    values: set[str] = field(default_factory=set)

    def add(self, *values: str | None) -> None:
        for value in values:
            if value and len(value) >= MIN_SECRET_LENGTH:
                self.values.add(value)

    def add_authorization(self, header: str | None) -> None:
        scheme, _, credentials = (header or "").partition(" ")
        self.add(credentials)
        if scheme.lower() == "basic":
            _, _, password = base64.b64decode(credentials).decode().partition(":")
            self.add(password)


def watch_outbound(runtime: Runtime, collected: Collected) -> None:
    """Collect the credentials of every request the app sends (to the sandbox providers and the
    evidence service) and of every token endpoint's answer."""

    async def on_request(request: httpx2.Request) -> None:
        collected.add_authorization(request.headers.get("authorization"))
        collected.add(request.headers.get("x-amz-access-token"))
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            fields = dict(parse_qsl(request.content.decode()))
            collected.add(*(fields.get(name) for name in SECRET_FIELDS))

    async def on_response(response: httpx2.Response) -> None:
        if "/token" in response.request.url.path:
            await response.aread()
            body = response.json()
            if isinstance(body, dict):
                collected.add(*(str(body.get(name) or "") for name in SECRET_FIELDS))

    runtime.http.event_hooks["request"].append(on_request)
    runtime.http.event_hooks["response"].append(on_response)


def watch_browser(http: httpx2.AsyncClient, collected: Collected) -> None:
    """Collect the user JWTs the seller's browser sends (each call mints a fresh one)."""

    async def on_request(request: httpx2.Request) -> None:
        collected.add_authorization(request.headers.get("authorization"))

    http.event_hooks["request"].append(on_request)


@contextmanager
def captured_logs() -> Iterator[io.StringIO]:
    """The production log setup (JSON lines, redaction), at DEBUG, written into a buffer too."""
    buffer = io.StringIO()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    configure_logging(json=True, level="DEBUG")
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(root.handlers[0].formatter)
    root.addHandler(handler)
    try:
        yield buffer
    finally:
        configure_logging(json=False, level="INFO")
        # Back to the session's handlers: the ones made meanwhile write to this test's capture.
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


@dataclass(frozen=True)
class Configured:
    """Secrets of the deployment, random per run so that a match cannot be a coincidence."""

    jwt_secret: str = field(default_factory=lambda: "jwt-" + secrets.token_urlsafe(48))
    amazon_secret: str = field(default_factory=lambda: "amzn1.oa2-cs.v1." + secrets.token_hex(32))
    gmail_secret: str = field(default_factory=lambda: "GOCSPX-" + secrets.token_urlsafe(21))
    stripe_secret: str = field(default_factory=lambda: "sk_test_" + secrets.token_hex(32))
    webhook_secret: str = field(default_factory=lambda: "whsec_" + secrets.token_urlsafe(24))

    def overrides(self, evidence: EvidenceSettings) -> dict[str, object]:
        return {
            "auth": AuthSettings(jwt_secret=self.jwt_secret),
            "amazon": AmazonSettings(
                client_id="amzn1.application-oa2-client.keeper", client_secret=self.amazon_secret
            ),
            "gmail": GmailSettings(
                client_id="keeper.apps.googleusercontent.com", client_secret=self.gmail_secret
            ),
            "stripe": StripeSettings(
                client_id="ca_keeper",
                client_secret=self.stripe_secret,
                webhook_secret=self.webhook_secret,
            ),
            "evidence": evidence,
        }


@dataclass
class EvidenceService(FakeEvidence):
    """The fake refund engine of the Gmail tests, which also takes the end-of-sync notice (with
    a service JWT too) that the finalize step sends."""

    notified: int = 0


@pytest.fixture
async def evidence_service() -> AsyncIterator[EvidenceService]:
    state = EvidenceService()
    app = fake_evidence_app(state)

    @app.post("/" + EVIDENCE_SYNC_PATH.lstrip("/"))
    async def sync_completed() -> dict[str, bool]:
        state.notified += 1
        return {"accepted": True}

    async with serve_app(app) as url:
        state.url = url
        yield state


async def expire_tokens(runtime: Runtime, *providers: str) -> None:
    async with runtime.sessions() as session:
        await session.execute(
            update(Token)
            .where(Token.provider.in_(providers))
            .values(expires_at=utcnow() - timedelta(seconds=5))
        )
        await session.commit()


async def webhook_sync(runtime: Runtime, user_id: str) -> SyncJob:
    async with asyncio.timeout(SYNC_GUARD_S):
        while True:
            async with runtime.sessions() as session:
                job = (
                    await session.execute(
                        select(SyncJob).where(
                            SyncJob.user_id == user_id, SyncJob.trigger == "webhook"
                        )
                    )
                ).scalar_one_or_none()
            if job is not None and job.status in FINISHED:
                return job
            await asyncio.sleep(0.1)


async def dump_every_table(runtime: Runtime) -> str:
    chunks: list[str] = []
    async with runtime.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in await connection.execute(select(table)):
                chunks.extend(str(value) for value in row)
    return "\n".join(chunks)


async def seller_life(live: LiveServer, seller: Seller, collected: Collected) -> None:
    """Connect, sync, refresh, webhook, dashboard: everything that handles a secret."""
    runtime: Runtime = live.app.state.runtime
    for provider in ("amazon", "gmail", "stripe"):
        url = await callback_url(seller, provider, ACCOUNTS.of(provider))
        params = query_of(url)
        collected.add(params.get("code"), params.get("spapi_oauth_code"), params.get("state"))
        connected = await seller.callback(url)
        assert connected.status_code == 200, connected.text
        if provider == "amazon":
            assert (await seller.first_sync())["status"] == "completed"

    token = seller.auth["Authorization"].removeprefix("Bearer ")
    collected.add(token)
    # The socket is not read: an unbounded queue keeps the client from pausing the connection.
    async with connect(
        ws_url(live, token), proxy=None, open_timeout=HANG_GUARD_S, max_queue=None
    ) as socket:
        full = await wait_for_sync(seller, await start_sync(seller, ["amazon", "gmail", "stripe"]))
        assert full["status"] == "completed", full
        await socket.close()

    # Amazon's and Google's tokens expire on a clock: the next sync refreshes them. Stripe's do
    # not; a forced refresh rotates its refresh token.
    await expire_tokens(runtime, "amazon", "gmail")
    refreshed = await wait_for_sync(seller, await start_sync(seller))
    assert refreshed["status"] == "completed", refreshed
    await get_access_token(runtime, seller.user_id, "stripe", force=True)
    async with runtime.sessions() as session:
        tokens = (await session.execute(select(Token))).scalars().all()
    assert all(t.expires_at is None or t.expires_at > utcnow() for t in tokens)

    account = (await seller.integrations())["stripe"]["accountId"]
    sent = await seller.http.post(
        "/sandbox/_admin/stripe/events", json={"type": "balance.available", "account": account}
    )
    assert sent.json()["delivery"]["status"] == 200, sent.text
    assert (await webhook_sync(runtime, seller.user_id)).status == "completed"

    demo = await seller.http.post("/api/dev/token")
    assert demo.status_code == 200, demo.text
    collected.add(demo.json()["data"]["token"])
    for path in ("/api/me", "/api/integrations", "/api/cases", "/api/stripe/account"):
        assert (await seller.http.get(path, headers=seller.auth)).status_code == 200


async def test_no_secret_reaches_the_database_or_the_logs(
    database_url: str,
    redis_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    evidence_service: EvidenceService,
    capfd: pytest.CaptureFixture[str],
) -> None:
    configured = Configured()
    evidence = EvidenceSettings(
        storage_dir=tmp_path_factory.mktemp("evidence"),
        api_url=evidence_service.url,
        jwt_secret=EVIDENCE_SECRET,
    )
    collected = Collected()
    with captured_logs() as logs:
        async with (
            serve_without_schedules(
                database_url, redis_url, **configured.overrides(evidence)
            ) as live,
            httpx2.AsyncClient(base_url=live.url) as http,
        ):
            runtime: Runtime = live.app.state.runtime
            watch_outbound(runtime, collected)
            watch_browser(http, collected)
            await seller_life(
                live, Seller(user_id="secret-keeper", http=http, live=live), collected
            )
            dump = await dump_every_table(runtime)
            scraped = await http.get("/metrics")
            async with runtime.sessions() as session:
                webhooks = (await session.execute(select(StripeEvent))).scalars().all()
    output = logs.getvalue() + "".join(capfd.readouterr())

    collected.add(
        configured.jwt_secret,
        configured.amazon_secret,
        configured.gmail_secret,
        configured.stripe_secret,
        configured.webhook_secret,
        EVIDENCE_SECRET,
        *live.settings.vault.encryption_key.get_secret_value().split(","),
    )
    # The run really went through every secret-handling path.
    assert evidence_service.received, "no document was forwarded with a service JWT"
    assert evidence_service.notified >= 4  # every sync's end, each with a service JWT
    assert len(webhooks) == 1
    assert output.count("vault.token.refreshed") >= 3
    assert "http.request" in output
    kinds = {
        name for name, shape in SECRET_SHAPES.items() for v in collected.values if shape.search(v)
    }
    assert kinds >= {
        "jwt",
        "lwa",
        "google access",
        "google refresh",
        "google code",
        "stripe key",
        "stripe refresh",
        "stripe code",
        "webhook secret",
    }
    assert len(collected.values) >= 20

    assert scraped.status_code == 200, scraped.text
    for where, text in (("database", dump), ("logs", output), ("metrics", scraped.text)):
        leaked = sorted(value[:12] + "…" for value in collected.values if value in text)
        assert leaked == [], f"{where} holds {leaked}"
        shaped = {
            name: [match.group(0)[:16] for match in shape.finditer(text)][:3]
            for name, shape in SECRET_SHAPES.items()
            if shape.search(text)
        }
        assert shaped == {}, f"{where} holds {shaped}"
