"""Flights per minute through the job system on PostgreSQL, beside the pipeline alone.

Run: `uv run python bench/bench_throughput.py` (or `make bench BENCH_ARGS=throughput`).

Set-up: a fresh PostgreSQL database (dropped at the end, even on failure) migrated with
`nubo migrate`, a local-folder object store in a temporary directory, FILES simulated
flights (2 h at 1 Hz, distinct seeds) stored once each. Every process runs Polars on one
thread (POLARS_MAX_THREADS=1), so "per core" means what it says.

1. Ceiling: `analyze_file` (what a job runs: the pipeline, the feature and series Parquet)
   on FLIGHTS flights of the same files in this one process, each with its aircraft's trend
   folded so far: flights per minute and CPU seconds per flight. Measured again after each
   step of 2; a step is set beside the mean of the ceilings just before and after it (the
   load of a shared machine drifts over minutes).
2. For 1 and then 2 `nubo worker` processes (NUBO_JOBS=procrastinate, default concurrency):
   FLIGHTS new flights of AIRCRAFT aircraft (in flight order per aircraft, after those of
   the previous step, so the trends grow) are inserted `queued` with their files, the
   workers are started and idle, then every job is deferred at once and the clock runs
   until the last flight is `processed` (its `processed_at`). Reported: the workers' own CPU
   per flight (user+system of the worker processes, the system part printed beside it;
   PostgreSQL's is not counted) and the
   ratio per core, the ceiling's CPU per flight over it: the goal (>= 0.8) and its verdict
   are on this ratio, which contention from other work on the machine disturbs far less
   than the rate. Also the rate: flights per minute, per worker over the ceiling (a worker
   runs several jobs at once, on more than one core: this one can pass 1).
3. Reprocessing (2 workers): every processed flight re-run with `fleet.reprocess`, timed
   until the reprocessing is finished.

Prints a table and writes bench/out/throughput.json. Knobs: BENCH_ADMIN_DATABASE_URL
[postgresql+asyncpg://postgres@127.0.0.1:5432/test], BENCH_TP_FLIGHTS [500] per step,
BENCH_TP_AIRCRAFT [10], BENCH_TP_FILES [8], BENCH_TP_HOURS [2], BENCH_TP_HISTORY [200] (the
flights each aircraft has flown before, in its trend: what the trend fold grew with),
BENCH_TP_WORKERS [1,2] (the steps' worker counts), BENCH_TP_REPROCESS [1] (0: no step 3).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
from pgadmin import admin, database_url, drop_database

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
FLIGHTS = int(os.environ.get("BENCH_TP_FLIGHTS", "500"))
AIRCRAFT = int(os.environ.get("BENCH_TP_AIRCRAFT", "10"))
FILES = int(os.environ.get("BENCH_TP_FILES", "8"))
HOURS = float(os.environ.get("BENCH_TP_HOURS", "2"))
# Flights each aircraft already has in its trend (no file: never re-run): a fleet in service.
HISTORY = int(os.environ.get("BENCH_TP_HISTORY", "200"))
WORKERS = [int(n) for n in os.environ.get("BENCH_TP_WORKERS", "1,2").split(",") if n.strip()]
REPROCESS = os.environ.get("BENCH_TP_REPROCESS", "1") != "0"
GOAL = 0.8
START = datetime(2026, 1, 1, tzinfo=UTC)

os.environ["POLARS_MAX_THREADS"] = "1"  # before Polars is imported, here and in the workers


@dataclass
class Fleet:
    account_id: uuid.UUID
    keys: list[str]  # the stored files, by index
    paths: list[Path]
    placed: int = 0  # flights inserted so far (each aircraft's flights in order)


def registration(n: int) -> str:
    return f"PR-T{n:02d}"


def flight_at(index: int) -> tuple[str, datetime]:
    """The index-th flight overall: its aircraft, and a departure after that aircraft's
    earlier flights."""
    return registration(index % AIRCRAFT), START + timedelta(hours=6 * (index // AIRCRAFT))


async def seed_files(store_url: str, workdir: Path) -> tuple[list[str], list[Path]]:
    from nubo.bleed.simulate import simulate_flight
    from nubo.kit.storage import ObjectStore

    store = ObjectStore.from_url(store_url)
    keys, paths = [], []
    for seed in range(FILES):
        data = simulate_flight(seed=100 + seed, duration_h=HOURS, rate_hz=1.0).write_csv()
        path = workdir / f"flight-{seed}.csv"
        path.write_text(data)
        key = f"bench/flight-{seed}.csv"
        await store.put_bytes(key, data.encode())
        keys.append(key)
        paths.append(path)
    return keys, paths


async def seed_account(url: str) -> uuid.UUID:
    from nubo.kit.db import create_engine, create_sessionmaker
    from nubo.models import Account

    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            account = Account(name="Throughput", email="throughput@example.com")
            session.add(account)
            await session.flush()
            return account.id
    finally:
        await engine.dispose()


async def queue_flights(url: str, fleet: Fleet, n: int) -> list[uuid.UUID]:
    """n flights `queued` with their files, the next ones of each aircraft."""
    from nubo.kit.db import create_engine, create_sessionmaker
    from nubo.kit.types import utcnow
    from nubo.models import Flight, ProcessingStatus

    engine = create_engine(url)
    ids = []
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            now = utcnow()
            for i in range(fleet.placed, fleet.placed + n):
                reg, departure = flight_at(i)
                flight = Flight(
                    id=uuid.uuid4(), account_id=fleet.account_id, registration=reg,
                    aircraft_type="A320", departure_at=departure,
                    processing_status=ProcessingStatus.queued, processing_run=1, queued_at=now,
                    file_key=fleet.keys[i % FILES], file_size=1, file_sha256="0" * 64,
                    file_format="csv", file_name="flight.csv", file_uploaded_at=now,
                )
                session.add(flight)
                ids.append(flight.id)
        fleet.placed += n
        return ids
    finally:
        await engine.dispose()


async def seed_history(url: str, fleet: Fleet) -> None:
    """HISTORY past flights per aircraft in its trend (points of a real result), before
    START; the aircraft's summary derived once."""
    from nubo.fleet import trend
    from nubo.flights.analysis import analyze_file
    from nubo.kit.db import create_engine, create_sessionmaker
    from nubo.kit.types import utcnow
    from nubo.models import Flight, ProcessingStatus, TrendPoint

    result = analyze_file(fleet.paths[0], "A320", None).result
    assert result is not None
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            for n in range(AIRCRAFT):
                flights = []
                for k in range(HISTORY):
                    flight = Flight(id=uuid.uuid4(), account_id=fleet.account_id,
                                    registration=registration(n), aircraft_type="A320",
                                    departure_at=START - timedelta(hours=6 * (HISTORY - k)),
                                    processed_at=utcnow(),
                                    processing_status=ProcessingStatus.processed)
                    session.add(flight)
                    flights.append(flight)
                if not flights:
                    continue
                await session.flush()
                aircraft = await trend.record(session, flights[0], result)
                for flight in flights[1:]:
                    session.add(TrendPoint(
                        flight_id=flight.id, aircraft_id=aircraft.id, flown_at=flight.departure_at,
                        residuals=result.residuals, flight_status=result.flight_status,
                        trend_status=result.trend_status, bleed_status=result.bleed_status,
                        integrity_score=result.integrity_score or 0.0,
                        engine_scores=result.engine_scores, model_version=result.model_version,
                    ))
                await session.flush()
                await trend.refresh(session, aircraft)
    finally:
        await engine.dispose()


