"""`opside-hub sync`, `status` and `sandbox seed` against a live hub, as from a second terminal."""

from __future__ import annotations

from pathlib import Path

import httpx2

from opside_hub.auth.service import create_user_token
from opside_hub.config import AuthSettings
from tests.conftest import LiveServer, serve_live
from tests.console.conftest import SMALL_SANDBOX, opside_hub, wait_until_settled
from tests.integrations.conftest import Seller
from tests.realtime.conftest import insert_sync, runtime_of

STEP_LABELS = ("Reimbursements report", "Inventory ledger report", "Building cases", "Finalizing")


async def _connect_amazon(live: LiveServer, user_id: str) -> None:
    async with httpx2.AsyncClient(base_url=live.url) as http:
        await Seller(user_id=user_id, http=http, live=live).connect("amazon")


async def test_sync_starts_and_follows_a_sync_to_its_end(hub: LiveServer, tmp_path: Path) -> None:
    await _connect_amazon(hub, "cli-seller")

    result = await opside_hub(tmp_path, "sync", "--user", "cli-seller", "--url", hub.url)

    assert result.returncode == 0, result.stdout + result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith("sync ")
    assert "started" in first or "already running, following" in first
    for label in STEP_LABELS:
        assert label in result.stdout
    assert "100%" in result.stdout
    assert "completed in" in result.stdout.splitlines()[-1]


async def test_sync_follows_the_running_sync_instead_of_starting_one(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    # No worker: the sync inserted as running stays running.
    async with serve_live(
        database_url, redis_url, **{**SMALL_SANDBOX, "run_worker_in_api": False}
    ) as live:
        await _connect_amazon(live, "busy-seller")
        running = await insert_sync(runtime_of(live), "busy-seller", status="running")

        result = await opside_hub(
            tmp_path, "sync", "--user", "busy-seller", "--url", live.url, "--no-follow"
        )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "sync",
        running.id,
        "already",
        "running,",
        "following",
        f"({live.url})",
    ]


async def test_sync_explains_what_is_wrong(hub: LiveServer, tmp_path: Path) -> None:
    nothing = await opside_hub(tmp_path, "sync", "--user", "no-connections", "--url", hub.url)
    stranger = create_user_token("x", AuthSettings(jwt_secret="another-secret-" + "y" * 40))
    rejected = await opside_hub(tmp_path, "sync", "--token", stranger, "--url", hub.url)
    mismatch = await opside_hub(tmp_path, "sync", "--user", "a", "--token", stranger)
    nobody = await opside_hub(tmp_path, "sync", "--user", "a", "--url", "http://127.0.0.1:9")
    production = await opside_hub(tmp_path, "sync", "--user", "a", APP_ENV="production")

    assert nothing.returncode == 1
    assert "None of the requested providers is connected" in nothing.stderr
    assert rejected.returncode == 1
    assert "rejected the token (token_bad_signature)" in rejected.stderr
    assert mismatch.returncode == 2
    assert "the token is for user 'x', not 'a'" in mismatch.stderr
    assert nobody.returncode == 1
    assert "no hub answers at http://127.0.0.1:9" in nobody.stderr
    assert production.returncode == 2  # an unfit production configuration, or no dev tokens


async def test_status_shows_a_user_and_all_users(
    hub: LiveServer, tmp_path: Path, database_url: str
) -> None:
    await _connect_amazon(hub, "status-seller")
    await wait_until_settled(hub, "status-seller")  # the sync that connecting starts
    synced = await opside_hub(tmp_path, "sync", "--user", "status-seller", "--url", hub.url)
    assert synced.returncode == 0, synced.stderr

    one = await opside_hub(tmp_path, "status", "--user", "status-seller", DATABASE_URL=database_url)
    every = await opside_hub(tmp_path, "status", DATABASE_URL=database_url)
    missing = await opside_hub(tmp_path, "status", "--user", "nobody", DATABASE_URL=database_url)

    assert one.returncode == 0, one.stderr
    assert "Connections of status-seller" in one.stdout
    amazon_row = next(line for line in one.stdout.splitlines() if "│ amazon" in line)
    assert "active" in amazon_row
    assert "completed" in one.stdout
    assert every.returncode == 0, every.stderr
    seller_row = next(line for line in every.stdout.splitlines() if "status-seller" in line)
    assert "active" in seller_row
    assert "completed" in seller_row
    assert missing.returncode == 1
    assert "no user 'nobody'" in missing.stdout


async def test_status_without_a_database_says_so(tmp_path: Path) -> None:
    result = await opside_hub(tmp_path, "status")

    assert result.returncode == 1
    assert "no database at data/opside-hub.db" in result.stderr
    assert not (tmp_path / "data" / "opside-hub.db").exists()


async def test_seed_connects_and_syncs_sellers(hub: LiveServer, tmp_path: Path) -> None:
    refused = await opside_hub(
        tmp_path, "sandbox", "seed", "--sellers", "2", "--rows", "999", "--url", hub.url
    )
    seeded = await opside_hub(
        tmp_path, "sandbox", "seed", "--sellers", "2", "--rows", "30", "--url", hub.url
    )
    again = await opside_hub(tmp_path, "sandbox", "seed", "--sellers", "2", "--url", hub.url)

    assert refused.returncode == 2
    assert "serves 30 reimbursement events per seller, not 999" in refused.stderr
    assert "SANDBOX_AMAZON_REIMBURSEMENTS=999" in refused.stderr
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    assert "2 sellers (2 newly connected): 2 synced, 0 not" in seeded.stdout
    assert again.returncode == 0, again.stdout + again.stderr
    assert "2 sellers (0 newly connected): 2 synced, 0 not" in again.stdout
    async with httpx2.AsyncClient(base_url=hub.url) as http:
        for user_id in ("seed-0001", "seed-0002"):
            token = create_user_token(user_id, hub.settings.auth)
            response = await http.get(
                "/api/cases", headers={"Authorization": f"Bearer {token}"}, params={"limit": 1}
            )
            assert response.json()["data"], user_id


async def test_seed_needs_a_sandbox_server(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    async with serve_live(database_url, redis_url, provider_mode="live") as live:
        result = await opside_hub(tmp_path, "sandbox", "seed", "--url", live.url)

    assert result.returncode == 2
    assert "is not a sandbox development server" in result.stderr
