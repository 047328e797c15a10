"""A raw ASGI app that reads a request body and hashes it, storing nothing: the ceiling of
an HTTP upload on this machine (uvicorn + httptools, same client), for bench_upload.py."""

from __future__ import annotations

import hashlib
from typing import Any


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    digest = hashlib.sha256()
    size = 0
    while True:
        message = await receive()
        body = message.get("body", b"")
        size += len(body)
        digest.update(body)
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": f"{size} {digest.hexdigest()}".encode()})
