"""Settings: what production refuses, and the development secrets the embedded default keeps."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from opside_hub.app import create_app
from opside_hub.config import (
    AppEnv,
    AuthSettings,
    ConfigurationError,
    DatabaseSettings,
    ProviderMode,
    RedisSettings,
    Settings,
    VaultSettings,
    fill_development_secrets,
    validate_for_production,
)
from opside_hub.vault.keys import generate_key
from tests.conftest import TEST_JWT_SECRET

POSTGRES_URL = "postgresql://opside:pw@db.example.com:5432/opside"
REDIS_URL = "redis://redis.example.com:6379/0"


def production(**overrides: object) -> Settings:
    """A configuration fit for production; each test breaks one thing."""
    values: dict[str, object] = {
        "app_env": AppEnv.production,
        "provider_mode": ProviderMode.live,
        "db": DatabaseSettings(url=POSTGRES_URL),
        "redis": RedisSettings(url=REDIS_URL),
        "auth": AuthSettings(jwt_secret=TEST_JWT_SECRET),
        "vault": VaultSettings(encryption_key=generate_key()),
    }
    values.update(overrides)
    return Settings.model_validate(values)


def test_a_complete_production_configuration_passes() -> None:
    settings = production()

    assert settings.production_problems() == []
    validate_for_production(settings)


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"auth": AuthSettings(jwt_secret="")}, "JWT_SECRET"),
        ({"auth": AuthSettings(jwt_secret="changeme")}, "JWT_SECRET"),
        ({"auth": AuthSettings(jwt_secret="x" * 31)}, "JWT_SECRET"),
        ({"vault": VaultSettings(encryption_key="")}, "ENCRYPTION_KEY"),
        ({"vault": VaultSettings(encryption_key="0" * 64)}, "ENCRYPTION_KEY"),
        ({"vault": VaultSettings(encryption_key="c2hvcnQ=")}, "ENCRYPTION_KEY"),
        ({"vault": VaultSettings(encryption_key="not a key!")}, "ENCRYPTION_KEY"),
        ({"db": DatabaseSettings(url="")}, "DATABASE_URL"),
        ({"db": DatabaseSettings(url="sqlite:///data/prod.db")}, "DATABASE_URL"),
        ({"redis": RedisSettings(url="")}, "REDIS_URL"),
        ({"provider_mode": ProviderMode.sandbox}, "PROVIDER_MODE"),
    ],
    ids=[
        "jwt-missing",
        "jwt-known-weak",
        "jwt-short",
        "key-missing",
        "key-not-random",
        "key-too-short",
        "key-not-encoded",
        "sqlite-default",
        "sqlite-explicit",
        "embedded-redis",
        "sandbox",
    ],
)
def test_production_refuses_and_names_the_variable(
    overrides: dict[str, object], variable: str
) -> None:
    settings = production(**overrides)

    problems = settings.production_problems()
    assert len(problems) == 1
    assert variable in problems[0]
    with pytest.raises(ConfigurationError, match=variable):
        validate_for_production(settings)
    with pytest.raises(ConfigurationError, match=variable):
        create_app(settings, configure_logs=False)


def test_production_lists_every_problem_at_once() -> None:
    settings = production(
        auth=AuthSettings(jwt_secret=""),
        vault=VaultSettings(encryption_key=""),
        db=DatabaseSettings(url=""),
        redis=RedisSettings(url=""),
        provider_mode=ProviderMode.sandbox,
    )

    with pytest.raises(ConfigurationError) as raised:
        validate_for_production(settings)

    for variable in ("JWT_SECRET", "ENCRYPTION_KEY", "DATABASE_URL", "REDIS_URL", "PROVIDER_MODE"):
        assert variable in str(raised.value)


@pytest.mark.parametrize("env", [AppEnv.development, AppEnv.test])
def test_the_embedded_default_is_fine_outside_production(env: AppEnv) -> None:
    settings = production(
        app_env=env,
        db=DatabaseSettings(url=""),
        redis=RedisSettings(url=""),
        provider_mode=ProviderMode.sandbox,
    )

    validate_for_production(settings)  # does not raise


def test_environment_variables_are_read_by_their_outside_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@h:5432/d")
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    monkeypatch.setenv("PROVIDER_MODE", "live")
    monkeypatch.setenv("JWT_SECRET", TEST_JWT_SECRET)
    monkeypatch.setenv("ENCRYPTION_KEY", generate_key())
    monkeypatch.setenv("CORS_ORIGINS", "https://app.opside.io, https://admin.opside.io")
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8")

    settings = Settings()

    assert settings.is_production
    assert settings.db.effective_url == "postgresql+asyncpg://u:p@h:5432/d"
    assert settings.cors_origins == ["https://app.opside.io", "https://admin.opside.io"]
    assert settings.trusted_proxies == ["10.0.0.0/8"]
    assert settings.production_problems() == []


def _empty_secrets(env: AppEnv = AppEnv.development) -> Settings:
    return Settings.model_validate(
        {
            "app_env": env,
            "auth": AuthSettings(jwt_secret=""),
            "vault": VaultSettings(encryption_key=""),
        }
    )


def test_development_secrets_are_generated_once_and_kept(tmp_path: Path) -> None:
    first = fill_development_secrets(_empty_secrets(), tmp_path)
    second = fill_development_secrets(_empty_secrets(), tmp_path)

    jwt_secret = first.auth.jwt_secret.get_secret_value()
    encryption_key = first.vault.encryption_key.get_secret_value()
    assert len(jwt_secret) >= 32
    # The generated secrets are as strong as production demands.
    assert not any(
        "JWT_SECRET" in problem or "ENCRYPTION_KEY" in problem
        for problem in first.production_problems()
    )
    # A restart reads the same secrets back: tokens and sealed tokens stay valid.
    assert second.auth.jwt_secret.get_secret_value() == jwt_secret
    assert second.vault.encryption_key.get_secret_value() == encryption_key
    path = tmp_path / ".dev-secrets.json"
    assert json.loads(path.read_text()) == {
        "jwt_secret": jwt_secret,
        "encryption_key": encryption_key,
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_development_secrets_never_override_configured_ones(tmp_path: Path) -> None:
    key = generate_key()
    settings = Settings.model_validate(
        {
            "app_env": AppEnv.development,
            "auth": AuthSettings(jwt_secret=TEST_JWT_SECRET),
            "vault": VaultSettings(encryption_key=key),
        }
    )

    filled = fill_development_secrets(settings, tmp_path)

    assert filled.auth.jwt_secret == SecretStr(TEST_JWT_SECRET)
    assert filled.vault.encryption_key.get_secret_value() == key
    assert not (tmp_path / ".dev-secrets.json").exists()


def test_only_the_missing_secret_is_filled(tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {
            "app_env": AppEnv.development,
            "auth": AuthSettings(jwt_secret=TEST_JWT_SECRET),
            "vault": VaultSettings(encryption_key=""),
        }
    )

    filled = fill_development_secrets(settings, tmp_path)

    assert filled.auth.jwt_secret.get_secret_value() == TEST_JWT_SECRET
    stored = json.loads((tmp_path / ".dev-secrets.json").read_text())
    assert filled.vault.encryption_key.get_secret_value() == stored["encryption_key"]


def test_production_gets_no_generated_secrets(tmp_path: Path) -> None:
    settings = fill_development_secrets(_empty_secrets(AppEnv.production), tmp_path)

    assert settings.auth.jwt_secret.get_secret_value() == ""
    assert settings.vault.encryption_key.get_secret_value() == ""
    assert not (tmp_path / ".dev-secrets.json").exists()
    assert any("JWT_SECRET" in problem for problem in settings.production_problems())


@pytest.mark.parametrize(
    ("url", "effective"),
    [
        ("", "sqlite+aiosqlite:///data/opside-hub.db"),
        ("postgres://u:p@h/d", "postgresql+asyncpg://u:p@h/d"),
        ("postgresql://u:p@h/d", "postgresql+asyncpg://u:p@h/d"),
        ("postgresql+asyncpg://u:p@h/d", "postgresql+asyncpg://u:p@h/d"),
        ("sqlite:///tmp/x.db", "sqlite+aiosqlite:///tmp/x.db"),
    ],
)
def test_database_urls_are_adapted_to_the_async_drivers(url: str, effective: str) -> None:
    assert DatabaseSettings(url=url).effective_url == effective
