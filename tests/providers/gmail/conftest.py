"""Gmail over real HTTP: the app on a live port, its sandbox Google as Gmail, and a fake
evidence service on a port of its own (PYTHON_API_URL)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import jwt
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from opside_hub.config import EvidenceSettings
from opside_hub.db.models import EvidenceDocument, GmailMessage
from opside_hub.providers.gmail.client import GmailClient, vault_tokens
from opside_hub.runtime import Runtime
from opside_hub.sandbox.google.search import Context, parse_query, words
from opside_hub.sandbox.google.store import now_ms
from tests.conftest import LiveServer, bearer, serve_live
from tests.sandbox.gmail import mailbox
from tests.sandbox.helpers import press

EMAIL = "seller@example.com"
EVIDENCE_SECRET = "evidence-service-secret-" + "e" * 40


@asynccontextmanager
async def serve_app(app: FastAPI) -> AsyncIterator[str]:
    """Any ASGI app over real HTTP on 127.0.0.1; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if serving.done():
                serving.result()
                raise RuntimeError("the server stopped while starting")
            await asyncio.sleep(0.01)
        yield url
    finally:
        server.should_exit = True
        await serving
        sock.close()


@dataclass
class FakeEvidence:
    """The refund engine's API as far as documents go: verifies the service JWT like the real
    one, records what it accepted, fails on demand for some file names."""

    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    fail_filenames: set[str] = field(default_factory=set)
    rejected: int = 0


def fake_evidence_app(state: FakeEvidence) -> FastAPI:
    app = FastAPI()

    @app.post("/api/v1/evidence/documents")
    async def documents(request: Request) -> JSONResponse:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        try:
            claims = jwt.decode(
                token, EVIDENCE_SECRET, algorithms=["HS256"], issuer="integrations-backend"
            )
        except jwt.InvalidTokenError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=401)
        payload = await request.json()
        if payload.get("filename") in state.fail_filenames:
            state.rejected += 1
            return JSONResponse({"detail": "parser down"}, status_code=503)
        state.received.append({"scheme": scheme, "claims": claims, "payload": payload})
        return JSONResponse({"accepted": True, "documentId": payload.get("documentId")})

    return app


@pytest.fixture
async def evidence_service() -> AsyncIterator[FakeEvidence]:
    state = FakeEvidence()
    async with serve_app(fake_evidence_app(state)) as url:
        state.url = url
        yield state


@pytest.fixture
def evidence_dir(tmp_path: Path) -> Path:
    return tmp_path / "evidence"


@pytest.fixture
async def gmail_live(
    database_url: str, redis_url: str, evidence_dir: Path
) -> AsyncIterator[LiveServer]:
    """The app without PYTHON_API_URL: documents are stored, not forwarded."""
    evidence = EvidenceSettings(storage_dir=evidence_dir, api_url="", jwt_secret="")
    async with serve_live(database_url, redis_url, evidence=evidence) as server:
        yield server


@pytest.fixture
async def forwarding_live(
    database_url: str, redis_url: str, evidence_dir: Path, evidence_service: FakeEvidence
) -> AsyncIterator[LiveServer]:
    """The app with PYTHON_API_URL pointing at the fake evidence service."""
    evidence = EvidenceSettings(
        storage_dir=evidence_dir, api_url=evidence_service.url, jwt_secret=EVIDENCE_SECRET
    )
    async with serve_live(database_url, redis_url, evidence=evidence) as server:
        yield server


@asynccontextmanager
async def browser(live: LiveServer) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(base_url=live.url, follow_redirects=False) as http:
        yield http


async def connect_gmail(
    http: httpx2.AsyncClient, live: LiveServer, user_id: str, email: str = EMAIL
) -> None:
    """The real flow: /api/gmail/auth, Google's consent page, the callback."""
    headers = bearer(live.settings, user_id, email=f"{user_id}@opside.example")
    start = await http.get("/api/gmail/auth", headers=headers)
    assert start.status_code == 200, start.text
    page = await http.get(start.json()["data"]["authUrl"])
    answer = await press(http, live, page, "approve", email)
    assert answer.status_code == 302, answer.text
    done = await http.get(answer.headers["location"], headers={"Accept": "application/json"})
    assert done.status_code == 200, done.text


def runtime_of(live: LiveServer) -> Runtime:
    runtime: Runtime = live.app.state.runtime
    return runtime


def quick_client(runtime: Runtime, user_id: str, **options: Any) -> GmailClient:
    """The client the sync builds, with millisecond backoffs."""
    return GmailClient(
        runtime.http,
        runtime.settings.endpoints().gmail_api_base_url,
        vault_tokens(runtime, user_id),
        backoff_base_s=0.001,
        **options,
    )


async def expected_ids(runtime: Runtime, email: str, query: str | None = None) -> list[str]:
    """What Gmail (the sandbox) says matches the invoice query, newest first."""
    truth = await mailbox(runtime, email)
    parsed = parse_query(query or runtime.settings.gmail.invoice_query)
    context = Context(owner=words(email), now_ms=now_ms())
    return [
        m.id
        for m in truth.messages
        if not {"SPAM", "TRASH"} & set(m.label_ids) and parsed.matches(m.searchable(), context)
    ]


async def message_rows(runtime: Runtime, user_id: str) -> list[GmailMessage]:
    async with runtime.sessions() as session:
        result = await session.execute(
            select(GmailMessage).where(GmailMessage.user_id == user_id).order_by(GmailMessage.id)
        )
        return list(result.scalars().all())


async def document_rows(runtime: Runtime, user_id: str) -> list[EvidenceDocument]:
    async with runtime.sessions() as session:
        result = await session.execute(
            select(EvidenceDocument)
            .where(EvidenceDocument.user_id == user_id)
            .order_by(EvidenceDocument.id)
        )
        return list(result.scalars().all())
