"""`scripts/generate_service_jwt.py`, run as an operator runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jwt

from tests.conftest import repo_root

SCRIPT = repo_root() / "scripts" / "generate_service_jwt.py"
SECRET = "evidence-service-secret-" + "s" * 40


def run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON_API_")}
    # cwd: a directory without a `.env`, so only the variables given here count.
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_prints_a_service_token_with_the_requested_claims(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "--user-id",
        "seller-9",
        "--email",
        "s9@example.com",
        "--ttl-minutes",
        "2",
        PYTHON_API_JWT_SECRET=SECRET,
    )

    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], issuer="integrations-backend")
    assert claims["sub"] == claims["user_id"] == "seller-9"
    assert claims["email"] == "s9@example.com"
    assert claims["role"] == "service_worker"
    assert claims["exp"] - claims["iat"] == 120


def test_exits_2_with_a_message_without_the_secret(tmp_path: Path) -> None:
    result = run(tmp_path, "--user-id", "seller-9")

    assert result.returncode == 2
    assert result.stdout == ""
    assert "PYTHON_API_JWT_SECRET" in result.stderr
