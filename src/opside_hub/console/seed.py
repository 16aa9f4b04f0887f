"""`opside-hub sandbox seed`: many sandbox sellers, connected and synced through the real flows.

Against a running hub in sandbox development mode (`make run`), for each of N users
`<prefix>-0001`, `<prefix>-0002`, ...: mint the user's token (with the `JWT_SECRET` the server
shares through `data/.dev-secrets.json`), connect a sandbox Amazon account named
"Seed Seller 0001"... through the same consent flow a browser goes through, then run its sync
(connecting starts one on its own: the seed follows it, or starts one) until it finishes, with
up to `--concurrency` sellers at a time. The result is real data in the database: the raw
reports, cases and sync history of N sellers, all obtained by the pipeline.

The sandbox stores no data of its own: a seller's reports are generated deterministically while
the hub downloads them, at the sizes of the *server's* `SANDBOX_AMAZON_*` settings (events per
540 days; a reimbursements report has ~1.3 rows per event). A running server's sandbox cannot
be resized (and every seller must keep seeing the same data), so `--rows M` is a check: when
the server serves another size, the seed stops and prints how to restart it.

Running it again is safe: connected sellers are not reconnected, and each run adds one
(incremental) sync per seller.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from opside_hub.auth.service import create_user_token
from opside_hub.config import Settings
from opside_hub.console.client import HubClient, HubError, follow_sync
from opside_hub.console.progress import make_progress, stage_label
from opside_hub.sandbox.amazon.service import ACCOUNT_FIELD

ROWS_PER_EVENT = 1.3


class SeedRefused(Exception):
    """The server cannot be seeded as asked; the message says why and what to do."""


@dataclass(frozen=True)
class SeedOutcome:
    user_id: str
    connected_now: bool
    status: str  # completed | failed | cancelled | error
    cases: int = 0
    rows_read: int = 0
    error: str | None = None


def seller_name(index: int) -> str:
    return f"Seed Seller {index:04d}"


async def check_sandbox(base_url: str, rows: int | None) -> dict[str, Any]:
    """The server's sandbox sizes; refuses a server without the sandbox or of another size."""
    async with HubClient(base_url) as client:
        try:
            sizes: dict[str, Any] = await client.call("GET", "/api/dev/sandbox")
        except HubError as exc:
            if exc.status == 404:
                raise SeedRefused(
                    f"{base_url} is not a sandbox development server (it needs "
                    "PROVIDER_MODE=sandbox and APP_ENV other than production)"
                ) from exc
            raise
    if rows is not None and rows != sizes["reimbursements"]:
        raise SeedRefused(
            f"the server's sandbox serves {sizes['reimbursements']} reimbursement events per "
            f"seller, not {rows}. Restart it with that size, e.g.\n"
            f"  SANDBOX_AMAZON_REIMBURSEMENTS={rows} SANDBOX_AMAZON_LEDGER_EVENTS={2 * rows} "
            f"SANDBOX_AMAZON_FINANCIAL_EVENTS={max(1, (2 * rows) // 3)} make run"
        )
    return sizes


async def seed_sellers(
    *,
    settings: Settings,
    base_url: str,
    sellers: int,
    rows: int | None,
    prefix: str,
    concurrency: int,
    console: Console,
) -> list[SeedOutcome]:
    sizes = await check_sandbox(base_url, rows)
    console.print(
        f"The sandbox serves each seller ~{round(sizes['reimbursements'] * ROWS_PER_EVENT)} "
        f"reimbursement rows, {sizes['ledgerEvents']} ledger events, "
        f"{sizes['financialEvents']} financial events and {sizes['inventorySkus']} SKUs per "
        f"540 days; first syncs read {sizes['backfillDays']} days."
    )
    progress = make_progress(console)
    overall = progress.add_task("Sellers", total=sellers, info="")
    slots = asyncio.Semaphore(concurrency)

    async def one(index: int) -> SeedOutcome:
        user_id = f"{prefix}-{index:04d}"
        async with slots:
            task = progress.add_task(f"  {user_id}", total=100, info="connecting")

            def on_update(status: dict[str, Any]) -> None:
                progress.update(
                    task, completed=status["percent"], info=stage_label(status["stage"])
                )

            try:
                outcome = await _seed_one(settings, base_url, user_id, index, on_update)
            except HubError as exc:
                outcome = SeedOutcome(user_id, False, "error", error=f"{exc.code}: {exc.message}")
            progress.remove_task(task)
            progress.advance(overall)
            if outcome.status != "completed":
                progress.console.print(f"[red]{user_id}: {outcome.status}[/] {outcome.error or ''}")
            return outcome

    with progress:
        return list(await asyncio.gather(*(one(i) for i in range(1, sellers + 1))))


async def _seed_one(
    settings: Settings, base_url: str, user_id: str, index: int, on_update: Any
) -> SeedOutcome:
    token = create_user_token(user_id, settings.auth)
    async with HubClient(base_url, token) as client:
        connected_now = False
        integrations = await client.integrations()
        if integrations.get("amazon", {}).get("status") != "active":
            start = await client.call("GET", "/api/amazon/auth")
            callback = await client.approve_sandbox_consent(
                start["authUrl"], {ACCOUNT_FIELD: seller_name(index)}
            )
            await client.call("GET", callback, headers={"Accept": "application/json"})
            connected_now = True
        started = await client.start_sync()
        final = await follow_sync(client, started.sync_id, on_update)
        audit = (await client.sync_status(started.sync_id)).get("audit") or []
    rows_read = sum(
        int((entry.get("data") or {}).get("rowsRead", 0))
        for entry in audit
        if entry.get("kind") == "step.completed"
    )
    return SeedOutcome(
        user_id,
        connected_now,
        final["status"],
        cases=int(final.get("totalCases") or 0),
        rows_read=rows_read,
        error=final.get("error"),
    )
