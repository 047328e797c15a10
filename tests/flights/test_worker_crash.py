"""At-least-once processing across real worker processes: a worker killed mid-job leaves
the flight to another worker once its lease runs out, which finishes it, and its queue job
is retried instead of staying `doing`; a run that keeps dying ends `failed`."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from nubo.fleet.features import fleet_query
from nubo.models import Flight, FlightEvent
from tests.fixtures.flights_data import simulated_csv
from tests.flights.live import Live, start_live
from tests.flights.test_worker import pg_url  # noqa: F401  (fixture)

# A worker whose analysis hangs: started by the test only, to be killed mid-job.
HANGING_WORKER = (
    "import time, nubo.flights.analysis as a\n"
    "a.ANALYZE = lambda *args, **kw: time.sleep(600)\n"
    "from nubo.cli import app\n"
    "app(['worker', '--concurrency', '1'])\n"
)
LEASE_S = 10


@pytest.fixture
async def live_pg(pg_url: str, engine: Any, tmp_path: Path) -> AsyncIterator[Live]:  # noqa: F811
    async for value in start_live(pg_url, tmp_path, jobs="procrastinate", jobs_lease_s=LEASE_S):
        yield value


@pytest.fixture
def start_worker(live_pg: Live, pg_url: str, tmp_path: Path) -> Iterator[Any]:  # noqa: F811
    procs: list[subprocess.Popen[bytes]] = []
    env = {
        **os.environ,
        "NUBO_ENV": "test",
        "NUBO_DATABASE_URL": pg_url,
        "NUBO_DATA_DIR": str(tmp_path),
        "NUBO_JOBS": "procrastinate",
        "NUBO_JWT_SECRET": live_pg.app.state.settings.jwt_secret.get_secret_value(),
        "NUBO_JOBS_SWEEP_EVERY_S": "0.5",
        "NUBO_JOBS_LEASE_S": str(LEASE_S),
        "NUBO_JOBS_REQUEUE_AFTER_S": "1",
    }

    def start(code: str | None = None) -> subprocess.Popen[bytes]:
        args = ["-c", code] if code else ["-m", "nubo.cli", "worker", "--concurrency", "1"]
        proc = subprocess.Popen([sys.executable, *args], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


async def _statuses(live: Live, flight_id: str) -> list[str]:
    async with live.app.state.sessionmaker() as s:
        rows = await s.execute(
            select(FlightEvent.status).where(FlightEvent.flight_id == flight_id)
            .order_by(FlightEvent.id)
        )
        return [str(r) for r in rows.scalars()]


async def _wait_for(predicate: Any, timeout_s: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in time")


async def _upload(live: Live) -> str:
    r = await live.client.post(
        "/api/flight/create",
        data={"registration": "PR-XBA", "aircraft_type": "A320"},
        files={"file": ("flight.csv", simulated_csv(seed=11))},
        headers=live.world.headers("admin_a"),
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_a_worker_killed_mid_job_leaves_the_flight_to_another_that_finishes_it(
    live_pg: Live, start_worker: Any
):
    doomed = start_worker(HANGING_WORKER)
    flight_id = await _upload(live_pg)

    async def processing() -> bool:
        return "processing" in await _statuses(live_pg, flight_id)

    await _wait_for(processing, 60)
    doomed.send_signal(signal.SIGKILL)  # mid-job: the claim is held, nothing recorded
    doomed.wait(timeout=10)
    start_worker()

    async def done() -> bool:
        return (await _statuses(live_pg, flight_id))[-1] in {"processed", "failed"}

    await _wait_for(done, LEASE_S + 60)
    async with live_pg.app.state.sessionmaker() as s:
        flight = await s.get(Flight, flight_id)
    assert flight is not None
    assert flight.processing_status == "processed", flight.error
    assert flight.processing_attempts == 2  # the killed claim, then the one that finished
    assert flight.bleed_status is not None
    statuses = await _statuses(live_pg, flight_id)
    assert statuses.count("processing") == 2 and statuses[-1] == "processed"
    # The result reached the fleet views and the feature store.
    aircraft = await live_pg.client.get("/api/aircraft/PR-XBA",
                                        headers=live_pg.world.headers("member_a"))
    assert aircraft.json()["trend"][0]["flight_id"] == flight_id
    _, rows = await fleet_query(live_pg.app.state.store,
                                f"SELECT count(*) FROM features WHERE flight = '{flight_id}'")
    assert rows[0][0] > 0

    # The killed worker's own queue job does not stay `doing`: once the worker is stalled
    # it is retried, finds nothing to claim and ends.
    async def no_job_left_doing() -> bool:
        return not await live_pg.app.state.jobs.app.connector.execute_query_all_async(
            "SELECT id FROM procrastinate_jobs WHERE status = 'doing' "
            "AND args->>'flight_id' = %(flight_id)s",
            flight_id=flight_id,
        )

    await _wait_for(no_job_left_doing, LEASE_S + 60)


async def test_a_run_that_keeps_dying_ends_failed_and_the_queue_keeps_flowing(
    live_pg: Live, start_worker: Any
):
    settings = live_pg.app.state.settings
    flight_id = await _upload(live_pg)
    for _ in range(settings.jobs_max_attempts):
        doomed = start_worker(HANGING_WORKER)
        attempts_before = len([s for s in await _statuses(live_pg, flight_id)
                               if s == "processing"])

        async def claimed_again(before: int = attempts_before) -> bool:
            return len([s for s in await _statuses(live_pg, flight_id)
                        if s == "processing"]) > before

        await _wait_for(claimed_again, LEASE_S + 60)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=10)
    start_worker()

    async def done() -> bool:
        return (await _statuses(live_pg, flight_id))[-1] in {"processed", "failed"}

    await _wait_for(done, LEASE_S + 60)
    async with live_pg.app.state.sessionmaker() as s:
        flight = await s.get(Flight, flight_id)
    assert flight is not None and flight.processing_status == "failed"
    assert flight.error_code == "too-many-attempts"
    # The same worker still processes the next upload.
    next_id = await _upload(live_pg)

    async def next_done() -> bool:
        return (await _statuses(live_pg, next_id))[-1] == "processed"

    await _wait_for(next_done, 60)
