"""The long-lived parts of a running Nubo, built once from Settings and kept on app.state,
and the request dependencies that hand them out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, cast

from fastapi import Depends, Request
from sqlalchemy import Table

from nubo.kit.jobs import JobQueue
from nubo.kit.ratelimit import AttemptLimiter, WindowStatements
from nubo.kit.security import PasswordHasher, TokenCodec
from nubo.kit.storage import ObjectStore
from nubo.models import RateLimitWindow
from nubo.settings import Settings

# The counting statements over the platform's window table, built once per process.
RATE_WINDOWS = WindowStatements(cast(Table, RateLimitWindow.__table__))


@dataclass
class Platform:
    settings: Settings
    hasher: PasswordHasher
    tokens: TokenCodec
    login_by_email: AttemptLimiter
    login_by_address: AttemptLimiter
    login_by_device: AttemptLimiter
    signup_by_address: AttemptLimiter
    key_requests: AttemptLimiter

    @classmethod
    def build(cls, settings: Settings) -> Platform:
        windows = RATE_WINDOWS
        return cls(
            settings=settings,
            hasher=PasswordHasher(settings.argon2_time_cost, settings.argon2_memory_cost_kib),
            tokens=TokenCodec(settings.signing_key, settings.jwt_issuer, settings.jwt_audience),
            login_by_email=AttemptLimiter(
                windows, "login-email", settings.login_attempts_per_email, settings.login_window_s
            ),
            login_by_address=AttemptLimiter(
                windows,
                "login-address",
                settings.login_attempts_per_address,
                settings.login_window_s,
            ),
            login_by_device=AttemptLimiter(
                windows, "login-device", settings.login_attempts_per_email, settings.login_window_s
            ),
            signup_by_address=AttemptLimiter(
                windows,
                "signup-address",
                settings.signup_attempts_per_address,
                settings.signup_window_s,
            ),
            key_requests=AttemptLimiter(
                windows, "api-key", settings.api_key_requests_per_window, settings.api_key_window_s
            ),
        )

    @property
    def access_ttl(self) -> timedelta:
        return timedelta(seconds=self.settings.access_token_ttl_s)

    @property
    def refresh_ttl(self) -> timedelta:
        return timedelta(seconds=self.settings.refresh_token_ttl_s)

    @property
    def device_ttl(self) -> timedelta:
        return timedelta(seconds=self.settings.login_device_ttl_s)


async def get_platform(request: Request) -> Platform:
    # async: a plain def would be run in a worker thread on every request
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


async def get_store(request: Request) -> ObjectStore:
    store: ObjectStore = request.app.state.store
    return store


StoreDep = Annotated[ObjectStore, Depends(get_store)]


async def get_jobs(request: Request) -> JobQueue:
    queue: JobQueue = request.app.state.jobs
    return queue


JobsDep = Annotated[JobQueue, Depends(get_jobs)]
