"""The ceiling for bench_api: a raw ASGI callable (no FastAPI, no Starlette, no ORM objects).

It answers the three benchmarked routes on the same paths, doing the same work at the database
level as Nubo, over the same driver and pool (Nubo's `create_engine`: SQLAlchemy async engine
over asyncpg, same fixed pool) with statements built once, as Nubo's are:

- GET /api/users/profile: verify the bearer JWT (same codec), read the caller (the statement
  of `repository.active_principal`: user joined to its account by id, its session not ended)
  on its own connection in autocommit, as Nubo's `current_user` does, compare the token
  version, answer the user as JSON.
- GET /api/users/account/{id}: the same caller read, then in one transaction the same two
  statements as the route (the account visible to the caller, the keyset page of 50+1
  users) and the page as JSON.
- POST /api/auth/login: parse the JSON body; select the login candidate on a standalone
  connection; check the email's and count the address's attempts (Nubo's `AttemptLimiter`
  statements) on another; the same Argon2id verify (Nubo's `PasswordHasher`, same parameters,
  off the event loop) holding no connection; reset the email's count; mint the access,
  refresh and device JWTs and insert the refresh-token row in one transaction.

Served by uvicorn with the settings of `nubo serve` (uvloop, httptools, 1 worker, no access
log): `python -m uvicorn bench.api_ceiling:app --loop uvloop --http httptools ...`.
Configuration comes from the same NUBO_* environment as Nubo.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from nubo.kit.db import (
    ReadConnection,
    WriteConnection,
    create_engine,
    engine_reader,
    engine_writer,
)
from nubo.kit.ratelimit import AttemptLimiter
from nubo.kit.security import InvalidToken, PasswordHasher, TokenCodec
from nubo.models import Account, AccountStatus, RefreshToken, User
from nubo.platform import RATE_WINDOWS
from nubo.settings import Settings

users = User.__table__
accounts = Account.__table__
refresh_tokens = RefreshToken.__table__
USER_FIELDS = ("id", "account_id", "name", "email", "role", "created_at", "updated_at")

# The statements Nubo sends, built once at the table level (same SQL, no ORM identity map).
_LIVE_USERS = (
    select(users)
    .join(accounts, accounts.c.id == users.c.account_id)
    .where(
        users.c.deleted_at.is_(None),
        accounts.c.deleted_at.is_(None),
        accounts.c.status == AccountStatus.active,
    )
)
# As Nubo's: the token's session (refresh family) must not have been ended (logout).
_SESSION_ENDED = (
    select(refresh_tokens.c.id)
    .where(
        refresh_tokens.c.family_id == bindparam("family_id"),
        refresh_tokens.c.revoked_at.is_not(None),
    )
    .exists()
)
CALLER = _LIVE_USERS.where(users.c.id == bindparam("user_id"), ~_SESSION_ENDED)
LOGIN_CANDIDATE = _LIVE_USERS.where(users.c.email == bindparam("email"))
VISIBLE_ACCOUNT = select(accounts).where(
    accounts.c.deleted_at.is_(None), accounts.c.id == bindparam("account_id")
)
OWN_VISIBLE_ACCOUNT = VISIBLE_ACCOUNT.where(accounts.c.id == bindparam("own_account_id"))
PAGE = (
    select(users)
    .where(users.c.deleted_at.is_(None), users.c.account_id == bindparam("account_id"))
    .order_by(users.c.created_at.asc(), users.c.id.asc())
    .limit(51)
)
LIST_PREFIX = "/api/users/account/"


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _user_json(row: Any) -> dict[str, Any]:
    mapping = row._mapping
    return {field: _jsonable(mapping[field]) for field in USER_FIELDS}


def _not_started() -> Any:
    raise RuntimeError("the ceiling has not started")


class Ceiling:
    def __init__(self) -> None:
        self.settings = Settings()
        self.engine: AsyncEngine | None = None
        self.read_connection: ReadConnection = _not_started
        self.write_connection: WriteConnection = _not_started
        self.by_email = AttemptLimiter(
            RATE_WINDOWS,
            "login-email",
            self.settings.login_attempts_per_email,
            self.settings.login_window_s,
        )
        self.by_address = AttemptLimiter(
            RATE_WINDOWS,
            "login-address",
            self.settings.login_attempts_per_address,
            self.settings.login_window_s,
        )
        self.tokens = TokenCodec(
            self.settings.signing_key, self.settings.jwt_issuer, self.settings.jwt_audience
        )
        self.hasher = PasswordHasher(
            self.settings.argon2_time_cost, self.settings.argon2_memory_cost_kib
        )

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        path, method = scope["path"], scope["method"]
        try:
            if method == "GET" and path == "/api/users/profile":
                status, body = await self.profile(scope)
            elif method == "GET" and path.startswith(LIST_PREFIX):
                status, body = await self.users_of_account(scope, path[len(LIST_PREFIX) :])
            elif method == "POST" and path == "/api/auth/login":
                status, body = await self.login(await _read_body(receive), scope["client"][0])
            elif path == "/ping":
                status, body = 200, {"status": "ok"}
            else:
                status, body = 404, {"code": "not-found"}
        except (InvalidToken, ValueError, KeyError, TypeError):
            status, body = 401, {"code": "invalid-token"}
        payload = json.dumps(body, separators=(",", ":")).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.engine = create_engine(
                    self.settings.resolved_database_url, pool_size=self.settings.db_pool_size
                )
                self.read_connection = engine_reader(self.engine)
                self.write_connection = engine_writer(self.engine)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.engine is not None:
                    await self.engine.dispose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _claims(self, scope: dict[str, Any]) -> Any:
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                if scheme.lower() == "bearer":
                    return self.tokens.decode(token, "access")
        raise InvalidToken("missing")

    async def _caller(self, scope: dict[str, Any]) -> Any:
        claims = self._claims(scope)
        async with self.read_connection() as conn:
            params = {"user_id": claims.sub, "family_id": claims.fam}
            row = (await conn.execute(CALLER, params)).first()
        return None if row is None or row.token_version != claims.ver else row

    async def profile(self, scope: dict[str, Any]) -> tuple[int, Any]:
        row = await self._caller(scope)
        if row is None:
            return 401, {"code": "invalid-token"}
        return 200, _user_json(row)

    async def users_of_account(self, scope: dict[str, Any], raw_id: str) -> tuple[int, Any]:
        actor = await self._caller(scope)
        if actor is None:
            return 401, {"code": "invalid-token"}
        account_id = uuid.UUID(raw_id)
        visible, params = VISIBLE_ACCOUNT, {"account_id": account_id}
        if actor.role != "operator":
            visible = OWN_VISIBLE_ACCOUNT
            params["own_account_id"] = actor.account_id
        assert self.engine is not None
        async with self.engine.begin() as conn:
            if (await conn.execute(visible, params)).first() is None:
                return 404, {"code": "not-found"}
            rows = (await conn.execute(PAGE, {"account_id": account_id})).all()
        items = rows[:50]
        cursor = None
        if len(rows) > 50:
            last = items[-1]
            cursor = json.dumps([last.created_at.isoformat(), str(last.id)])
        return 200, {"items": [_user_json(r) for r in items], "next_cursor": cursor}

    async def login(self, raw: bytes, address: str) -> tuple[int, Any]:
        data = json.loads(raw)
        email, password = str(data["email"]).lower(), str(data["password"])
        assert self.engine is not None
        # As Nubo's: the candidate first (a device cookie is only known for its user), then
        # the email's check and the address's count (the bench sends no device cookie).
        async with self.read_connection() as conn:
            row = (await conn.execute(LOGIN_CANDIDATE, {"email": email})).first()
        async with self.write_connection() as conn:
            wait = await self.by_email.retry_after(conn, email)
            if wait is None:
                wait = await self.by_address.hit(conn, address)
        if wait is not None:
            return 429, {"code": "too-many-requests"}
        ok = await asyncio.to_thread(
            self.hasher.verify, password, row.password_hash if row else None
        )
        async with self.write_connection() as conn:
            if ok and row is not None:
                await self.by_email.reset(conn, email)
            else:
                await self.by_email.hit(conn, email)
        if not ok or row is None:
            return 401, {"code": "invalid-credentials"}
        async with self.engine.begin() as conn:
            family = uuid.uuid4()
            access, _ = self.tokens.encode(
                sub=row.id,
                typ="access",
                ttl=timedelta(seconds=self.settings.access_token_ttl_s),
                family=family,
                version=row.token_version,
            )
            refresh, claims = self.tokens.encode(
                sub=row.id,
                typ="refresh",
                ttl=timedelta(seconds=self.settings.refresh_token_ttl_s),
                family=family,
            )
            # The device cookie's token, as Nubo mints one on each successful login.
            self.tokens.encode(
                sub=row.id,
                typ="device",
                ttl=timedelta(seconds=self.settings.login_device_ttl_s),
            )
            # Column defaults (issued_at, used_at, revoked_at) fill in as for the ORM insert.
            await conn.execute(
                insert(refresh_tokens).values(
                    id=claims.jti, user_id=row.id, family_id=family, expires_at=claims.exp
                )
            )
        return 200, {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "bearer",
            "expires_in": self.settings.access_token_ttl_s,
        }


async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


app = Ceiling()
