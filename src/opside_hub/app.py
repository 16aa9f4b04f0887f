"""The application factory: middleware, routers, and the lifespan that owns the runtime."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from opside_hub import __version__
from opside_hub.api.errors import register_error_handlers
from opside_hub.api.router import API_PREFIXES, api_router
from opside_hub.config import Settings, get_settings, validate_for_production
from opside_hub.core.logging import configure_logging, get_logger
from opside_hub.core.middleware import (
    BodySizeLimitMiddleware,
    RequestContextMiddleware,
    SecurityHeadersMiddleware,
)
from opside_hub.core.ratelimit import RateLimiter, RateLimitMiddleware
from opside_hub.observability.endpoints import router as metrics_router
from opside_hub.observability.middleware import HttpMetricsMiddleware
from opside_hub.realtime.endpoints import router as realtime_router
from opside_hub.realtime.hub import EventHub
from opside_hub.runtime import Runtime
from opside_hub.sandbox import build_sandbox_router
from opside_hub.system.endpoints import router as system_router
from opside_hub.web import include_dashboard
from opside_hub.worker import build_worker, stop_worker

log = get_logger(__name__)


def freeze_startup_heap() -> None:
    """Hide everything alive after startup (modules, routes, models, pools) from the cyclic
    garbage collector. A full collection otherwise re-scans that whole heap and stalls every
    request in flight: ~110 ms, three times per thousand `/cases` requests, which made its p99
    at one connection 98 ms instead of 10 (bench/README.md, API overhead). Garbage made after
    startup is still collected."""
    gc.collect()
    gc.freeze()


def create_app(
    settings: Settings | None = None, *, configure_logs: bool = True, freeze_heap: bool = False
) -> FastAPI:
    """The app. `freeze_heap` (the server process, see `freeze_startup_heap`) is left off for
    apps made in a process that goes on doing other things, like the tests."""
    settings = settings or get_settings()
    validate_for_production(settings)
    if configure_logs:
        configure_logging(json=settings.is_production, level=settings.log_level)
    limiter = RateLimiter(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await Runtime.start(settings)
        limiter.attach(runtime.redis_server)
        app.state.runtime = runtime
        hub = EventHub(runtime.redis_server, queue_size=settings.realtime.queue_size)
        await hub.start()
        app.state.hub = hub
        worker = build_worker(runtime) if settings.worker_in_api else None
        worker_run = asyncio.create_task(worker.start()) if worker else None
        if freeze_heap:
            freeze_startup_heap()
        log.info(
            "app.started",
            version=__version__,
            env=settings.app_env.value,
            providers=settings.provider_mode.value,
            database="sqlite" if settings.db.is_sqlite else "postgresql",
            redis="embedded" if runtime.redis_server.embedded else "external",
            worker_in_process=worker is not None,
        )
        try:
            yield
        finally:
            if worker and worker_run:
                await stop_worker(worker)
                await worker_run
            await limiter.close()
            await hub.stop()
            await runtime.stop()
            log.info("app.stopped")

    app = FastAPI(
        title="Opside Integrations Hub",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    register_error_handlers(app)
    app.include_router(system_router)
    app.include_router(metrics_router)  # GET /metrics, at the root like /health
    app.include_router(realtime_router)  # WS /ws, at the root like /health
    for prefix in API_PREFIXES:
        app.include_router(api_router, prefix=prefix)
    if settings.sandbox:
        app.include_router(build_sandbox_router())
    # The dashboard at `/` (its own paths only, no catch-all) and, in sandbox development,
    # its demo sign-in route `POST /api/dev/token`.
    include_dashboard(app, settings, API_PREFIXES)

    # Added innermost first: a request passes RequestContext → HttpMetrics → SecurityHeaders →
    # CORS → BodySizeLimit → RateLimit → routes (so refusals by the edge are measured too).
    app.add_middleware(RateLimitMiddleware, settings=settings, limiter=limiter)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials=True,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        expose_headers=["X-Request-ID", "Retry-After"],
        max_age=600,
    )
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.is_production)
    app.add_middleware(HttpMetricsMiddleware)
    app.add_middleware(RequestContextMiddleware)
    return app
