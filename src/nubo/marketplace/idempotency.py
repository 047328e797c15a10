"""`Idempotency-Key`: a retry gets the original response; the same key with another body 422.

The key row is inserted first, inside the unit of work it protects, and completed with the
response in the same transaction. A concurrent request with the same key blocks on the
unique index until the first commits (then replays its response) or rolls back (then runs
itself). See docs/decisions/marketplace-idempotency.md.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Header
from fastapi.responses import JSONResponse
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from nubo.identity.principal import Actor
from nubo.kit.errors import Conflict, Unprocessable
from nubo.models import IdempotencyKey

IdempotencyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Makes a retry return the original response (same body required).",
    ),
]
REPLAYED_HEADER = "Idempotent-Replayed"


@dataclass
class Claim:
    """Either the right to run (`row_id` set) or a stored response to replay."""

    row_id: Any = None
    replay: JSONResponse | None = None

    async def respond(self, session: AsyncSession, status_code: int, body: Any) -> JSONResponse:
        """Record the response under the key (same transaction) and build it."""
        if self.row_id is not None:
            await session.execute(
                update(IdempotencyKey)
                .where(IdempotencyKey.id == self.row_id)
                .values(status_code=status_code, response_body=json.dumps(body))
            )
        return JSONResponse(body, status_code=status_code)


def request_hash(method: str, path: str, body: Any) -> str:
    raw = json.dumps({"method": method, "path": path, "body": body}, sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()


async def claim(
    session: AsyncSession, actor: Actor, key: str | None, method: str, path: str, body: Any
) -> Claim:
    if key is None:
        return Claim()
    scope = f"user:{actor.id}"
    digest = request_hash(method, path, body)
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(IdempotencyKey)
        .values(id=uuid.uuid4(), scope=scope, key=key, request_hash=digest)
        .on_conflict_do_nothing(index_elements=["scope", "key"])
        .returning(IdempotencyKey.id)
    )
    row_id = (await session.execute(stmt)).scalar_one_or_none()
    if row_id is not None:
        return Claim(row_id=row_id)
    existing = (
        await session.execute(
            select(IdempotencyKey).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
        )
    ).scalar_one()
    if existing.request_hash != digest:
        raise Unprocessable(
            "this Idempotency-Key was used with a different request",
            code="idempotency-key-reused",
        )
    if existing.status_code is None or existing.response_body is None:
        raise Conflict(
            "a request with this Idempotency-Key is still in progress",
            code="idempotency-key-in-progress",
        )
    return Claim(
        replay=JSONResponse(
            json.loads(existing.response_body),
            status_code=existing.status_code,
            headers={REPLAYED_HEADER: "true"},
        )
    )
