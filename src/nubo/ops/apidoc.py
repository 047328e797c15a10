"""The OpenAPI schema explains each operation: who may call it and what errors it answers.

Written in one place, from sources that cannot drift from the behaviour:

- the summary and the description are the endpoint's docstring (first line, then the rest);
- "Who may call" is the operation's row of the route x role table, `docs/authz.md`, which
  `tests/authz` checks against real calls;
- "Errors" are the coded errors the endpoint, its dependencies and the services they call can
  raise, found by reading their code (`raise Conflict(..., code="email-taken")`), plus the
  handler's own (422 validation, unparsable JSON);
- request and response examples are built from the schemas (field `examples` first).

`tests/ops/test_apidoc.py` fails for an operation that lacks any of these.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from nubo.identity.auth import key_scopes
from nubo.kit.errors import NuboError

AUTHZ_TABLE = Path(__file__).resolve().parents[3] / "docs" / "authz.md"
CALLERS = ("anon", "operator", "admin A", "member A", "admin B", "key A", "key A, other scopes")
_ROW = re.compile(r"^\|\s*(GET|POST|PUT|PATCH|DELETE)\s*\|\s*(\S+)\s*\|(.*)\|\s*$")
WHO_HEADING = "**Who may call**"
ERRORS_HEADING = "**Errors**"


def route_table(path: Path = AUTHZ_TABLE) -> dict[tuple[str, str], dict[str, int]]:
    """(METHOD, /path) -> status per caller, as `docs/authz.md` states it."""
    rows: dict[tuple[str, str], dict[str, int]] = {}
    if not path.exists():  # an installed package without the repository's docs
        return rows
    for line in path.read_text().splitlines():
        match = _ROW.match(line)
        if match:
            statuses = [int(cell) for cell in match.group(3).split("|")]
            rows[(match.group(1), match.group(2))] = dict(zip(CALLERS, statuses, strict=True))
    return rows


def _verdict(status: int) -> str:
    if status == 401:
        return "no (401)"
    if status == 403:
        return "no (403)"
    if status == 404:
        return "no (404: it does not exist for them)"
    return f"yes ({status})"


def who_may_call(row: dict[str, int], scopes: list[str] | None = None) -> str:
    """The row of the route table as a sentence per kind of caller."""
    if row["anon"] not in (401, 403, 404):
        return f"{WHO_HEADING}: anyone, no token needed."
    if scopes:
        needed = ", ".join(f"`{s}`" for s in scopes)
        keys = f"API keys of the account with {needed}: {_verdict(row['key A'])}"
    else:
        keys = "API keys: no (403)"
    lines = [
        f"- operators: {_verdict(row['operator'])}",
        f"- admins of the account: {_verdict(row['admin A'])}",
        f"- members of the account: {_verdict(row['member A'])}",
        f"- users of another account: {_verdict(row['admin B'])}",
        f"- {keys}",
        "- without a token: no (401)",
    ]
    return f"{WHO_HEADING} (docs/authz.md):\n\n" + "\n".join(lines)


# ------------------------------------------------------------------ error codes from the code

_MAX_DEPTH = 5


def _raised(func: Callable[..., Any]) -> Iterator[tuple[int, str]]:
    """(status, code) of each coded error raised in `func`'s own body."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    except (OSError, TypeError, SyntaxError):
        return
    scope = getattr(func, "__globals__", {})
    for node in ast.walk(tree):
        if not isinstance(node, ast.Raise) or not isinstance(node.exc, ast.Call):
            continue
        cls = _resolve(node.exc.func, scope)
        if not (isinstance(cls, type) and issubclass(cls, NuboError)):
            continue
        code = next((k.value.value for k in node.exc.keywords if k.arg == "code"
                     and isinstance(k.value, ast.Constant)), cls.code)
        yield cls.status, str(code)


