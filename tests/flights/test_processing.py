"""Processing hand-off end to end (committing app, in-process job workers) and the live
event stream: replay, Last-Event-ID, heartbeats, end on a terminal state, events written by
another process."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from nubo.bleed.model import load_artefact
from nubo.flights import analysis, tasks
from nubo.kit.db import create_engine, create_sessionmaker
from nubo.kit.jobs import InProcessQueue, JobContext
from nubo.kit.storage import ObjectStore, new_key
from nubo.kit.types import utcnow
from nubo.models import Flight, FlightEvent, ProcessingStatus
from nubo.runtime import job_context
from tests.flights.helpers import HEADER, csv_bytes, csv_gz_bytes, parquet_bytes
from tests.flights.live import Live, read_sse, start_live


@pytest.fixture
async def live(database_url: str, engine: Any, tmp_path: Path) -> AsyncIterator[Live]:
    async for value in start_live(database_url, tmp_path):
        yield value


async def _new_flight(live: Live, **fields: Any) -> dict[str, Any]:
    r = await live.client.post(
        "/api/flight/create",
        json={"registration": "PR-XBA", **fields},
        headers=live.world.headers("admin_a"),
    )
    assert r.status_code == 201, r.text
    return r.json()


async def _upload(live: Live, flight_id: str, data: bytes, name: str = "f.csv") -> dict[str, Any]:
    r = await live.client.post(
        f"/api/flight/{flight_id}/upload",
        files={"file": (name, data)},
        headers=live.world.headers("member_a"),
    )
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize("make", [csv_bytes, csv_gz_bytes, parquet_bytes])
async def test_a_good_file_is_processed(live: Live, make: Any):
    flight = await _new_flight(live)
    await _upload(live, flight["id"], make(10))
    done = await live.wait_terminal(flight["id"])
    assert done["processing_status"] == "processed", done
    assert done["error"] is None
    assert done["model_version"] == load_artefact().model_version
    assert done["bleed_status"] in {"normal", "watch", "alert"}
    # Ten seconds on the ground: processed, but no score for a flight that was not seen.
    assert done["integrity_score"] is None
    assert any(w.startswith("incomplete-flight") for w in done["warnings"])
    assert done["coverage"]["airborne_min"] == 0
    assert done["rows_read"] == done["rows_used"] == 10
    events, _, ended = await read_sse(
        live.app, f"/api/flight/{flight['id']}/events", live.world.headers("member_a")
    )
    assert ended
    assert [e["data"]["status"] for e in events] == [
        "created",
        "uploaded",
        "queued",
        "processing",
        "processed",
    ]
    ids = [int(e["id"]) for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


async def test_a_stray_quote_masks_its_row_and_the_record_says_rows_read_and_used(live: Live):
    lines = csv_bytes(10).split(b"\n")
    lines[3] = lines[3].replace(b",", b',"', 1)  # data row 3 opens a quote it never closes
    flight = await _new_flight(live)
    await _upload(live, flight["id"], b"\n".join(lines))
    done = await live.wait_terminal(flight["id"])
    assert done["processing_status"] == "processed", done
    assert (done["rows_read"], done["rows_used"]) == (10, 9)
    events, _, _ = await read_sse(
        live.app, f"/api/flight/{flight['id']}/events", live.world.headers("member_a")
    )
    summary = events[-1]["data"]["data"]
    assert (summary["rows_read"], summary["rows_used"]) == (10, 9)
    assert any("row 3 (byte offset" in w for w in summary["warnings"])


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (csv_bytes(5, header=[h for h in HEADER if h != "eng2_bleed_press_psi"]), "missing-column"),
        (csv_bytes(0), "header-only"),
        (csv_bytes(3, header=[h for h in HEADER if h != "time_s"]), "no-time-column"),
        (b"\x1f\x8b" + b"garbage" * 100, "corrupt-gzip"),
        (b"PAR1" + b"\x00" * 64, "corrupt-parquet"),
    ],
)
async def test_a_bad_file_fails_with_a_code(live: Live, data: bytes, code: str):
    flight = await _new_flight(live)
    await _upload(live, flight["id"], data)
    done = await live.wait_terminal(flight["id"])
    assert done["processing_status"] == "failed"
    assert done["error"]["code"] == code, done["error"]
    assert done["file"] is not None  # the raw file is kept


async def test_sse_reconnect_with_last_event_id_misses_nothing(
    live: Live, monkeypatch: pytest.MonkeyPatch
):
    real = analysis.ANALYZE

    def slow(path: Any, **kw: Any) -> Any:
        time.sleep(0.8)
        return real(path, **kw)

    monkeypatch.setattr(analysis, "ANALYZE", slow)
    flight = await _new_flight(live)
    path = f"/api/flight/{flight['id']}/events"
    headers = live.world.headers("member_a")
    await _upload(live, flight["id"], csv_bytes())

    # First connection: read two events, then the client drops.
    first, _, ended = await read_sse(live.app, path, headers, stop=lambda ev, _: len(ev) >= 2)
    assert not ended and len(first) >= 2
    # Reconnect where it stopped; the server sends the rest and ends at the terminal state.
    rest, _, ended = await read_sse(live.app, path, {**headers, "Last-Event-ID": first[-1]["id"]})
    assert ended
    whole, _, _ = await read_sse(live.app, path, headers)
    assert [e["id"] for e in first + rest] == [e["id"] for e in whole]
    assert whole[-1]["data"]["status"] == "processed"
    # Resuming after the terminal event: nothing to send, the stream ends at once.
    after, _, ended = await read_sse(live.app, path, {**headers, "Last-Event-ID": whole[-1]["id"]})
    assert after == [] and ended
    # `?after=` is the same as the header; a bad header is 422.
    r = await live.client.get(path, headers={**headers, "Last-Event-ID": "x"})
    assert r.status_code == 422


async def test_heartbeats_while_nothing_happens(live: Live):
    flight = await _new_flight(live)  # no file: nothing will happen
    events, comments, ended = await read_sse(
        live.app,
        f"/api/flight/{flight['id']}/events",
        live.world.headers("admin_a"),
        stop=lambda _, c: len(c) >= 2,
        timeout_s=10,
    )
    assert not ended
    assert [e["data"]["status"] for e in events] == ["created"]
    assert len(comments) >= 2  # heartbeat comments


async def test_events_from_another_process_reach_the_stream(live: Live, database_url: str):
    """A writer with its own engine (as a worker on another machine would be)."""
    flight = await _new_flight(live)
    other = create_engine(database_url)
    written = False

    async def write_from_elsewhere() -> None:
        nonlocal written
        async with create_sessionmaker(other)() as s:
            fid = uuid.UUID(flight["id"])
            for status in ("processing", "failed"):
                s.add(FlightEvent(flight_id=fid, status=status, message="elsewhere"))
            await s.commit()
        written = True

    def stop(events: list[dict[str, Any]], _: list[str]) -> bool:
        return False

    import asyncio

    writer = asyncio.get_running_loop().call_later(
        0.3, lambda: asyncio.ensure_future(write_from_elsewhere())
    )
    try:
        events, _, ended = await read_sse(
            live.app,
            f"/api/flight/{flight['id']}/events",
            live.world.headers("admin_a"),
            stop=stop,
            timeout_s=15,
        )
    finally:
        writer.cancel()
        await other.dispose()
    assert written and ended
    assert [e["data"]["status"] for e in events] == ["created", "processing", "failed"]


async def test_the_sweeper_hands_off_a_flight_left_without_a_job(live: Live):
    """An upload committed `queued` whose defer was lost (crash between commit and defer),
    and a job that died holding its lease: the sweeper re-defers both."""
    store = live.app.state.store
    a = live.world.account_a.id
    flights = []
    async with live.app.state.sessionmaker() as s:
        for status, lease in [
            (ProcessingStatus.queued, None),
            (ProcessingStatus.processing, utcnow()),
        ]:
            fid = uuid.uuid4()
            stored = await store.put_bytes(new_key(f"raw/account={a}/flight={fid}"), csv_bytes())
            s.add(
                Flight(
                    id=fid,
                    account_id=a,
                    registration="PR-XBA",
                    processing_status=status,
                    processing_run=1,
                    queued_at=utcnow(),
                    lease_until=lease,
                    job_token=uuid.uuid4() if lease else None,
                    file_key=stored.key,
                    file_size=stored.size,
                    file_sha256=stored.sha256,
                    file_format="csv",
                    file_uploaded_at=utcnow(),
                )
            )
            flights.append(str(fid))
        await s.commit()
    for fid in flights:
        done = await live.wait_terminal(fid, timeout_s=30)
        assert done["processing_status"] == "processed"


async def test_a_job_is_idempotent(live: Live):
    flight = await _new_flight(live)
    await _upload(live, flight["id"], csv_bytes())
    await live.wait_terminal(flight["id"])
    ctx = job_context(live.app, live.app.state.jobs)
    # The same job again, and a job of an old run: both find nothing to claim.
    await tasks.process_flight(ctx, flight_id=flight["id"], run=1)
    await tasks.process_flight(ctx, flight_id=flight["id"], run=0)
    await tasks.process_flight(ctx, flight_id=str(uuid.uuid4()), run=1)
    events, _, _ = await read_sse(
        live.app, f"/api/flight/{flight['id']}/events", live.world.headers("admin_a")
    )
    assert [e["data"]["status"] for e in events].count("processing") == 1


async def test_a_replaced_file_starts_a_new_run(live: Live):
    flight = await _new_flight(live)
    await _upload(live, flight["id"], csv_bytes(5, header=["time_s", "x"]))
    first = await live.wait_terminal(flight["id"])
    assert first["processing_status"] == "failed"
    await _upload(live, flight["id"], csv_bytes())
    second = await live.wait_terminal(flight["id"])
    assert second["processing_status"] == "processed"
    assert second["processing_run"] == 2 and second["error"] is None


async def test_the_stream_ends_when_the_flight_is_deleted(live: Live):
    import asyncio

    flight = await _new_flight(live)
    headers = live.world.headers("admin_a")

    async def delete_soon() -> None:
        await asyncio.sleep(0.3)
        r = await live.client.delete(f"/api/flight/{flight['id']}", headers=headers)
        assert r.status_code == 204

    deleter = asyncio.ensure_future(delete_soon())
    events, _, ended = await read_sse(
        live.app, f"/api/flight/{flight['id']}/events", headers, timeout_s=15
    )
    await deleter
    assert ended and [e["data"]["status"] for e in events] == ["created"]


async def test_a_2xx_is_sent_only_after_the_commit(live: Live, database_url: str):
    """At the moment the status line goes out, another connection already sees the row."""
    from sqlalchemy import func, select

    other = create_engine(database_url)
    account = live.world.account_a.id
    seen_at_start: list[int] = []

    async def count() -> int:
        async with create_sessionmaker(other)() as s:
            stmt = (
                select(func.count())
                .select_from(Flight)
                .where(Flight.account_id == account, Flight.deleted_at.is_(None))
            )
            return int((await s.execute(stmt)).scalar_one())

    app = live.app

    async def watched(scope: Any, receive: Any, send: Any) -> None:
        async def spy(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                seen_at_start.append(await count())
            await send(message)

        await app(scope, receive, spy)

    from httpx import ASGITransport, AsyncClient

    try:
        before = await count()
        async with AsyncClient(transport=ASGITransport(app=watched), base_url="http://t") as c:
            h = live.world.headers("admin_a")
            r = await c.post("/api/flight/create", json={"registration": "PR-XBA"}, headers=h)
            assert r.status_code == 201
            r = await c.post(
                "/api/flight/create",
                data={"registration": "PR-XBA"},
                files={"file": ("f.csv", csv_bytes())},
                headers=h,
            )
            assert r.status_code == 201
            r = await c.delete(f"/api/flight/{r.json()['id']}", headers=h)
            assert r.status_code == 204
    finally:
        await other.dispose()
    assert seen_at_start == [before + 1, before + 2, before + 1]


async def _write_lock_free(database_url: str, flight_id: str) -> None:
    """The flight's write lock is free at some moment within two seconds: taken from another
    connection without waiting, then let go. One try could meet a brief writer (the job
    renewing its lease, a sweep: seen once in a loaded run); a job holding the lock through
    its analysis fails every try."""
    for _ in range(19):
        with contextlib.suppress(sqlite3.OperationalError, DBAPIError):
            await _take_write_lock(database_url, flight_id)
            return
        await asyncio.sleep(0.1)
    await _take_write_lock(database_url, flight_id)


async def _take_write_lock(database_url: str, flight_id: str) -> None:
    """Take the flight's write lock from another connection without waiting (raises if
    someone holds it), then let it go."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        conn = sqlite3.connect(str(url.database), timeout=0, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
        finally:
            conn.close()
        return
    other = create_engine(database_url)
    try:
        async with other.connect() as c:
            stmt = select(Flight.id).where(Flight.id == uuid.UUID(flight_id))
            await c.execute(stmt.with_for_update(nowait=True))
            await c.rollback()
    finally:
        await other.dispose()


