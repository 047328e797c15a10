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


# ------------------------------------------------------------------ JSON nested too deep

DEEP = b"[" * 100_000 + b"]" * 100_000
HTTP_METHODS = {"post", "put", "patch", "delete"}


def _routes_taking(media: str) -> list[tuple[str, str]]:
    schema = create_app(make_settings("sqlite+aiosqlite://", Path("/nonexistent"))).openapi()
    return sorted(
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
        and media in operation.get("requestBody", {}).get("content", {})
    )


JSON_ROUTES = _routes_taking("application/json")


def test_the_json_routes_are_walked():
    assert ("POST", "/api/auth/login") in JSON_ROUTES
    assert ("POST", "/api/flight/create") in JSON_ROUTES


@pytest.mark.parametrize("route", JSON_ROUTES, ids=[f"{m} {p}" for m, p in JSON_ROUTES])
async def test_a_100k_deep_json_body_is_422_on_every_json_route(route, client, world, session):
    method, path = route
    call = await CASES[route](world, session)
    for headers in ({}, world.headers("operator")):
        response = await client.request(
            method, path.format(**call.path), params=call.params, content=DEEP,
            headers={**headers, "Content-Type": "application/json"},
        )
        if response.status_code == 401 and not headers:
            continue  # a route that needs a caller refuses the anonymous one first
        assert_problem(response, 422, "json-too-deep")


async def test_json_nested_as_deep_as_the_limit_is_parsed(client):
    # Brackets inside strings do not count: a long string of them is just text.
    body = {"email": "[[[[" * 200 + "@example.com", "password": "{" * 100}
    response = await client.post("/api/auth/login", content=json.dumps(body),
                                 headers={"Content-Type": "application/json"})
    assert response.status_code in (401, 422)
    assert response.json()["code"] != "json-too-deep"


# ------------------------------------------------------------------ numbers past any range


def _token(world, **claims: object) -> str:
    import jwt

    from nubo.kit.types import utcnow

    now = int(utcnow().timestamp())
    payload = {"sub": str(world.member_a.id), "jti": str(uuid.uuid4()), "typ": "access",
               "iat": now, "exp": now + 60, "iss": world.platform.settings.jwt_issuer,
               "aud": world.platform.settings.jwt_audience, "ver": 0, **claims}
    return jwt.encode(payload, world.platform.settings.signing_key, algorithm="HS256")


ABSURD_CLAIMS = [
    {"exp": 1e30},
    {"exp": 10**30},
    {"ver": float("inf")},
    {"fam": 5},
    {"sub": 12},
]


@pytest.mark.parametrize("claims", ABSURD_CLAIMS, ids=[next(iter(c)) + "=" + str(next(iter(
    c.values()))) for c in ABSURD_CLAIMS])
async def test_a_well_signed_token_with_absurd_claims_is_401(claims, client, world):
    headers = {"Authorization": f"Bearer {_token(world, **claims)}"}
    assert_problem(await client.get("/api/users/profile", headers=headers), 401, "invalid-token")
    refresh = _token(world, typ="refresh", **claims)
    response = await client.post("/api/auth/refresh", json={"refresh_token": refresh})
    assert_problem(response, 401, "invalid-token")


@pytest.mark.parametrize("resume", [
    {"headers": {"Last-Event-ID": "99999999999999999999"}},
    {"headers": {"Last-Event-ID": str(2**63)}},
    {"params": {"after": "99999999999999999999"}},
    {"headers": {"Last-Event-ID": "-1"}},
], ids=["header-past-int64", "header-int64-plus-one", "after-past-int64", "negative"])
async def test_an_event_id_no_event_can_have_is_422_before_the_stream_opens(
    resume, client, world, session
):
    call = await CASES[("GET", "/api/flight/{id}/events")](world, session)
    response = await client.get(
        f"/api/flight/{call.path['id']}/events", params=resume.get("params", {}),
        headers={**world.headers("admin_a"), **resume.get("headers", {})},
    )
    assert_problem(response, 422, "invalid-event-id")


# ------------------------------------------------------------------ body size and order

MiB = 1024 * 1024
BODY_ROUTES = sorted(
    set(JSON_ROUTES) | set(_routes_taking("application/x-www-form-urlencoded"))
)


class Body:
    """A request body that records how much of it the server pulled."""

    def __init__(self, size: int, chunk: int = 64 * 1024) -> None:
        self.size, self.chunk, self.sent = size, chunk, 0

    async def stream(self):  # type: ignore[no-untyped-def]
        while self.sent < self.size:
            piece = min(self.chunk, self.size - self.sent)
            self.sent += piece
            yield b" " * piece


@pytest.mark.parametrize("route", BODY_ROUTES, ids=[f"{m} {p}" for m, p in BODY_ROUTES])
async def test_a_body_past_the_cap_is_413_by_length_or_while_streaming(
    route, client, world, session, settings
):
    method, path = route
    call = await CASES[route](world, session)
    cap = settings.max_json_body_bytes
    url, headers = path.format(**call.path), {**world.headers("operator"),
                                              "Content-Type": "application/json"}
    declared = await client.request(method, url, params=call.params, content=b" " * (cap + 1),
                                    headers=headers)
    assert_problem(declared, 413, "body-too-large")
    body = Body(50 * MiB)
    chunked = await client.request(method, url, params=call.params, content=body.stream(),
                                   headers=headers)
    assert_problem(chunked, 413, "body-too-large")
    assert body.sent <= cap + body.chunk  # refused as soon as it passed the cap


# The API's routes: the panel's forms answer a browser (a redirect to sign in, or 403 for a
# missing CSRF token), never a bare 401.
AUTHENTICATED_BODY_ROUTES = [
    route for route in sorted(CASES) if route[0] in {"POST", "PUT", "PATCH"}
    and route[1].startswith("/api/")
    and not route[1].startswith("/api/auth/") and route[1] != "/api/users/authenticate"
]


@pytest.mark.parametrize("route", AUTHENTICATED_BODY_ROUTES,
                         ids=[f"{m} {p}" for m, p in AUTHENTICATED_BODY_ROUTES])
@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token"])
async def test_a_caller_without_a_valid_token_is_401_before_the_body_is_read(
    route, authorization, client, world, session
):
    method, path = route
    call = await CASES[route](world, session)
    body = Body(200 * MiB)
    headers = {"Content-Type": "application/json"}
    if authorization:
        headers["Authorization"] = authorization
    response = await client.request(method, path.format(**call.path), params=call.params,
                                    content=body.stream(), headers=headers)
    assert response.status_code == 401, response.text
    assert response.json()["code"] in {"missing-token", "invalid-token"}
    assert body.sent == 0


async def test_a_file_upload_is_not_held_to_the_json_cap(client, world, session, settings):
    from tests.marketplace.factories import make_dataset

    dataset = await make_dataset(session, world.platform_account)
    await session.commit()
    data = b'{"rows": [' + b"1," * settings.max_json_body_bytes + b"1]}"
    response = await client.post(
        f"/api/datasets/{dataset.id}/file", content=data, params={"filename": "big.json"},
        headers={**world.headers("operator"), "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["file"]["size"] == len(data)
