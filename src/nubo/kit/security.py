"""Password hashing (Argon2id) and JWT minting/verification with one pinned algorithm."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from nubo.kit.types import utcnow

ALGORITHM = "HS256"  # pinned: tokens declaring any other algorithm are rejected
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti", "typ"]
TokenType = Literal["access", "refresh", "device"]


class InvalidToken(Exception):
    pass


class PasswordHasher:
    def __init__(self, time_cost: int = 3, memory_cost_kib: int = 65536) -> None:
        self._hash = PasswordHash((Argon2Hasher(time_cost=time_cost, memory_cost=memory_cost_kib),))
        # Verified against when the email is unknown, so timing does not reveal which exist.
        self._dummy = self._hash.hash("not-a-real-password-" + uuid.uuid4().hex)

    def hash(self, password: str) -> str:
        return self._hash.hash(password)

    def verify(self, password: str, password_hash: str | None) -> bool:
        if password_hash is None:
            self._hash.verify(password, self._dummy)
            return False
        try:
            return self._hash.verify(password, password_hash)
        except Exception:
            return False


@dataclass(frozen=True)
class TokenClaims:
    sub: uuid.UUID
    jti: uuid.UUID
    typ: TokenType
    exp: datetime
    fam: uuid.UUID | None
    ver: int


class TokenCodec:
    def __init__(self, key: str, issuer: str, audience: str) -> None:
        self._key = key
        self._issuer = issuer
        self._audience = audience

    def encode(
        self,
        *,
        sub: uuid.UUID,
        typ: TokenType,
        ttl: timedelta,
        jti: uuid.UUID | None = None,
        family: uuid.UUID | None = None,
        version: int = 0,
        now: datetime | None = None,
    ) -> tuple[str, TokenClaims]:
        """The signed token; the same arguments (with `now` and `jti`) give the same token."""
        now = now or utcnow()
        claims = TokenClaims(
            sub=sub, jti=jti or uuid.uuid4(), typ=typ, exp=now + ttl, fam=family, ver=version
        )
        payload: dict[str, Any] = {
            "sub": str(sub),
            "jti": str(claims.jti),
            "typ": typ,
            "iat": int(now.timestamp()),
            "exp": int(claims.exp.timestamp()),
            "iss": self._issuer,
            "aud": self._audience,
            "ver": version,
        }
        if family is not None:
            payload["fam"] = str(family)
        return jwt.encode(payload, self._key, algorithm=ALGORITHM), claims

    def decode(self, token: str, expected: TokenType) -> TokenClaims:
        try:
            payload = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": REQUIRED_CLAIMS},
            )
            if payload["typ"] != expected:
                raise InvalidToken(f"a {payload['typ']} token cannot be used here")
            fam = payload.get("fam")
            return TokenClaims(
                sub=uuid.UUID(payload["sub"]),
                jti=uuid.UUID(payload["jti"]),
                typ=payload["typ"],
                exp=datetime.fromtimestamp(payload["exp"], tz=utcnow().tzinfo),
                fam=uuid.UUID(fam) if fam else None,
                ver=int(payload.get("ver", 0)),
            )
        except InvalidToken:
            raise
        # A well-signed token can still carry claims no real one has (exp=1e30, fam=5): the
        # datetime and UUID constructors then raise Overflow/OS/AttributeError.
        except (jwt.PyJWTError, ValueError, KeyError, TypeError, AttributeError, OverflowError,
                OSError) as exc:
            raise InvalidToken(str(exc)) from exc
