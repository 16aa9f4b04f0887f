"""API overhead: our endpoints against a bare FastAPI endpoint, served and driven the same way.

In one run, two server processes on loopback with the same uvicorn settings (one process each,
uvicorn's default loop and HTTP parser, no access log): our app (API only, no worker in it; the
middleware stack, per-IP and per-user rate limits in Redis, JWT auth, a database session per
request, and its one JSON log line per request as in production, written to /dev/null) and a
bare FastAPI app whose `GET /ping` returns a constant JSON object. One load generator drives
each target in turn with the same number of concurrent keep-alive connections: `wrk` when it is
installed (`apt-get install -y wrk`), else the Python generator of `tests/load/helpers.py`
(httpx2; it needs more CPU per request than wrk, so on 2 cores it slows the server it drives and
the ratios come out closer to 1). Before measuring, a sandbox seller is connected and synced, so
the list endpoints return real pages. Prints req/s and p50/p90/p99 per endpoint and each as a
ratio to the bare endpoint's figures of the same pass (the mean of a bare pass before and after
ours, which also shows the drift of a shared machine).

    uv run python bench/api_overhead.py [--connections 1,32 --seconds 8 --generator auto]
    DATABASE_URL=postgresql://127.0.0.1/test REDIS_URL=redis://127.0.0.1:6379/0 \\
        uv run python bench/api_overhead.py
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import re
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from typing import Any

from _harness import (
    Backend,
    backend,
    bench_settings,
    bound_socket,
    connect_amazon,
    live_app,
    serve_asgi,
    socket_url,
)
from fastapi import FastAPI
from tests.load.helpers import Call, percentile, run_load

from opside_hub.app import create_app
from opside_hub.auth.service import create_user_token
from opside_hub.core.logging import configure_logging
from opside_hub.db.session import transaction
from opside_hub.runtime import Runtime
from opside_hub.sync.pipeline import run_sync
from opside_hub.sync.service import start_sync
from opside_hub.sync.steps import STEPS
from opside_hub.vault.keys import generate_key

USER = "overhead-seller"
STARTUP_TIMEOUT_S = 60.0
WARMUP_S = 2.0


@dataclass(frozen=True)
class Target:
    label: str
    base: str
    path: str
    headers: dict[str, str]

    @property
    def url(self) -> str:
        return self.base + self.path


@dataclass(frozen=True)
class Figures:
    requests_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    failures: int  # non-2xx answers and transport errors


def bare_app() -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/ping")
    async def ping() -> dict[str, Any]:
        return {"success": True, "data": {"status": "ok"}}

    return app


def _settings(config: dict[str, Any], url: str) -> Any:
    return bench_settings(
        Backend(config["database_url"], config["redis_url"], ""),
        config["namespace"],
        encryption_key=config["key"],
        public_url=url,
        provider_mode="sandbox",
        sandbox_report_delay_seconds=0.0,
        sandbox_rate_scale=0.0,
    )


def _serve(kind: str, config: dict[str, Any], ready: Any, stop: Any) -> None:
    """One server process: our app or the bare one, until the parent says stop."""
    if kind == "ours":
        # Production logging (one JSON line per request), discarded: its cost is measured,
        # its output is not wanted.
        configure_logging(json=True, level="INFO")
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)

    async def run() -> None:
        sock = bound_socket()
        url = socket_url(sock)
        app = (
            create_app(_settings(config, url), configure_logs=False, freeze_heap=True)
            if kind == "ours"
            else None
        )
        async with serve_asgi(app or bare_app(), sock):
            ready.put((kind, url))
            await asyncio.to_thread(stop.wait, 3600)

    asyncio.run(run())


async def _seed(config: dict[str, Any]) -> str:
    """Connect and sync a sandbox seller; returns the sync id."""
    async with live_app(lambda url: _settings(config, url)) as (url, settings):
        await connect_amazon(url, settings, USER, "Overhead Goods")
        runtime = await Runtime.start(settings)
        try:
            async with transaction(runtime.sessions) as session:
                job = await start_sync(session, USER, providers=["amazon"], trigger="manual")
            status = await run_sync(runtime, job.id, STEPS)
            assert status == "completed", status
        finally:
            await runtime.stop()
    return job.id


def _targets(ours: str, sync_id: str, token: str) -> list[Target]:
    auth = {"Authorization": f"Bearer {token}"}
    paths = {
        "/health (database, Redis, queue probes)": "/health",
        "/api/v1/me": "/api/v1/me",
        "/api/v1/integrations": "/api/v1/integrations",
        "/api/v1/cases?limit=50": "/api/v1/cases?limit=50",
        "/api/v1/amazon/claims?limit=50": "/api/v1/amazon/claims?limit=50",
        "/api/v1/sync/history": "/api/v1/sync/history",
        "/api/v1/sync/status/{id}": f"/api/v1/sync/status/{sync_id}",
    }
    return [
        Target(label, ours, path, {} if path == "/health" else auth)
        for label, path in paths.items()
    ]


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _wrk_ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * _UNIT_MS[unit]


def _wrk(target: Target, connections: int, seconds: float) -> Figures:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "--timeout", "30s"]
    for name, value in target.headers.items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run([*command, target.url], capture_output=True, text=True, check=True).stdout
    latency = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)$", out, re.MULTILINE))
    failures = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    if errors := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    ):
        failures += sum(int(n) for n in errors.groups())
    return Figures(
        requests_per_s=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        p50_ms=_wrk_ms(latency["50"]),
        p90_ms=_wrk_ms(latency["90"]),
        p99_ms=_wrk_ms(latency["99"]),
        failures=failures,
    )


async def _python(target: Target, connections: int, seconds: float) -> Figures:
    result = await run_load(
        target.base,
        [Call(target.label, target.path, target.headers)],
        clients=connections,
        min_requests=0,
        max_seconds=seconds,
        keep_going=lambda: True,
    )
    latencies = result.all_latencies_ms
    ok = sum(n for status, n in result.statuses.items() if 200 <= status < 300)
    return Figures(
        requests_per_s=result.requests_per_s,
        p50_ms=percentile(latencies, 0.50),
        p90_ms=percentile(latencies, 0.90),
        p99_ms=percentile(latencies, 0.99),
        failures=result.requests - ok,
    )


async def measure(generator: str, target: Target, connections: int, seconds: float) -> Figures:
    if generator == "wrk":
        await asyncio.to_thread(_wrk, target, connections, WARMUP_S)
        return await asyncio.to_thread(_wrk, target, connections, seconds)
    await _python(target, connections, WARMUP_S)
    return await _python(target, connections, seconds)


def _ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.2f}" if baseline else "-"


def _table(connections: int, bare: list[Figures], rows: list[tuple[str, Figures]]) -> str:
    base = Figures(
        requests_per_s=sum(f.requests_per_s for f in bare) / len(bare),
        p50_ms=sum(f.p50_ms for f in bare) / len(bare),
        p90_ms=sum(f.p90_ms for f in bare) / len(bare),
        p99_ms=sum(f.p99_ms for f in bare) / len(bare),
        failures=sum(f.failures for f in bare),
    )
    lines = [
        f"{connections} concurrent connection(s); ratios to the bare endpoint (mean of its "
        f"passes: {', '.join(f'{f.requests_per_s:.0f}' for f in bare)} req/s)",
        "",
        "| endpoint | req/s | x bare | p50 ms | x bare | p90 ms | x bare | p99 ms | x bare | "
        "failures |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, f in [("bare FastAPI `GET /ping`", base), *rows]:
        lines.append(
            f"| {label} | {f.requests_per_s:.0f} | {_ratio(f.requests_per_s, base.requests_per_s)}"
            f" | {f.p50_ms:.2f} | {_ratio(f.p50_ms, base.p50_ms)}"
            f" | {f.p90_ms:.2f} | {_ratio(f.p90_ms, base.p90_ms)}"
            f" | {f.p99_ms:.2f} | {_ratio(f.p99_ms, base.p99_ms)} | {f.failures} |"
        )
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> None:
    generator = args.generator
    if generator == "auto":
        generator = "wrk" if shutil.which("wrk") else "python"
    async with backend() as chosen:
        config: dict[str, Any] = {
            "database_url": chosen.database_url,
            "redis_url": chosen.redis_url,
            "namespace": f"bench-{uuid.uuid4().hex[:8]}",
            "key": generate_key(),
        }
        sync_id = await _seed(config)
        context = mp.get_context("spawn")
        ready = context.Queue()
        stop = context.Event()
        servers = [
            context.Process(target=_serve, args=(kind, config, ready, stop), daemon=True)
            for kind in ("ours", "bare")
        ]
        for server in servers:
            server.start()
        try:
            urls = dict(
                [await asyncio.to_thread(ready.get, True, STARTUP_TIMEOUT_S) for _ in servers]
            )
            token = create_user_token(USER, _settings(config, urls["ours"]).auth)
            bare = Target("bare", urls["bare"], "/ping", {})
            targets = _targets(urls["ours"], sync_id, token)
            print(
                f"backend: {chosen.label}; generator: {generator}; {args.seconds:g} s per "
                f"endpoint after a {WARMUP_S:g} s warm-up; {os.cpu_count()} CPUs; "
                f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
            )
            for connections in args.connections:
                first = await measure(generator, bare, connections, args.seconds)
                rows = [
                    (t.label, await measure(generator, t, connections, args.seconds))
                    for t in targets
                ]
                last = await measure(generator, bare, connections, args.seconds)
                print()
                print(_table(connections, [first, last], rows), flush=True)
        finally:
            stop.set()
            for server in servers:
                await asyncio.to_thread(server.join, 30)
                if server.is_alive():
                    server.terminate()


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--connections",
        type=lambda value: [int(n) for n in value.split(",")],
        default=[1, 32],
        help="comma-separated concurrency levels (default 1,32)",
    )
    parser.add_argument("--seconds", type=float, default=8.0, help="per endpoint and level")
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(_args()))
