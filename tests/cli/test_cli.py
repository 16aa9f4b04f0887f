"""`opside-hub`, run as a subprocess the way an operator runs it."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import jwt

from opside_hub.db.base import Base
from tests.conftest import TEST_JWT_SECRET

CLI = Path(sys.executable).parent / "opside-hub"


def run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # Only the variables given here: nothing from the developer's shell, no `.env` (cwd is empty).
    base = {name: os.environ[name] for name in ("PATH", "HOME", "SYSTEMROOT") if name in os.environ}
    return subprocess.run(
        [str(CLI), *args],
        cwd=cwd,
        env={**base, "LANG": "C.UTF-8", "NO_COLOR": "1", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_token_prints_a_user_jwt_signed_with_the_secret(tmp_path: Path) -> None:
    result = run(
        tmp_path, "token", "--user", "demo", "--email", "d@example.com", JWT_SECRET=TEST_JWT_SECRET
    )

    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    claims = jwt.decode(token, TEST_JWT_SECRET, algorithms=["HS256"], audience="authenticated")
    assert claims["sub"] == "demo"
    assert claims["email"] == "d@example.com"
    assert claims["exp"] - claims["iat"] == timedelta(days=7).total_seconds()


def test_token_without_a_secret_uses_the_kept_development_secret(tmp_path: Path) -> None:
    first = run(tmp_path, "token", "--user", "demo")
    second = run(tmp_path, "token", "--user", "demo")

    assert first.returncode == second.returncode == 0, first.stderr
    secrets_file = tmp_path / "data" / ".dev-secrets.json"
    assert secrets_file.exists()
    secret = json.loads(secrets_file.read_text())["jwt_secret"]
    for result in (first, second):
        claims = jwt.decode(
            result.stdout.strip(), secret, algorithms=["HS256"], audience="authenticated"
        )
        assert claims["sub"] == "demo"


def test_token_is_refused_in_production(tmp_path: Path) -> None:
    result = run(
        tmp_path, "token", "--user", "demo", APP_ENV="production", JWT_SECRET=TEST_JWT_SECRET
    )

    assert result.returncode == 2
    assert result.stdout == ""
    assert "refused" in result.stderr


def test_migrate_creates_the_tables_and_can_revert_them(tmp_path: Path) -> None:
    database = tmp_path / "cli.db"
    env = {"DATABASE_URL": f"sqlite:///{database}", "JWT_SECRET": TEST_JWT_SECRET}

    up = run(tmp_path, "migrate", **env)
    assert up.returncode == 0, up.stderr
    assert "database at head" in up.stdout
    assert _tables(database) == set(Base.metadata.tables) | {"alembic_version"}

    down = run(tmp_path, "migrate", "base", "--down", **env)
    assert down.returncode == 0, down.stderr
    assert _tables(database) == {"alembic_version"}


def test_commands_refuse_an_unfit_production_configuration(tmp_path: Path) -> None:
    result = run(tmp_path, "migrate", APP_ENV="production")

    assert result.returncode == 2
    for variable in ("JWT_SECRET", "ENCRYPTION_KEY", "DATABASE_URL", "REDIS_URL", "PROVIDER_MODE"):
        assert variable in result.stderr
    assert not (tmp_path / "data").exists()  # no embedded database was created on the way


def _tables(path: Path) -> set[str]:
    with closing(sqlite3.connect(path)) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name for (name,) in rows if not name.startswith("sqlite_")}
