"""The dashboard's routes: `GET /` (the page), `/assets/*` (its script, stylesheet, icon) and,
only in sandbox development, `POST /api/dev/token` (the "sign in as demo seller" button) and
`GET /api/dev/sandbox` (the sandbox data sizes, read by `opside-hub sandbox seed`).

The page is static and talks to the API with a user JWT kept in `sessionStorage`. Where that
token comes from depends on the deployment, and the server tells the page through one `<meta>`
tag (no inline script: the CSP allows scripts from this origin only):

- sandbox development (`PROVIDER_MODE=sandbox`, `APP_ENV` not production): the page shows a
  button that calls `POST /api/dev/token` for the user `demo`;
- everywhere else the route does not exist and the page takes the token the Opside frontend
  hands it in the URL fragment, `/#token=<JWT>`: read once, stored, then removed from the URL.
  A fragment is never sent to a server, so the token reaches no access log or Referer.

Only these paths are added, never a catch-all: the API, `/health`, `/ws` and `/sandbox/*` keep
their routes whatever the order of inclusion.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

from opside_hub import __version__
from opside_hub.api.deps import SettingsDep
from opside_hub.api.errors_doc import PUBLIC_ERROR_RESPONSES
from opside_hub.auth.service import create_user_token
from opside_hub.config import Settings
from opside_hub.core.schemas import ApiModel, Envelope

STATIC_DIR = Path(__file__).parent / "static"
DEMO_USER_ID = "demo"
DEMO_EMAIL = "demo@opside.example"
# Revalidated on every load (ETag/Last-Modified make that cheap): a new release is seen at once.
NO_CACHE = {"Cache-Control": "no-cache"}

page_router = APIRouter(include_in_schema=False)
# Public: the demo sign-in is how the page gets a token in the first place.
dev_router = APIRouter(prefix="/dev", tags=["development"], responses=PUBLIC_ERROR_RESPONSES)


class DevToken(ApiModel):
    token: str
    user_id: str


def demo_login_enabled(settings: Settings) -> bool:
    """The demo sign-in exists only with the sandbox providers, and never in production."""
    return settings.sandbox and not settings.is_production


@lru_cache(maxsize=2)
def render_index(demo_login: bool) -> str:
    template = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    return template.replace("__DEMO_LOGIN__", "true" if demo_login else "false").replace(
        "__VERSION__", __version__
    )


@page_router.get("/", response_class=HTMLResponse)
async def dashboard(settings: SettingsDep) -> HTMLResponse:
    return HTMLResponse(render_index(demo_login_enabled(settings)), headers=NO_CACHE)


@dev_router.post(
    "/token",
    response_model=Envelope[DevToken],
    summary="A user JWT for the demo seller (sandbox development only)",
)
async def dev_token(settings: SettingsDep) -> Envelope[DevToken]:
    token = create_user_token(DEMO_USER_ID, settings.auth, email=DEMO_EMAIL)
    return Envelope(data=DevToken(token=token, user_id=DEMO_USER_ID))


class SandboxSizes(ApiModel):
    """What the sandbox Amazon serves each seller: events per 540 days of each dataset (a
    reimbursements report has ~1.3 rows per event) and the catalog size."""

    reimbursements: int
    ledger_events: int
    inventory_skus: int
    financial_events: int
    backfill_days: int


@dev_router.get(
    "/sandbox",
    response_model=Envelope[SandboxSizes],
    summary="The sandbox Amazon data sizes this server serves (sandbox development only)",
)
async def sandbox_sizes(settings: SettingsDep) -> Envelope[SandboxSizes]:
    return Envelope(
        data=SandboxSizes(
            reimbursements=settings.sandbox_amazon_reimbursements,
            ledger_events=settings.sandbox_amazon_ledger_events,
            inventory_skus=settings.sandbox_amazon_inventory_skus,
            financial_events=settings.sandbox_amazon_financial_events,
            backfill_days=settings.amazon.backfill_days,
        )
    )


class _Assets(StaticFiles):
    """The page's files, revalidated on each load, never listed."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_no_cache(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"cache-control", b"no-cache"))
            await send(message)

        await super().__call__(scope, receive, send_no_cache)


def include_dashboard(app: FastAPI, settings: Settings, api_prefixes: tuple[str, ...]) -> None:
    """Mount the page, its assets and (sandbox development only) the demo sign-in route."""
    if demo_login_enabled(settings):
        for prefix in api_prefixes:
            app.include_router(dev_router, prefix=prefix)
    app.include_router(page_router)
    app.mount("/assets", _Assets(directory=STATIC_DIR / "assets"), name="dashboard-assets")
