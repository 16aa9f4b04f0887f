"""The migrations build exactly the models' schema, and tear it down again, on both engines."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Connection, Integer, MetaData, Table, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from opside_hub.db import models
from opside_hub.db.base import Base
from opside_hub.db.migrate import alembic_config, downgrade, upgrade

MODEL_TABLES = set(Base.metadata.tables)


async def test_upgrade_downgrade_upgrade_round_trip(fresh_database_url: str) -> None:
    engine = create_async_engine(fresh_database_url)
    try:
        await asyncio.to_thread(upgrade, fresh_database_url)
        assert await _tables(engine) == MODEL_TABLES | {"alembic_version"}
        assert await _revision(engine) == _head(fresh_database_url)

        await asyncio.to_thread(downgrade, fresh_database_url, "base")
        assert await _tables(engine) == {"alembic_version"}
        assert await _revision(engine) is None

        await asyncio.to_thread(upgrade, fresh_database_url)
        assert await _tables(engine) == MODEL_TABLES | {"alembic_version"}
        assert await _schema_diff(engine, Base.metadata) == []
    finally:
        await engine.dispose()


async def test_the_models_match_the_migrations(fresh_database_url: str) -> None:
    engine = create_async_engine(fresh_database_url)
    try:
        await asyncio.to_thread(upgrade, fresh_database_url)

        assert await _schema_diff(engine, Base.metadata) == []
        # The comparison does see a difference when there is one.
        extended = MetaData()
        for table in Base.metadata.tables.values():
            table.to_metadata(extended)
        Table("not_migrated", extended, Column("id", Integer, primary_key=True))
        diff = await _schema_diff(engine, extended)
        assert [(entry[0], getattr(entry[1], "name", None)) for entry in diff] == [
            ("add_table", "not_migrated")
        ]
    finally:
        await engine.dispose()


async def test_every_user_owned_table_is_listed_for_row_level_security() -> None:
    owned = {
        table.name
        for table in Base.metadata.sorted_tables
        if "user_id" in table.columns and table.name != "users"
    }
    assert owned == set(models.USER_OWNED_TABLES)


def _head(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        names: list[str] = await connection.run_sync(lambda c: inspect(c).get_table_names())
    return set(names)


async def _revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        rows = (await connection.execute(text("SELECT version_num FROM alembic_version"))).all()
    return rows[0][0] if rows else None


async def _schema_diff(engine: AsyncEngine, metadata: MetaData) -> list[tuple[object, ...]]:
    def compare(connection: Connection) -> list[tuple[object, ...]]:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        diff: list[tuple[object, ...]] = compare_metadata(context, metadata)
        return diff

    async with engine.connect() as connection:
        return await connection.run_sync(compare)
