"""Errors of the panel as HTML pages; under /api (and for clients that do not ask for HTML)
the problem+json handlers answer as before."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from nubo.kit.errors import NuboError
from nubo.web.forms import FormRejected
from nubo.web.session import SignInRequired
from nubo.web.templating import render

log = logging.getLogger("nubo.web")
Handler = Callable[[Request, Exception], Awaitable[Response]]
# Paths the panel does not own: the API and the API's documentation.
NOT_PANEL = ("/api", "/docs", "/redoc", "/openapi.json")


def wants_html(request: Request) -> bool:
    """Outside the API, HTML unless the client asks for JSON and not for HTML."""
    path = request.url.path
    if any(path == p or path.startswith(p + "/") for p in NOT_PANEL):
        return False
    accept = request.headers.get("accept", "")
    return "text/html" in accept or "json" not in accept


async def error_page(request: Request, status: int) -> Response:
    shown = status if status in (403, 404, 429) else (400 if status < 500 else 500)
    return await render(request, "errors/error.html", {"status": shown}, status=status)


def _html_variant(json_handler: Handler) -> Handler:
    async def handle(request: Request, exc: Exception) -> Response:
        if not wants_html(request):
            return await json_handler(request, exc)
        if isinstance(exc, SignInRequired):
            return RedirectResponse(exc.headers["Location"], status_code=303)
        if isinstance(exc, FormRejected):
            return await render(request, exc.template, exc.context, status=exc.status)
        status = await _status_of(request, exc, json_handler)
        try:
            return await error_page(request, status)
        except Exception:  # the error page itself failed: never leak details
            log.exception("error page failed")
            return Response("Internal server error", status_code=500, media_type="text/plain")

    return handle


async def _status_of(request: Request, exc: Exception, json_handler: Handler) -> int:
    if isinstance(exc, NuboError):
        return exc.status
    # The JSON handler knows each exception's status (and logs what must be logged).
    return (await json_handler(request, exc)).status_code


def install_html_errors(app: FastAPI) -> None:
    """Wrap every installed handler: HTML for the panel's pages, problem+json elsewhere."""
    for key, handler in list(app.exception_handlers.items()):
        app.exception_handlers[key] = _html_variant(handler)  # type: ignore[arg-type]
