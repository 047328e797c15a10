"""Request counters and latency sums in the Prometheus text format (per process)."""

from __future__ import annotations

import time
from collections import defaultdict

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Metrics:
    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.seconds: dict[tuple[str, str], float] = defaultdict(float)

    def observe(self, method: str, route: str, status: int, elapsed: float) -> None:
        self.requests[(method, route, status)] += 1
        self.seconds[(method, route)] += elapsed

    def render(self) -> str:
        lines = ["# TYPE nubo_http_requests_total counter"]
        for (method, route, status), n in sorted(self.requests.items()):
            lines.append(
                f'nubo_http_requests_total{{method="{method}",route="{route}",'
                f'status="{status}"}} {n}'
            )
        lines.append("# TYPE nubo_http_request_seconds_sum counter")
        for (method, route), s in sorted(self.seconds.items()):
            lines.append(
                f'nubo_http_request_seconds_sum{{method="{method}",route="{route}"}} {s:.6f}'
            )
        return "\n".join(lines) + "\n"


class MetricsMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware) so streaming bodies and SSE pass untouched."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            self.metrics.observe(scope["method"], path, status, time.perf_counter() - start)
