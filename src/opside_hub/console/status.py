"""`opside-hub status`: connections and recent syncs of one user, or an overview of all users.

It reads the database (the source of truth for every sync) and nothing else: no Redis, no
server, so it answers even while the API or Redis is down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from opside_hub.config import Settings
from opside_hub.console import repository
from opside_hub.db.engine import create_engine
from opside_hub.db.models import SyncJob
from opside_hub.integrations.service import PROVIDERS, list_integrations

STATUS_STYLES = {
    "active": "green",
    "completed": "green",
    "running": "blue",
    "queued": "blue",
    "failed": "red",
    "needs_reauth": "red",
    "revoked": "red",
    "cancelled": "yellow",
    "not_connected": "dim",
}


class NoDatabase(Exception):
    """The configured SQLite file does not exist: nothing was ever started here."""


def _styled(value: str) -> str:
    style = STATUS_STYLES.get(value)
    return f"[{style}]{value}[/]" if style else value


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "—"


def _duration(job: SyncJob) -> str:
    if job.started_at is None or job.finished_at is None:
        return "—"
    return f"{(job.finished_at - job.started_at).total_seconds():.1f} s"


async def show_status(settings: Settings, console: Console, user_id: str | None, limit: int) -> int:
    """Print the status; returns the exit code (1: no such user)."""
    if settings.db.is_sqlite:
        path = settings.db.effective_url.split("///", 1)[-1]
        if not await asyncio.to_thread(Path(path).exists):
            raise NoDatabase(path)
    engine = create_engine(settings.db)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with sessions() as session:
            if user_id is None:
                await _all_users(session, console, limit)
                return 0
            user = await repository.get_user(session, user_id)
            if user is None:
                console.print(f"[red]no user {user_id!r}[/] (users appear on their first request)")
                return 1
            integrations = await list_integrations(session, user_id)
            syncs = await repository.recent_syncs(session, user_id, limit)
    finally:
        await engine.dispose()

    connections = Table(title=f"Connections of {user_id} (times in UTC)", title_justify="left")
    for column in ("provider", "status", "account", "connected", "refreshed"):
        connections.add_column(column, no_wrap=True)
    for provider in PROVIDERS:
        item = integrations[provider]
        connections.add_row(
            provider,
            _styled(item.status),
            item.account_id or "—",
            _when(item.connected_at),
            _when(item.last_refreshed_at),
        )
    console.print(connections)
    console.print(_sync_table(f"Recent syncs of {user_id} (times in UTC)", syncs))
    return 0


def _sync_table(title: str, syncs: Sequence[SyncJob]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("sync", "created", "status", "%", "duration", "cases", "trigger"):
        table.add_column(
            column, justify="right" if column in ("%", "cases") else "left", no_wrap=True
        )
    for job in syncs:
        active = job.status in ("queued", "running")
        table.add_row(
            job.id[:8],
            _when(job.created_at),
            _styled(job.status) + (f" ({job.stage})" if active else ""),
            str(job.percent),
            _duration(job),
            str(job.total_cases),
            job.trigger,
        )
    if not table.row_count:
        table.add_row("—", "no syncs yet", "", "", "", "", "")
    return table


async def _all_users(session: AsyncSession, console: Console, limit: int) -> None:
    total = await repository.count_users(session)
    users = await repository.recent_users(session, limit)
    ids = [user.id for user in users]
    tokens = await repository.tokens_of(session, ids) if ids else []
    latest = await repository.latest_syncs(session, ids) if ids else {}
    counts = await repository.sync_counts(session, ids) if ids else {}
    connections: dict[tuple[str, str], str] = {
        (token.user_id, token.provider): token.status for token in tokens
    }
    table = Table(
        title=f"Users ({total}, most recently seen first; times in UTC)", title_justify="left"
    )
    for column in ("user", *PROVIDERS, "syncs", "last sync", "status", "cases"):
        table.add_column(column, justify="right" if column in ("syncs", "cases") else "left")
    for user in users:
        job = latest.get(user.id)
        table.add_row(
            user.id,
            *(_styled(connections.get((user.id, p), "—")) for p in PROVIDERS),
            str(counts.get(user.id, 0)),
            _when(job.created_at) if job else "—",
            _styled(job.status) if job else "—",
            str(job.total_cases) if job else "—",
        )
    console.print(table)
    if total > len(users):
        console.print(f"[dim]{total - len(users)} more users; raise --limit to see them[/]")