async def test_a_job_holds_no_write_lock_while_it_analyses(
    live: Live, database_url: str, monkeypatch: pytest.MonkeyPatch
):
    real, started, finish = analysis.ANALYZE, threading.Event(), threading.Event()

    def held(path: Any, **kw: Any) -> Any:
        started.set()
        finish.wait(60)
        return real(path, **kw)

    monkeypatch.setattr(analysis, "ANALYZE", held)
    flight = await _new_flight(live)
    await _upload(live, flight["id"], csv_bytes())
    assert await asyncio.to_thread(started.wait, 60)
    try:
        await _write_lock_free(database_url, flight["id"])
    finally:
        finish.set()
    done = await live.wait_terminal(flight["id"])
    assert done["processing_status"] == "processed"


class HeldAnalysis:
    """The analysis blocks until released: a job caught mid-work."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.started, self.release = threading.Event(), threading.Event()
        real = analysis.ANALYZE

        def held(path: Any, **kw: Any) -> Any:
            self.started.set()
            self.release.wait(60)
            return real(path, **kw)

        monkeypatch.setattr(analysis, "ANALYZE", held)

    async def wait_started(self) -> None:
        assert await asyncio.to_thread(self.started.wait, 60)


@pytest.fixture
async def live_short_lease(database_url: str, engine: Any, tmp_path: Path) -> AsyncIterator[Live]:
    async for value in start_live(database_url, tmp_path, jobs_lease_s=6):
        yield value


async def _row(live: Live, flight_id: str) -> Flight:
    async with live.app.state.sessionmaker() as s:
        flight = await s.get(Flight, uuid.UUID(flight_id))
    assert flight is not None
    return flight


async def test_a_working_job_renews_its_lease(
    live_short_lease: Live, monkeypatch: pytest.MonkeyPatch
):
    live, held = live_short_lease, HeldAnalysis(monkeypatch)
    flight = await _new_flight(live)
    await _upload(live, flight["id"], csv_bytes())
    await held.wait_started()
    try:
        claimed = await _row(live, flight["id"])
        assert claimed.lease_until is not None
        for _ in range(600):
            now = await _row(live, flight["id"])
            if now.lease_until is not None and now.lease_until > claimed.lease_until:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the lease was never renewed")
        # Renewed by the job that holds it, not taken over by another after it ran out.
        assert (now.job_token, now.processing_attempts) == (claimed.job_token, 1)
    finally:
        held.release.set()
    assert (await live.wait_terminal(flight["id"]))["processing_status"] == "processed"


async def test_deleting_a_flight_stops_its_running_analysis(
    live_short_lease: Live, monkeypatch: pytest.MonkeyPatch
):
    live, held = live_short_lease, HeldAnalysis(monkeypatch)
    flight = await _new_flight(live)
    await _upload(live, flight["id"], csv_bytes())
    await held.wait_started()
    try:
        r = await live.client.delete(f"/api/flight/{flight['id']}",
                                     headers=live.world.headers("admin_a"))
        assert r.status_code == 204
        # The job ends at its next heartbeat, while its analysis is still held.
        await live.app.state.jobs.join(timeout_s=30)
        assert not held.release.is_set()
    finally:
        held.release.set()
    row = await _row(live, flight["id"])
    assert row.bleed_status is None and row.processed_at is None
    async with live.app.state.sessionmaker() as s:
        statuses = (await s.execute(
            select(FlightEvent.status).where(FlightEvent.flight_id == row.id)
        )).scalars().all()
    assert not {"processed", "failed"} & set(statuses)


def _unreachable_s3() -> ObjectStore:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return ObjectStore.from_url(
        "s3://nubo-down", endpoint=f"http://127.0.0.1:{port}", region="us-east-1",
        access_key_id="k", secret_access_key="s", allow_http=True, max_retries=0,
        connect_timeout_s=1, request_timeout_s=2,
    )


async def test_a_storage_outage_is_retried_then_fails_naming_it(
    settings: Any, sessionmaker: Any, session: Any, world: Any
):
    flight = Flight(
        account_id=world.account_a.id, registration="PR-XBA", processing_run=1,
        processing_status=ProcessingStatus.queued, queued_at=utcnow(),
        file_key=f"raw/account={world.account_a.id}/f.csv", file_format="csv",
    )
    session.add(flight)
    await session.commit()
    ctx = JobContext(settings=settings, sessionmaker=sessionmaker, store=_unreachable_s3(),
                     queue=InProcessQueue())
    seen = []
    for _ in range(settings.jobs_max_attempts):  # each run of the job: the queue, the sweeper
        await tasks.process_flight(ctx, flight_id=str(flight.id), run=1)
        await session.refresh(flight)
        seen.append((str(flight.processing_status), flight.error_code))
    retries = [("queued", "storage-unavailable")] * (settings.jobs_max_attempts - 1)
    assert seen == [*retries, ("failed", "storage-unavailable")]
    assert "gave up after" in (flight.error_message or "")


@pytest.mark.parametrize("dropped", [False, True])
def test_an_analysis_whose_claim_was_dropped_stores_nothing(tmp_path: Path, dropped: bool):
    from nubo.bleed.simulate import simulate_flight

    path = tmp_path / "flight.csv"
    path.write_text(simulate_flight(seed=7, duration_h=1.0, rate_hz=1.0).write_csv())
    store = ObjectStore.from_url(f"file://{tmp_path / 'store'}")
    work = tasks.Work(key="f.csv", aircraft_type="A320", trend_state=None,
                      feature_key="features/f.parquet", series_key="series/f.parquet")
    flag = threading.Event()
    if dropped:  # the job's claim was lost while the thread analysed
        flag.set()
    outcome = tasks._analyzed_and_stored(store, work, path, flag)
    assert outcome.result is not None
    stored = sorted(p.relative_to(tmp_path / "store").as_posix()
                    for p in (tmp_path / "store").rglob("*.parquet"))
    assert stored == ([] if dropped else ["features/f.parquet", "series/f.parquet"])