def ceiling(fleet: Fleet, n: int) -> dict[str, Any]:
    """The pipeline alone, as a job runs it, on the same files in flight order."""
    from nubo.bleed.trend import update_trend
    from nubo.fleet.trend import artefact
    from nubo.flights.analysis import analyze_file

    states: dict[str, Any] = {}
    analyze_file(fleet.paths[0], "A320", None)  # imports and warms up, unmeasured
    wall, cpu, sys_s = time.perf_counter(), time.process_time(), os.times().system
    for i in range(n):
        reg, _ = flight_at(i)
        outcome = analyze_file(fleet.paths[i % FILES], "A320", states.get(reg))
        assert outcome.result is not None, outcome.error_message
        states[reg], _, _ = update_trend(states.get(reg), outcome.result.residuals, artefact())
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    sys_s = os.times().system - sys_s
    return {"flights": n, "seconds": wall, "per_minute": n / wall * 60, "cpu_s_per_flight": cpu / n,
            "sys_s_per_flight": sys_s / n}


def start_workers(count: int, env: dict[str, str], workdir: Path) -> list[subprocess.Popen[bytes]]:
    procs = []
    for i in range(count):
        log = (workdir / f"worker-{count}-{i}.log").open("wb")
        procs.append(subprocess.Popen([sys.executable, "-m", "nubo.cli", "worker"], cwd=workdir,
                                      env=env, stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True))
    deadline = time.monotonic() + 120
    for i, proc in enumerate(procs):
        log_path = workdir / f"worker-{count}-{i}.log"
        while b"worker started" not in log_path.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{log_path.read_text()[-2000:]}")
            time.sleep(0.2)
    time.sleep(1.0)  # the start-up sweep and GC freeze done: idle
    return procs


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cpu_of(procs: list[subprocess.Popen[bytes]]) -> tuple[float, float]:
    """User+system and system CPU seconds of the processes (the system part is mostly the
    sockets' and threads' system calls: a round trip to a local PostgreSQL is paid here)."""
    times = [psutil.Process(p.pid).cpu_times() for p in procs]
    return sum(t.user + t.system for t in times), sum(t.system for t in times)


