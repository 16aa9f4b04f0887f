"""An empty database of a test's own, for tests that build or tear down the schema."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from opside_hub.config import DatabaseSettings
from tests.conftest import _env_database_url


@asynccontextmanager
async def fresh_database(directory: Path) -> AsyncIterator[str]:
    """A new, empty database on the run's backend: a SQLite file in `directory`, or a
    PostgreSQL database created on the test server and dropped afterwards."""
    admin_url = _env_database_url()
    if not admin_url.startswith("postgres"):
        yield f"sqlite+aiosqlite:///{directory / 'fresh.db'}"
        return
    admin = make_url(DatabaseSettings(url=admin_url).effective_url)
    name = f"opside_fresh_{uuid.uuid4().hex[:12]}"
    engine = create_async_engine(admin, isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        async with engine.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await engine.dispose()


@pytest.fixture
async def fresh_database_url(tmp_path: Path) -> AsyncIterator[str]:
    async with fresh_database(tmp_path) as url:
        yield url
