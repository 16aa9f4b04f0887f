from __future__ import annotations

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from opside_hub.auth.repository import get_or_create_user
from opside_hub.config import Settings, VaultSettings
from opside_hub.db.models import Token
from opside_hub.db.session import transaction
from opside_hub.providers.oauth2 import TokenGrant
from opside_hub.runtime import Runtime
from opside_hub.vault.cipher import key_id_of
from opside_hub.vault.keys import generate_key, parse_keyring
from opside_hub.vault.service import open_access_token, open_refresh_token, rotate_keys, save_grant

OLD_KEY = f"old:{generate_key()}"
NEW_KEY = f"new:{generate_key()}"


def _grant(n: int) -> TokenGrant:
    return TokenGrant(
        access_token=SecretStr(f"Atza|access-{n}"),
        refresh_token=SecretStr(f"Atzr|refresh-{n}"),
        expires_in=3600,
    )


async def _seed(settings: Settings, count: int) -> None:
    runtime = await Runtime.start(_with_key(settings, OLD_KEY))
    try:
        async with transaction(runtime.sessions) as session:
            for n in range(count):
                await get_or_create_user(session, f"user-{n}", None)
                await save_grant(
                    session,
                    runtime.keyring,
                    user_id=f"user-{n}",
                    provider="amazon",
                    grant=_grant(n),
                )
    finally:
        await runtime.stop()


def _with_key(settings: Settings, key: str) -> Settings:
    return settings.model_copy(update={"vault": VaultSettings(encryption_key=key)})


@pytest.mark.parametrize("batch_size", [1, 7, 500])
async def test_rotation_reseals_every_row_under_the_newest_key(
    settings: Settings, batch_size: int
) -> None:
    await _seed(settings, 12)
    runtime = await Runtime.start(_with_key(settings, f"{NEW_KEY},{OLD_KEY}"))
    try:
        # During rotation (new key first, old still listed) old ciphertexts still open.
        async with runtime.sessions() as session:
            row = (await session.execute(select(Token).limit(1))).scalar_one()
            assert key_id_of(row.access_token_enc or "") == "old"
            assert open_access_token(runtime.keyring, row).get_secret_value().startswith("Atza|")

        result = await rotate_keys(runtime, batch_size=batch_size)
        again = await rotate_keys(runtime, batch_size=batch_size)
    finally:
        await runtime.stop()

    assert (result.rows_seen, result.values_resealed, result.values_skipped) == (12, 24, 0)
    assert again.values_resealed == 0  # idempotent

    # With the old key gone entirely, every value still opens.
    only_new = parse_keyring(NEW_KEY)
    runtime = await Runtime.start(_with_key(settings, NEW_KEY))
    try:
        async with runtime.sessions() as session:
            rows = (await session.execute(select(Token).order_by(Token.user_id))).scalars().all()
    finally:
        await runtime.stop()
    assert len(rows) == 12
    for row in rows:
        n = row.user_id.removeprefix("user-")
        assert key_id_of(row.access_token_enc or "") == "new"
        assert open_access_token(only_new, row).get_secret_value() == f"Atza|access-{n}"
        refresh = open_refresh_token(only_new, row)
        assert refresh is not None
        assert refresh.get_secret_value() == f"Atzr|refresh-{n}"
