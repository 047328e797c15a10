"""Checks on the raw request before routing."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from nubo.kit.errors import problem


class RefuseNulMiddleware:
    """A NUL in the path or query can never be valid here, and PostgreSQL rejects it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
            "\x00" in scope.get("path", "") or b"%00" in scope.get("query_string", b"")
        ):
            response = problem(400, "bad-request", "Bad request", "NUL characters are not allowed")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
