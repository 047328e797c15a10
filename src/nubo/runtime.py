"""The app-wide runtime shared by every domain: the typed app state, the object store, the
job queue, their readiness checks, and the lifespan that starts and stops the queue."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any, cast

from fastapi import FastAPI, Request
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.datastructures import State

from nubo.kit import jobs
from nubo.kit.db import ReadConnection, WriteConnection
from nubo.kit.gctune import tune_after_startup
from nubo.kit.malloc import keep_top_pad
from nubo.kit.storage import ObjectStore, StorageUnavailable
from nubo.live import Live
from nubo.ops.endpoints import ReadinessCheck
from nubo.ops.metrics import Metrics
from nubo.platform import Platform
from nubo.settings import Settings
from nubo.webhooks import outbox

log = logging.getLogger("nubo.runtime")


class AppState(State):
    """What `create_app` keeps on `app.state`, typed (read it with :func:`state_of`)."""

    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    read_connection: ReadConnection
    write_connection: WriteConnection
    platform: Platform
    metrics: Metrics
    readiness_checks: dict[str, ReadinessCheck]
    store: ObjectStore
    jobs: jobs.JobQueue
    live: Live


def state_of(app: FastAPI) -> AppState:
    return cast(AppState, app.state)


def build_store(settings: Settings) -> ObjectStore:
    """The one object store of the process, from `storage_url` and the `s3_*` settings."""
    secret = settings.s3_secret_access_key
    key_id = settings.s3_access_key_id
    return ObjectStore.from_url(
        settings.resolved_storage_url,
        endpoint=settings.s3_endpoint,
        region=settings.s3_region,
        access_key_id=key_id.get_secret_value() if key_id else None,
        secret_access_key=secret.get_secret_value() if secret else None,
        allow_http=settings.s3_allow_http,
    )


class UnavailableStore(ObjectStore):
    """Stands in when the configured store cannot even be opened (e.g. the folder cannot
    be created): the app still starts, `/ready` says why, storage calls answer 503."""

    def __init__(self, reason: str) -> None:
        from obstore.store import MemoryStore

        super().__init__(MemoryStore(), kind="memory")
        self.reason = reason

    def _fail(self, *_: object, **__: object) -> None:
        raise StorageUnavailable(self.reason)

    async def ping(self) -> None:
        self._fail()

    async def put_stream(self, *a: object, **k: object) -> Any:
        self._fail()

    async def put_bytes(self, *a: object, **k: object) -> Any:
        self._fail()

    async def get_stream(self, *a: object, **k: object) -> Any:
        self._fail()

    async def head(self, *a: object, **k: object) -> Any:
        self._fail()

    async def read_head(self, *a: object, **k: object) -> Any:
        self._fail()

    async def delete(self, *a: object, **k: object) -> None:
        self._fail()

    async def presign_put(self, *a: object, **k: object) -> Any:
        self._fail()


def open_store(settings: Settings) -> ObjectStore:
    try:
        return build_store(settings)
    except (OSError, ValueError) as exc:
        log.error("object storage cannot be opened: %s", exc)
        return UnavailableStore(f"object storage cannot be opened: {exc}")


async def storage_ready(request: Request) -> None:
    await state_of(request.app).store.ping()


async def queue_ready(request: Request) -> None:
    await state_of(request.app).jobs.ping()


def procrastinate_conninfo(settings: Settings) -> str:
    """The psycopg conninfo of the job queue: ``jobs_database_url`` or the database URL."""
    raw = settings.jobs_database_url or settings.resolved_database_url
    url = make_url(raw)
    if url.get_backend_name() != "postgresql":
        raise ValueError("NUBO_JOBS=procrastinate needs PostgreSQL (NUBO_JOBS_DATABASE_URL)")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def build_queue(settings: Settings) -> jobs.JobQueue:
    if settings.jobs == "procrastinate":
        return jobs.ProcrastinateQueue(
            procrastinate_conninfo(settings),
            concurrency=settings.jobs_concurrency,
            stalled_after_s=settings.jobs_lease_s,
        )
    return jobs.InProcessQueue(concurrency=settings.jobs_concurrency)


def install(app: FastAPI, settings: Settings) -> None:
    """Called by create_app: the store, the queue and their readiness checks."""
    import nubo.tasks  # noqa: F401  (registers every domain's tasks and periodic work)

    state = state_of(app)
    if getattr(state, "store", None) is None:
        state.store = open_store(settings)
    state.jobs = build_queue(settings)
    state.live = build_live(state.engine, settings)
    state.readiness_checks["storage"] = storage_ready
    state.readiness_checks["queue"] = queue_ready


def build_live(engine: AsyncEngine, settings: Settings) -> Live:
    return Live(
        engine,
        settings.resolved_database_url,
        fallback_s=settings.events_fallback_s,
        local_check_s=settings.events_poll_s,
        listen=settings.events_listen,
    )


def job_context(app: FastAPI, queue: jobs.JobQueue) -> jobs.JobContext:
    state = state_of(app)
    return jobs.JobContext(
        settings=state.settings,
        sessionmaker=state.sessionmaker,
        store=state.store,
        queue=queue,
        periodic_every_s=state.settings.jobs_sweep_every_s,
    )


@contextlib.asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[None]:
    """The app's lifespan: the event listener, then the queue (and, in-process, its
    workers + sweeper)."""
    from nubo.flights.tasks import sweep

    live = state_of(app).live
    try:
        await live.start()
    except Exception:
        log.exception("the event listener did not start; the streams poll the table")
    queue = state_of(app).jobs
    ctx = job_context(app, queue)
    inprocess = isinstance(queue, jobs.InProcessQueue)
    await queue.start(ctx, worker=inprocess)
    outbox.use_queue(queue)
    try:
        if inprocess:
            # The memory queue starts empty: everything still `queued` is owed a job.
            await sweep(ctx, requeue_after_s=0)
        else:
            await sweep(ctx)
    except Exception:
        log.exception("start-up sweep failed; the periodic sweep will retry")
    settings = state_of(app).settings
    tune_after_startup(settings.gc_tuning)
    if inprocess:  # the analyses run in this process's threads
        keep_top_pad(settings.malloc_top_pad_mb << 20)
    try:
        yield
    finally:
        outbox.use_queue(None)
        await queue.stop()
        await live.stop()
