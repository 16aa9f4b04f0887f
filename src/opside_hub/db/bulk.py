"""Idempotent bulk upserts of provider rows, keyed by `(user_id, row_key)`.

A row is written only when it is new or its provider content (`raw`) changed, so re-ingesting an
unchanged report writes nothing and the returned count is the number of rows really written.

PostgreSQL takes the fast path: COPY the batch into a temporary table, then one
`INSERT … SELECT … ON CONFLICT DO UPDATE … WHERE raw IS DISTINCT FROM excluded.raw`. SQLite gets
the same statement as a multi-row INSERT.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, Table, inspect
from sqlalchemy.ext.asyncio import AsyncSession

from opside_hub.db.base import Base
from opside_hub.db.types import json_default, utcnow
from opside_hub.observability.metrics import count_rows_ingested

CONFLICT_COLUMNS = ("user_id", "row_key")


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _columns(model: type[Base]) -> list[str]:
    """Every column but the surrogate id."""
    return [column.key for column in inspect(model).columns if column.key != "id"]


def _same(value: Any) -> Any:
    return value


def _scalar_defaults(model: type[Base]) -> dict[str, Any]:
    """Every column's value when a row omits it: its scalar default, else NULL."""
    defaults: dict[str, Any] = {}
    for column in inspect(model).columns:
        default = column.default
        scalar = getattr(default, "is_scalar", False)
        defaults[column.key] = getattr(default, "arg", None) if scalar else None
    defaults.pop("id", None)
    return defaults


async def upsert_rows(
    session: AsyncSession, model: type[Base], user_id: str, rows: Sequence[dict[str, Any]]
) -> int:
    if not rows:
        return 0
    now = utcnow()
    columns = _columns(model)
    defaults = _scalar_defaults(model)
    complete = [{**defaults, **row, "user_id": user_id, "synced_at": now} for row in rows]
    if session.get_bind().dialect.name == "postgresql":
        written = await _copy_upsert(session, model, columns, complete)
    else:
        written = await _executemany_upsert(session, model, columns, complete)
    count_rows_ingested(_table(model).name, written)
    return written


async def _executemany_upsert(
    session: AsyncSession, model: type[Base], columns: list[str], rows: list[dict[str, Any]]
) -> int:
    """SQLite: one prepared upsert run for every row (no per-batch SQL compilation); the rows
    really written are the connection's `total_changes()` delta (a no-op upsert changes none)."""
    table = _table(model)
    connection = await session.connection()
    dialect = connection.dialect
    processors = [(c, table.c[c].type._cached_bind_processor(dialect) or _same) for c in columns]
    parameters = [tuple(process(row[c]) for c, process in processors) for row in rows]
    assignments = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in CONFLICT_COLUMNS)
    statement = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "  # noqa: S608 - our own identifiers
        f"VALUES ({', '.join('?' for _ in columns)}) "
        f"ON CONFLICT ({', '.join(CONFLICT_COLUMNS)}) DO UPDATE SET {assignments} "
        f"WHERE {table.name}.raw IS NOT excluded.raw"
    )
    before = (await connection.exec_driver_sql("SELECT total_changes()")).scalar_one()
    await connection.exec_driver_sql(statement, parameters)
    after = (await connection.exec_driver_sql("SELECT total_changes()")).scalar_one()
    return int(after - before)


async def _copy_upsert(
    session: AsyncSession, model: type[Base], columns: list[str], rows: list[dict[str, Any]]
) -> int:
    table = _table(model)
    name = table.name
    temp = f"_bulk_{name}"
    connection = await session.connection()
    # Through SQLAlchemy first, so its transaction is open before we reach under it for COPY
    # (asyncpg would otherwise autocommit, and ON COMMIT DELETE ROWS would empty the table).
    await connection.exec_driver_sql(
        f"CREATE TEMP TABLE IF NOT EXISTS {temp} "
        f"(LIKE {name} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    await connection.exec_driver_sql(f"TRUNCATE {temp}")
    # asyncpg's COPY takes JSON(B) as text.
    json_columns = {c.key for c in table.columns if isinstance(c.type, JSON)}
    records = [
        tuple(
            json.dumps(row[c], default=json_default) if c in json_columns else row[c]
            for c in columns
        )
        for row in rows
    ]
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection  # the asyncpg connection under SQLAlchemy
    await driver.copy_records_to_table(temp, records=records, columns=columns)
    assignments = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in CONFLICT_COLUMNS)
    column_list = ", ".join(columns)
    # Identifiers come from our own models, never from input.
    statement = (
        f"INSERT INTO {name} ({column_list}) SELECT {column_list} FROM {temp} "  # noqa: S608
        f"ON CONFLICT ({', '.join(CONFLICT_COLUMNS)}) DO UPDATE SET {assignments} "
        f"WHERE {name}.raw IS DISTINCT FROM EXCLUDED.raw"
    )
    result = await connection.exec_driver_sql(statement)
    return int(result.rowcount)