async def defer_all(settings: Any, ids: list[uuid.UUID]) -> float:
    import nubo.tasks  # noqa: F401  (registers the tasks)
    from nubo.flights.tasks import PROCESS
    from nubo.runtime import build_queue

    queue = build_queue(settings)
    try:
        await queue.defer(PROCESS, flight_id=str(ids[0]), run=1)  # opens the queue first
        for flight_id in ids[1:]:
            await queue.defer(PROCESS, flight_id=str(flight_id), run=1)
    finally:
        await queue.stop()
    return time.time()


async def wait_done(url: str, ids: list[uuid.UUID], started: float) -> float:
    """Seconds from the first defer to the last flight's `processed_at`."""
    from sqlalchemy import func, select

    from nubo.kit.db import create_engine, create_sessionmaker
    from nubo.models import Flight, ProcessingStatus

    engine = create_engine(url)
    try:
        maker = create_sessionmaker(engine)
        while True:
            async with maker() as session:
                stmt = select(func.count(), func.max(Flight.processed_at)).where(
                    Flight.id.in_(ids),
                    Flight.processing_status.in_(
                        [ProcessingStatus.processed, ProcessingStatus.failed]
                    ),
                )
                done, last = (await session.execute(stmt)).one()
                failed = (await session.execute(select(func.count()).where(
                    Flight.id.in_(ids), Flight.processing_status == ProcessingStatus.failed
                ))).scalar_one()
            if failed:
                raise RuntimeError(f"{failed} flight(s) failed")
            if done == len(ids):
                return float(last.timestamp() - started)
            await asyncio.sleep(0.2)
    finally:
        await engine.dispose()


async def run_reprocessing(settings: Any, url: str) -> dict[str, Any]:
    import nubo.tasks  # noqa: F401
    from nubo.fleet import reprocess
    from nubo.kit.db import commit_unit, create_engine, create_sessionmaker
    from nubo.runtime import build_queue

    engine = create_engine(url)
    queue = build_queue(settings)
    try:
        maker = create_sessionmaker(engine)
        started = time.time()
        async with maker() as session:
            run = await reprocess.start(session, None, None, queue=queue)
            await commit_unit(session)
        run_id, total = run.reprocessing.id, run.reprocessing.flights_total
        while True:
            async with maker() as session:
                progress = await reprocess.progress(session, run_id)
            if progress.reprocessing.finished_at is not None:
                seconds = progress.reprocessing.finished_at.timestamp() - started
                return {"flights": total, "seconds": seconds, "per_minute": total / seconds * 60}
            await asyncio.sleep(0.3)
    finally:
        await queue.stop()
        await engine.dispose()


def measure_workers(count: int, fleet: Fleet, url: str, env: dict[str, str], settings: Any,
                    workdir: Path) -> dict[str, Any]:
    ids = asyncio.run(queue_flights(url, fleet, FLIGHTS))
    procs = start_workers(count, env, workdir)
    try:
        cpu_before = cpu_of(procs)
        started = asyncio.run(defer_all(settings, ids))
        seconds = asyncio.run(wait_done(url, ids, started))
        cpu_after = cpu_of(procs)
    finally:
        stop_workers(procs)
    cpu, sys_s = (after - before for after, before in zip(cpu_after, cpu_before, strict=True))
    return {"workers": count, "flights": len(ids), "seconds": seconds,
            "per_minute": len(ids) / seconds * 60, "cpu_s_per_flight": cpu / len(ids),
            "sys_s_per_flight": sys_s / len(ids)}


