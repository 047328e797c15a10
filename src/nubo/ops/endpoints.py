"""Liveness, readiness and metrics."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from sqlalchemy import text

from nubo.kit.db import engine_reader
from nubo.kit.errors import ServiceUnavailable
from nubo.ops.metrics import Metrics

router = APIRouter(tags=["ops"])
ReadinessCheck = Callable[[Request], Awaitable[None]]


async def database_ready(request: Request) -> None:
    async with engine_reader(request.app.state.engine)() as conn:
        await conn.execute(text("SELECT 1"))


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/ready")
async def ready(request: Request) -> dict[str, object]:
    """Readiness: the database (and any other dependency) answers.

    Answers 503 while a check fails, so a load balancer stops sending traffic.
    """
    checks: dict[str, ReadinessCheck] = request.app.state.readiness_checks
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            await check(request)
            results[name] = "ok"
        except Exception as exc:
            results[name] = f"unavailable: {type(exc).__name__}"
    if any(value != "ok" for value in results.values()):
        raise ServiceUnavailable("a dependency is unavailable", code="not-ready", checks=results)
    return {"status": "ready", "checks": results}


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(request: Request) -> str:
    """Prometheus metrics of this process (requests, latencies, statuses)."""
    registry: Metrics = request.app.state.metrics
    return registry.render()