def _callees(func: Callable[..., Any]) -> Iterator[Callable[..., Any]]:
    """Functions of Nubo that `func` calls by name or through a module (`service.signup`)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    except (OSError, TypeError, SyntaxError):
        return
    scope = getattr(func, "__globals__", {})
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            target = _resolve(node.func, scope)
            if inspect.isfunction(target) and target.__module__.startswith("nubo."):
                yield target


def _resolve(node: ast.expr, scope: dict[str, Any]) -> Any:
    if isinstance(node, ast.Name):
        return scope.get(node.id)
    if isinstance(node, ast.Attribute):
        owner = _resolve(node.value, scope)
        if inspect.ismodule(owner) or isinstance(owner, type):
            return getattr(owner, node.attr, None)
    return None


def error_codes(route: APIRoute) -> set[tuple[int, str]]:
    """Every (status, code) the route can answer with, as far as reading its code shows."""
    found: set[tuple[int, str]] = set()
    seen: set[Callable[..., Any]] = set()
    stack = [(route.endpoint, 0)] + [(d.call, 0) for d in _dependencies(route) if d.call]
    while stack:
        func, depth = stack.pop()
        func = inspect.unwrap(func)
        if func in seen or depth > _MAX_DEPTH:
            continue
        seen.add(func)
        found.update(_raised(func))
        stack.extend((callee, depth + 1) for callee in _callees(func))
    if route.body_field is not None or route.dependant.query_params:
        found.add((422, "validation-error"))
    if route.body_field is not None:
        found.add((422, "invalid-json"))
    if route.dependant.path_params:
        found.add((404, "not-found"))
    return found


def _dependencies(route: APIRoute) -> Iterator[Any]:
    pending = list(route.dependant.dependencies)
    while pending:
        dependant = pending.pop()
        yield dependant
        pending.extend(dependant.dependencies)


def errors_text(codes: set[tuple[int, str]]) -> str:
    items = ", ".join(f"`{status} {code}`" for status, code in sorted(codes))
    return f"{ERRORS_HEADING} (application/problem+json, field `code`): {items}."


# ------------------------------------------------------------------ examples from the schemas

_FORMATS = {
    "uuid": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "date-time": "2026-11-29T12:00:00Z",
    "date": "2026-11-29",
    "email": "ana@example.com",
    "uri": "https://example.com/",
    "binary": "<bytes>",
}


def example_of(schema: dict[str, Any], components: dict[str, Any], depth: int = 0) -> Any:
    """A value that fits `schema`, preferring the examples and defaults it declares."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return example_of(components.get(name, {}), components, depth + 1)
    for key in ("example", "const"):
        if key in schema:
            return schema[key]
    if schema.get("examples"):
        return schema["examples"][0]
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = [s for s in schema.get(key, []) if s.get("type") != "null"]
        if options:
            return example_of(options[0], components, depth + 1)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        if depth > 6:
            return {}
        props = schema.get("properties", {})
        return {name: example_of(sub, components, depth + 1) for name, sub in props.items()}
    if kind == "array":
        return [] if depth > 6 else [example_of(schema.get("items", {}), components, depth + 1)]
    if kind == "string":
        return _FORMATS.get(schema.get("format", ""), "string")
    if kind == "integer":
        return max(int(schema.get("minimum", 0)), 1)
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    return None


def _add_examples(operation: dict[str, Any], components: dict[str, Any]) -> None:
    contents = [operation.get("requestBody", {}).get("content", {})]
    for status, response in operation.get("responses", {}).items():
        if str(status).startswith("2"):
            contents.append(response.get("content", {}))
    for content in contents:
        media = content.get("application/json")
        if media is not None and "example" not in media and "examples" not in media:
            media["example"] = example_of(media.get("schema", {}), components)


# ------------------------------------------------------------------ the schema


def _docstring(route: APIRoute) -> tuple[str | None, str]:
    """(summary, description): the decorator's `summary=` or the docstring's first paragraph,
    then the rest of the docstring."""
    doc = inspect.getdoc(route.endpoint) or ""
    first, _, rest = doc.partition("\n\n")
    first = " ".join(first.split())
    if route.summary and first.rstrip(".") != route.summary.rstrip("."):
        return route.summary, doc.strip()
    return route.summary or first or None, rest.strip()


def document(schema: dict[str, Any], routes: list[Any], table: dict[Any, dict[str, int]]) -> None:
    """Fill in summary, description (who may call, errors) and examples of each operation."""
    components = schema.get("components", {}).get("schemas", {})
    for route in routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        for method in route.methods:
            operation = schema["paths"].get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            summary, text = _docstring(route)
            if summary:
                operation["summary"] = summary
            parts = [text] if text else []
            row = table.get((method, route.path_format))
            scopes = key_scopes(route.dependant)
            if row is not None:
                parts.append(who_may_call(row, scopes))
            if scopes and operation.get("security"):
                # Shown by the docs' Authorize dialog; FastAPI lists scopes for OAuth2 only.
                operation["security"] = [{name: scopes} for s in operation["security"]
                                         for name in s]
            parts.append(errors_text(error_codes(route)))
            operation["description"] = "\n\n".join(parts)
            _add_examples(operation, components)


def install_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` return the documented schema (built once, then cached)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            document(schema, app.routes, route_table())
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]
