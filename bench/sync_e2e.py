"""A large sandbox seller synced end to end: time per step and peak RSS of the syncing process.

The app with its sandbox providers runs as its own process (`opside-hub serve`), sized for a
big seller (>= 200k reimbursement rows, >= 50k ledger events, >= 20k inventory SKUs) with
quotas relaxed and reports ready at once. This process connects the seller through the consent
flow, then runs the sync pipeline itself (as a worker would) and prints each step's duration
and the peak RSS above its baseline.

    uv run python bench/sync_e2e.py [--reimbursements 160000 --ledger 50000 --skus 20000]
    DATABASE_URL=postgresql://127.0.0.1/test REDIS_URL=redis://127.0.0.1:6379/0 \\
        uv run python bench/sync_e2e.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from _harness import backend, bench_settings, connect_amazon, free_port, wait_healthy
from ingest import PeakRss, rss_mb
from sqlalchemy import func, select

from opside_hub.db.models import (
    AmazonFinancialEvent,
    AmazonInventory,
    AmazonLedgerEvent,
    AmazonReimbursement,
    RefundEngineCase,
    SyncEvent,
)
from opside_hub.db.session import transaction
from opside_hub.runtime import Runtime
from opside_hub.sync.pipeline import run_sync
from opside_hub.sync.service import start_sync
from opside_hub.sync.steps import STEPS
from opside_hub.vault.keys import generate_key

USER = "big-seller"
ROOT = Path(__file__).resolve().parent.parent


async def main(args: argparse.Namespace) -> None:
    async with backend() as chosen:
        namespace = f"bench-{uuid.uuid4().hex[:8]}"
        key = generate_key()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        settings = bench_settings(
            chosen, namespace, encryption_key=key, public_url=url, provider_mode="sandbox"
        )
        env = {
            **os.environ,
            "APP_ENV": "test",
            "DATABASE_URL": chosen.database_url,
            "REDIS_URL": chosen.redis_url,
            "REDIS_NAMESPACE": namespace,
            "ENCRYPTION_KEY": key,
            "JWT_SECRET": settings.auth.jwt_secret.get_secret_value(),
            "PUBLIC_URL": url,
            "PROVIDER_MODE": "sandbox",
            "RUN_WORKER_IN_API": "false",
            "LOG_LEVEL": "WARNING",
            "RATE_LIMIT_PER_IP": "1000000/minute",
            "RATE_LIMIT_PER_USER": "1000000/minute",
            "SANDBOX_RATE_SCALE": "0",
            "SANDBOX_REPORT_DELAY_SECONDS": "0",
            "SANDBOX_AMAZON_REIMBURSEMENTS": str(args.reimbursements),
            "SANDBOX_AMAZON_LEDGER_EVENTS": str(args.ledger),
            "SANDBOX_AMAZON_INVENTORY_SKUS": str(args.skus),
            "SANDBOX_AMAZON_FINANCIAL_EVENTS": str(args.financial),
        }
        server = subprocess.Popen(  # noqa: ASYNC220 - the app under test, started once
            [sys.executable, "-m", "opside_hub.cli", "serve", "--port", str(port)],
            env=env,
            cwd=ROOT,
        )
        try:
            await wait_healthy(url, server)
            await connect_amazon(url, settings, USER, "Big Goods")
            runtime = await Runtime.start(settings)
            try:
                await _run(runtime, chosen.label)
            finally:
                await runtime.stop()
        finally:
            server.terminate()
            server.wait(timeout=30)


async def _run(runtime: Runtime, label: str) -> None:
    async with transaction(runtime.sessions) as session:
        job = await start_sync(session, USER, providers=["amazon"], trigger="manual")
    baseline = rss_mb()
    started = time.perf_counter()
    with PeakRss() as memory:
        status = await run_sync(runtime, job.id, STEPS)
    total = time.perf_counter() - started
    async with runtime.sessions() as session:
        steps = (
            (
                await session.execute(
                    select(SyncEvent.data)
                    .where(SyncEvent.sync_id == job.id, SyncEvent.kind == "step.completed")
                    .order_by(SyncEvent.id)
                )
            )
            .scalars()
            .all()
        )
        counts: dict[str, Any] = {}
        for model in (
            AmazonReimbursement,
            AmazonLedgerEvent,
            AmazonFinancialEvent,
            AmazonInventory,
            RefundEngineCase,
        ):
            counts[model.__tablename__] = (
                await session.execute(
                    select(func.count()).select_from(model).where(model.user_id == USER)
                )
            ).scalar_one()
    print(
        f"backend: {label}; sync {status} in {total:.1f} s; "
        f"peak RSS {memory.peak - baseline:.0f} MB above a {baseline:.0f} MB baseline"
    )
    print("rows: " + ", ".join(f"{name} {count}" for name, count in counts.items()))
    print(f"{'step':<26}{'seconds':>9}  counts")
    for data in steps:
        extra = {k: v for k, v in data.items() if k not in ("step", "seconds")}
        print(f"{data['step']:<26}{data['seconds']:>9.1f}  {extra}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--reimbursements",
        type=int,
        default=160_000,
        help="reimbursement events in 540 days (~1.3 report rows each)",
    )
    parser.add_argument("--ledger", type=int, default=50_000, help="ledger events in 540 days")
    parser.add_argument("--skus", type=int, default=20_000, help="inventory SKUs")
    parser.add_argument("--financial", type=int, default=5_000, help="financial events")
    asyncio.run(main(parser.parse_args()))
