"""`GET /metrics`: route-template latency, who may scrape, scrape-time gauges, the worker port.

The metrics live on the process's default registry (see `observability/metrics.py`), shared by
every app a test session builds, so each test compares a scrape before and after what it does.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx2
import pytest

from opside_hub.config import AppEnv, DatabaseSettings, MetricsSettings, Settings
from opside_hub.observability.server import (
    start_worker_metrics_server,
    stop_worker_metrics_server,
)
from tests.conftest import bearer, client_for, make_settings, running_app
from tests.observability.helpers import EXPOSITION_TYPE, Scrape, json_logs, scrape

HTTP = "opside_hub_http_request_duration_seconds"
METRICS_TOKEN = "metrics-token-0123456789abcdef"
REMOTE = ("203.0.113.9", 40000)
UNKNOWN_PATH = "/no-such-page"


async def test_request_latency_is_labelled_by_route_template_never_by_raw_path(
    settings: Settings,
) -> None:
    headers = bearer(settings, "metrics-user")
    async with running_app(settings) as app, client_for(app) as http:
        before = await scrape(http)
        for prefix in ("/api", "/api/v1"):
            for sync_id in ("raw-id-1", "raw-id-2"):
                answer = await http.get(f"{prefix}/sync/status/{sync_id}", headers=headers)
                assert answer.status_code == 404
        assert (await http.get("/api/sync/history", headers=headers)).status_code == 200
        assert (await http.get(UNKNOWN_PATH)).status_code == 404
        assert (await http.post("/health")).status_code == 405
        assert (await http.get("/assets/app.css")).status_code == 200
        after = await scrape(http)

    def requests(route: str, status: str, method: str = "GET") -> float:
        labels = {"route": route, "status": status, "method": method}
        return after.total(f"{HTTP}_count", **labels) - before.total(f"{HTTP}_count", **labels)

    assert requests("/api/sync/status/{sync_id}", "404") == 2
    assert requests("/api/v1/sync/status/{sync_id}", "404") == 2
    assert requests("/api/sync/history", "200") == 1
    assert requests("unmatched", "404") == 1
    assert requests("/health", "405", method="POST") == 1
    assert requests("/assets/{path}", "200") == 1  # the dashboard's mounted static files
    routes = after.label_values(f"{HTTP}_count", "route")
    assert not any("raw-id" in route or route == UNKNOWN_PATH for route in routes), routes
    # A histogram: cumulative buckets up to +Inf, which counts every request.
    history = {"route": "/api/sync/history", "status": "200"}
    assert after.total(f"{HTTP}_bucket", le="+Inf", **history) == after.total(
        f"{HTTP}_count", **history
    )


async def test_metrics_are_not_part_of_the_api_schema(settings: Settings) -> None:
    async with running_app(settings) as app, client_for(app) as http:
        schema = (await http.get("/openapi.json")).json()
        answer = await http.get("/metrics")

    assert "/metrics" not in schema["paths"]
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith(EXPOSITION_TYPE)


async def test_a_configured_token_is_required(settings: Settings) -> None:
    settings.metrics = MetricsSettings(token=METRICS_TOKEN)
    async with running_app(settings) as app, client_for(app, client=REMOTE) as http:
        missing = await http.get("/metrics")
        wrong = await http.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
        basic = await http.get("/metrics", headers={"Authorization": f"Basic {METRICS_TOKEN}"})
        user = await http.get("/metrics", headers=bearer(settings, "a-user"))
        right = await http.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})

    for refused in (missing, wrong, basic, user):
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        assert refused.json() == {
            "success": False,
            "error": {
                "code": "invalid_metrics_token",
                "message": "A valid metrics token is required.",
            },
        }
        assert METRICS_TOKEN not in refused.text
    assert right.status_code == 200
    assert "opside_hub_http_request_duration_seconds" in right.text


async def test_disabled_metrics_answer_like_a_path_that_does_not_exist(
    settings: Settings,
) -> None:
    settings.metrics = MetricsSettings(enabled=False, token=METRICS_TOKEN)
    async with running_app(settings) as app, client_for(app) as http:
        metrics = await http.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        unknown = await http.get(UNKNOWN_PATH)

    assert metrics.status_code == unknown.status_code == 404
    assert metrics.json() == unknown.json()


@pytest.mark.parametrize(
    ("client", "headers", "status"),
    [
        (("127.0.0.1", 50000), {}, 200),
        (("::1", 50000), {}, 200),
        (REMOTE, {}, 404),
        (("10.1.2.3", 50000), {}, 404),
        # A local reverse proxy relaying someone else: its peer is loopback, the client is not.
        (("127.0.0.1", 50000), {"X-Forwarded-For": "127.0.0.1"}, 404),
        (("127.0.0.1", 50000), {"Forwarded": "for=198.51.100.7"}, 404),
        (("127.0.0.1", 50000), {"X-Real-IP": "198.51.100.7"}, 404),
    ],
)
async def test_production_without_a_token_serves_only_direct_loopback_clients(
    settings: Settings, client: tuple[str, int], headers: dict[str, str], status: int
) -> None:
    async with running_app(settings) as app, client_for(app, client=client) as http:
        # create_app refuses production with the test's embedded parts; the rule reads the
        # environment per request, so switching it on the running app exercises the real path.
        settings.app_env = AppEnv.production
        answer = await http.get("/metrics", headers=headers)
        unknown = await http.get(UNKNOWN_PATH)

    assert answer.status_code == status
    if status == 404:
        assert answer.json() == unknown.json()


async def test_production_with_a_token_serves_remote_scrapers_that_have_it(
    settings: Settings,
) -> None:
    settings.metrics = MetricsSettings(token=METRICS_TOKEN)
    async with running_app(settings) as app, client_for(app, client=REMOTE) as http:
        settings.app_env = AppEnv.production
        with_token = await http.get(
            "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
        )
        without = await http.get("/metrics")

    assert with_token.status_code == 200
    assert without.status_code == 401


async def test_queue_depth_and_active_syncs_are_read_at_scrape_time(settings: Settings) -> None:
    async with running_app(settings) as app, client_for(app) as http:
        runtime = app.state.runtime
        for number in range(3):
            await runtime.queue.enqueue("system.ping", key=f"metrics-depth-{number}", message="x")
        metrics = await scrape(http)

    assert metrics.total("opside_hub_queue_jobs", state="queued") == 3  # no worker runs here
    assert metrics.total("opside_hub_queue_jobs", state="active") == 0
    assert metrics.total("opside_hub_sync_runs_active", status="queued") == 0
    assert metrics.total("opside_hub_sync_runs_active", status="running") == 0
    assert metrics.total("opside_hub_metrics_source_up", source="queue") == 1
    assert metrics.total("opside_hub_metrics_source_up", source="database") == 1


async def test_a_scrape_survives_a_database_that_is_down(database_url: str, redis_url: str) -> None:
    # Nothing listens on port 1: every connection attempt is refused.
    dead = make_settings(database_url, redis_url)
    dead.db = DatabaseSettings(url="postgresql://opside:pw@127.0.0.1:1/opside")
    with json_logs() as logs:
        async with running_app(dead) as app, client_for(app) as http:
            metrics = await scrape(http)
            health = await http.get("/health", headers={"X-Request-ID": "req-metrics-0001"})

    assert metrics.total("opside_hub_metrics_source_up", source="database") == 0
    assert metrics.select("opside_hub_sync_runs_active") == {}  # absent, not stale
    assert metrics.total("opside_hub_metrics_source_up", source="queue") == 1
    assert health.status_code == 503
    # A log line written inside the handler carries the request's id.
    failures = [r for r in logs if r["event"] == "health.check_failed"]
    assert failures
    assert {r.get("request_id") for r in failures} == {"req-metrics-0001"}
    unavailable = [r for r in logs if r["event"] == "metrics.source_unavailable"]
    assert unavailable
    assert all(r.get("request_id") for r in unavailable)


async def test_a_worker_process_serves_its_own_registry_on_its_port() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = start_worker_metrics_server(MetricsSettings(worker_port=port))
    try:
        async with httpx2.AsyncClient() as http:
            answer = await http.get(f"http://127.0.0.1:{port}/metrics")
    finally:
        stop_worker_metrics_server(server)

    assert answer.status_code == 200
    assert Scrape.parse(answer.text).samples
    assert "# TYPE opside_hub_provider_requests_total counter" in answer.text
    assert "# TYPE opside_hub_sync_step_duration_seconds histogram" in answer.text
    with pytest.raises(httpx2.ConnectError):  # stopped with the worker
        async with httpx2.AsyncClient() as http:
            await asyncio.wait_for(http.get(f"http://127.0.0.1:{port}/metrics"), 5)


def test_no_worker_metrics_port_unless_configured() -> None:
    assert start_worker_metrics_server(MetricsSettings()) is None


def test_metrics_settings_are_read_from_their_variables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no `.env` of the working directory
    defaults = Settings().metrics
    monkeypatch.setenv("METRICS_ENABLED", "false")
    monkeypatch.setenv("METRICS_TOKEN", METRICS_TOKEN)
    monkeypatch.setenv("WORKER_METRICS_PORT", "9464")
    monkeypatch.setenv("WORKER_METRICS_HOST", "0.0.0.0")  # noqa: S104 - a value, not a bind
    configured = Settings().metrics

    assert (defaults.enabled, defaults.token.get_secret_value()) == (True, "")
    assert (defaults.worker_port, defaults.worker_host) == (None, "127.0.0.1")
    assert configured.enabled is False
    assert configured.token.get_secret_value() == METRICS_TOKEN
    assert METRICS_TOKEN not in repr(configured)
    assert (configured.worker_port, configured.worker_host) == (9464, "0.0.0.0")  # noqa: S104
