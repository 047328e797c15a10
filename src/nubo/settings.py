"""One Settings class, read from the environment and `.env` (prefix `NUBO_`)."""

from __future__ import annotations

import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_BYTES = 32
DEFAULT_SECRET_MARKERS = ("change-me", "changeme", "secret", "default")


def default_data_dir() -> Path:
    """The user's data folder (XDG), the same whichever folder a command is started from."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "nubo"


class UnsafeSettings(RuntimeError):
    """Production was asked to start with a value that is only fit for development."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="NUBO_", env_file=".env", extra="ignore", frozen=False
    )

    env: Literal["development", "test", "production"] = "development"
    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None
    storage_url: str | None = None
    s3_endpoint: str | None = None
    s3_region: str | None = None
    s3_access_key_id: SecretStr | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_allow_http: bool = False

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    db_pool_size: int = Field(default=20, ge=1, le=500)
    # Freeze the start-up heap and collect young objects less often (kit/gctune.py); off
    # only to measure the difference.
    gc_tuning: bool = True
    # Freed memory each heap keeps mapped, so a job's analysis in a thread does not fault
    # the same pages in again per flight (kit/malloc.py); 0 leaves glibc's default.
    malloc_top_pad_mb: int = Field(default=16, ge=0, le=1024)

    jwt_secret: SecretStr | None = None
    jwt_issuer: str = "nubo"
    jwt_audience: str = "nubo-api"
    access_token_ttl_s: int = Field(default=900, ge=30, le=3600)
    refresh_token_ttl_s: int = Field(default=30 * 24 * 3600, ge=300)
    # A used refresh token presented again this soon (two tabs, a retried request) gets the
    # same new pair; later, it counts as theft and revokes its family.
    refresh_grace_s: float = Field(default=10.0, ge=0, le=60)

    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_cost_kib: int = Field(default=65536, ge=8)

    login_attempts_per_email: int = 10
    login_attempts_per_address: int = 50
    login_window_s: int = 300
    # Known devices (a cookie from an earlier successful login) keep logging in while an
    # email is locked out for everyone else; see docs/decisions/identity-device-cookies.md.
    login_device_ttl_s: int = Field(default=365 * 24 * 3600, ge=3600)
    signup_attempts_per_address: int = 20
    signup_window_s: int = 3600
    # Requests per API key and window, shared by every API process (429 beyond).
    api_key_requests_per_window: int = Field(default=600, ge=1)
    api_key_window_s: int = Field(default=60, ge=1)

    max_upload_bytes: int = 2 * 1024**3
    # Largest body parsed in memory (JSON, forms); file uploads stream under max_upload_bytes.
    max_json_body_bytes: int = Field(default=1024**2, ge=1024)
    # How long an Idempotency-Key replays its first response (then it is forgotten).
    idempotency_key_ttl_s: int = Field(default=24 * 3600, ge=60)
    jobs: Literal["inprocess", "procrastinate"] = "inprocess"
    jobs_database_url: str | None = None
    jobs_concurrency: int = Field(default=2, ge=1, le=64)
    # Claims of one processing run before it ends `failed` (too-many-attempts).
    jobs_max_attempts: int = Field(default=3, ge=1, le=20)
    # A processing job holds its flight this long and renews it every third of it (its
    # heartbeat); a worker silent this long is taken for dead: the sweeper re-defers its
    # flight, and its Procrastinate jobs are retried.
    jobs_lease_s: int = Field(default=30, ge=3)
    # Flights left `queued` this long without being claimed are re-deferred by the sweeper.
    jobs_requeue_after_s: int = Field(default=60, ge=1)
    # With the lease, bounds how long a dead worker's flight waits for another (< 1 min).
    jobs_sweep_every_s: float = Field(default=15.0, gt=0)
    # Streams are woken by the process's one listener (PostgreSQL LISTEN/NOTIFY) or, on
    # SQLite, by the committing unit in this process; false: each stream polls the table
    # every `events_poll_s` (the path before; also what streams do while no listener runs).
    events_listen: bool = True
    events_poll_s: float = Field(default=0.5, gt=0)
    # How often the process checks for an event it was not told of (then every stream
    # re-reads); also the listener connection's liveness check.
    events_fallback_s: float = Field(default=15.0, gt=0)
    # Open streams per account and API process; past it a new one is 429.
    events_max_streams_per_account: int = Field(default=100, ge=1)
    events_heartbeat_s: float = Field(default=10.0, gt=0, le=15)
    # The account-wide stream closes after this long; EventSource reconnects with its
    # Last-Event-ID, so nothing is lost and no connection lives forever.
    events_stream_max_s: float = Field(default=600.0, gt=0)
    presigned_upload_ttl_s: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    # In production, webhook URLs resolving to private, loopback or link-local addresses are
    # refused unless this is true (a receiver inside the same network).
    webhooks_allow_private: bool = False
    webhooks_connect_timeout_s: float = Field(default=5.0, gt=0, le=60)
    webhooks_read_timeout_s: float = Field(default=15.0, gt=0, le=120)
    # The receiver's answer is read up to this many bytes, then the connection is dropped.
    webhooks_max_response_bytes: int = Field(default=64 * 1024, ge=1024)
    # An endpoint whose every attempt failed for this long is disabled (its admins are told).
    webhooks_disable_after_s: int = Field(default=5 * 24 * 3600, ge=3600)

    @field_validator("data_dir", mode="before")
    @classmethod
    def _absolute(cls, value: object) -> Path:
        if value is None or value == "":  # `NUBO_DATA_DIR=` as in .env.example: the default
            return default_data_dir()
        # Made absolute once, so the server and every command name the same folder.
        return Path(str(value)).expanduser().resolve()

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.env != "production":
            return self
        secret = self.jwt_secret.get_secret_value() if self.jwt_secret else ""
        if len(secret.encode()) < MIN_SECRET_BYTES:
            raise UnsafeSettings(
                f"NUBO_JWT_SECRET must be set to at least {MIN_SECRET_BYTES} bytes in production"
            )
        if any(marker in secret.lower() for marker in DEFAULT_SECRET_MARKERS):
            raise UnsafeSettings("NUBO_JWT_SECRET looks like a placeholder; generate a real one")
        if self.database_url is None:
            raise UnsafeSettings("NUBO_DATABASE_URL must be set in production")
        return self

    @property
    def embedded(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'nubo.db').resolve()}"

    @property
    def resolved_storage_url(self) -> str:
        return self.storage_url or (self.data_dir / "objects").resolve().as_uri()

    @cached_property
    def signing_key(self) -> str:
        """The JWT key: configured, or generated once and kept in the data directory."""
        if self.jwt_secret is not None:
            return self.jwt_secret.get_secret_value()
        if self.env == "production":  # unreachable after validation; kept as a guard
            raise UnsafeSettings("NUBO_JWT_SECRET is required in production")
        path = self.data_dir / "jwt-secret"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()
