"""Async engine creation for PostgreSQL (asyncpg) and SQLite (aiosqlite)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from opside_hub.config import DatabaseSettings


def create_engine(settings: DatabaseSettings) -> AsyncEngine:
    url = make_url(settings.effective_url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url.render_as_string(hide_password=False), settings.echo)
    return create_async_engine(
        url,
        echo=settings.echo,
        pool_size=settings.pool_size,
        max_overflow=settings.pool_size,
        pool_pre_ping=True,
        # Supabase's pooler (PgBouncer, transaction mode) cannot keep prepared statements.
        connect_args={"statement_cache_size": 0} if "pooler" in (url.host or "") else {},
    )


def _sqlite_engine(url: str, echo: bool) -> AsyncEngine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    # A small pool: an aiosqlite connection is a thread and a file open, too dear per request.
    # SQLite serializes writers anyway, and WAL lets readers run beside the writer;
    # busy_timeout makes a second writer wait instead of failing. An in-memory database lives
    # and dies with its connection, so it gets one per checkout.
    if not database or database == ":memory:":
        engine = create_async_engine(url, echo=echo, poolclass=NullPool)
    else:
        engine = create_async_engine(url, echo=echo, pool_size=5, max_overflow=10)
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "synchronous=NORMAL",
        "foreign_keys=ON",
        "busy_timeout=30000",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()
