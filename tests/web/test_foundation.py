"""The panel's plumbing: static files, security headers, HTML errors beside the API's JSON."""

from __future__ import annotations

from fastapi import APIRouter

from nubo.web.static import content_hash, static_url


async def test_static_url_is_versioned_and_cached_for_a_year(client):
    url = static_url("app.css")
    assert url == f"/static/app.css?v={content_hash('app.css')}"
    response = await client.get(url)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["etag"]


async def test_static_file_without_current_version_revalidates_by_etag(client):
    first = await client.get("/static/app.css?v=stale")
    assert first.headers["cache-control"] == "no-cache"
    again = await client.get("/static/app.css", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304


async def test_vendored_scripts_are_served(client):
    for name in ("vendor/htmx-2.0.11.min.js", "vendor/htmx-ext-sse-2.2.4.min.js",
                 "vendor/uPlot-1.6.32.iife.min.js"):
        assert (await client.get(static_url(name))).status_code == 200


async def test_pages_allow_scripts_from_our_origin_only(client):
    response = await client.get("/login")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self';" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["x-frame-options"] == "DENY"


async def test_api_keeps_its_headers_and_problem_json(client):
    response = await client.get("/api/nothing-here", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "content-security-policy" not in response.headers


async def test_unknown_page_is_the_html_404(client):
    response = await client.get("/no/such/page", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>Página não encontrada</h1>" in response.text


async def test_a_failing_page_is_the_html_500_without_details(app, settings):
    from httpx import ASGITransport, AsyncClient

    broken = APIRouter()

    @broken.get("/broken-page")
    async def fail() -> None:
        raise RuntimeError("secret detail: the database password")

    app.include_router(broken)
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="http://nubo.test") as client:
        response = await client.get("/broken-page", headers={"Accept": "text/html"})
    assert response.status_code == 500
    assert "<h1>Algo deu errado</h1>" in response.text
    assert "secret" not in response.text and "RuntimeError" not in response.text


def test_production_session_cookie_is_host_prefixed_and_secure():
    from starlette.responses import Response

    from nubo.settings import Settings
    from nubo.web.session import session_cookie_name, set_session

    settings = Settings(env="production", jwt_secret="k" * 8 + "-" + "q7" * 20,
                        database_url="postgresql+asyncpg://db/nubo")
    response = Response()
    set_session(response, settings, "token")
    cookie = response.headers["set-cookie"]
    assert session_cookie_name(settings) == "__Host-nubo_session"
    assert cookie.startswith("__Host-nubo_session=token;")
    for part in ("HttpOnly", "Secure", "Path=/", "SameSite=lax"):
        assert part in cookie
    assert "Domain" not in cookie
