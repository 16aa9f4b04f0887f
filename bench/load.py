"""Load: the API under concurrent load while sandbox syncs run, at a larger scale than
`tests/load/test_api_load.py` (the same scenario, figures instead of asserts).

The app runs as deployed by `make run`: its own process (`opside-hub serve`), the worker in
it (or, `--worker process`, in a worker process of its own), its logs written (to /dev/null).
A reference user connects a sandbox seller and syncs it on the quiet server. Then `--sellers`
more users connect the same seller, which starts their syncs at once, and `--clients`
concurrent connections (the Python generator of `tests/load/helpers.py`, in this process) send
GETs round robin over the dashboard's pages of those users and of `--browsers` users without
connections, until the syncs have ended and at least `--requests` were answered. Finally the
same mix runs again with no sync running: the in-run baseline. Printed: req/s and p50/p90/p99
under syncs and quiet (and their ratio), every status and transport error, each sync's duration
against the reference's quiet one, and whether every loaded sync stored exactly the reference's
rows and cases.

    uv run python bench/load.py [--sellers 6 --browsers 10 --clients 32 --requests 20000]
    DATABASE_URL=postgresql://127.0.0.1/test REDIS_URL=redis://127.0.0.1:6379/0 \\
        uv run python bench/load.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from contextlib import AsyncExitStack

from _harness import app_process, backend, bench_settings, connect_amazon, free_port
from tests.load.helpers import (
    Call,
    LoadResult,
    SyncWatch,
    percentile,
    run_load,
    synced_data_digest,
    wait_for_syncs,
)

from opside_hub.auth.service import create_user_token
from opside_hub.config import Settings
from opside_hub.db.models import SyncJob
from opside_hub.runtime import Runtime
from opside_hub.vault.keys import generate_key

SELLER_NAME = "Load Goods"
REFERENCE = "bench-load-reference"
SYNC_TIMEOUT_S = 600.0
WORKER_SHAPES = {
    "api": "in the API process (`make run`)",
    "process": "a separate `opside-hub worker` process",
}
USER_ROUTES = (
    ("me", "/api/v1/me"),
    ("integrations", "/api/v1/integrations"),
    ("cases", "/api/v1/cases?limit=50"),
    ("claims", "/api/v1/amazon/claims?limit=50"),
    ("inventory", "/api/v1/amazon/inventory?limit=50"),
    ("sync.history", "/api/v1/sync/history"),
    ("sync.statistics", "/api/v1/sync/statistics"),
)


def _calls(settings: Settings, users: list[str]) -> list[Call]:
    calls = [Call("health", "/health")]
    for user in users:
        headers = {"Authorization": f"Bearer {create_user_token(user, settings.auth)}"}
        calls += [Call(label, path, headers) for label, path in USER_ROUTES]
    return calls


def _seconds(job: SyncJob) -> float:
    if job.finished_at and job.started_at:
        return (job.finished_at - job.started_at).total_seconds()
    return float("nan")


def _row(label: str, result: LoadResult, baseline: LoadResult | None) -> str:
    every = result.all_latencies_ms
    figures = [
        result.requests_per_s,
        percentile(every, 0.50),
        percentile(every, 0.90),
        percentile(every, 0.99),
    ]
    if baseline is None:
        ratios = ["1.00"] * 4
    else:
        base = baseline.all_latencies_ms
        reference = [
            baseline.requests_per_s,
            percentile(base, 0.50),
            percentile(base, 0.90),
            percentile(base, 0.99),
        ]
        ratios = [f"{value / ref:.2f}" for value, ref in zip(figures, reference, strict=True)]
    statuses = ", ".join(f"{status}: {n}" for status, n in sorted(result.statuses.items()))
    errors = sum(result.errors.values())
    return (
        f"| {label} | {result.requests} | {figures[0]:.0f} | {ratios[0]} | {figures[1]:.1f} | "
        f"{ratios[1]} | {figures[2]:.1f} | {ratios[2]} | {figures[3]:.1f} | {ratios[3]} | "
        f"{statuses} | {errors} |"
    )


async def main(args: argparse.Namespace) -> None:
    sellers = [f"bench-load-seller-{n:02d}" for n in range(args.sellers)]
    browsers = [f"bench-load-browser-{n:02d}" for n in range(args.browsers)]
    async with backend() as chosen:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        settings = bench_settings(
            chosen,
            f"bench-{uuid.uuid4().hex[:8]}",
            encryption_key=generate_key(),
            public_url=url,
            provider_mode="sandbox",
        )
        env = {
            "RUN_WORKER_IN_API": str(args.worker == "api").lower(),
            "LOG_LEVEL": "INFO",
            "SANDBOX_RATE_SCALE": "0",
            "SANDBOX_REPORT_DELAY_SECONDS": "0",
            "SANDBOX_AMAZON_REIMBURSEMENTS": str(args.reimbursements),
            "SANDBOX_AMAZON_LEDGER_EVENTS": str(args.reimbursements),
            "SANDBOX_AMAZON_INVENTORY_SKUS": str(args.reimbursements // 5),
            "SANDBOX_AMAZON_FINANCIAL_EVENTS": str(args.reimbursements // 4),
        }
        async with AsyncExitStack() as processes:
            await processes.enter_async_context(app_process(settings, port, env, quiet=True))
            if args.worker == "process":
                await processes.enter_async_context(
                    app_process(settings, port, env, quiet=True, command="worker")
                )
            runtime = await Runtime.start(settings)
            try:
                await _run(args, runtime, url, settings, sellers, browsers, chosen.label)
            finally:
                await runtime.stop()


async def _run(
    args: argparse.Namespace,
    runtime: Runtime,
    url: str,
    settings: Settings,
    sellers: list[str],
    browsers: list[str],
    label: str,
) -> None:
    await connect_amazon(url, settings, REFERENCE, SELLER_NAME)
    [reference_job] = await wait_for_syncs(runtime, [REFERENCE], SYNC_TIMEOUT_S)
    reference = await synced_data_digest(runtime, REFERENCE)
    calls = _calls(settings, sellers + browsers)

    for user in sellers:
        await connect_amazon(url, settings, user, SELLER_NAME)
    progress = LoadResult()
    watch = SyncWatch(runtime, sellers)
    watching = asyncio.create_task(watch.watch(progress))
    loaded = await run_load(
        url,
        calls,
        clients=args.clients,
        min_requests=args.requests,
        max_seconds=args.max_seconds,
        keep_going=lambda: watch.running,
        progress=progress,
    )
    await watching
    jobs = await wait_for_syncs(runtime, sellers, SYNC_TIMEOUT_S)
    digests = [await synced_data_digest(runtime, user) for user in sellers]
    quiet = await run_load(
        url, calls, clients=args.clients, min_requests=args.requests, max_seconds=args.max_seconds
    )

    print(
        f"backend: {label}; worker: {WORKER_SHAPES[args.worker]}; sandbox, quotas off; "
        f"{os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    print(
        f"{args.clients} concurrent connections over {len(calls)} routes x users "
        f"({len(sellers)} syncing sellers, {len(browsers)} users without connections, /health); "
        f"{watch.requests_during_syncs} requests answered while a sync ran"
    )
    print()
    print(
        "| load | requests | req/s | x quiet | p50 ms | x quiet | p90 ms | x quiet | p99 ms | "
        "x quiet | statuses | transport errors |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    print(_row(f"while {len(sellers)} syncs run", loaded, quiet))
    print(_row("quiet (no sync running)", quiet, None))
    print()
    print("per route while the syncs ran:")
    print("\n".join(loaded.per_label()))
    print()
    durations = [_seconds(job) for job in jobs]
    print(
        f"reference sync (quiet): {reference_job.status} in {_seconds(reference_job):.1f} s; "
        f"syncs under load: {[job.status for job in jobs].count('completed')}/{len(jobs)} "
        f"completed, {min(durations):.1f}-{max(durations):.1f} s "
        f"(x{min(durations) / _seconds(reference_job):.1f}-"
        f"x{max(durations) / _seconds(reference_job):.1f} the quiet sync)"
    )
    same = sum(digest == reference for digest in digests)
    print(f"loaded syncs with exactly the reference's rows and cases: {same}/{len(digests)}")
    print("reference rows: " + ", ".join(f"{t} {n}" for t, (n, _) in reference.items()))


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sellers", type=int, default=6, help="users syncing during the load")
    parser.add_argument("--browsers", type=int, default=10, help="users with no connection")
    parser.add_argument("--clients", type=int, default=32, help="concurrent connections")
    parser.add_argument("--requests", type=int, default=20_000, help="at least, per pass")
    parser.add_argument("--max-seconds", type=float, default=300.0, help="cap per pass")
    parser.add_argument(
        "--worker",
        choices=tuple(WORKER_SHAPES),
        default="api",
        help="where the syncs run: in the API process, or in a worker process of their own",
    )
    parser.add_argument(
        "--reimbursements",
        type=int,
        default=3000,
        help="sandbox seller size: reimbursement and ledger events per 540 days",
    )
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(_args()))
