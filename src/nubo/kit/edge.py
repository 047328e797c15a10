"""Checks on the raw request: before routing, and before a route reads its body."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, Final, TypeVar

from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nubo.kit.errors import BodyTooLarge, JsonTooDeep, problem
from nubo.kit.uploads import declared_length


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


# --------------------------------------------------------------------- request bodies

MAX_JSON_DEPTH: Final = 64  # far beyond any body of this API; far below the recursion limit
_NOT_BRACKETS: Final = bytes(sorted(set(range(256)) - set(b"[]{}")))
_DEPTH_STEP: Final = [(byte in b"[{") - (byte in b"]}") for byte in range(256)]

Precheck = Callable[[Headers], None]
F = TypeVar("F", bound=Callable[..., Any])


def streams_body(*, json_in_memory: bool = False) -> Callable[[F], F]:
    """Mark a route that streams its own body (file uploads, with caps of their own): the
    guard leaves its body alone, except a JSON body it parses (`json_in_memory`)."""

    def mark(endpoint: F) -> F:
        endpoint.__dict__["streamed_body"] = "json-in-memory" if json_in_memory else "all"
        return endpoint

    return mark


@dataclass(frozen=True, slots=True)
class BodyGuard:
    """Wraps one route's ASGI app: the caller is checked before a byte of the body is read
    (`precheck`, raising a 401), and a body to be parsed in memory is capped while it
    streams, Content-Length first, and refused when its JSON nests too deep to parse.

    Errors are raised as `NuboError`s into the app's one handler.
    """

    app: ASGIApp
    max_bytes: int
    streamed: str | None = None  # as marked by `streams_body`
    precheck: Precheck | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        has_body = "transfer-encoding" in headers or headers.get("content-length", "0") != "0"
        if not has_body:
            await self.app(scope, receive, send)
            return
        if self.precheck is not None:
            self.precheck(headers)
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        json = media == "application/json" or media.endswith("+json")
        if self.streamed == "all" or (self.streamed and not json):
            await self.app(scope, receive, send)
            return
        length = declared_length(headers)
        if length is not None and length > self.max_bytes:
            raise _too_large(self.max_bytes)
        # FastAPI parses a body without a Content-Type as JSON too.
        reader = _CappedBody(receive, self.max_bytes, json or not media)
        await self.app(scope, reader.receive, send)


def _too_large(max_bytes: int) -> BodyTooLarge:
    return BodyTooLarge(f"the request body exceeds the limit of {max_bytes} bytes")


class _CappedBody:
    def __init__(self, receive: Receive, max_bytes: int, check_json: bool) -> None:
        self._receive = receive
        self._max_bytes = max_bytes
        self._seen = 0
        self._json = bytearray() if check_json else None

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] != "http.request":
            return message
        chunk = message.get("body", b"")
        self._seen += len(chunk)
        if self._seen > self._max_bytes:
            raise _too_large(self._max_bytes)
        if self._json is not None:
            self._json += chunk
            if not message.get("more_body", False) and nests_deeper(self._json, MAX_JSON_DEPTH):
                raise JsonTooDeep(f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels")
        return message


def nests_deeper(data: bytes | bytearray, limit: int) -> bool:
    """Whether JSON `data` nests arrays and objects deeper than `limit`, brackets inside
    strings not counted. Only C-level passes over the bytes, linear in their length."""
    if data.count(b"[") + data.count(b"{") <= limit:
        return False
    # Escapes pair up left to right: drop escaped backslashes, then escaped quotes; what is
    # left between quotes is string content.
    text = bytes(data).replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = b"".join(text.split(b'"')[::2]).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0) > limit


def guard_bodies(
    routes: Iterable[BaseRoute], max_bytes: int, precheck: Callable[[APIRoute], Precheck | None]
) -> None:
    """Put a `BodyGuard` in front of every API route; `precheck(route)` gives the check of
    the caller for routes that need one."""
    for route in routes:
        if isinstance(route, APIRoute) and not isinstance(route.app, BodyGuard):
            streamed = getattr(route.endpoint, "streamed_body", None)
            route.app = BodyGuard(route.app, max_bytes, streamed, precheck(route))
