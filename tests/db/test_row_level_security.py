"""Row-level security on PostgreSQL: a role that is not the schema owner sees one user's rows.

The tests run as the server's superuser, which bypasses row security, so each test switches to a
fresh NOLOGIN role with ordinary table privileges (as Supabase's `authenticated` role has).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence

import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from opside_hub.db.migrate import upgrade
from opside_hub.db.models import USER_OWNED_TABLES, Token, User
from opside_hub.db.types import utcnow
from tests.conftest import _env_database_url
from tests.db.conftest import fresh_database

pytestmark = pytest.mark.skipif(
    not _env_database_url().startswith("postgres"),
    reason="row-level security exists on PostgreSQL only",
)


@pytest.fixture(scope="module")
async def engine(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AsyncEngine]:
    """One migrated database for the module, holding two users with two tokens each.

    The tests only read (a refused write rolls back), so they can share it.
    """
    async with fresh_database(tmp_path_factory.mktemp("rls")) as url:
        await asyncio.to_thread(upgrade, url)
        engine = create_async_engine(url)
        now = utcnow()
        async with engine.begin() as connection:
            for user_id in ("user-a", "user-b"):
                await connection.execute(
                    insert(User).values(id=user_id, created_at=now, last_seen_at=now)
                )
                for provider in ("amazon", "gmail"):
                    await connection.execute(
                        insert(Token).values(
                            id=str(uuid.uuid4()),
                            user_id=user_id,
                            provider=provider,
                            scopes=[],
                            status="active",
                            details={},
                            created_at=now,
                            updated_at=now,
                        )
                    )
        yield engine
        await engine.dispose()


@pytest.fixture
async def role(engine: AsyncEngine) -> AsyncIterator[str]:
    """A role like Supabase's `authenticated`: table privileges, not the owner, no BYPASSRLS."""
    name = f"opside_rls_{uuid.uuid4().hex[:10]}"
    async with engine.begin() as connection:
        await connection.execute(text(f'CREATE ROLE "{name}" NOLOGIN NOSUPERUSER NOBYPASSRLS'))
        await connection.execute(text(f'GRANT USAGE ON SCHEMA public TO "{name}"'))
        await connection.execute(
            text(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{name}"')
        )
    yield name
    async with engine.begin() as connection:
        await connection.execute(text(f'DROP OWNED BY "{name}"'))
        await connection.execute(text(f'DROP ROLE "{name}"'))


async def _as_role(connection: AsyncConnection, role: str, **settings: str) -> None:
    await connection.execute(text(f'SET LOCAL ROLE "{role}"'))
    for name, value in settings.items():
        await connection.execute(
            text("SELECT set_config(:name, :value, true)"),
            {"name": name.replace("__", "."), "value": value},
        )


async def _column(connection: AsyncConnection, sql: str) -> Sequence[str]:
    return sorted((await connection.execute(text(sql))).scalars().all())


async def test_a_scoped_transaction_sees_only_its_users_rows(
    engine: AsyncEngine, role: str
) -> None:
    async with engine.begin() as connection:
        await _as_role(connection, role, app__user_id="user-a")

        assert await _column(connection, "SELECT user_id FROM tokens") == ["user-a", "user-a"]
        assert await _column(connection, "SELECT id FROM users") == ["user-a"]
        # Even a query that asks for another user's rows by name gets none.
        rows = await _column(connection, "SELECT id FROM tokens WHERE user_id = 'user-b'")
        assert rows == []


async def test_an_unscoped_transaction_of_another_role_sees_nothing(
    engine: AsyncEngine, role: str
) -> None:
    async with engine.begin() as connection:
        await _as_role(connection, role)

        assert await _column(connection, "SELECT user_id FROM tokens") == []
        assert await _column(connection, "SELECT id FROM users") == []


async def test_the_scope_ends_with_the_transaction(engine: AsyncEngine, role: str) -> None:
    async with engine.connect() as connection:
        async with connection.begin():
            await _as_role(connection, role, app__user_id="user-a")
            assert await _column(connection, "SELECT id FROM users") == ["user-a"]
        # Same pooled connection, next transaction: nothing carried over.
        async with connection.begin():
            await _as_role(connection, role)
            assert await _column(connection, "SELECT id FROM users") == []


async def test_a_supabase_authenticated_request_sees_its_own_rows(
    engine: AsyncEngine, role: str
) -> None:
    async with engine.begin() as connection:
        await _as_role(connection, role, request__jwt__claims='{"sub": "user-b", "role": "x"}')

        assert await _column(connection, "SELECT user_id FROM tokens") == ["user-b", "user-b"]


async def test_a_scoped_transaction_cannot_write_another_users_rows(
    engine: AsyncEngine, role: str
) -> None:
    now = utcnow()

    async def write_for_user_b() -> None:
        async with engine.begin() as connection:
            await _as_role(connection, role, app__user_id="user-a")
            await connection.execute(
                insert(Token).values(
                    id=str(uuid.uuid4()),
                    user_id="user-b",
                    provider="stripe",
                    scopes=[],
                    status="active",
                    details={},
                    created_at=now,
                    updated_at=now,
                )
            )

    with pytest.raises(DBAPIError, match="row-level security"):
        await write_for_user_b()

    async with engine.begin() as connection:
        await _as_role(connection, role, app__user_id="user-a")
        result = await connection.execute(
            text("UPDATE tokens SET status = 'revoked' WHERE user_id = 'user-b'")
        )
        assert result.rowcount == 0  # invisible rows cannot be updated either


async def test_row_security_is_forced_on_every_user_table(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                text(
                    "SELECT c.relname FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public' "
                    "JOIN pg_policy p ON p.polrelid = c.oid "
                    "WHERE c.relkind = 'r' AND c.relrowsecurity AND c.relforcerowsecurity"
                )
            )
        ).scalars()
        protected = set(rows)

    assert protected == {"users", *USER_OWNED_TABLES}
