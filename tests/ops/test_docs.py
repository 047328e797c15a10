"""`/docs` and `/redoc` work without internet: every asset they load comes from the package."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nubo.ops.docs import VENDOR


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_load_every_asset_from_the_server_itself(client, page):
    response = await client.get(page)
    assert response.status_code == 200
    html = response.text
    assert "http://" not in html and "https://" not in html, "a CDN or web font is referenced"
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets
    for url in assets:
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 0, url
    assert (await client.get("/openapi.json")).status_code == 200


CDN_URL = re.compile(r"https?://cdn[.\w-]*\.")


def test_no_vendored_file_loads_from_a_cdn():
    loaded_from_cdn = {
        p.relative_to(VENDOR).as_posix()
        for p in VENDOR.rglob("*")
        if p.suffix in {".js", ".css", ".html"} and CDN_URL.search(p.read_text())
    }
    assert not loaded_from_cdn, f"vendored files that load from a CDN: {loaded_from_cdn}"


async def test_swagger_ui_asks_no_outside_validator(client):
    assert '"validatorUrl": null' in (await client.get("/docs")).text


async def test_the_swagger_oauth2_redirect_page_is_served(client):
    assert (await client.get("/docs/oauth2-redirect")).status_code == 200


def test_every_vendored_file_is_listed_with_its_version_and_licence():
    readme = (VENDOR / "README.md").read_text()
    files = {p.relative_to(VENDOR).as_posix() for p in VENDOR.rglob("*")
             if p.is_file() and p.name != "README.md"}
    listed = set(re.findall(r"`([\w./-]+\.[\w]+|[\w./-]+/[\w.-]+)`", readme))
    assert files <= listed, f"add a row to {Path(VENDOR, 'README.md')} for {files - listed}"
