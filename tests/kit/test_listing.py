"""kit.listing writes a list's JSON from plain values: the bytes of the `Page` model of the
same values, and a JSON column read as text decodes to what the driver would have given; a
JSON column's stored text copied into the page gives the page of its value."""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from nubo.kit.listing import Holes, page_json, stored_json, stored_text
from nubo.kit.pagination import Page
from nubo.kit.schemas import ResponseModel, json_response


class Item(ResponseModel):
    id: uuid.UUID
    at: datetime | None
    score: float | None
    doc: dict[str, Any] | None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_a_json_column_read_as_text_decodes_as_the_driver_decodes_it(value: Any) -> None:
    for stored in (stored_text(value), json.dumps(value)):  # the engines' form, and the older
        assert stored_json(stored) == json.loads(stored)
    assert stored_json(None) is None


@given(st.lists(json_values, max_size=5), st.floats(allow_nan=True, allow_infinity=True))
def test_a_page_of_dicts_is_written_as_the_page_model_of_them(docs: list[Any], score: float):
    at = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    items = [{"id": uuid.UUID(int=n), "at": at if n % 2 else None, "score": score,
              "doc": {"v": doc, "ção": "ç"}} for n, doc in enumerate(docs)]
    model = Page[Item](items=[Item(**item) for item in items], next_cursor="abc")
    assert page_json(items, "abc") == json_response(model).body
    if not math.isfinite(score):  # as the models write it
        assert b"NaN" not in page_json(items, None) and b"Infinity" not in page_json(items, None)


def test_ids_as_text_are_written_as_the_ids() -> None:
    some = uuid.uuid4()
    assert page_json([{"id": str(some)}], None) == page_json([{"id": some}], None)


@given(st.lists(json_values | st.floats(), max_size=5), st.text())
def test_a_stored_json_text_copied_into_the_page_is_the_page_of_its_value(
    docs: list[Any], name: str
) -> None:
    values = [{"name": name, "doc": doc, "none": None, "again": [doc]} for doc in docs]
    holes = Holes()
    copied = [{"name": name, "doc": holes(stored_text(doc)), "none": holes(None),
               "again": holes(stored_text([doc]))} for doc in docs]
    assert page_json(copied, "abc", holes) == page_json(values, "abc")
    # What the page writes of the stored text is what it writes of the decoded value.
    for doc in docs:
        assert stored_text(stored_json(stored_text(doc))) == stored_text(doc)


def test_a_value_that_looks_like_a_hole_still_gets_the_page_of_the_values() -> None:
    looks_alike = "".join(("\x00", "hole"))
    values = [{"name": looks_alike, "doc": {"a": [1.5, "ção"]}}, {"name": "x", "doc": None}]
    holes = Holes()
    copied = [{"name": looks_alike, "doc": holes('{"a":[1.5,"ção"]}')},
              {"name": "x", "doc": holes("null")}]
    assert b"hole" in page_json(copied, None, holes)
    assert page_json(copied, None, holes) == page_json(values, None)
