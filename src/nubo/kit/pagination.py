"""Keyset pagination: `limit` + opaque `cursor`, responses `{items, next_cursor}`."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from enum import Enum
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from nubo.kit.errors import Unprocessable

T = TypeVar("T")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
INT64_MAX = 2**63 - 1
MAX_TEXT_CHARS = 256


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class PageParams(BaseModel):
    limit: int
    cursor: str | None


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


Pagination = Annotated[PageParams, Depends(page_params)]


def encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps([_jsonable(v) for v in values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class Key(Enum):
    """What one position of a cursor holds. A cursor comes back from the client, so each
    value is checked here, before it reaches SQL, whatever was put in its place."""

    instant = "instant"  # timezone-aware ISO 8601, compared as UTC
    uuid = "uuid"
    bigint = "bigint"  # a JSON integer that fits a signed 64-bit column
    text = "text"

    def parse(self, value: object) -> Any:
        return _PARSERS[self](value)


def _instant(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("not a timestamp")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("a timestamp without a time zone")
    return parsed.astimezone(UTC)  # OverflowError at the ends of the calendar


def _uuid(value: object) -> uuid.UUID:
    if not isinstance(value, str):
        raise ValueError("not an id")
    return uuid.UUID(value)


def _bigint(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > INT64_MAX:
        raise ValueError("not a 64-bit integer")
    return value


def _text(value: object) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT_CHARS or "\x00" in value:
        raise ValueError("not a text key")
    value.encode()  # a lone surrogate cannot be sent to the database
    return value


_PARSERS: dict[Key, Callable[[object], Any]] = {
    Key.instant: _instant,
    Key.uuid: _uuid,
    Key.bigint: _bigint,
    Key.text: _text,
}


def _invalid() -> Unprocessable:
    return Unprocessable("cursor is not valid", code="invalid-cursor")


def decode_cursor(cursor: str, keys: Sequence[Key]) -> list[Any]:
    """The cursor's values, each checked against its key; 422 `invalid-cursor` otherwise."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except ValueError as exc:  # bad base64, bad UTF-8 or bad JSON
        raise _invalid() from exc
    if not isinstance(raw, list) or len(raw) != len(keys):
        raise _invalid()
    try:
        return [key.parse(value) for key, value in zip(keys, raw, strict=True)]
    except (ValueError, OverflowError) as exc:  # UnicodeEncodeError is a ValueError
        raise _invalid() from exc


def _jsonable(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (int, float, str)) or value is None:
        return value
    return str(value)


def keyset(
    stmt: Select[Any],
    params: PageParams,
    columns: Sequence[ColumnElement[Any] | InstrumentedAttribute[Any]],
    keys: Sequence[Key],
    *,
    descending: bool = False,
) -> Select[Any]:
    """Order by `columns` (the last must be unique) and continue after the cursor, whose
    values are of `keys`, one per column."""
    if params.cursor:
        values = decode_cursor(params.cursor, keys)
        stmt = stmt.where(_after(columns, values, descending))
    order = [c.desc() if descending else c.asc() for c in columns]
    return stmt.order_by(*order).limit(params.limit + 1)


def _after(
    columns: Sequence[ColumnElement[Any] | InstrumentedAttribute[Any]],
    values: Sequence[Any],
    descending: bool,
) -> ColumnElement[bool]:
    # Expanded row comparison: (a, b) > (x, y) is a > x OR (a = x AND b > y); portable to SQLite.
    clauses = []
    for i, col in enumerate(columns):
        equal = [columns[j] == values[j] for j in range(i)]
        beyond = col < values[i] if descending else col > values[i]
        clauses.append(and_(*equal, beyond))
    return or_(*clauses)


async def page_by_creation(
    session: AsyncSession,
    stmt: Select[Any],
    params: PageParams,
    model: Any,
    *,
    newest_first: bool = False,
) -> list[Any]:
    """One page of `model` rows in creation order, `id` breaking ties: most lists' order."""
    columns = [model.created_at, model.id]
    stmt = keyset(stmt, params, columns, [Key.instant, Key.uuid], descending=newest_first)
    return list((await session.execute(stmt)).scalars().all())


def build_page(
    rows: Sequence[T], params: PageParams, key: Callable[[T], Sequence[Any]]
) -> tuple[list[T], str | None]:
    items = list(rows[: params.limit])
    if len(rows) > params.limit and items:
        return items, encode_cursor(key(items[-1]))
    return items, None


async def all_pages(
    open_session: Callable[[], AbstractAsyncContextManager[AsyncSession]],
    fetch: Callable[[AsyncSession, PageParams], Awaitable[Sequence[T]]],
    key: Callable[[T], Sequence[Any]],
    size: int = 500,
) -> AsyncIterator[list[T]]:
    """Every page of a list, one batch at a time, each read in a short session of its own:
    an export of any length holds one batch in memory and no transaction open while the
    client reads."""
    cursor: str | None = None
    while True:
        params = PageParams(limit=size, cursor=cursor)
        async with open_session() as session:
            rows = await fetch(session, params)
            items, cursor = build_page(rows, params, key)
        yield items
        if cursor is None:
            return
