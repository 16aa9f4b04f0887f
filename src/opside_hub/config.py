"""Settings, grouped by domain, read from the environment and `.env`.

The environment names are the outside contract (DESIGN §3): each field names its variable
explicitly with `validation_alias`, so a group can use short attribute names
(`settings.amazon.client_id`) while the operator keeps writing `AMAZON_CLIENT_ID`.

With no variables at all the service runs the embedded default: SQLite under `./data/`, an
embedded Redis, and the sandbox providers mounted on this same server. `APP_ENV=production`
refuses that default; `validate_for_production` names every variable that is wrong.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DATA_DIR = Path("data")
WEAK_SECRETS = frozenset(
    {"", "secret", "changeme", "change-me", "password", "your-secret-key", "jwt-secret"}
)
MIN_SECRET_BYTES = 32
# Signs the sandbox Stripe's webhooks when STRIPE_WEBHOOK_SECRET is unset (sandbox mode only).
SANDBOX_STRIPE_WEBHOOK_SECRET = "whsec_opside-sandbox-stripe-webhook-secret"  # noqa: S105


class AppEnv(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class ProviderMode(StrEnum):
    sandbox = "sandbox"
    live = "live"


class _Group(BaseSettings):
    # An empty variable (`RUN_WORKER_IN_API=`) means "not set", not "the empty value".
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        env_ignore_empty=True,
    )


def _env(name: str, *aliases: str) -> Any:
    return AliasChoices(name, *aliases)


class DatabaseSettings(_Group):
    url: str = Field("", validation_alias=_env("DATABASE_URL"))
    echo: bool = Field(False, validation_alias=_env("DATABASE_ECHO"))
    pool_size: int = Field(10, validation_alias=_env("DATABASE_POOL_SIZE"))

    @property
    def effective_url(self) -> str:
        """The SQLAlchemy async URL; plain `postgres://` URLs (Supabase, Heroku) are adapted."""
        url = self.url or f"sqlite+aiosqlite:///{DATA_DIR / 'opside-hub.db'}"
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+asyncpg://" + url.removeprefix(prefix)
        if url.startswith("sqlite://"):
            return "sqlite+aiosqlite://" + url.removeprefix("sqlite://")
        return url

    @property
    def is_sqlite(self) -> bool:
        return self.effective_url.startswith("sqlite")


class RedisSettings(_Group):
    url: str = Field("", validation_alias=_env("REDIS_URL"))
    namespace: str = Field("opside", validation_alias=_env("REDIS_NAMESPACE"))
    embedded_path: Path = Field(DATA_DIR / "redis.db", validation_alias=_env("EMBEDDED_REDIS_PATH"))

    @property
    def embedded(self) -> bool:
        return not self.url


class AuthSettings(_Group):
    jwt_secret: SecretStr = Field(SecretStr(""), validation_alias=_env("JWT_SECRET"))
    jwt_expires_in: str = Field("7d", validation_alias=_env("JWT_EXPIRES_IN"))
    jwt_audiences: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["authenticated"], validation_alias=_env("JWT_AUDIENCES")
    )
    max_token_bytes: int = 8192

    @field_validator("jwt_audiences", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return _split_csv(value)


class VaultSettings(_Group):
    encryption_key: SecretStr = Field(SecretStr(""), validation_alias=_env("ENCRYPTION_KEY"))


class AmazonSettings(_Group):
    client_id: str = Field("", validation_alias=_env("AMAZON_CLIENT_ID"))
    client_secret: SecretStr = Field(SecretStr(""), validation_alias=_env("AMAZON_CLIENT_SECRET"))
    redirect_uri: str = Field("", validation_alias=_env("AMAZON_REDIRECT_URI"))
    app_id: str = Field("", validation_alias=_env("AMAZON_APP_ID"))
    marketplace_id: str = Field("ATVPDKIKX0DER", validation_alias=_env("AMAZON_MARKETPLACE_ID"))
    consent_url: str = Field("", validation_alias=_env("AMAZON_CONSENT_URL"))
    lwa_token_url: str = Field("", validation_alias=_env("AMAZON_LWA_TOKEN_URL"))
    spapi_base_url: str = Field("", validation_alias=_env("AMAZON_SPAPI_BASE_URL"))
    backfill_days: int = Field(540, validation_alias=_env("AMAZON_BACKFILL_DAYS"))
    draft_app: bool = Field(False, validation_alias=_env("AMAZON_DRAFT_APP"))


class GmailSettings(_Group):
    client_id: str = Field("", validation_alias=_env("GMAIL_CLIENT_ID"))
    client_secret: SecretStr = Field(SecretStr(""), validation_alias=_env("GMAIL_CLIENT_SECRET"))
    redirect_uri: str = Field("", validation_alias=_env("GMAIL_REDIRECT_URI"))
    auth_url: str = Field("", validation_alias=_env("GOOGLE_AUTH_URL"))
    token_url: str = Field("", validation_alias=_env("GOOGLE_TOKEN_URL"))
    revoke_url: str = Field("", validation_alias=_env("GOOGLE_REVOKE_URL"))
    api_base_url: str = Field("", validation_alias=_env("GMAIL_API_BASE_URL"))
    # What the sync fetches: Gmail search syntax (messages.list `q`).
    invoice_query: str = Field(
        'has:attachment (invoice OR receipt OR "purchase order") newer_than:2y',
        validation_alias=_env("GMAIL_INVOICE_QUERY"),
    )
    # Gmail requests in flight per sync or search (Gmail allows 250 quota units/s per user).
    fetch_concurrency: int = Field(8, ge=1, le=50, validation_alias=_env("GMAIL_FETCH_CONCURRENCY"))


class StripeSettings(_Group):
    client_id: str = Field("", validation_alias=_env("STRIPE_CLIENT_ID"))
    client_secret: SecretStr = Field(
        SecretStr(""), validation_alias=_env("STRIPE_CLIENT_SECRET", "STRIPE_SECRET_KEY")
    )
    redirect_uri: str = Field("", validation_alias=_env("STRIPE_REDIRECT_URI"))
    webhook_secret: SecretStr = Field(SecretStr(""), validation_alias=_env("STRIPE_WEBHOOK_SECRET"))
    api_base_url: str = Field("", validation_alias=_env("STRIPE_API_BASE_URL"))
    connect_base_url: str = Field("", validation_alias=_env("STRIPE_CONNECT_BASE_URL"))


class EvidenceSettings(_Group):
    """The evidence (refund engine) service reached with short-lived service JWTs."""

    api_url: str = Field("", validation_alias=_env("PYTHON_API_URL"))
    jwt_secret: SecretStr = Field(SecretStr(""), validation_alias=_env("PYTHON_API_JWT_SECRET"))
    jwt_ttl: str = Field("5m", validation_alias=_env("PYTHON_API_JWT_TTL"))
    service_name: str = Field(
        "integrations-backend", validation_alias=_env("PYTHON_API_SERVICE_NAME")
    )
    # Where evidence files (invoice attachments) are kept, content-addressed by SHA-256.
    storage_dir: Path = Field(DATA_DIR / "evidence", validation_alias=_env("EVIDENCE_STORAGE_DIR"))


class RealtimeSettings(_Group):
    """The WebSocket `/ws`: how long a socket lives, keepalive, and per-socket limits."""

    # Sockets are recycled (a `reconnect` hint, then close 1012) so that deploys and load
    # balancers rebalance and a revoked user does not stay connected for days.
    max_lifetime_seconds: float = Field(
        3600.0, gt=0, validation_alias=_env("WS_MAX_LIFETIME_SECONDS")
    )
    ping_interval_seconds: float = Field(
        25.0, gt=0, validation_alias=_env("WS_PING_INTERVAL_SECONDS")
    )
    auth_timeout_seconds: float = Field(
        10.0, gt=0, validation_alias=_env("WS_AUTH_TIMEOUT_SECONDS")
    )
    # Clients only send `auth` (a JWT of at most AuthSettings.max_token_bytes) and `ping`.
    max_message_bytes: int = Field(16384, ge=256, validation_alias=_env("WS_MAX_MESSAGE_BYTES"))
    # Events buffered per socket; a socket that falls further behind is disconnected.
    queue_size: int = Field(256, ge=1, validation_alias=_env("WS_QUEUE_SIZE"))


class MetricsSettings(_Group):
    """`GET /metrics` (Prometheus text format) and the worker's own metrics port.

    Who may scrape: with `METRICS_TOKEN` set, whoever sends `Authorization: Bearer <token>`;
    without one, anybody outside production, but in production (`APP_ENV=production`) only a
    client on the loopback interface that came through no proxy — everyone else gets 404, as if
    the route did not exist. `METRICS_ENABLED=false` removes the route (404 for all).
    """

    enabled: bool = Field(True, validation_alias=_env("METRICS_ENABLED"))
    token: SecretStr = Field(SecretStr(""), validation_alias=_env("METRICS_TOKEN"))
    # A separate `opside-hub worker` process has its own counters: it serves them on this port
    # (unset = not at all); bound to loopback by default, since that server has no token check.
    worker_port: int | None = Field(
        None, ge=1, le=65535, validation_alias=_env("WORKER_METRICS_PORT")
    )
    worker_host: str = Field("127.0.0.1", validation_alias=_env("WORKER_METRICS_HOST"))


class Settings(_Group):
    app_env: AppEnv = Field(AppEnv.development, validation_alias=_env("APP_ENV", "NODE_ENV"))
    port: int = Field(3000, validation_alias=_env("PORT"))
    host: str = Field("127.0.0.1", validation_alias=_env("HOST"))
    public_url: str = Field("", validation_alias=_env("PUBLIC_URL"))
    provider_mode: ProviderMode = Field(
        ProviderMode.sandbox, validation_alias=_env("PROVIDER_MODE")
    )
    frontend_url: str = Field("", validation_alias=_env("FRONTEND_URL"))
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=_env("CORS_ORIGINS")
    )
    rate_limit_per_user: str = Field("600/minute", validation_alias=_env("RATE_LIMIT_PER_USER"))
    rate_limit_per_ip: str = Field("1200/minute", validation_alias=_env("RATE_LIMIT_PER_IP"))
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=_env("TRUSTED_PROXIES")
    )
    max_body_bytes: int = Field(2 * 1024 * 1024, validation_alias=_env("MAX_BODY_BYTES"))
    run_worker_in_api: bool | None = Field(None, validation_alias=_env("RUN_WORKER_IN_API"))
    log_level: str = Field("INFO", validation_alias=_env("LOG_LEVEL"))
    # A running sync whose heartbeat is older than this is presumed dead and may be resumed.
    sync_stale_seconds: float = Field(60.0, gt=0, validation_alias=_env("SYNC_STALE_SECONDS"))
    # How long an outbound provider request may wait for a connection or between two reads
    # before it is abandoned as a transport error (and retried by the provider's client).
    provider_timeout_seconds: float = Field(
        30.0, gt=0, validation_alias=_env("PROVIDER_TIMEOUT_SECONDS")
    )
    # Lifetime of the access tokens the sandbox providers issue; short values exercise refresh.
    sandbox_token_ttl_seconds: int = Field(
        3600, ge=1, validation_alias=_env("SANDBOX_TOKEN_TTL_SECONDS")
    )
    # Sandbox SP-API: how long a report stays IN_QUEUE/IN_PROGRESS, how long a pre-signed
    # report document URL lives (Amazon: 5 minutes), a multiplier of the models' request rates
    # (0 = no quota), and injected faults: the share of requests that fail, reproducibly with a
    # seed, of which kinds (429, 500, 503, timeout, truncate, slow), and how long a "timeout"
    # hangs (and a "slow" document download pauses before each chunk).
    sandbox_report_delay_seconds: float = Field(
        2.0, ge=0, validation_alias=_env("SANDBOX_REPORT_DELAY_SECONDS")
    )
    sandbox_document_url_ttl_seconds: int = Field(
        300, ge=1, validation_alias=_env("SANDBOX_DOCUMENT_URL_TTL_SECONDS")
    )
    sandbox_rate_scale: float = Field(1.0, ge=0, validation_alias=_env("SANDBOX_RATE_SCALE"))
    sandbox_fault_rate: float = Field(0.0, ge=0, le=1, validation_alias=_env("SANDBOX_FAULT_RATE"))
    sandbox_fault_seed: int | None = Field(None, validation_alias=_env("SANDBOX_FAULT_SEED"))
    sandbox_fault_kinds: str = Field(
        "429,500,503,timeout,truncate,slow", validation_alias=_env("SANDBOX_FAULT_KINDS")
    )
    sandbox_fault_hang_seconds: float = Field(
        31.0, ge=0, validation_alias=_env("SANDBOX_FAULT_HANG_SECONDS")
    )
    # Sandbox Amazon data per seller: events in any 540-day span, and catalog size.
    sandbox_amazon_reimbursements: int = Field(
        300, ge=0, validation_alias=_env("SANDBOX_AMAZON_REIMBURSEMENTS")
    )
    sandbox_amazon_ledger_events: int = Field(
        600, ge=0, validation_alias=_env("SANDBOX_AMAZON_LEDGER_EVENTS")
    )
    sandbox_amazon_inventory_skus: int = Field(
        120, ge=0, validation_alias=_env("SANDBOX_AMAZON_INVENTORY_SKUS")
    )
    sandbox_amazon_financial_events: int = Field(
        200, ge=0, validation_alias=_env("SANDBOX_AMAZON_FINANCIAL_EVENTS")
    )
    # Sandbox Stripe: balance transactions of a connected account in any 540-day span.
    sandbox_stripe_balance_transactions: int = Field(
        240, ge=0, le=1_000_000, validation_alias=_env("SANDBOX_STRIPE_BALANCE_TRANSACTIONS")
    )

    db: DatabaseSettings = Field(default_factory=DatabaseSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    vault: VaultSettings = Field(default_factory=VaultSettings)
    amazon: AmazonSettings = Field(default_factory=AmazonSettings)
    gmail: GmailSettings = Field(default_factory=GmailSettings)
    stripe: StripeSettings = Field(default_factory=StripeSettings)
    evidence: EvidenceSettings = Field(default_factory=EvidenceSettings)
    realtime: RealtimeSettings = Field(default_factory=RealtimeSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)

    @field_validator("cors_origins", "trusted_proxies", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return _split_csv(value)

    @property
    def is_production(self) -> bool:
        return self.app_env is AppEnv.production

    @property
    def sandbox(self) -> bool:
        return self.provider_mode is ProviderMode.sandbox

    @property
    def base_url(self) -> str:
        """Where this server is reached from a browser (sandbox redirects, OAuth callbacks)."""
        return (self.public_url or f"http://localhost:{self.port}").rstrip("/")

    def endpoints(self) -> ProviderEndpoints:
        """Every provider URL: the override when set, else the sandbox on this server (sandbox
        mode) or the real provider host (live mode)."""
        sandbox = f"{self.base_url}/sandbox" if self.sandbox else None

        def pick(override: str, live: str, sandbox_path: str) -> str:
            if override:
                return override.rstrip("/")
            return f"{sandbox}{sandbox_path}" if sandbox else live

        return ProviderEndpoints(
            amazon_consent_url=pick(
                self.amazon.consent_url,
                "https://sellercentral.amazon.com/apps/authorize/consent",
                "/amazon/apps/authorize/consent",
            ),
            amazon_lwa_token_url=pick(
                self.amazon.lwa_token_url,
                "https://api.amazon.com/auth/o2/token",
                "/amazon/auth/o2/token",
            ),
            amazon_spapi_base_url=pick(
                self.amazon.spapi_base_url, "https://sellingpartnerapi-na.amazon.com", "/amazon"
            ),
            google_auth_url=pick(
                self.gmail.auth_url,
                "https://accounts.google.com/o/oauth2/v2/auth",
                "/google/o/oauth2/v2/auth",
            ),
            google_token_url=pick(
                self.gmail.token_url, "https://oauth2.googleapis.com/token", "/google/token"
            ),
            google_revoke_url=pick(
                self.gmail.revoke_url, "https://oauth2.googleapis.com/revoke", "/google/revoke"
            ),
            gmail_api_base_url=pick(
                self.gmail.api_base_url, "https://gmail.googleapis.com", "/google"
            ),
            stripe_api_base_url=pick(self.stripe.api_base_url, "https://api.stripe.com", "/stripe"),
            stripe_connect_base_url=pick(
                self.stripe.connect_base_url, "https://connect.stripe.com", "/stripe"
            ),
        )

    def client_credentials(self, provider: str) -> tuple[str, str]:
        """The OAuth client id and secret of a provider (`amazon`, `gmail`, `stripe`).

        In sandbox mode an unset pair falls back to fixed sandbox credentials, which the sandbox
        servers accept, so `make run` needs none.
        """
        group = self._oauth_group(provider)
        client_id, secret = group.client_id, group.client_secret.get_secret_value()
        if self.sandbox and not (client_id and secret):
            return f"opside-sandbox-{provider}-client", f"opside-sandbox-{provider}-secret"
        return client_id, secret

    def stripe_webhook_secrets(self) -> list[str]:
        """The secrets Stripe signs webhooks with: `STRIPE_WEBHOOK_SECRET`, comma-separated when
        several endpoints (platform, Connect) post here. In sandbox mode an unset one falls back
        to the sandbox's fixed secret, as `client_credentials` does; in live mode none means
        webhooks are refused."""
        raw = self.stripe.webhook_secret.get_secret_value()
        values = [value.strip() for value in raw.split(",") if value.strip()]
        if self.sandbox and not values:
            return [SANDBOX_STRIPE_WEBHOOK_SECRET]
        return values

    def redirect_uri(self, provider: str) -> str:
        group = self._oauth_group(provider)
        return group.redirect_uri or f"{self.base_url}/api/{provider}/callback"

    def _oauth_group(self, provider: str) -> AmazonSettings | GmailSettings | StripeSettings:
        groups: dict[str, AmazonSettings | GmailSettings | StripeSettings] = {
            "amazon": self.amazon,
            "gmail": self.gmail,
            "stripe": self.stripe,
        }
        return groups[provider]

    @property
    def worker_in_api(self) -> bool:
        """Embedded mode runs the worker inside the API process unless told otherwise."""
        if self.run_worker_in_api is not None:
            return self.run_worker_in_api
        return self.redis.embedded

    def production_problems(self) -> list[str]:
        """Every reason this configuration is unfit for production, each naming its variable."""
        problems: list[str] = []
        if _is_weak(self.auth.jwt_secret):
            problems.append(
                f"JWT_SECRET is missing or weak (use >= {MIN_SECRET_BYTES} random bytes)"
            )
        if not self.vault.encryption_key.get_secret_value():
            problems.append("ENCRYPTION_KEY is missing")
        elif not _encryption_keys_strong(self.vault.encryption_key.get_secret_value()):
            problems.append("ENCRYPTION_KEY is weak: each key must decode to 32 random bytes")
        if self.db.is_sqlite:
            problems.append("DATABASE_URL must point at PostgreSQL in production, not SQLite")
        if self.redis.embedded:
            problems.append("REDIS_URL is missing: the embedded Redis is for development only")
        if self.sandbox:
            problems.append("PROVIDER_MODE=sandbox is not allowed in production (set live)")
        return problems


@dataclass(frozen=True)
class ProviderEndpoints:
    amazon_consent_url: str
    amazon_lwa_token_url: str
    amazon_spapi_base_url: str
    google_auth_url: str
    google_token_url: str
    google_revoke_url: str
    gmail_api_base_url: str
    stripe_api_base_url: str
    stripe_connect_base_url: str


class ConfigurationError(RuntimeError):
    """The settings are unfit for the environment they run in."""


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _is_weak(secret: SecretStr) -> bool:
    value = secret.get_secret_value()
    return value.lower() in WEAK_SECRETS or len(value.encode()) < MIN_SECRET_BYTES


def _encryption_keys_strong(raw: str) -> bool:
    # Imported here: the vault depends on config, not the other way round.
    from opside_hub.vault.keys import parse_keyring

    try:
        parse_keyring(raw)
    except ValueError:
        return False
    return True


def validate_for_production(settings: Settings) -> None:
    if settings.is_production and (problems := settings.production_problems()):
        raise ConfigurationError("refusing to start in production: " + "; ".join(problems))


def fill_development_secrets(settings: Settings, directory: Path = DATA_DIR) -> Settings:
    """Outside production, give an empty JWT_SECRET/ENCRYPTION_KEY a random value kept in
    `data/.dev-secrets.json`, so `make run` needs no configuration and restarts keep working."""
    if settings.is_production:
        return settings
    from opside_hub.vault.keys import generate_key

    missing_jwt = not settings.auth.jwt_secret.get_secret_value()
    missing_key = not settings.vault.encryption_key.get_secret_value()
    if not (missing_jwt or missing_key):
        return settings
    path = directory / ".dev-secrets.json"
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    generated = {"jwt_secret": secrets.token_urlsafe(48), "encryption_key": generate_key()}
    if any(name not in stored for name in generated):
        stored = {**generated, **stored}
        directory.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(json.dumps(stored))
    if missing_jwt:
        settings.auth.jwt_secret = SecretStr(stored["jwt_secret"])
    if missing_key:
        settings.vault.encryption_key = SecretStr(stored["encryption_key"])
    return settings


@lru_cache
def get_settings() -> Settings:
    return fill_development_secrets(Settings())
