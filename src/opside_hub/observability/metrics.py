"""The process's Prometheus metrics and the small helpers that record them.

**One registry per process, the default one.** The metrics are module-level objects on
`prometheus_client.REGISTRY`, not per-`Runtime`: the code that records them (provider clients,
the bulk upsert, the vault) runs far from any runtime object, a process is what Prometheus
scrapes (one target = one process, however many apps a test builds in it), and the worker's
`start_http_server` serves the default registry with the process and GC collectors beside
ours. The price is that values accumulate across apps in one process, so tests read deltas
(`REGISTRY.get_sample_value` before and after) instead of absolute values.

**Cardinality.** Every label takes values from a bounded set: route *templates* (never raw
paths), HTTP methods from a fixed list, step and operation names from the code, provider and
table names, and status codes. No user, sync or seller id is ever a label.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable

import httpx2
from prometheus_client import Counter, Gauge, Histogram

PREFIX = "opside_hub"
# Latencies from a cached read (a few ms) to a slow page of a provider-backed route.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Provider calls: tens of ms (sandbox) to a 30 s read timeout.
PROVIDER_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# Sync steps: a few ms (nothing to do) to an hour (an 18-month backfill under Amazon's quotas).
STEP_BUCKETS = (0.01, 0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0)
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_REQUEST_DURATION = Histogram(
    f"{PREFIX}_http_request_duration_seconds",
    "HTTP requests served, by method, route template and status code.",
    ["method", "route", "status"],
    buckets=HTTP_BUCKETS,
)
SYNC_RUNS = Counter(
    f"{PREFIX}_sync_runs",
    "Sync runs that ended, by final status (completed, failed, cancelled).",
    ["status"],
)
SYNC_RUNS_ACTIVE = Gauge(
    f"{PREFIX}_sync_runs_active",
    "Sync runs not yet ended (queued, running), counted in the database at scrape time.",
    ["status"],
)
SYNC_STEP_DURATION = Histogram(
    f"{PREFIX}_sync_step_duration_seconds",
    "Sync pipeline steps, by step name and outcome (completed, cancelled, failed, "
    "interrupted: the worker stopped; the run resumes elsewhere).",
    ["step", "outcome"],
    buckets=STEP_BUCKETS,
)
ROWS_INGESTED = Counter(
    f"{PREFIX}_rows_ingested",
    "Provider rows written (new or changed) by the idempotent upserts, by provider and table.",
    ["provider", "dataset"],
)
PROVIDER_REQUESTS = Counter(
    f"{PREFIX}_provider_requests",
    "Requests to the providers (each attempt), by provider, operation and HTTP status code "
    "(or timeout / error when no response came).",
    ["provider", "operation", "status"],
)
PROVIDER_REQUEST_DURATION = Histogram(
    f"{PREFIX}_provider_request_duration_seconds",
    "Latency of requests to the providers (each attempt), by provider and operation.",
    ["provider", "operation"],
    buckets=PROVIDER_BUCKETS,
)
PROVIDER_THROTTLES = Counter(
    f"{PREFIX}_provider_throttles",
    "Provider answers that said slow down (429, Gmail's rate-limit 403), by provider and "
    "operation.",
    ["provider", "operation"],
)
TOKEN_REFRESHES = Counter(
    f"{PREFIX}_token_refreshes",
    "OAuth access-token refreshes, by provider and outcome (ok, invalid_grant, error).",
    ["provider", "outcome"],
)
QUEUE_JOBS = Gauge(
    f"{PREFIX}_queue_jobs",
    "Jobs in the SAQ queue, by state (queued: waiting for a worker; active: running), read "
    "from Redis at scrape time.",
    ["state"],
)
SCRAPE_SOURCE_UP = Gauge(
    f"{PREFIX}_metrics_source_up",
    "Whether the last scrape could read a source of scrape-time gauges (database, queue); "
    "0 means the gauges from that source are absent from this scrape.",
    ["source"],
)


def observe_http_request(method: str, route: str, status: int, seconds: float) -> None:
    label = method if method in HTTP_METHODS else "other"
    HTTP_REQUEST_DURATION.labels(label, route, str(status)).observe(seconds)


def count_sync_run(status: str) -> None:
    SYNC_RUNS.labels(status).inc()


def observe_step(step: str, outcome: str, seconds: float) -> None:
    SYNC_STEP_DURATION.labels(step, outcome).observe(seconds)


def count_rows_ingested(table: str, rows: int) -> None:
    """Rows written into a provider table (`amazon_reimbursements` → provider `amazon`)."""
    if rows > 0:
        ROWS_INGESTED.labels(table.split("_", 1)[0], table).inc(rows)


def count_throttle(provider: str, operation: str) -> None:
    PROVIDER_THROTTLES.labels(provider, operation).inc()


def count_token_refresh(provider: str, outcome: str) -> None:
    TOKEN_REFRESHES.labels(provider, outcome).inc()


async def observe_provider_call(
    provider: str, operation: str, request: Awaitable[httpx2.Response]
) -> httpx2.Response:
    """Await one provider request and record it: status (or timeout/error), latency, and a
    throttle on 429. Exceptions pass through unchanged, so the caller's retry logic is intact."""
    started = time.perf_counter()
    try:
        response = await request
    except httpx2.TimeoutException:
        _record_call(provider, operation, "timeout", started)
        raise
    except httpx2.TransportError:
        _record_call(provider, operation, "error", started)
        raise
    _record_call(provider, operation, str(response.status_code), started)
    if response.status_code == 429:
        count_throttle(provider, operation)
    return response


def record_provider_call(provider: str, operation: str, status: str, started: float) -> None:
    """Record a call whose response is not awaited in one piece (a streamed download)."""
    _record_call(provider, operation, status, started)


def _record_call(provider: str, operation: str, status: str, started: float) -> None:
    PROVIDER_REQUESTS.labels(provider, operation, status).inc()
    PROVIDER_REQUEST_DURATION.labels(provider, operation).observe(time.perf_counter() - started)
