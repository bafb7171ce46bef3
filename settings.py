"""Settings read once from the environment; every knob a deployment may turn lives here."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """Deployment configuration; `from_env` is the only constructor the app uses."""

    database_url: str
    var_dir: Path
    environment: str = "development"
    jwt_issuer: str = "http://127.0.0.1:8000"
    jwt_audience: str = "selfservice-portal-api"
    access_token_ttl_seconds: int = 15 * 60
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    refresh_reuse_grace_seconds: int = 30
    signing_key_pem: str | None = None
    oidc_issuer: str | None = None
    oidc_jwks_url: str | None = None
    oidc_audience: str | None = None
    smtp_url: str | None = None
    mail_from: str = "Self-Service Portal <no-reply@portal.example>"
    public_url: str = "http://127.0.0.1:8000"
    redis_url: str | None = None
    sql_echo: bool = False
    # PostgreSQL that accepts but does not answer: a statement or a connection attempt gives up
    # after these many seconds, and the request answers SERVICE_UNAVAILABLE (503) instead of
    # waiting with its connection held.
    database_statement_timeout_seconds: float = 30.0
    database_connect_timeout_seconds: float = 5.0
    default_language: str = "en"
    login_max_failures: int = 5
    login_lockout_seconds: int = 15 * 60
    # API protection (api/limits.py, api/ratelimit.py, api/persisted.py, app.py)
    max_query_cost: int = 2500
    rate_limit_capacity: int = 10_000
    rate_limit_restore_rate: int = 500
    max_query_depth: int = 15
    max_aliases: int = 30
    max_tokens: int = 5000
    max_directives: int = 50
    max_list_input: int = 100
    max_body_bytes: int = 1_000_000
    graphql_introspection: str | None = None  # on | off | authenticated; None: by environment
    cors_origins: tuple[str, ...] = ()
    max_subscriptions_per_connection: int = 20
    max_ws_connections_per_user: int = 10
    persisted_queries_only: bool = False
    # Plain fields written directly by the executor (`schema.compiled`); off: the standard path.
    compiled_execution: bool = True
    persisted_queries_file: Path | None = None
    mail_sender_enabled: bool = True
    mail_poll_seconds: float = 1.0
    mail_max_attempts: int = 8
    password_min_length: int = 10
    email_confirmation_ttl_seconds: int = 2 * 24 * 3600
    invitation_ttl_seconds: int = 7 * 24 * 3600
    # Meter-reading intelligence (issue 16)
    stale_device_days: int = 45  # a reading after a longer silence is flagged STALE_DEVICE
    reading_reminder_days: int = 5  # reminders go out this many days before the period closes
    reading_reminders_enabled: bool = True
    reading_reminder_poll_seconds: float = 3600.0
    # Replenishment for devices gone silent (resolvers/silent_replenishment.py): at most a day
    # apart (forecasting.replenishment.PASS_DAYS)
    silent_replenishment_enabled: bool = True
    silent_replenishment_poll_seconds: float = 3600.0
    # Webhooks (webhooks/): the sender each worker runs, target rules, retries
    webhook_sender_enabled: bool = True
    webhook_poll_seconds: float = 1.0
    webhook_allow_private_targets: bool | None = None  # None: allowed unless production
    webhook_timeout_seconds: float = 10.0
    webhook_retry_hours: float = 72.0
    webhook_backoff_base_seconds: float = 10.0
    webhook_backoff_max_seconds: float = 6 * 3600.0
    webhook_disable_after_failures: int = 20
    webhook_secret_overlap_seconds: int = 24 * 3600
    # Bulk exports (schema/export_runner.py): the runner each worker runs
    bulk_export_worker_enabled: bool = True
    bulk_export_poll_seconds: float = 1.0
    # Observability (observability/)
    log_format: str = "text"  # text | json (one JSON line per record, one per request)
    metrics_token: str | None = None  # /metrics is served only with this bearer token
    # Graceful shutdown (lifecycle.py, `cli serve`): on SIGTERM /readyz answers 503 for
    # `shutdown_delay_seconds` while the worker still serves, then requests in flight get up to
    # `shutdown_grace_seconds` to finish.
    shutdown_delay_seconds: float = 0.0
    shutdown_grace_seconds: float = 30.0
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def introspection_policy(self) -> str:
        """on | off | authenticated (signed-in callers only: the production default)."""
        if self.graphql_introspection in {"on", "off", "authenticated"}:
            return self.graphql_introspection
        return "authenticated" if self.environment == "production" else "on"

    @property
    def allows_private_webhook_targets(self) -> bool:
        """Loopback and private webhook targets: refused in production unless allowed."""
        if self.webhook_allow_private_targets is not None:
            return self.webhook_allow_private_targets
        return self.environment != "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls) -> Settings:
        var_dir = Path(_env("PORTAL_VAR_DIR", str(ROOT / "var")))
        default_db = f"sqlite+aiosqlite:///{var_dir / 'portal.sqlite3'}"
        return cls(
            database_url=_env("DATABASE_URL", default_db),
            var_dir=var_dir,
            environment=_env("PORTAL_ENV", "development"),
            jwt_issuer=_env("JWT_ISSUER", "http://127.0.0.1:8000"),
            jwt_audience=_env("JWT_AUDIENCE", "selfservice-portal-api"),
            access_token_ttl_seconds=_env_int("ACCESS_TOKEN_TTL_SECONDS", 15 * 60),
            refresh_token_ttl_seconds=_env_int("REFRESH_TOKEN_TTL_SECONDS", 30 * 24 * 3600),
            refresh_reuse_grace_seconds=_env_int("REFRESH_REUSE_GRACE_SECONDS", 30),
            signing_key_pem=os.environ.get("JWT_SIGNING_KEY_PEM"),
            oidc_issuer=os.environ.get("OIDC_ISSUER"),
            oidc_jwks_url=os.environ.get("OIDC_JWKS_URL"),
            oidc_audience=os.environ.get("OIDC_AUDIENCE"),
            smtp_url=os.environ.get("SMTP_URL"),
            mail_from=_env("MAIL_FROM", "Self-Service Portal <no-reply@portal.example>"),
            public_url=_env("PUBLIC_URL", "http://127.0.0.1:8000"),
            redis_url=os.environ.get("REDIS_URL"),
            sql_echo=_env_bool("SQL_ECHO", False),
            database_statement_timeout_seconds=float(
                _env("DATABASE_STATEMENT_TIMEOUT_SECONDS", "30")
            ),
            database_connect_timeout_seconds=float(_env("DATABASE_CONNECT_TIMEOUT_SECONDS", "5")),
            login_max_failures=_env_int("LOGIN_MAX_FAILURES", 5),
            login_lockout_seconds=_env_int("LOGIN_LOCKOUT_SECONDS", 15 * 60),
            max_query_cost=_env_int("MAX_QUERY_COST", 2500),
            rate_limit_capacity=_env_int("RATE_LIMIT_CAPACITY", 10_000),
            rate_limit_restore_rate=_env_int("RATE_LIMIT_RESTORE_RATE", 500),
            max_query_depth=_env_int("MAX_QUERY_DEPTH", 15),
            max_aliases=_env_int("MAX_ALIASES", 30),
            max_tokens=_env_int("MAX_TOKENS", 5000),
            max_directives=_env_int("MAX_DIRECTIVES", 50),
            max_list_input=_env_int("MAX_LIST_INPUT", 100),
            max_body_bytes=_env_int("MAX_BODY_BYTES", 1_000_000),
            graphql_introspection=os.environ.get("GRAPHQL_INTROSPECTION") or None,
            cors_origins=tuple(o.strip() for o in _env("CORS_ORIGINS", "").split(",") if o.strip()),
            max_subscriptions_per_connection=_env_int("MAX_SUBSCRIPTIONS_PER_CONNECTION", 20),
            max_ws_connections_per_user=_env_int("MAX_WS_CONNECTIONS_PER_USER", 10),
            persisted_queries_only=_env_bool("PERSISTED_QUERIES_ONLY", False),
            compiled_execution=_env_bool("COMPILED_EXECUTION", True),
            persisted_queries_file=(
                Path(os.environ["PERSISTED_QUERIES_FILE"])
                if os.environ.get("PERSISTED_QUERIES_FILE")
                else None
            ),
            mail_sender_enabled=_env_bool("MAIL_SENDER_ENABLED", True),
            mail_poll_seconds=float(_env("MAIL_POLL_SECONDS", "1.0")),
            mail_max_attempts=_env_int("MAIL_MAX_ATTEMPTS", 8),
            password_min_length=_env_int("PASSWORD_MIN_LENGTH", 10),
            email_confirmation_ttl_seconds=_env_int("EMAIL_CONFIRMATION_TTL_SECONDS", 172800),
            invitation_ttl_seconds=_env_int("INVITATION_TTL_SECONDS", 7 * 24 * 3600),
            stale_device_days=_env_int("STALE_DEVICE_DAYS", 45),
            reading_reminder_days=_env_int("READING_REMINDER_DAYS", 5),
            reading_reminders_enabled=_env_bool("READING_REMINDERS_ENABLED", True),
            reading_reminder_poll_seconds=float(_env("READING_REMINDER_POLL_SECONDS", "3600")),
            silent_replenishment_enabled=_env_bool("SILENT_REPLENISHMENT_ENABLED", True),
            silent_replenishment_poll_seconds=float(
                _env("SILENT_REPLENISHMENT_POLL_SECONDS", "3600")
            ),
            webhook_sender_enabled=_env_bool("WEBHOOK_SENDER_ENABLED", True),
            webhook_poll_seconds=float(_env("WEBHOOK_POLL_SECONDS", "1.0")),
            webhook_allow_private_targets=(
                _env_bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", False)
                if os.environ.get("WEBHOOK_ALLOW_PRIVATE_TARGETS")
                else None
            ),
            webhook_timeout_seconds=float(_env("WEBHOOK_TIMEOUT_SECONDS", "10")),
            webhook_retry_hours=float(_env("WEBHOOK_RETRY_HOURS", "72")),
            webhook_backoff_base_seconds=float(_env("WEBHOOK_BACKOFF_BASE_SECONDS", "10")),
            webhook_backoff_max_seconds=float(_env("WEBHOOK_BACKOFF_MAX_SECONDS", "21600")),
            webhook_disable_after_failures=_env_int("WEBHOOK_DISABLE_AFTER_FAILURES", 20),
            webhook_secret_overlap_seconds=_env_int("WEBHOOK_SECRET_OVERLAP_SECONDS", 86400),
            bulk_export_worker_enabled=_env_bool("BULK_EXPORT_WORKER_ENABLED", True),
            bulk_export_poll_seconds=float(_env("BULK_EXPORT_POLL_SECONDS", "1.0")),
            log_format=_env("LOG_FORMAT", "text").strip().lower(),
            metrics_token=os.environ.get("METRICS_TOKEN") or None,
            shutdown_delay_seconds=float(_env("SHUTDOWN_DELAY_SECONDS", "0")),
            shutdown_grace_seconds=float(_env("SHUTDOWN_GRACE_SECONDS", "30")),
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()
