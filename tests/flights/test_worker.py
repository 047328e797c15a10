"""Production shape: the API defers to PostgreSQL (Procrastinate) and a separate
`nubo worker` process runs the job; its events reach the API's SSE stream."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.flights.helpers import csv_bytes
from tests.flights.live import Live, read_sse, start_live


@pytest.fixture
def pg_url(database_url: str) -> str:
    if not database_url.startswith("postgresql"):
        pytest.skip("the Procrastinate queue needs PostgreSQL")
    return database_url


@pytest.fixture
async def live_pg(pg_url: str, engine: Any, tmp_path: Path) -> AsyncIterator[Live]:
    async for value in start_live(pg_url, tmp_path, jobs="procrastinate"):
        yield value


@pytest.fixture
def worker_process(live_pg: Live, pg_url: str, tmp_path: Path) -> Iterator[subprocess.Popen]:
    settings = live_pg.app.state.settings
    env = {
        **os.environ,
        "NUBO_ENV": "test",
        "NUBO_DATABASE_URL": pg_url,
        "NUBO_DATA_DIR": str(tmp_path),  # the same local store folder as the API
        "NUBO_JOBS": "procrastinate",
        "NUBO_JWT_SECRET": settings.jwt_secret.get_secret_value(),
        "NUBO_JOBS_SWEEP_EVERY_S": "0.5",
    }
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "nubo.cli", "worker", "--concurrency", "2"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield proc
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
                code = -9
            log.seek(0)
            output = log.read().decode(errors="replace")
        assert code == 0, output[-3000:]


async def test_a_worker_process_runs_the_job_and_its_events_stream(
    live_pg: Live, worker_process: subprocess.Popen
):
    h = live_pg.world.headers("admin_a")
    r = await live_pg.client.post(
        "/api/flight/create",
        data={"registration": "PR-XBA"},
        files={"file": ("f.csv", csv_bytes())},
        headers=h,
    )
    assert r.status_code == 201, r.text
    flight = r.json()
    events, _, ended = await read_sse(
        live_pg.app, f"/api/flight/{flight['id']}/events", h, timeout_s=60
    )
    assert ended, "the stream ends after the terminal state"
    assert [e["data"]["status"] for e in events] == [
        "created",
        "uploaded",
        "queued",
        "processing",
        "processed",
    ]
    assert worker_process.poll() is None
    r = await live_pg.client.get("/api/ready")
    assert r.status_code == 200 and r.json()["checks"]["queue"] == "ok"
