"""The flights domain's share of the running app: object store, job queue, readiness."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request

from nubo.kit import jobs
from nubo.kit.storage import ObjectStore, StorageUnavailable
from nubo.settings import Settings

log = logging.getLogger("nubo.flights")


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


async def get_jobs(request: Request) -> jobs.JobQueue:
    queue: jobs.JobQueue = request.app.state.jobs
    return queue


JobsDep = Annotated[jobs.JobQueue, Depends(get_jobs)]


async def storage_ready(request: Request) -> None:
    await request.app.state.store.ping()


async def queue_ready(request: Request) -> None:
    await request.app.state.jobs.ping()


def install(app: FastAPI, settings: Settings) -> None:
    """Called by create_app: the store (shared with other domains), the queue, readiness."""
    import nubo.tasks  # noqa: F401  (registers every domain's tasks and periodic work)

    if getattr(app.state, "store", None) is None:
        app.state.store = open_store(settings)
    app.state.jobs = jobs.build_queue(settings)
    app.state.readiness_checks["storage"] = storage_ready
    app.state.readiness_checks["queue"] = queue_ready


def job_context(app: FastAPI, queue: jobs.JobQueue) -> jobs.JobContext:
    return jobs.JobContext(
        settings=app.state.settings,
        sessionmaker=app.state.sessionmaker,
        store=app.state.store,
        queue=queue,
    )


@contextlib.asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[None]:
    """The app's lifespan share: start the queue (and, in-process, its workers + sweeper)."""
    from nubo.flights.tasks import sweep

    queue: jobs.JobQueue = app.state.jobs
    ctx = job_context(app, queue)
    inprocess = isinstance(queue, jobs.InProcessQueue)
    await queue.start(ctx, worker=inprocess)
    try:
        if inprocess:
            # The memory queue starts empty: everything still `queued` is owed a job.
            await sweep(ctx, requeue_after_s=0)
        else:
            await sweep(ctx)
    except Exception:
        log.exception("start-up sweep failed; the periodic sweep will retry")
    try:
        yield
    finally:
        await queue.stop()


async def worker_main(settings: Settings, *, concurrency: int | None = None) -> None:
    """`nubo worker`: run the queued jobs and the sweeper until SIGINT/SIGTERM."""
    import asyncio
    import signal

    import nubo.tasks  # noqa: F401  (registers every domain's tasks and periodic work)
    from nubo.kit.db import create_engine, create_sessionmaker

    if concurrency is not None:
        settings.jobs_concurrency = concurrency
    engine = create_engine(settings.resolved_database_url, pool_size=settings.jobs_concurrency + 2)
    queue = jobs.build_queue(settings)
    ctx = jobs.JobContext(
        settings=settings,
        sessionmaker=create_sessionmaker(engine),
        store=build_store(settings),
        queue=queue,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await queue.start(ctx, worker=True)
        log.info("worker started (%s, concurrency %d)", queue.mode, settings.jobs_concurrency)
        waiter = asyncio.create_task(stop.wait())
        runner = (
            asyncio.create_task(queue.run_worker())
            if isinstance(queue, jobs.ProcrastinateQueue)
            else asyncio.create_task(asyncio.Event().wait())
        )
        done, _ = await asyncio.wait({waiter, runner}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if runner in done and runner.exception() is not None:
            raise runner.exception()  # type: ignore[misc]
        runner.cancel()
    finally:
        await queue.stop()
        await engine.dispose()
        log.info("worker stopped")
