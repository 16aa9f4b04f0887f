"""The dashboard's routes over ASGI: the page, its assets, the demo sign-in, route precedence."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx2
import jwt
import pytest

from opside_hub.config import AppEnv, ProviderMode, Settings
from opside_hub.core.middleware import SecurityHeadersMiddleware
from opside_hub.web.endpoints import STATIC_DIR, demo_login_enabled
from tests.conftest import TEST_JWT_SECRET, client_for, make_settings, running_app


class _Inline(HTMLParser):
    """Collects what a strict CSP would block: inline scripts, inline styles, handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.meta: dict[str, str] = {}
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag == "script" and not names.get("src"):
            self.problems.append("inline <script>")
        if tag == "style":
            self.problems.append("<style> element")
        if tag == "meta" and names.get("name"):
            self.meta[str(names["name"])] = str(names.get("content"))
        for name, value in attrs:
            if name == "style":
                self.problems.append(f"style attribute on <{tag}>")
            if name.startswith("on"):
                self.problems.append(f"{name} handler on <{tag}>")
            if value and value.startswith(("http://", "https://", "//")):
                self.problems.append(f"external URL {value} on <{tag}>")


def _inspect(html: str) -> _Inline:
    parser = _Inline()
    parser.feed(html)
    return parser


async def test_the_page_is_served_at_the_root_with_the_csp(client: httpx2.AsyncClient) -> None:
    response = await client.get("/")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == SecurityHeadersMiddleware.CSP
    assert response.headers["cache-control"] == "no-cache"
    page = _inspect(response.text)
    assert page.problems == []
    assert page.meta["opside-demo-login"] == "true"  # sandbox, not production
    assert "__VERSION__" not in response.text


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/assets/app.js", "javascript"),  # text/ or application/, by the system's mime types
        ("/assets/app.css", "text/css"),
        ("/assets/favicon.svg", "image/svg+xml"),
    ],
)
async def test_assets_are_served_from_this_origin(
    client: httpx2.AsyncClient, path: str, media_type: str
) -> None:
    response = await client.get(path)

    assert response.status_code == 200
    assert media_type in response.headers["content-type"]
    assert response.headers["cache-control"] == "no-cache"


def test_the_script_builds_no_markup_from_strings() -> None:
    """Every value reaches the page through textContent/setAttribute: no HTML injection."""
    script = (STATIC_DIR / "assets" / "app.js").read_text()

    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", script)  # no third-party calls


async def test_the_demo_token_is_a_user_jwt_for_demo(client: httpx2.AsyncClient) -> None:
    for prefix in ("/api", "/api/v1"):
        response = await client.post(f"{prefix}/dev/token")

        assert response.status_code == 200, response.text
        data = response.json()["data"]
        assert data["userId"] == "demo"
        claims = jwt.decode(
            data["token"], TEST_JWT_SECRET, algorithms=["HS256"], audience="authenticated"
        )
        assert claims["sub"] == "demo"

    me = await client.get("/api/me", headers={"Authorization": f"Bearer {data['token']}"})
    assert me.status_code == 200, me.text


async def test_without_the_sandbox_there_is_no_demo_sign_in(
    database_url: str, redis_url: str
) -> None:
    settings = make_settings(database_url, redis_url, provider_mode=ProviderMode.live)
    async with running_app(settings) as app, client_for(app) as client:
        token = await client.post("/api/dev/token")
        page = await client.get("/")

    assert token.status_code == 404
    assert token.json()["success"] is False
    assert _inspect(page.text).meta["opside-demo-login"] == "false"


def test_production_never_enables_the_demo_sign_in() -> None:
    production = Settings.model_validate(
        {"app_env": AppEnv.production, "provider_mode": ProviderMode.sandbox}
    )
    development = Settings.model_validate(
        {"app_env": AppEnv.development, "provider_mode": ProviderMode.sandbox}
    )

    assert demo_login_enabled(production) is False
    assert demo_login_enabled(development) is True


async def test_api_health_and_missing_paths_keep_their_json(client: httpx2.AsyncClient) -> None:
    for path in ("/api/nope", "/assets/nope.js", "/index.php"):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.json()["success"] is False, path
    assert (await client.get("/api/integrations")).status_code == 401  # still the API's route
    assert (await client.get("/health")).headers["content-type"] == "application/json"
