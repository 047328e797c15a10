"""Every operation of the OpenAPI schema explains itself: summary, who may call it (from the
route table), its error codes, examples and a tag. A new route that lacks one fails here with
what to add."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError

from nubo.app import create_app
from nubo.identity.auth import key_scopes
from nubo.ops.apidoc import ERRORS_HEADING, WHO_HEADING, who_may_call
from tests.authz.test_route_table import CALLERS, table_rows
from tests.conftest import make_settings

APP = create_app(make_settings("sqlite+aiosqlite://", Path("/nonexistent")))
SCHEMA = APP.openapi()
ROWS = table_rows()
ROUTES = [
    (method, route)
    for route in APP.routes
    if isinstance(route, APIRoute) and route.include_in_schema
    for method in sorted(route.methods)
]


def _where(route: APIRoute) -> str:
    return f"{route.endpoint.__module__}.{route.endpoint.__name__}"


def _operation(method: str, route: APIRoute) -> dict[str, Any]:
    return SCHEMA["paths"][route.path_format][method.lower()]


@pytest.fixture(params=ROUTES, ids=[f"{m} {r.path_format}" for m, r in ROUTES])
def op(request) -> tuple[str, APIRoute, dict[str, Any]]:
    method, route = request.param
    return method, route, _operation(method, route)


def test_every_operation_has_a_written_summary(op):
    method, route, _ = op
    assert route.summary or inspect.getdoc(route.endpoint), (
        f"{method} {route.path_format}: give {_where(route)} a docstring (first line: a short "
        "summary; then a paragraph on what it does)"
    )


def test_every_operation_names_the_roles_of_its_row_in_the_route_table(op):
    method, route, operation = op
    row = ROWS.get((method, route.path_format))
    assert row is not None, f"add a row for {method} {route.path_format} to docs/authz.md"
    names = ("anon", "operator", "admin A", "member A", "admin B", "key A", "key A, other scopes")
    expected = who_may_call(
        dict(zip(names, (row[c] for c in CALLERS), strict=True)), key_scopes(route.dependant)
    )
    assert expected in operation["description"]


def test_every_operation_lists_its_error_codes(op):
    method, route, operation = op
    assert ERRORS_HEADING in operation["description"], (
        f"{method} {route.path_format}: its errors are missing from the description"
    )


def test_every_operation_has_a_tag(op):
    method, route, operation = op
    assert operation.get("tags"), (
        f"{method} {route.path_format}: give the APIRouter in {route.endpoint.__module__} "
        "tags=[...]"
    )


def test_json_bodies_and_answers_have_examples_that_fit_their_models(op):
    method, route, operation = op
    body = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if body is not None:
        assert "example" in body or "examples" in body
        if route.body_field is not None:
            try:
                TypeAdapter(route.body_field.field_info.annotation).validate_python(
                    body["example"])
            except ValidationError as exc:
                pytest.fail(f"{method} {route.path_format}: the request example does not fit "
                            f"its model; give the fields `examples=[...]`: {exc}")
    for status, response in operation.get("responses", {}).items():
        media = response.get("content", {}).get("application/json")
        if str(status).startswith("2") and media is not None:
            assert "example" in media or "examples" in media, f"{status} has no example"


@pytest.mark.parametrize(("method", "path", "codes"), [
    ("POST", "/api/users", {"401 missing-token", "403 admin-required", "403 operator-required",
                            "409 email-taken", "409 operator-outside-platform",
                            "422 validation-error", "422 invalid-json"}),
    ("GET", "/api/datasets/{datasetId}/download", {"403 not-entitled", "404 not-found",
                                                    "404 no-data-file"}),
    ("POST", "/api/auth/login", {"401 invalid-credentials", "429 too-many-requests",
                                 "415 unsupported-media-type"}),
    ("PATCH", "/api/users/edit", {"422 current-password-required", "403 wrong-password"}),
])
def test_error_codes_are_read_from_the_code_that_raises_them(method, path, codes):
    description = SCHEMA["paths"][path][method.lower()]["description"]
    listed = description.split(ERRORS_HEADING, 1)[1]
    for code in codes:
        assert f"`{code}`" in listed, code


def test_public_operations_say_so_and_others_list_each_caller():
    assert "anyone, no token needed" in SCHEMA["paths"]["/api/health"]["get"]["description"]
    invoices = SCHEMA["paths"]["/api/invoices"]["get"]["description"]
    assert WHO_HEADING in invoices
    assert "- operators: yes (200)" in invoices and "- members of the account: no (403)" in invoices