def main() -> int:
    from nubo.settings import Settings

    OUT.mkdir(parents=True, exist_ok=True)
    name = f"nubo_bench_tp_{uuid.uuid4().hex[:12]}"
    url = database_url(name)
    workdir = Path(tempfile.mkdtemp(prefix="nubo-bench-tp-"))
    store_url = (workdir / "objects").as_uri()
    (workdir / "objects").mkdir()
    load_before = os.getloadavg()
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        env = {**os.environ, "NUBO_DATABASE_URL": url, "NUBO_STORAGE_URL": store_url,
               "NUBO_JOBS": "procrastinate", "NUBO_DATA_DIR": str(workdir / "data")}
        subprocess.run([sys.executable, "-m", "nubo.cli", "migrate"], cwd=workdir, env=env,
                       check=True, capture_output=True)
        settings = Settings(_env_file=None, database_url=url, storage_url=store_url,  # type: ignore[call-arg]
                            jobs="procrastinate")
        keys, paths = asyncio.run(seed_files(store_url, workdir))
        fleet = Fleet(asyncio.run(seed_account(url)), keys, paths)
        asyncio.run(seed_history(url, fleet))
        print(f"{FLIGHTS} flights per step, {AIRCRAFT} aircraft with {HISTORY} past flights "
              f"each, {FILES} files of {HOURS:g} h at 1 Hz; Polars on 1 thread; "
              f"load average {load_before[0]:.1f}", flush=True)
        top = ceiling(fleet, FLIGHTS)
        print(f"  ceiling (pipeline alone): {top['per_minute']:.0f} flights/min, "
              f"{top['cpu_s_per_flight'] * 1000:.1f} ms CPU/flight "
              f"({top['sys_s_per_flight'] * 1000:.1f} system)", flush=True)
        ceilings = [top]
        steps = []
        for count in WORKERS:
            step = measure_workers(count, fleet, url, env, settings, workdir)
            # The ceiling again after the step: each step is set beside the mean of the
            # ceilings measured just before and just after it, so that a change of load
            # on the machine in between does not land on one side only.
            after = ceiling(fleet, FLIGHTS)
            print(f"  ceiling again: {after['per_minute']:.0f} flights/min, "
                  f"{after['cpu_s_per_flight'] * 1000:.1f} ms CPU/flight "
                  f"({after['sys_s_per_flight'] * 1000:.1f} system)", flush=True)
            around = {key: (ceilings[-1][key] + after[key]) / 2
                      for key in ("per_minute", "cpu_s_per_flight")}
            ceilings.append(after)
            step["ceiling"] = around
            per_core = min(count, os.cpu_count() or 1)
            step["ratio_per_worker"] = step["per_minute"] / (around["per_minute"] * per_core)
            step["cpu_ratio"] = around["cpu_s_per_flight"] / step["cpu_s_per_flight"]
            step["goal_met"] = step["cpu_ratio"] >= GOAL
            steps.append(step)
            print(f"  {count} worker(s): {step['cpu_s_per_flight'] * 1000:.1f} ms worker CPU"
                  f"/flight ({step['sys_s_per_flight'] * 1000:.1f} system) = "
                  f"{step['cpu_ratio']:.2f}x the ceiling per core (goal >= {GOAL}: "
                  f"{'met' if step['goal_met'] else 'NOT met'}); rate {step['per_minute']:.0f} "
                  f"flights/min = {step['ratio_per_worker']:.2f}x the ceiling per worker",
                  flush=True)
        reprocessing: dict[str, Any] | None = None
        try:
            if REPROCESS:
                procs = start_workers(2, env, workdir)
                try:
                    reprocessing = asyncio.run(run_reprocessing(settings, url))
                finally:
                    stop_workers(procs)
                print(f"  reprocessing, 2 workers: {reprocessing['flights']} flights in "
                      f"{reprocessing['seconds']:.1f} s ({reprocessing['per_minute']:.0f}/min)",
                      flush=True)
        except ImportError:
            print("  reprocessing: not in this version", flush=True)
        load_after = os.getloadavg()
        summary = [
            f"throughput {s['workers']} worker(s): worker CPU "
            f"{s['cpu_s_per_flight'] * 1000:.0f} ms vs the pipeline alone "
            f"{s['ceiling']['cpu_s_per_flight'] * 1000:.0f} ms per flight = "
            f"{s['cpu_ratio']:.2f}x per core; goal >= {GOAL}x: "
            f"{'met' if s['goal_met'] else 'NOT met'} (rate {s['per_minute']:.0f} flights/min "
            f"= {s['ratio_per_worker']:.2f}x the pipeline alone's "
            f"{s['ceiling']['per_minute']:.0f}/min "
            f"per worker)"
            for s in steps
        ]
        if reprocessing:
            summary.append(f"reprocessing {reprocessing['flights']} flights with 2 workers: "
                           f"{reprocessing['seconds']:.1f} s ({reprocessing['per_minute']:.0f}"
                           f" flights/min)")
        summary.append(f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after")
        print("\n" + "\n".join(summary))
        data = {"benchmark": "throughput", "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "flights_per_step": FLIGHTS, "aircraft": AIRCRAFT, "files": FILES,
                "hours": HOURS, "history": HISTORY, "ceiling": top, "ceilings": ceilings,
                "steps": steps,
                "reprocessing": reprocessing,
                "load_average_before_after": [load_before[0], load_after[0]], "summary": summary}
        (OUT / "throughput.json").write_text(json.dumps(data, indent=2) + "\n")
        return 0
    finally:
        drop_database(name)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
