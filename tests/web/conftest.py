"""Browser journeys: a live `nubo serve` on a free port with a throw-away data directory,
driven by Playwright through Debian's Chromium (no browser download)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import service_missing
from tests.fixtures.s3 import S3Server, s3_server_running

OUT = Path(__file__).parent / "out"  # screenshots of failed journeys
AXE = Path(__file__).parent / "vendor" / "axe-4.14.1.min.js"
CHROMIUM_NAMES = ("chromium", "chromium-browser")
SERVER_START_S = 120  # a loaded machine (the whole suite on two workers) starts slowly
SERVER_LIFETIME_S = 1800  # the server stops by itself even if the test run is killed
LIVE_ENV: dict[str, dict[str, str]] = {}  # each live server's environment, by its base URL


def chromium_path() -> str | None:
    configured = os.environ.get("NUBO_TEST_CHROMIUM")
    if configured:
        return configured if Path(configured).exists() else None
    return next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def chromium() -> str:
    path = chromium_path()
    if path is None:
        service_missing("Chromium", "install Debian's `chromium` (apt-get install chromium) "
                        "or set NUBO_TEST_CHROMIUM to run the browser journeys")
    assert path is not None
    return path


@contextmanager
def _serve(data_dir: Path, settings: dict[str, str]) -> Iterator[str]:
    """`nubo serve` as `make run` starts it in `data_dir`, with `settings` (NUBO_*) on top
    of an embedded database and a local store; its base URL."""
    port = _free_port()
    env = {
        **os.environ,
        "NUBO_DATA_DIR": str(data_dir),
        "NUBO_ENV": "test",
        "NUBO_ARGON2_TIME_COST": "1",
        "NUBO_ARGON2_MEMORY_COST_KIB": "1024",
    }
    for name in ("NUBO_DATABASE_URL", "NUBO_STORAGE_URL", "NUBO_JOBS"):
        env.pop(name, None)
    env.update(settings)
    command = ["timeout", str(SERVER_LIFETIME_S), sys.executable, "-m", "nubo.cli", "serve",
               "--host", "127.0.0.1", "--port", str(port)]
    log = (data_dir / "server.log").open("wb")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                              cwd=data_dir)
    base = f"http://127.0.0.1:{port}"
    LIVE_ENV[base] = env
    try:
        _wait_until_up(base, server, data_dir / "server.log")
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`nubo serve` as `make run` starts it, on an embedded database in a fresh folder."""
    with _serve(tmp_path_factory.mktemp("live"), {}) as base:
        yield base


@dataclass(frozen=True)
class LiveS3:
    """A live `nubo serve` whose store is a prefix of an S3 bucket."""

    base: str
    s3: S3Server
    prefix: str


@pytest.fixture(scope="session")
def s3_for_browsers() -> Iterator[S3Server]:
    """A moto S3 server that answers a browser's CORS preflight as S3 does: from the bucket's
    CORS rules only (moto's server otherwise allows every origin on every route)."""
    with s3_server_running({"MOTO_DISABLE_GLOBAL_CORS": "true"}) as server:
        yield server


@pytest.fixture(scope="session")
def live_s3_server(tmp_path_factory: pytest.TempPathFactory,
                   s3_for_browsers: S3Server) -> Iterator[LiveS3]:
    """`nubo serve` storing its files in S3, with the bucket's CORS rule an operator sets for
    the panel (docs: allow the panel's origin to `PUT`, expose `ETag`)."""
    s3 = s3_for_browsers
    prefix = f"web-{uuid.uuid4().hex[:12]}"
    settings = {
        "NUBO_STORAGE_URL": f"s3://{s3.bucket}/{prefix}",
        "NUBO_S3_ENDPOINT": s3.endpoint,
        "NUBO_S3_REGION": s3.region,
        "NUBO_S3_ACCESS_KEY_ID": s3.access_key_id,
        "NUBO_S3_SECRET_ACCESS_KEY": s3.secret_access_key,
        "NUBO_S3_ALLOW_HTTP": "true",
    }
    with _serve(tmp_path_factory.mktemp("live-s3"), settings) as base:
        s3.boto3_client().put_bucket_cors(Bucket=s3.bucket, CORSConfiguration={"CORSRules": [{
            "AllowedOrigins": [base], "AllowedMethods": ["PUT"], "AllowedHeaders": ["*"],
            "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600,
        }]})
        yield LiveS3(base=base, s3=s3, prefix=prefix)


