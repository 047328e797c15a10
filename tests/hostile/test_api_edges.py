"""What a hostile or careless client sends at the API's edges: every answer is a 4xx with a
stable code, never a 500."""

from __future__ import annotations

import base64
import importlib
import json
import pkgutil
import uuid
from pathlib import Path

import pytest

import tests.authz
from nubo.app import create_app
from tests.authz.cases import CASES
from tests.conftest import make_settings
from tests.identity.test_auth import assert_problem

for _module in pkgutil.iter_modules(tests.authz.__path__):
    if _module.name.startswith("cases_"):
        importlib.import_module(f"tests.authz.{_module.name}")


def _paged_routes() -> list[str]:
    """Every GET route that takes a `cursor`: the app's own list, not one kept by hand."""
    schema = create_app(make_settings("sqlite+aiosqlite://", Path("/nonexistent"))).openapi()
    return sorted(
        path
        for path, item in schema["paths"].items()
        if any(p["name"] == "cursor" for p in item.get("get", {}).get("parameters", []))
    )


PAGED = _paged_routes()
SOME_ID = str(uuid.uuid4())


def _cursor(values: object) -> str:
    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# (id, decoded cursor, invalid whatever the route's keys are)
TAMPERED = [
    ("naive-datetime", ["2026-01-01T00:00:00", SOME_ID], False),
    ("pair-of-ints", [1, 2], True),
    ("past-int64", [2**63, SOME_ID], True),
    ("past-int64-everywhere", [2**64, 2**64], True),
    ("impossible-date", ["2026-13-45T00:00:00+00:00", SOME_ID], False),
    ("calendar-edge", ["0001-01-01T00:00:00+05:00", SOME_ID], False),
    ("nul", ["\x00", SOME_ID], False),
    ("lone-surrogate", ["\ud800", SOME_ID], False),
    ("infinity", [1e400, SOME_ID], True),
    ("nested", [[1, 2], {"a": SOME_ID}], True),
    ("nulls", [None, None], True),
    ("booleans", [True, False], True),
    ("not-a-list", {"created_at": "2026-01-01T00:00:00+00:00"}, True),
    ("too-short", [SOME_ID], True),
]


def test_the_nine_list_routes_are_walked():
    assert len(PAGED) >= 9, PAGED


@pytest.mark.parametrize("route", PAGED)
async def test_a_tampered_cursor_is_422_on_every_list_route(route, client, world, session):
    call = await CASES[("GET", route)](world, session)
    url = route.format(**call.path)
    for name, values, always_invalid in TAMPERED:
        params = {**call.params, "cursor": _cursor(values)}
        response = await client.get(url, params=params, headers=world.headers("operator"))
        if response.status_code == 200 and not always_invalid:
            continue  # e.g. a text key: the value is a legitimate position there
        assert response.status_code == 422, f"{name}: {response.status_code} {response.text}"
        assert_problem(response, 422, "invalid-cursor")
