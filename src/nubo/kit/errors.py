"""One exception hierarchy, rendered by one handler as RFC 9457 problem+json."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

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


class UnsupportedMediaType(NuboError):
    status, code, title = 415, "unsupported-media-type", "Unsupported media type"


class Unprocessable(NuboError):
    status, code, title = 422, "validation-error", "Unprocessable content"


class TooManyRequests(NuboError):
    status, code, title = 429, "too-many-requests", "Too many requests"

    def __init__(self, retry_after_s: int, detail: str | None = None) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after_s))})


class ServiceUnavailable(NuboError):
    status, code, title = 503, "service-unavailable", "Service unavailable"


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
}


async def _nubo_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NuboError)
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


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _field_errors(exc)
    first = errors[0] if errors else {"loc": [], "message": "invalid request"}
    detail = f"{'.'.join(first['loc'])}: {first['message']}" if first["loc"] else first["message"]
    return problem(422, "validation-error", "Unprocessable content", detail, errors=errors)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code, title = HTTP_CODES.get(exc.status_code, ("http-error", "HTTP error"))
    detail = exc.detail if isinstance(exc.detail, str) else title
    return problem(exc.status_code, code, title, detail, dict(exc.headers or {}))


async def _unhandled(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return problem(500, "internal-error", "Internal server error", "An unexpected error occurred")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(NuboError, _nubo_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unhandled)
