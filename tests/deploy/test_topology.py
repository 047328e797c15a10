"""The production topology as one: two `nubo serve` and two `nubo worker` processes on their
own PostgreSQL and an S3 server on loopback. 100 simulated flights (10 aircraft, each one's
flights in the order flown, the aircraft at once) go through both APIs while one worker is
SIGKILLed, one API is killed and PostgreSQL is restarted. Every upload answered 2xx ends
`processed` exactly once, with its features in the lake once, and each aircraft's trend is
the one a clean serial run of the same files gives."""

from __future__ import annotations

import asyncio
import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from nubo.bleed.pipeline import analyze
from nubo.bleed.simulate import simulate_flight
from tests.deploy.cluster import Cluster, free_port
from tests.fixtures.s3 import S3Server

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

AIRCRAFT = 10
FLIGHTS_EACH = 10
LEASE_S = 6
DEADLINE_S = 600.0
START = datetime(2026, 1, 1, 6, tzinfo=UTC)


def _flight_csv(aircraft: int, n: int) -> bytes:
    frame = simulate_flight(seed=1000 * aircraft + n, duration_h=0.5, rate_hz=1.0)
    return frame.write_csv().encode()


class Topology:
    def __init__(self, cluster: Cluster, s3: S3Server, prefix: str, logs: Path) -> None:
        self.logs = logs
        self.env = {
            **os.environ,
            "NUBO_ENV": "production",
            "NUBO_JWT_SECRET": secrets.token_urlsafe(48),
            "NUBO_DATABASE_URL": cluster.url,
            "NUBO_DATA_DIR": str(logs),
            "NUBO_JOBS": "procrastinate",
            "NUBO_STORAGE_URL": f"s3://{s3.bucket}/{prefix}",
            "NUBO_S3_ENDPOINT": s3.endpoint,
            "NUBO_S3_REGION": s3.region,
            "NUBO_S3_ACCESS_KEY_ID": s3.access_key_id,
            "NUBO_S3_SECRET_ACCESS_KEY": s3.secret_access_key,
            "NUBO_S3_ALLOW_HTTP": "true",
            "NUBO_JOBS_LEASE_S": str(LEASE_S),
            "NUBO_JOBS_REQUEUE_AFTER_S": "3",
            "NUBO_JOBS_SWEEP_EVERY_S": "1",
            "NUBO_DB_POOL_SIZE": "8",
            "NUBO_ARGON2_TIME_COST": "1",
            "NUBO_ARGON2_MEMORY_COST_KIB": "8192",
        }
        self.ports = [free_port(), free_port()]
        self.apis: list[subprocess.Popen[bytes]] = []
        self.workers: list[subprocess.Popen[bytes]] = []

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")
        return subprocess.Popen([sys.executable, "-m", "nubo.cli", *args], env=self.env,
                                stdout=log, stderr=subprocess.STDOUT)

    def start(self) -> None:
        subprocess.run([sys.executable, "-m", "nubo.cli", "migrate"], env=self.env, check=True,
                       capture_output=True, timeout=120)
        self.apis = [self._spawn(f"api{i}", "serve", "--port", str(port))
                     for i, port in enumerate(self.ports)]
        self.workers = [self._spawn(f"worker{i}", "worker") for i in range(2)]

    def stop(self) -> None:
        for proc in [*self.apis, *self.workers]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in [*self.apis, *self.workers]:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def live_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port, proc in zip(self.ports, self.apis,
                                                                  strict=True)
                if proc.poll() is None]


@pytest.fixture
def flight_files() -> dict[int, list[bytes]]:
    return {a: [_flight_csv(a, n) for n in range(FLIGHTS_EACH)] for a in range(AIRCRAFT)}


@pytest.fixture
def topology(s3_server: S3Server) -> Iterator[tuple[Topology, Cluster]]:
    cluster = Cluster()
    logs = Path(tempfile.mkdtemp(prefix="nubo-topology-"))
    top = Topology(cluster, s3_server, f"topology-{secrets.token_hex(4)}", logs)
    try:
        cluster.start()
        top.start()
        yield top, cluster
    finally:
        top.stop()
        cluster.stop()
        for name in sorted(os.listdir(logs)) if os.environ.get("NUBO_KEEP_LOGS") else ():
            print(f"--- {name}\n" + (logs / name).read_text()[-3000:])
        shutil.rmtree(logs, ignore_errors=True)


