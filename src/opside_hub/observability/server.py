"""The metrics port of a separate worker process (`WORKER_METRICS_PORT`).

A worker has no HTTP server of its own, so `prometheus_client` serves the process's registry
from a daemon thread. It checks no token: it binds `WORKER_METRICS_HOST` (loopback unless told
otherwise), and is meant for a scraper on the same host or a private network.
"""

from __future__ import annotations

from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server

from opside_hub.config import MetricsSettings
from opside_hub.core.logging import get_logger

log = get_logger(__name__)


def start_worker_metrics_server(settings: MetricsSettings) -> WSGIServer | None:
    """Serve `/metrics` for this process when a port is configured; None when it is not."""
    if settings.worker_port is None or not settings.enabled:
        return None
    server, _thread = start_http_server(settings.worker_port, addr=settings.worker_host)
    log.info("worker.metrics.serving", host=settings.worker_host, port=settings.worker_port)
    return server


def stop_worker_metrics_server(server: WSGIServer | None) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()
