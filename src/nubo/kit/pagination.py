"""Keyset pagination: `limit` + opaque `cursor`, responses `{items, next_cursor}`."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
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


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise Unprocessable("cursor is not valid", code="invalid-cursor") from exc
    if not isinstance(values, list) or len(values) != arity:
        raise Unprocessable("cursor is not valid", code="invalid-cursor")
    return values


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
    parse: Sequence[Callable[[Any], Any]],
    *,
    descending: bool = False,
) -> Select[Any]:
    """Order by `columns` (the last must be unique) and continue after the cursor."""
    if params.cursor:
        raw = decode_cursor(params.cursor, len(columns))
        try:
            values = [p(v) for p, v in zip(parse, raw, strict=True)]
        except (ValueError, TypeError) as exc:
            raise Unprocessable("cursor is not valid", code="invalid-cursor") from exc
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
    stmt = keyset(
        stmt, params, columns, [datetime.fromisoformat, uuid.UUID], descending=newest_first
    )
    return list((await session.execute(stmt)).scalars().all())


def build_page(
    rows: Sequence[T], params: PageParams, key: Callable[[T], Sequence[Any]]
) -> tuple[list[T], str | None]:
    items = list(rows[: params.limit])
    if len(rows) > params.limit and items:
        return items, encode_cursor(key(items[-1]))
    return items, None
