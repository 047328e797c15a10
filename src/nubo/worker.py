"""`nubo worker`: a process that runs the queued jobs and the periodic work."""

from __future__ import annotations

import asyncio
import logging
import signal

from nubo.kit import jobs
from nubo.kit.db import create_engine, create_sessionmaker
from nubo.kit.gctune import tune_after_startup
from nubo.kit.malloc import keep_top_pad
from nubo.runtime import build_queue, build_store
from nubo.settings import Settings
from nubo.webhooks import outbox

log = logging.getLogger("nubo.worker")


async def worker_main(settings: Settings, *, concurrency: int | None = None) -> None:
    """Run the queued jobs and the sweepers until SIGINT/SIGTERM."""
    import nubo.tasks  # noqa: F401  (registers every domain's tasks and periodic work)

    if concurrency is not None:
        settings.jobs_concurrency = concurrency
    engine = create_engine(settings.resolved_database_url, pool_size=settings.jobs_concurrency + 2)
    queue = build_queue(settings)
    ctx = jobs.JobContext(
        settings=settings,
        sessionmaker=create_sessionmaker(engine),
        store=build_store(settings),
        queue=queue,
        periodic_every_s=settings.jobs_sweep_every_s,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await queue.start(ctx, worker=True)
        outbox.use_queue(queue)  # deliveries of events a job records go out at its commit
        tune_after_startup(settings.gc_tuning)
        keep_top_pad(settings.malloc_top_pad_mb << 20)
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
        outbox.use_queue(None)
        await queue.stop()
        await engine.dispose()
        log.info("worker stopped")
