"""Reprocessing: every processed flight re-run with the current model in flight order per
aircraft, the trend refolded; resumable from the last flight done; idempotent."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from nubo.bleed.trend import update_trend
from nubo.fleet import reprocess, trend
from nubo.fleet import tasks as fleet_tasks
from nubo.flights.analysis import analyze_file
from nubo.kit.types import utcnow
from nubo.models import Aircraft, FlightEvent, ReprocessingAircraft
from nubo.runtime import job_context
from tests.fixtures.flights_data import simulated_csv
from tests.flights.live import Live, start_live

SEEDS = (21, 22, 23, 24)


@pytest.fixture
async def live(database_url: str, engine: Any, tmp_path: Path) -> AsyncIterator[Live]:
    # The periodic sweepers run once at start only: the test hands rows over itself.
    async for value in start_live(database_url, tmp_path, jobs_sweep_every_s=3600):
        yield value


def _csv(seed: int) -> bytes:
    return simulated_csv(seed=seed, duration_h=0.3, rate_hz=1.0)


async def _fleet_uploaded_out_of_order(live: Live) -> list[str]:
    """Four flights of one aircraft, uploaded latest first: each was processed without the
    flights flown before it, so its result is not what an in-order run gives."""
    start = utcnow() - timedelta(days=10)
    ids = []
    for day, seed in reversed(list(enumerate(SEEDS))):
        r = await live.client.post(
            "/api/flight/create",
            json={"registration": "PR-XBA", "aircraft_type": "A320",
                  "departure_at": (start + timedelta(days=day)).isoformat()},
            headers=live.world.headers("admin_a"),
        )
        flight_id = r.json()["id"]
        r = await live.client.post(f"/api/flight/{flight_id}/upload",
                                   files={"file": ("f.csv", _csv(seed))},
                                   headers=live.world.headers("admin_a"))
        assert r.status_code == 200, r.text
        assert (await live.wait_terminal(flight_id))["processing_status"] == "processed"
        ids.insert(0, flight_id)
    return ids


def _serial_trend(tmp: Path) -> tuple[dict[str, Any] | None, list[float | None]]:
    """The trend and scores of a clean run of the same files in flight order."""
    state, scores = None, []
    for seed in SEEDS:
        path = tmp / f"{seed}.csv"
        path.write_bytes(_csv(seed))
        outcome = analyze_file(path, "A320", state)
        assert outcome.result is not None
        scores.append(outcome.result.integrity_score)
        state, _, _ = update_trend(state, outcome.result.residuals, trend.artefact())
    return state, scores


async def _reprocess(live: Live) -> dict[str, Any]:
    operator = live.world.headers("operator")
    r = await live.client.post("/api/reprocessings",
                               json={"account_id": str(live.world.account_a.id)},
                               headers=operator)
    assert r.status_code == 202, r.text
    body = r.json()
    assert (body["aircraft_total"], body["flights_total"]) == (1, len(SEEDS))
    deadline = time.monotonic() + 60
    while body["finished_at"] is None:
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.1)
        body = (await live.client.get(f"/api/reprocessings/{body['id']}",
                                      headers=operator)).json()
    assert body["flights_done"] == len(SEEDS) and body["aircraft_done"] == 1
    return body


async def _reprocessed(live: Live) -> list[str]:
    async with live.app.state.sessionmaker() as s:
        found = await s.execute(select(FlightEvent.flight_id).where(
            FlightEvent.message.like("reprocessed%")))
        return [str(i) for i in found.scalars()]


async def _state(live: Live, ids: list[str]) -> tuple[Any, list[float | None]]:
    async with live.app.state.sessionmaker() as s:
        aircraft = (await s.execute(select(Aircraft).where(
            Aircraft.account_id == live.world.account_a.id))).scalar_one()
    scores = []
    for flight_id in ids:
        r = await live.client.get(f"/api/flight/{flight_id}",
                                  headers=live.world.headers("admin_a"))
        scores.append(r.json()["integrity_score"])
    return aircraft.trend_state, scores


async def test_reprocessing_refolds_in_flight_order_and_twice_changes_nothing(
    live: Live, tmp_path: Path
):
    ids = await _fleet_uploaded_out_of_order(live)
    expected_state, expected_scores = _serial_trend(tmp_path)
    await _reprocess(live)
    first = await _state(live, ids)
    assert first == (expected_state, expected_scores)
    await _reprocess(live)  # a new reprocessing (the first finished): the same trend
    assert await _state(live, ids) == first
    assert sorted(await _reprocessed(live)) == sorted(ids * 2)  # each flight, each time


async def test_an_interrupted_reprocessing_resumes_after_the_last_flight_done(
    live: Live, tmp_path: Path
):
    ids = await _fleet_uploaded_out_of_order(live)
    expected = _serial_trend(tmp_path)
    async with live.app.state.sessionmaker() as s:
        started = await reprocess.start(s, live.world.account_a.id, None)
        await s.commit()
    [row_id] = started.owed
    # A worker re-ran the first flight, then died holding the aircraft: re-run it the same way
    # (its own job), then leave the row claimed by a token whose lease ran out.
    ctx = job_context(live.app, live.app.state.jobs)
    dead = uuid.uuid4()
    async with live.app.state.sessionmaker() as s:
        await s.execute(update(ReprocessingAircraft).where(ReprocessingAircraft.id == row_id)
                        .values(job_token=dead, lease_until=utcnow() + timedelta(seconds=60)))
        await s.commit()
    await fleet_tasks.reprocess_aircraft(ctx, str(row_id))  # held by the dead one: no work
    async with live.app.state.sessionmaker() as s:
        row = await s.get(ReprocessingAircraft, row_id)
        assert row is not None and row.flights_done == 0
        await s.execute(update(ReprocessingAircraft).where(ReprocessingAircraft.id == row_id)
                        .values(job_token=None, lease_until=None))
        await s.commit()
    # Run it for one flight only: the job stops when its claim is taken away after the first.
    await _run_first_flight_then_die(ctx, row_id)
    assert await fleet_tasks.sweep(ctx) == 1  # the lease ran out: handed to a new job
    await live.app.state.jobs.join(timeout_s=60)
    async with live.app.state.sessionmaker() as s:
        row = await s.get(ReprocessingAircraft, row_id)
        assert row is not None and row.finished_at is not None
        assert row.flights_done == len(SEEDS)
    assert sorted(await _reprocessed(live)) == sorted(ids)  # each flight re-run once
    assert await _state(live, ids) == expected


async def _run_first_flight_then_die(ctx: Any, row_id: uuid.UUID) -> None:
    """The job, stopped after its first flight as a killed worker would be: the claim is
    left with a lease that has run out."""
    job = asyncio.create_task(fleet_tasks.reprocess_aircraft(ctx, str(row_id)))
    deadline = time.monotonic() + 30
    while True:
        async with ctx.sessionmaker() as s:
            row = await s.get(ReprocessingAircraft, row_id)
            assert row is not None
            if row.flights_done >= 1:
                break
        assert time.monotonic() < deadline
        await asyncio.sleep(0.005)
    job.cancel()
    await asyncio.gather(job, return_exceptions=True)
    async with ctx.sessionmaker() as s:
        row = await s.get(ReprocessingAircraft, row_id)
        assert row is not None and row.finished_at is None
        await s.execute(update(ReprocessingAircraft).where(ReprocessingAircraft.id == row_id)
                        .values(lease_until=utcnow() - timedelta(seconds=1)))
        await s.commit()


async def test_reprocessing_an_unknown_account_is_404(client, world):
    r = await client.post("/api/reprocessings", json={"account_id": str(uuid.uuid4())},
                          headers=world.headers("operator"))
    assert r.status_code == 404, r.text