class Client:
    """A fleet feed: retries through whichever API answers, as a real client would."""

    def __init__(self, top: Topology, http: httpx.AsyncClient) -> None:
        self.top, self.http, self.headers = top, http, {}
        self.failed_attempts = 0

    async def call(self, method: str, path: str, prefer: int = 0, **kw: Any) -> httpx.Response:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 90
        while True:
            urls = self.top.live_urls()
            url = urls[prefer % len(urls)]
            try:
                r = await self.http.request(method, url + path, headers=self.headers, **kw)
                if r.status_code < 500:
                    return r
            except httpx.TransportError:
                pass
            self.failed_attempts += 1
            if loop.time() > deadline:
                raise AssertionError(f"{method} {path}: no API answered")
            await asyncio.sleep(0.3)
            prefer += 1

    async def wait_ready(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 240  # a loaded machine starts Python processes slowly
        for url in self.top.live_urls():
            last: object = None
            while loop.time() < deadline:
                try:
                    r = await self.http.get(url + "/api/ready")
                    if r.status_code == 200:
                        break
                    last = r.text
                except httpx.TransportError as exc:
                    last = exc
                await asyncio.sleep(0.2)
            else:
                raise AssertionError(f"{url} never became ready: {last}")


async def _fly(client: Client, aircraft: int, files: list[bytes], accepted: list[str],
               done: list[int]) -> None:
    for n, data in enumerate(files):
        departure = START + timedelta(days=n, hours=aircraft)
        form = {"registration": f"PR-T{aircraft:02d}", "aircraft_type": "A320",
                "departure_at": departure.isoformat()}
        r = await client.call("POST", "/api/flight/create", prefer=aircraft + n, data=form,
                              files={"file": ("flight.csv", data)})
        assert r.status_code == 201, r.text
        flight_id = r.json()["id"]
        accepted.append(flight_id)
        # The next flight of this aircraft is flown (and sent) after this one is processed.
        while True:
            body = (await client.call("GET", f"/api/flight/{flight_id}", prefer=n)).json()
            if body["processing_status"] in ("processed", "failed"):
                break
            await asyncio.sleep(0.2)
        done.append(1)


async def _until_mid_job(log: Path, timeout_s: float = 20) -> None:
    """Until the worker has started a job it has not ended (or the time is up)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        text = await asyncio.to_thread(log.read_text)
        if text.rfind("Starting job") > text.rfind("ended with status"):
            return
        await asyncio.sleep(0.02)


async def _chaos(top: Topology, cluster: Cluster, done: list[int]) -> list[str]:
    total = AIRCRAFT * FLIGHTS_EACH
    plan = [(total // 4, "worker"), (total * 2 // 5, "api"), (total * 3 // 5, "postgres")]
    happened = []
    for at, what in plan:
        while len(done) < at:  # noqa: ASYNC110  (progress is a count, not an event)
            await asyncio.sleep(0.1)
        if what == "worker":
            await _until_mid_job(top.logs / "worker0.log")
            top.workers[0].send_signal(signal.SIGKILL)
        elif what == "api":
            top.apis[1].send_signal(signal.SIGKILL)
        else:
            await asyncio.to_thread(cluster.restart)
        happened.append(f"{what} at {len(done)}")
    return happened


def _serial_trend(files: list[bytes], tmp: Path) -> list[tuple[str, str, str, float | None]]:
    """The same files analysed one after another in one process: the reference."""
    state, points = None, []
    path = tmp / "flight.csv"
    for data in files:
        path.write_bytes(data)
        result = analyze(path, aircraft_type="A320", trend_state=state)
        state = result.new_trend_state
        if result.counts_for_trend and result.integrity_score is not None:
            points.append((result.bleed_status, result.flight_status, result.trend_status,
                           result.integrity_score))
    return points


async def test_the_production_topology_processes_every_accepted_upload_once_through_failures(
    flight_files: dict[int, list[bytes]], topology: tuple[Topology, Cluster],
    s3_server: S3Server, tmp_path: Path
) -> None:
    top, cluster = topology
    files = flight_files
    accepted: list[str] = []
    done: list[int] = []
    async with httpx.AsyncClient(timeout=60) as http:
        client = Client(top, http)
        await client.wait_ready()
        r = await client.call("POST", "/api/auth/signup", json={
            "account_name": "Topology Air", "name": "Ops", "email": "ops@topology.example",
            "password": "correct horse battery"})
        assert r.status_code == 201, r.text
        client.headers = {"Authorization": f"Bearer {r.json()['tokens']['access_token']}"}
        chaos = asyncio.create_task(_chaos(top, cluster, done))
        await asyncio.wait_for(
            asyncio.gather(*(_fly(client, a, files[a], accepted, done) for a in files)),
            DEADLINE_S,
        )
        happened = await chaos
        assert len(happened) == 3, happened
        print(f"topology: {', '.join(happened)}; {client.failed_attempts} requests sent again")
        assert top.workers[0].poll() is not None and top.apis[1].poll() is not None
        trends = {a: (await client.call("GET", f"/api/aircraft/PR-T{a:02d}",
                                        params={"limit": 200})).json() for a in files}

    engine = create_async_engine(cluster.url)
    try:
        async with engine.connect() as conn:
            flights = dict((await conn.execute(text(
                "SELECT id::text, processing_status FROM flights"))).all())
            processed = dict((await conn.execute(text(
                "SELECT flight_id::text, count(*) FROM flight_events "
                "WHERE status = 'processed' GROUP BY flight_id"))).all())
    finally:
        await engine.dispose()
    assert len(accepted) == AIRCRAFT * FLIGHTS_EACH == len(set(accepted))
    # Every accepted upload processed exactly once (and nothing else lingers unprocessed).
    assert {flights[f] for f in accepted} == {"processed"}
    assert all(processed.get(f) == 1 for f in accepted), processed
    assert set(flights.values()) == {"processed"}
    # Its features are in the lake once.
    keys = s3_server.list_keys(top.env["NUBO_STORAGE_URL"].split("/", 3)[3] + "/features/")
    per_flight = [sum(k.endswith(f"flight={f}.parquet") for k in keys) for f in accepted]
    assert per_flight == [1] * len(accepted)
    assert len(keys) == len(flights)
    # Each aircraft's trend is what a clean serial run of its files gives.
    for a, trend in trends.items():
        got = [(p["bleed_status"], p["flight_status"], p["trend_status"], p["integrity_score"])
               for p in sorted(trend["trend"], key=lambda p: p["flown_at"])]
        want = _serial_trend(files[a], tmp_path)
        assert [g[:3] for g in got] == [w[:3] for w in want], f"aircraft {a}"
        assert all(math.isclose(g[3], w[3], rel_tol=1e-9) for g, w in zip(got, want,
                                                                          strict=True))
