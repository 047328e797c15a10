"""A list's JSON written from plain values, in Rust, once.

The list routes read columns (no ORM objects, no response models per row) and build each
item as a dict in the order of its response model's fields; `page_response` writes the page
with Pydantic's serialiser, the one `kit.schemas.json_response` uses, with the same
settings: the bytes are those of the `Page` model of the same values
(docs/decisions/lists-read-as-columns.md).

JSON columns are stored as that serialiser writes them (`stored_text`, the engine's JSON
writer), so a list can copy a column's stored text into its page (`Stored`) instead of
decoding it and writing it again: the same bytes, for a fraction of the work.
"""

from __future__ import annotations

from typing import Any

from pydantic_core import from_json, to_json
from sqlalchemy import Label, String, Text, Uuid, cast, type_coerce
from starlette.responses import Response


def uuid_text(column: Any) -> Label[str]:
    """A UUID column read as its canonical text: what the JSON writes, made by the driver
    (asyncpg) rather than by `uuid.UUID.__str__` (a microsecond each) or the serialiser."""
    return type_coerce(column, Uuid(as_uuid=False)).label(column.key)


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


class Stored:
    """A JSON column's stored text (`json_text`), copied into the page as it is: the page
    of a `Stored(stored_text(v))` is the page of `v`."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def stored(text: str | None) -> Stored | None:
    return None if text is None else Stored(text)


# Where a Stored value goes, while the page is written: a string that no value of a list
# holds (PostgreSQL's text cannot hold NUL; a value that does gets the decoding path).
_HOLE = "\x00"
_WRITTEN_HOLE = to_json(_HOLE)


def page_json(items: list[dict[str, Any]], next_cursor: str | None) -> bytes:
    texts: list[str] = []

    def hole(value: Stored) -> str:
        texts.append(value.text)  # in the order the page is written
        return _HOLE

    # Models serialise a non-finite float as null (`ser_json_inf_nan`); so does this.
    page = to_json({"items": items, "next_cursor": next_cursor}, inf_nan_mode="null",
                   fallback=hole)
    if not texts:
        return page
    parts = page.split(_WRITTEN_HOLE)
    if len(parts) != len(texts) + 1:  # some other value wrote a hole too
        return to_json({"items": items, "next_cursor": next_cursor}, inf_nan_mode="null",
                       fallback=lambda value: from_json(value.text))
    spliced = [parts[0]]
    for text, part in zip(texts, parts[1:], strict=True):
        spliced += (text.encode(), part)
    return b"".join(spliced)


def page_response(items: list[dict[str, Any]], next_cursor: str | None) -> Response:
    return Response(page_json(items, next_cursor), media_type="application/json")
