"""A list's JSON written from plain values, in Rust, once.

The list routes read columns (no ORM objects, no response models per row) and build each
item as a dict in the order of its response model's fields; `page_response` writes the page
with Pydantic's serialiser, the one `kit.schemas.json_response` uses, with the same
settings: the bytes are those of the `Page` model of the same values
(docs/decisions/lists-read-as-columns.md).

JSON columns are stored as that serialiser writes them (`stored_text`, the engine's JSON
writer), so a list can copy a column's stored text into its page (`Holes`) instead of
decoding it and writing it again: the same bytes, for a fraction of the work.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from pydantic_core import from_json, to_json
from sqlalchemy import (
    DateTime,
    Dialect,
    Label,
    String,
    Text,
    TypeDecorator,
    Uuid,
    cast,
    type_coerce,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from starlette.responses import Response


def uuid_text(column: Any) -> Label[str]:
    """A UUID column read as its canonical text: what the JSON writes, made by the driver
    (asyncpg) rather than by `uuid.UUID.__str__` (a microsecond each) or the serialiser."""
    return type_coerce(column, Uuid(as_uuid=False)).label(column.key)


def uuid_cast_text(column: Any) -> Label[str]:
    """`uuid_text`, made by PostgreSQL (`CAST(... AS TEXT)`: the driver hands over the text,
    nothing is converted in Python; SQLite's hex converted as a `Uuid` column's). Only in a
    statement that reads the column out, not in a subquery whose column is compared again
    (`uuid = text` has no operator)."""
    return _UuidText(column).label(column.key)


class _WrittenByPostgres(FunctionElement[str]):
    """A column PostgreSQL's statement turns into the text the JSON writes (`postgresql`:
    the SQL around it), so the driver hands that text over; elsewhere the column as it is,
    converted by the element's type."""

    inherit_cache = True
    postgresql = "{}"


@compiles(_WrittenByPostgres)
def _as_read(element: _WrittenByPostgres, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(_WrittenByPostgres, "postgresql")
def _as_written(element: _WrittenByPostgres, compiler: Any, **kw: Any) -> str:
    return element.postgresql.format(compiler.process(element.clauses, **kw))


class _TextOutsidePostgres(TypeDecorator[str]):
    """The type of a `_WrittenByPostgres`: nothing to convert on PostgreSQL."""

    cache_ok = True

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        if dialect.name == "postgresql":
            return None  # the statement wrote it
        return super().result_processor(dialect, coltype)


class _UuidTextType(_TextOutsidePostgres):
    impl = Uuid(as_uuid=False)
    cache_ok = True


class _UuidText(_WrittenByPostgres):
    type = _UuidTextType()
    inherit_cache = True
    postgresql = "CAST({} AS TEXT)"


def instant_text(column: Any) -> Label[str]:
    """A timestamp column read as the text the JSON writes for it (ISO 8601 in UTC, `Z`,
    microseconds only when there are any): written by PostgreSQL, so the driver decodes no
    datetime and the serialiser formats none (about a microsecond each, seven a row on the
    flights list); on SQLite converted from the column's value."""
    return _InstantText(column).label(column.key)


class _InstantTextType(_TextOutsidePostgres):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        at = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return to_json(at)[1:-1].decode()


class _InstantText(_WrittenByPostgres):
    type = _InstantTextType()
    inherit_cache = True
    # Pydantic writes the microseconds only when there are any.
    postgresql = ("replace(to_char({} AT TIME ZONE 'UTC', "
                  "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), '.000000Z', 'Z')")


def code_text(column: Any) -> Label[str]:
    """An enum column (stored as its value) read as that value, not as an Enum member."""
    return type_coerce(column, String()).label(column.key)


def json_text(column: Any) -> Label[str]:
    """A JSON column read as the text stored: the driver does not decode it (asyncpg decodes
    every `json` value it reads), so who shows it decodes it (`stored_json`), once, and who
    does not never pays for it."""
    return cast(column, Text).label(column.key)


def stored_json(text: str | None) -> Any:
    """A `json_text` column's value, decoded."""
    return None if text is None else from_json(text)


def stored_text(value: Any) -> str:
    """How a JSON column's value is stored (the engines' `json_serializer`): as the page
    writes it, compact, UTF-8 rather than `\\u` escapes, floats in their shortest form, a
    non-finite float as null (as the models write it; PostgreSQL's `json` refuses NaN)."""
    return to_json(value, inf_nan_mode="null").decode()


class Holes:
    """The stored texts of a page's JSON columns (`json_text`), copied into the page as they
    are: an item holds `holes(text)` where it shows the column, and the page of those items
    (`page_json(..., holes)`) is the page of the columns' values. Only in an item's own
    fields, not nested in them."""

    __slots__ = ("texts",)

    def __init__(self) -> None:
        self.texts: list[str] = []

    def __call__(self, text: str | None) -> str | None:
        if text is None:
            return None
        self.texts.append(text)  # items are built in the order the page is written
        return _HOLE


# Where a stored text goes while the page is written: a string no value of a list holds
# (PostgreSQL's text cannot hold NUL); a value that does has the page written the slow way.
# A hole is this very object: a value equal to it is not it.
_HOLE = "".join(("\x00", "hole"))
_WRITTEN_HOLE = to_json(_HOLE)


def page_json(
    items: list[dict[str, Any]], next_cursor: str | None, holes: Holes | None = None
) -> bytes:
    # Models serialise a non-finite float as null (`ser_json_inf_nan`); so does this.
    page = to_json({"items": items, "next_cursor": next_cursor}, inf_nan_mode="null")
    if holes is None or not holes.texts:
        return page
    parts = page.split(_WRITTEN_HOLE)
    if len(parts) != len(holes.texts) + 1:  # another value wrote a hole too
        return page_json(_filled(items, holes.texts), next_cursor)
    spliced = [parts[0]]
    for text, part in zip(holes.texts, parts[1:], strict=True):
        spliced += (text.encode(), part)
    return b"".join(spliced)


def _filled(items: list[dict[str, Any]], texts: list[str]) -> list[dict[str, Any]]:
    """The items with their holes' values, decoded."""
    values = iter(texts)
    return [{key: from_json(next(values)) if value is _HOLE else value
             for key, value in item.items()} for item in items]


def page_response(
    items: list[dict[str, Any]], next_cursor: str | None, holes: Holes | None = None
) -> Response:
    return Response(page_json(items, next_cursor, holes), media_type="application/json")
