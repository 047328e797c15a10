"""Outbound HTTP to customers' endpoints, safely: http(s) only, and in production no
private, loopback or link-local destination (checked on the addresses the name resolves
to, and the connection made to the address checked, so a DNS answer that changes between
the check and the connection cannot redirect it). Timeouts, a response-size cap, no
redirects."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from dataclasses import dataclass

import httpx

from nubo.kit.errors import Unprocessable
from nubo.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class RefusedDestination(Unprocessable):
    code = "webhook-url-refused"


def check_url(url: str) -> httpx.URL:
    """The URL, if it is one we may ever call; else 422 `webhook-url-invalid`."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise Unprocessable("the URL is not valid", code="webhook-url-invalid") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise Unprocessable("the URL must be http(s) with a host", code="webhook-url-invalid")
    if parsed.userinfo:
        raise Unprocessable("the URL must not carry credentials", code="webhook-url-invalid")
    return parsed


def restricted(settings: Settings) -> bool:
    return settings.env == "production" and not settings.webhooks_allow_private


def public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


async def resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise RefusedDestination(f"the host {host!r} does not resolve") from exc
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


async def destination(url: str, settings: Settings) -> tuple[httpx.URL, IPAddress | None]:
    """The URL and, when destinations are restricted, the checked address to connect to."""
    parsed = check_url(url)
    if not restricted(settings):
        return parsed, None
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    addresses = await resolve(parsed.host, port)
    if not addresses or not all(public(a) for a in addresses):
        raise RefusedDestination(
            "the URL resolves to a private, loopback or link-local address",
        )
    return parsed, addresses[0]


@dataclass(frozen=True, slots=True)
class Answer:
    status_code: int | None
    duration_ms: int
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _pinned(url: httpx.URL, address: IPAddress | None) -> tuple[httpx.URL, dict[str, str], dict]:
    """The request URL with the host replaced by the checked address; Host header and TLS
    server name (certificate check) stay the name's."""
    if address is None:
        return url, {}, {}
    extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
    return url.copy_with(host=str(address)), {"host": url.netloc.decode("ascii")}, extensions


async def post(url: str, headers: dict[str, str], body: bytes,
               settings: Settings) -> Answer:
    """POST once; every failure (refused destination, timeout, connection) is an answer."""
    started = time.perf_counter()

    def elapsed() -> int:
        return int((time.perf_counter() - started) * 1000)

    try:
        parsed, address = await destination(url, settings)
    except Unprocessable as exc:
        return Answer(None, elapsed(), exc.detail)
    target, host, extensions = _pinned(parsed, address)
    timeout = httpx.Timeout(
        settings.webhooks_read_timeout_s, connect=settings.webhooks_connect_timeout_s
    )
    # A server trickling its answer byte by byte never trips the read timeout: cap it all.
    overall = settings.webhooks_connect_timeout_s + 2 * settings.webhooks_read_timeout_s
    try:
        async with asyncio.timeout(overall), httpx.AsyncClient(
            timeout=timeout, follow_redirects=False, trust_env=False
        ) as client:
            request = client.build_request(
                "POST", target, content=body, headers={**headers, **host}, extensions=extensions
            )
            response = await client.send(request, stream=True)
            try:
                await _drain(response, settings.webhooks_max_response_bytes)
            finally:
                await response.aclose()
            return Answer(response.status_code, elapsed())
    except TimeoutError:
        return Answer(None, elapsed(), "timed out")
    except httpx.TimeoutException as exc:
        return Answer(None, elapsed(), f"timed out ({type(exc).__name__})")
    except httpx.HTTPError as exc:
        return Answer(None, elapsed(), f"{type(exc).__name__}: {exc}"[:300])


async def _drain(response: httpx.Response, cap: int) -> None:
    """Read the answer up to `cap` bytes (it is not kept); beyond that, stop reading."""
    read = 0
    async for chunk in response.aiter_raw():
        read += len(chunk)
        if read > cap:
            return
