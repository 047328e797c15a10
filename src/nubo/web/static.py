"""Static files: URLs carry the file's content hash (`?v=…`), so a versioned URL is cached
for a year and a new release is fetched at once; unversioned requests revalidate by ETag."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC = Path(__file__).parent / "static"
IMMUTABLE = "public, max-age=31536000, immutable"


@cache
def content_hash(name: str) -> str:
    return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]


def static_url(name: str) -> str:
    return f"/static/{name}?v={content_hash(name)}"


class HashedStaticFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            query = scope.get("query_string", b"").decode()
            versioned = query.startswith("v=") and _current(path, query[2:])
            response.headers["Cache-Control"] = IMMUTABLE if versioned else "no-cache"
            response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def _current(path: str, version: str) -> bool:
    try:
        return content_hash(path) == version
    except OSError:
        return False


def static_files() -> HashedStaticFiles:
    return HashedStaticFiles(directory=STATIC)
