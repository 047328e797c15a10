"""A list's JSON written from plain values, in Rust, once.

The list routes read columns (no ORM objects, no response models per row) and build each
item as a dict in the order of its response model's fields; `page_response` writes the page
with Pydantic's serialiser, the one `kit.schemas.json_response` uses, with the same
settings: the bytes are those of the `Page` model of the same values
(docs/decisions/lists-read-as-columns.md).
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


def page_json(items: list[dict[str, Any]], next_cursor: str | None) -> bytes:
    # Models serialise a non-finite float as null (`ser_json_inf_nan`); so does this.
    return to_json({"items": items, "next_cursor": next_cursor}, inf_nan_mode="null")


def page_response(items: list[dict[str, Any]], next_cursor: str | None) -> Response:
    return Response(page_json(items, next_cursor), media_type="application/json")
