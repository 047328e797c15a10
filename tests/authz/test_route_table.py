"""Walks every route of the OpenAPI schema as every kind of caller and checks the status
against the table in docs/authz.md."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest
from fastapi.routing import APIRoute

import tests.authz
from nubo.app import create_app
from nubo.identity.auth import key_scopes
from nubo.models import Scope
from nubo.web.session import CSRF_FIELD, PRE_SESSION_COOKIE, csrf_for
from tests.authz.cases import CASES
from tests.conftest import make_settings
from tests.fixtures.world import key_headers
from tests.web.helpers import browser_session

TABLE = Path(__file__).resolve().parents[2] / "docs" / "authz.md"
CALLERS = ["anon", "operator", "admin_a", "member_a", "admin_b", "key_a", "key_a_other"]
KEYS = ("key_a", "key_a_other")
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}

for module in pkgutil.iter_modules(tests.authz.__path__):
    if module.name.startswith("cases_"):
        importlib.import_module(f"tests.authz.{module.name}")


def table_rows() -> dict[tuple[str, str], dict[str, int]]:
    rows: dict[tuple[str, str], dict[str, int]] = {}
    pattern = re.compile(r"^\|\s*(GET|POST|PUT|PATCH|DELETE)\s*\|\s*(\S+)\s*\|(.*)\|\s*$")
    for line in TABLE.read_text().splitlines():
        match = pattern.match(line)
        if match:
            statuses = [int(cell.strip()) for cell in match.group(3).split("|")]
            assert len(statuses) == len(CALLERS), f"bad row: {line}"
            rows[(match.group(1), match.group(2))] = dict(zip(CALLERS, statuses, strict=True))
    return rows


APP = create_app(make_settings("sqlite+aiosqlite://", Path("/nonexistent")))
# The scopes an API key needs on each route (None: keys are refused there).
ROUTE_SCOPES = {
    (method, route.path): key_scopes(route.dependant)
    for route in APP.routes
    if isinstance(route, APIRoute)
    for method in route.methods
}


def key_for(caller: str, route: tuple[str, str]) -> list[Scope]:
    """`key_a` holds exactly the route's scopes (all of them where it names none);
    `key_a_other` every other one."""
    needed = set(ROUTE_SCOPES.get(route) or ())
    if caller == "key_a":
        return [s for s in Scope if s.value in needed] or list(Scope)
    return [s for s in Scope if s.value not in needed]


def schema_routes() -> set[tuple[str, str]]:
    """The API's routes (its OpenAPI schema) and the panel's HTML routes (kept out of it)."""
    app = APP
    api = {
        (method.upper(), path)
        for path, item in app.openapi()["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }
    return api | panel_routes(app)


def panel_routes(app) -> set[tuple[str, str]]:
    return {
        (method, route.path)
        for route in app.routes
        if isinstance(route, APIRoute) and not route.include_in_schema
        for method in route.methods
    }


async def panel_call(caller: str, world, session) -> tuple[dict[str, str], dict[str, str]]:
    """A browser's cookies and CSRF field: a signed-in session, or an anonymous pre-session."""
    if caller == "anon":
        binding = "route-walk"
        return {PRE_SESSION_COOKIE: binding}, {CSRF_FIELD: csrf_for(world.platform, binding)}
    cookie, csrf = await browser_session(session, world.platform, getattr(world, caller))
    return {"nubo_session": cookie}, {CSRF_FIELD: csrf}


@pytest.fixture
def settings(database_url, data_dir):
    # The account-wide event stream never ends by itself; here it closes at once.
    return make_settings(database_url, data_dir, events_stream_max_s=0.2, events_poll_s=0.05)


ROWS = table_rows()
ROUTES = sorted(schema_routes())


def test_every_route_has_a_row_in_the_table():
    missing = [f"{m} {p}" for m, p in ROUTES if (m, p) not in ROWS]
    assert not missing, f"routes without a row in docs/authz.md: {missing}"


def test_every_row_names_a_real_route():
    stale = [f"{m} {p}" for m, p in ROWS if (m, p) not in set(ROUTES)]
    assert not stale, f"rows in docs/authz.md for routes that do not exist: {stale}"


def test_every_route_has_a_call_example():
    missing = [f"{m} {p}" for m, p in ROUTES if (m, p) not in CASES]
    assert not missing, f"routes without a case in tests/authz/cases_*.py: {missing}"


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("route", ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
async def test_route_answers_caller_as_the_table_says(route, caller, client, world, session):
    method, path = route
    if route not in ROWS or route not in CASES:
        pytest.fail(f"{method} {path} has no row or no case")
    call = await CASES[route](world, session)
    as_row = caller
    headers = dict(call.headers)
    url = path.format(**call.path)
    if not path.startswith("/api"):  # a panel page: the browser session, never a bearer
        if caller in KEYS:  # a key opens no page: the key's machine is as good as anonymous
            headers.update(await key_headers(session, world.account_a, key_for(caller, route)))
            caller = "anon"
        cookies, csrf = await panel_call(caller, world, session)
        client.cookies.update(cookies)
        headers["Origin"] = "http://nubo.test"
        if method != "GET":
            call.data = {**csrf, **(call.data or {})}
    elif caller in KEYS:
        headers.update(await key_headers(session, world.account_a, key_for(caller, route)))
    elif caller != "anon":
        headers.update(world.headers(caller))
    response = await client.request(
        method, url, json=call.json, params=call.params, headers=headers,
        content=call.content, data=call.data, files=call.files,
    )
    expected = ROWS[route][as_row]
    assert response.status_code == expected, (
        f"{method} {url} as {caller}: {response.status_code} {response.text[:300]}"
    )
    if not path.startswith("/api") and method == "GET" and response.status_code == 303:
        # a page that needs a session sends anonymous callers to sign in; sign-in and sign-up
        # pages send signed-in callers on
        expected_target = "/login?next=" if caller == "anon" else "/"
        assert response.headers["location"].startswith(expected_target)
    if response.status_code == 401:
        assert response.headers.get("www-authenticate") == "Bearer"
