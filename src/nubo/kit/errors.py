"""One exception hierarchy, rendered by one handler as RFC 9457 problem+json."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

log = logging.getLogger("nubo.errors")

PROBLEM_JSON = "application/problem+json"


class NuboError(Exception):
    status = 500
    code = "internal-error"
    title = "Internal server error"
    # Most errors undo the unit of work; a few must keep what they recorded (e.g. a
    # refresh-token reuse revokes the family, and that revocation has to stick).
    commit_changes = False

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        if code:
            self.code = code
        self.headers = headers or {}
        self.extra = extra


class BadRequest(NuboError):
    status, code, title = 400, "bad-request", "Bad request"


class Unauthorized(NuboError):
    status, code, title = 401, "unauthorized", "Not authenticated"

    def __init__(self, detail: str | None = None, **kw: Any) -> None:
        super().__init__(detail, **kw)
        self.headers.setdefault("WWW-Authenticate", "Bearer")


class Forbidden(NuboError):
    status, code, title = 403, "forbidden", "Forbidden"


class NotFound(NuboError):
    status, code, title = 404, "not-found", "Not found"


class Conflict(NuboError):
    status, code, title = 409, "conflict", "Conflict"


class PayloadTooLarge(NuboError):
    status, code, title = 413, "payload-too-large", "Payload too large"


class BodyTooLarge(PayloadTooLarge):
    code = "body-too-large"


class UnsupportedMediaType(NuboError):
    status, code, title = 415, "unsupported-media-type", "Unsupported media type"


class Unprocessable(NuboError):
    status, code, title = 422, "validation-error", "Unprocessable content"


class JsonTooDeep(Unprocessable):
    code = "json-too-deep"


class TooManyRequests(NuboError):
    status, code, title = 429, "too-many-requests", "Too many requests"

    def __init__(self, retry_after_s: int, detail: str | None = None) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after_s))})


class ServiceUnavailable(NuboError):
    status, code, title = 503, "service-unavailable", "Service unavailable"


class Problem(BaseModel):
    """RFC 9457 problem details, as every error of the API is rendered."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    code: str


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    key: {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": Problem.model_json_schema()}},
    }
    for key, description in (
        ("4XX", "Client error (problem+json; validation errors carry `errors`)"),
        ("5XX", "Server or dependency error (problem+json)"),
    )
}


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {
        "type": f"/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


HTTP_CODES = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Not authenticated"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    413: ("payload-too-large", "Payload too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    500: ("internal-error", "Internal server error"),
    501: ("not-implemented", "Not implemented"),
    503: ("service-unavailable", "Service unavailable"),
}


async def _nubo_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NuboError)
    if exc.status >= 500:  # a dependency failed: the answer is generic, the log says why
        log.warning("%s: %s", exc.code, exc)
    return problem(exc.status, exc.code, exc.title, exc.detail, exc.headers, **exc.extra)


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for err in exc.errors():
        errors.append(
            {
                "loc": [str(p) for p in err.get("loc", ())],
                "message": str(err.get("msg", "invalid")),
                "type": str(err.get("type", "invalid")),
            }
        )
    return errors


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _field_errors(exc)
    if errors and all(e["loc"][:1] == ["path"] for e in errors):
        # A path segment that cannot be an id names no resource: 404, not a payload problem;
        # and DELETE /users/profile is a method the literal /users/profile lacks: 405.
        allowed = allowed_methods(request)
        if request.method not in allowed:
            return problem(405, "method-not-allowed", "Method not allowed",
                           "Method Not Allowed", {"Allow": ", ".join(allowed)})
        return problem(404, "not-found", "Not found", "no resource at this path")
    if any(e["type"] == "json_invalid" for e in errors):
        # The same code as the routes that parse their body themselves (login, flights).
        return problem(422, "invalid-json", "Unprocessable content", "the body is not valid JSON")
    detail = "invalid request"
    if errors:
        loc, message = ".".join(errors[0]["loc"]), str(errors[0]["message"])
        detail = f"{loc}: {message}" if loc else message
    return problem(422, "validation-error", "Unprocessable content", detail, errors=errors)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if isinstance(exc.__cause__, NuboError):
        # FastAPI turns any error raised while it reads a body into a bare 400; one of ours
        # (a body cap met while streaming) keeps its own status and code.
        return await _nubo_error(request, exc.__cause__)
    code, title = HTTP_CODES.get(exc.status_code, ("http-error", "HTTP error"))
    detail = exc.detail if isinstance(exc.detail, str) else title
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request))
    return problem(exc.status_code, code, title, detail, headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method any route offers at this path (the router only reports its first match)."""
    index = getattr(request.app.state, "allow_index", None)
    if index is None:
        index = []
        for template, item in request.app.openapi()["paths"].items():
            pattern = re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template))
            index.append((re.compile(f"^{pattern}$"), [m.upper() for m in item]))
        request.app.state.allow_index = index
    matches = [(regex.pattern.count("[^/]+"), ms) for regex, ms in index
               if regex.match(request.url.path)]
    # /users/authenticate is its own resource even though /users/{userId} also matches it.
    fewest = min((n for n, _ in matches), default=0)
    return sorted({m for n, ms in matches if n == fewest for m in ms})


async def _client_gone(_: Request, exc: Exception) -> JSONResponse:
    # Nobody is listening any more; answer something sane for the logs.
    return problem(400, "client-disconnected", "Bad request", "the client went away mid-request")


# SQLSTATEs of a server that drops or refuses sessions: connection exceptions (08),
# too many connections, and operator intervention (shutdown, crash, starting up).
_UNREACHABLE_STATES = ("08", "53300", "57P01", "57P02", "57P03")


def database_unreachable(exc: DBAPIError) -> bool:
    if exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError):
        return True
    state = str(getattr(exc.orig, "sqlstate", None) or "")
    return state.startswith(_UNREACHABLE_STATES)


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    if database_unreachable(exc):
        log.warning("database unavailable: %s", type(exc.orig).__name__)
        return problem(503, "database-unavailable", "Service unavailable",
                       "the database is unavailable; try again", {"Retry-After": "1"})
    return await _unhandled(request, exc)


async def _pool_exhausted(_: Request, exc: Exception) -> JSONResponse:
    # Every pooled connection stayed busy for the whole pool timeout: overload, not a bug.
    log.warning("database pool exhausted: %s", exc)
    return problem(503, "database-busy", "Service unavailable",
                   "every database connection is busy; try again", {"Retry-After": "1"})


async def _unhandled(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return problem(500, "internal-error", "Internal server error", "An unexpected error occurred")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(NuboError, _nubo_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(PoolTimeout, _pool_exhausted)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(Exception, _unhandled)