def create_operator(base: str, email: str, password: str) -> None:
    """An operator in the live server's database, made as people make the first one: with
    `nubo users create-operator`."""
    env = LIVE_ENV[base]
    subprocess.run(
        [sys.executable, "-m", "nubo.cli", "users", "create-operator", "--email", email,
         "--password", password, "--name", "Olga Operadora"],
        env=env, cwd=env["NUBO_DATA_DIR"], check=True, capture_output=True, timeout=120,
    )


def _wait_until_up(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"nubo serve exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"nubo serve did not answer within {SERVER_START_S}s: {log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def live_operator(live_server: str) -> dict[str, str]:
    """A platform operator of the live server (`nubo users create-operator`), signed in to
    the API: its bearer headers."""
    email, password = f"operator-{uuid.uuid4().hex[:8]}@example.com", "an-operator-password"
    subprocess.run(
        [sys.executable, "-m", "nubo.cli", "users", "create-operator", "--email", email,
         "--password", password],
        env=LIVE_ENV[live_server], cwd=LIVE_ENV[live_server]["NUBO_DATA_DIR"], check=True,
        capture_output=True, timeout=120,
    )
    login = httpx.post(f"{live_server}/api/auth/login",
                       json={"email": email, "password": password}, timeout=30)
    login.raise_for_status()
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


@pytest.fixture(scope="session")
async def browser(chromium: str) -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield launched
        await launched.close()


@asynccontextmanager
async def _tab(browser, base: str, request: pytest.FixtureRequest, **context_options):
    """A fresh browser context (no cookies) on `base`; CSP violations fail the test; a
    screenshot of the last page is kept in tests/web/out when the test fails."""
    context = await browser.new_context(base_url=base, locale="pt-BR", **context_options)
    tab = await context.new_page()
    violations: list[str] = []
    tab.on("console", lambda m: violations.append(m.text)
           if "Content Security Policy" in m.text else None)
    try:
        yield tab
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            OUT.mkdir(exist_ok=True)
            await tab.screenshot(path=str(OUT / f"{request.node.name}.png"), full_page=True)
    finally:
        await context.close()
    assert not violations, f"Content-Security-Policy violations: {violations}"


@pytest.fixture
async def page(browser, live_server: str, request: pytest.FixtureRequest):
    """A tab of a fresh browser context on the live server."""
    async with _tab(browser, live_server, request) as tab:
        yield tab


@pytest.fixture
async def s3_page(browser, live_s3_server: LiveS3, request: pytest.FixtureRequest):
    """A tab of a fresh browser context on the live server that stores its files in S3."""
    async with _tab(browser, live_s3_server.base, request) as tab:
        yield tab


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


async def check_accessibility(tab) -> None:
    """axe-core on the page as shown: no serious or critical violation.

    Call it once the page the test opened is shown (an `expect` on its content first): axe
    run while a navigation replaces the document fails on a document that is gone."""
    await tab.wait_for_load_state("load")
    if not await tab.evaluate("typeof window.axe !== 'undefined'"):
        await tab.evaluate(AXE.read_text() + "\n;undefined")
    results = await tab.evaluate("axe.run(document).then(r => r.violations.map("
                                 "v => ({id: v.id, impact: v.impact, nodes: v.nodes.length})))")
    bad = [v for v in results if v["impact"] in ("serious", "critical")]
    assert not bad, f"axe on {tab.url}: {bad}"


async def snapshot(tab, name: str) -> None:
    """With NUBO_SCREENSHOTS=<folder> (`make screenshots`), keep this view for the README."""
    folder = os.environ.get("NUBO_SCREENSHOTS")
    if folder:
        await tab.set_viewport_size({"width": 1200, "height": 800})
        await tab.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=False)


async def sign_up(tab, organisation: str, name: str) -> str:
    """A new account and its first admin, through the sign-up form (in Portuguese, the
    default); lands on the fleet page. The email used."""
    from playwright.async_api import expect

    email = f"person-{uuid.uuid4().hex[:8]}@example.com"
    await tab.goto("/signup")
    await tab.get_by_label("Organização").fill(organisation)
    await tab.get_by_label("Seu nome").fill(name)
    await tab.get_by_label("E-mail").fill(email)
    await tab.get_by_label("Senha (pelo menos 8 caracteres)").fill("a-long-password")
    await tab.get_by_role("button", name="Criar conta").click()
    await expect(tab.get_by_role("heading", level=1)).to_have_text("Frota")
    return email


async def keep_view(tab, name: str) -> Path:
    """The whole page as shown, kept in tests/web/out/views for a person to look at (the
    layout checks take one per window width)."""
    folder = OUT / "views"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    await tab.screenshot(path=str(path), full_page=True)
    return path
