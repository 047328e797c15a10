"""Background jobs: one task registry and one job wrapper, two ways to run them.

* ``settings.jobs == "inprocess"`` (embedded default): :class:`InProcessQueue`, an asyncio
  worker inside the API process. Nothing is durable in memory; durability comes from the
  database: every piece of owed work is a row state (an *outbox*, e.g. a flight in
  ``queued``), and the domain's sweeper re-defers it on start and periodically.
* ``settings.jobs == "procrastinate"``: :class:`ProcrastinateQueue`, Procrastinate on
  PostgreSQL; ``nubo worker`` processes (on any number of machines) run the jobs; the API
  processes only defer. Workers beat; the jobs a stalled (killed) worker was running are
  retried by the others (:meth:`ProcrastinateQueue.retry_stalled`).

Rules for tasks (see docs/decisions/jobs-procrastinate-and-inprocess.md):

* A task receives ids only (JSON-able keyword arguments) and must be idempotent: a job may
  run twice (a sweep re-defers, a worker dies after finishing but before acknowledging).
* A task never commits by itself: :meth:`JobContext.unit` is the job's unit of work
  (committed when the block ends, rolled back if it raises), exactly like a request's
  ``get_session``. A task may open several units (e.g. "claimed" then "finished").
* CPU-bound work goes off the event loop (:meth:`JobContext.run_cpu`).

Usage::

    @task("flights.process", lock=lambda kw: f"flight:{kw['flight_id']}")
    async def process_flight(ctx: JobContext, flight_id: str, run: int) -> None: ...

    @periodic("flights.sweep", every_s=60)
    async def sweep(ctx: JobContext) -> None: ...

    await queue.defer("flights.process", flight_id=str(flight.id), run=flight.processing_run)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import Executor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, ParamSpec, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from nubo.kit.db import commit_unit, rollback_unit
from nubo.kit.storage import ObjectStore

log = logging.getLogger("nubo.jobs")

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S")

DEFAULT_QUEUE = "default"

Handler = Callable[..., Awaitable[None]]
LockKey = Callable[[dict[str, Any]], str]


class JobsUnavailable(RuntimeError):
    """The queue cannot accept jobs (its database is down, the runner is stopped)."""


@dataclass(frozen=True)
class Task:
    name: str
    handler: Handler
    queue: str = DEFAULT_QUEUE
    # Jobs with the same key are not queued twice while one is waiting (it is still run
    # again after the waiting one started: handlers are idempotent).
    lock: LockKey | None = None
    max_attempts: int = 5


@dataclass(frozen=True)
class Periodic:
    name: str
    handler: Callable[[JobContext], Awaitable[Any]]
    every_s: float | None  # None: settings.jobs_sweep_every_s


TASKS: dict[str, Task] = {}
PERIODIC: dict[str, Periodic] = {}


def task(
    name: str, *, queue: str = DEFAULT_QUEUE, lock: LockKey | None = None, max_attempts: int = 5
) -> Callable[[Handler], Handler]:
    """Register ``handler(ctx, **ids)`` as the task ``name``."""

    def register(handler: Handler) -> Handler:
        TASKS[name] = Task(name, handler, queue, lock, max_attempts)
        return handler

    return register


PeriodicHandler = Callable[["JobContext"], Awaitable[Any]]
H = TypeVar("H", bound=Callable[..., Awaitable[Any]])


def periodic(name: str, *, every_s: float | None = None) -> Callable[[H], H]:
    """Register ``handler(ctx)`` to run when a worker starts and every ``every_s`` seconds
    (``None``: the context's ``periodic_every_s``)."""

    def register(handler: H) -> H:
        PERIODIC[name] = Periodic(name, handler, every_s)
        return handler

    return register


@dataclass
class JobContext(Generic[S]):
    """What a job gets: the long-lived parts of the process, never request objects.
    `settings` is the application's settings object, which this kit does not know."""

    settings: S
    sessionmaker: async_sessionmaker[AsyncSession]
    store: ObjectStore
    queue: JobQueue
    executor: Executor | None = None
    periodic_every_s: float = 60.0
    extra: dict[str, Any] = field(default_factory=dict)

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: committed at the end of the block, rolled back if it raises."""
        async with self.sessionmaker() as session:
            try:
                yield session
                await commit_unit(session)
            except BaseException:
                await rollback_unit(session)
                raise

    @asynccontextmanager
    async def statement(self) -> AsyncIterator[AsyncConnection]:
        """A unit of work of one statement, which the database runs as its own transaction
        (autocommit): no BEGIN and COMMIT round trips around it. For PostgreSQL, where one
        statement can change several tables (data-modifying WITH clauses)."""
        bind = self.sessionmaker.kw["bind"]
        if isinstance(bind, AsyncConnection):
            # Sessions joined to one connection's transaction (tests): an ordinary unit.
            async with self.unit() as session:
                yield await session.connection()
            return
        async with bind.connect() as conn:
            yield await conn.execution_options(isolation_level="AUTOCOMMIT")

    @property
    def dialect(self) -> str:
        """The database's dialect name (`postgresql`, `sqlite`)."""
        return str(self.sessionmaker.kw["bind"].dialect.name)

    async def run_cpu(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run CPU-bound ``fn`` off the event loop (the executor, or a thread)."""
        loop = asyncio.get_running_loop()
        if self.executor is not None:
            return await loop.run_in_executor(self.executor, lambda: fn(*args, **kwargs))
        return await asyncio.to_thread(fn, *args, **kwargs)


async def run_job(
    ctx: JobContext, name: str, kwargs: dict[str, Any], *, log_done: bool = True
) -> None:
    """The job wrapper, the same in both modes: find the task, run it, log the outcome.

    Exceptions propagate so the runner can retry (Procrastinate) or log (in-process);
    expected failures (bad input files) are a *result* the handler records, not an error.
    `log_done` false: the runner logs each job's end and duration itself (Procrastinate),
    and a second line per job would only cost the worker.
    """
    spec = TASKS.get(name)
    if spec is None:
        raise LookupError(f"unknown task {name!r}")
    started = time.perf_counter()
    try:
        await spec.handler(ctx, **kwargs)
    except Exception:
        log.exception("job %s %s failed", name, kwargs)
        raise
    if log_done:
        log.info("job %s %s done in %.3f s", name, kwargs, time.perf_counter() - started)


class JobQueue(ABC):
    """Defer jobs; optionally run them (``start(ctx, worker=True)``)."""

    mode = "abstract"

    # How long a stop waits for the work under way (a job, a sweep) to end by itself.
    stop_grace_s = 10.0

    def __init__(self) -> None:
        self._periodic_tasks: list[asyncio.Task[None]] = []
        self.ctx: JobContext | None = None
        self._busy: set[asyncio.Task[Any]] = set()
        self._went_idle = asyncio.Event()
        self._stopping = False

    @abstractmethod
    async def start(self, ctx: JobContext, *, worker: bool) -> None:
        """Implemented by each mode."""

    @abstractmethod
    async def stop(self) -> None:
        """Implemented by each mode."""

    @abstractmethod
    async def defer(self, name: str, **kwargs: Any) -> None:
        """Implemented by each mode."""

    @abstractmethod
    async def ping(self) -> None:
        """Raise :class:`JobsUnavailable` unless jobs can be deferred (for ``/ready``)."""

    async def defer_quietly(self, name: str, **kwargs: Any) -> bool:
        """Defer, logging instead of raising: for hand-offs backed by an outbox + sweeper."""
        try:
            await self.defer(name, **kwargs)
        except Exception:
            log.warning("could not defer %s %s; the sweeper will", name, kwargs, exc_info=True)
            return False
        return True

    # Periodic work (sweepers) runs where jobs run: once at start, then every N seconds.
    def _start_periodic(self, ctx: JobContext) -> None:
        self._stopping = False
        for spec in PERIODIC.values():
            self._periodic_tasks.append(asyncio.create_task(self._every(ctx, spec)))

    async def _stop_periodic(self) -> None:
        await self._stop_tasks(self._periodic_tasks)
        self._periodic_tasks.clear()

    async def _every(self, ctx: JobContext, spec: Periodic) -> None:
        while not self._stopping:
            with self._working():
                try:
                    await spec.handler(ctx)
                except Exception:
                    log.exception("periodic %s failed", spec.name)
            await asyncio.sleep(spec.every_s or ctx.periodic_every_s)

    @contextlib.contextmanager
    def _working(self) -> Iterator[None]:
        """Marks the current task as in the middle of a unit of work, which a stop lets end."""
        task = asyncio.current_task()
        assert task is not None
        self._busy.add(task)
        try:
            yield
        finally:
            self._busy.discard(task)
            self._went_idle.set()

    async def _stop_tasks(self, tasks: list[asyncio.Task[Any]]) -> None:
        """Stop `tasks`, letting those in the middle of a job or a sweep finish it first
        (up to `stop_grace_s`).

        A task cancelled while a statement runs loses its connection to the garbage
        collector (the driver's close is cancelled with it): on SQLite that connection
        keeps the database's write lock until a collection happens to run, and every other
        writer waits, up to its busy timeout, for it.
        """
        self._stopping = True
        deadline = asyncio.get_running_loop().time() + self.stop_grace_s
        while any(t in self._busy for t in tasks):
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            self._went_idle.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._went_idle.wait(), left)
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(BaseException):
                await t


# --------------------------------------------------------------------------- in-process


class InProcessQueue(JobQueue):
    """Jobs run by asyncio workers inside this process (embedded mode and tests).

    Not durable by itself: the outbox rows and the sweepers make it so (a restart re-defers
    whatever was owed). Jobs with the same lock key are not queued twice.
    """

    mode = "inprocess"

    def __init__(
        self, concurrency: int = 2, max_attempts: int | None = None, retry_base_s: float = 2.0
    ) -> None:
        super().__init__()
        self.concurrency = concurrency
        self.max_attempts = max_attempts
        self.retry_base_s = retry_base_s
        self._queue: asyncio.Queue[tuple[str, dict[str, Any], str | None]] = asyncio.Queue()
        self._waiting: set[str] = set()
        self._workers: list[asyncio.Task[None]] = []
        self._running = False

    async def start(self, ctx: JobContext, *, worker: bool = True) -> None:
        self.ctx = ctx
        if not worker:
            return
        self._running = True
        self._workers = [
            asyncio.create_task(self._work(ctx), name=f"nubo-job-worker-{i}")
            for i in range(self.concurrency)
        ]
        self._start_periodic(ctx)

    async def stop(self) -> None:
        self._running = False
        await self._stop_periodic()
        await self._stop_tasks(self._workers)
        self._workers.clear()

    async def defer(self, name: str, **kwargs: Any) -> None:
        spec = TASKS.get(name)
        if spec is None:
            raise LookupError(f"unknown task {name!r}")
        key = spec.lock(kwargs) if spec.lock else None
        if key is not None:
            if key in self._waiting:
                return
            self._waiting.add(key)
        self._queue.put_nowait((name, kwargs, key))

    async def ping(self) -> None:
        if self._workers and all(t.done() for t in self._workers):
            raise JobsUnavailable("the in-process job workers have stopped")

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    async def join(self, timeout_s: float = 30.0) -> None:
        """Wait until every queued job ran (tests)."""
        await asyncio.wait_for(self._queue.join(), timeout_s)

    async def _work(self, ctx: JobContext) -> None:
        while not self._stopping:
            name, kwargs, key = await self._queue.get()
            if key is not None:
                self._waiting.discard(key)
            try:
                with self._working():
                    await self._attempts(ctx, name, kwargs)
            finally:
                self._queue.task_done()

    async def _attempts(self, ctx: JobContext, name: str, kwargs: dict[str, Any]) -> None:
        attempts = self.max_attempts or TASKS[name].max_attempts
        for attempt in range(1, attempts + 1):
            try:
                await run_job(ctx, name, kwargs)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                if attempt == attempts:
                    log.error("job %s %s gave up after %d attempts", name, kwargs, attempt)
                    return
                if self._stopping:
                    return  # its outbox row stays owed: the sweeper re-defers it
            await asyncio.sleep(min(self.retry_base_s**attempt, 30))


# --------------------------------------------------------------------------- procrastinate


# The PostgreSQL schema of the queue's tables.
QUEUE_SCHEMA = "procrastinate"
# Serialises the one-time creation of Procrastinate's tables between processes.
_SCHEMA_LOCK = 0x6E75626F  # "nubo"


class ProcrastinateQueue(JobQueue):
    """Procrastinate on PostgreSQL: durable jobs, any number of ``nubo worker`` processes."""

    mode = "procrastinate"

    def __init__(
        self,
        conninfo: str,
        *,
        concurrency: int = 2,
        poll_interval_s: float = 5.0,
        schema: str = QUEUE_SCHEMA,
        stalled_after_s: float = 30.0,
    ):
        super().__init__()
        import procrastinate
        from psycopg.conninfo import make_conninfo

        if not schema.isidentifier():
            raise ValueError(f"invalid schema name {schema!r}")
        self.schema = schema
        # Procrastinate's tables, types and functions live in their own schema, apart from
        # the application's (which the migrations own): every connection searches it first.
        self.conninfo = make_conninfo(conninfo, options=f"-c search_path={schema},public")
        self.concurrency = concurrency
        self.poll_interval_s = poll_interval_s
        # A worker beats every third of this; silent this long, it is taken for dead and the
        # jobs it was running are retried (else they would stay `doing` forever).
        self.stalled_after_s = stalled_after_s
        self.app = procrastinate.App(
            connector=procrastinate.PsycopgConnector(
                conninfo=self.conninfo, min_size=1, max_size=4, pool_factory=_pool,
                # Each of Procrastinate's queries is one statement (a function call that
                # fetches, finishes or defers a job), atomic on its own: in autocommit it
                # is one round trip, where psycopg would send BEGIN and COMMIT around it
                # (a worker's fetch and finish took six round trips per job, now two).
                configure=_autocommit,
            )
        )
        self._registered: set[str] = set()
        self._register_tasks()
        self._opened = False
        self._open_lock = asyncio.Lock()
        self._worker: asyncio.Task[None] | None = None

    def _register_tasks(self) -> None:
        import procrastinate

        for spec in TASKS.values():
            if spec.name in self._registered:
                continue

            async def run(
                context: procrastinate.JobContext, _name: str = spec.name, **kwargs: Any
            ) -> None:
                ctx = context.additional_context["nubo"]
                await run_job(ctx, _name, kwargs, log_done=False)

            self.app.task(
                name=spec.name,
                queue=spec.queue,
                pass_context=True,
                retry=procrastinate.RetryStrategy(
                    max_attempts=spec.max_attempts, exponential_wait=2
                ),
            )(run)
            self._registered.add(spec.name)

    async def ensure_schema(self) -> None:
        """Create Procrastinate's tables once (PostgreSQL advisory lock between processes)."""
        import psycopg
        from procrastinate.schema import SchemaManager

        async with await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True) as conn:
            await conn.execute("SELECT pg_advisory_lock(%s)", (_SCHEMA_LOCK,))
            try:
                await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                cur = await conn.execute(
                    "SELECT to_regclass(%s) IS NOT NULL", (f"{self.schema}.procrastinate_jobs",)
                )
                row = await cur.fetchone()
                if not (row and row[0]):
                    await conn.execute(SchemaManager.get_schema())
                    log.info("created the procrastinate schema")
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (_SCHEMA_LOCK,))

    async def _open(self) -> None:
        async with self._open_lock:
            if self._opened:
                return
            self._register_tasks()
            await self.ensure_schema()
            await self.app.open_async()
            self._opened = True

    async def start(self, ctx: JobContext, *, worker: bool) -> None:
        self.ctx = ctx
        if not worker:
            # An API process: a queue database that is down must not keep the API from
            # starting; /ready says so, and the next defer (or the sweeper) opens it.
            try:
                await self._open()
            except Exception:
                log.exception("the job queue cannot be opened yet")
            return
        await self._open()
        if worker:
            self._worker = self._spawn_worker(ctx)
            self._start_periodic(ctx)
            retry = Periodic("jobs.retry-stalled", lambda _: self.retry_stalled(), None)
            self._periodic_tasks.append(asyncio.create_task(self._every(ctx, retry)))

    def _spawn_worker(self, ctx: JobContext) -> asyncio.Task[None]:
        return asyncio.create_task(
            self.app.run_worker_async(
                queues=sorted({t.queue for t in TASKS.values()}),
                concurrency=self.concurrency,
                install_signal_handlers=False,
                additional_context={"nubo": ctx},
                fetch_job_polling_interval=self.poll_interval_s,
                delete_jobs="successful",
                update_heartbeat_interval=self.stalled_after_s / 3,
                stalled_worker_timeout=self.stalled_after_s,
            ),
            name="nubo-procrastinate-worker",
        )

    async def retry_stalled(self) -> int:
        """Put back in the queue the jobs of workers that stopped beating (killed)."""
        stalled = list(
            await self.app.job_manager.get_stalled_jobs(
                seconds_since_heartbeat=self.stalled_after_s
            )
        )
        retried = 0
        for job in stalled:
            log.warning("retrying job %s %s of a stalled worker", job.id, job.task_name)
            try:
                await self.app.job_manager.retry_job(job)
                retried += 1
            except Exception:  # another worker retried it first
                log.info("job %s was no longer doing", job.id, exc_info=True)
        return retried

    async def run_worker(self) -> None:
        """Block until the worker stops (``nubo worker``). Losing the database (a restart, a
        failover) stops Procrastinate's worker with an error: it is started again, waiting
        longer each time the database is still away, so the process outlives the outage. The
        jobs it was running are retried as a stalled worker's."""
        ctx = self.ctx
        if self._worker is None or ctx is None:
            raise RuntimeError("start(ctx, worker=True) first")
        delay_s = 1.0
        while True:
            started = time.monotonic()
            try:
                await self._worker
                return
            except Exception as exc:
                if not database_lost(exc):
                    raise
                if time.monotonic() - started > WORKER_RESTART_MAX_S:
                    delay_s = 1.0  # it ran well for a while: this is a new outage
                log.warning("the job queue's database went away (%s); the worker starts "
                            "again in %.0f s", type(exc).__name__, delay_s)
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, WORKER_RESTART_MAX_S)
                self._worker = self._spawn_worker(ctx)

    async def stop(self) -> None:
        await self._stop_periodic()
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self._worker, 30)
            self._worker = None
        if self._opened:
            await self.app.close_async()
            self._opened = False

    async def defer(self, name: str, **kwargs: Any) -> None:
        import procrastinate.exceptions

        spec = TASKS.get(name)
        if spec is None:
            raise LookupError(f"unknown task {name!r}")
        lock = spec.lock(kwargs) if spec.lock else None
        try:
            await self._open()
            await self.app.configure_task(name, queueing_lock=lock).defer_async(**kwargs)
        except procrastinate.exceptions.AlreadyEnqueued:
            return  # the same work is already waiting
        except (procrastinate.exceptions.ConnectorException, OSError) as exc:
            raise JobsUnavailable(str(exc)) from exc
        except Exception as exc:  # psycopg.OperationalError while opening, ...
            if type(exc).__module__.startswith("psycopg"):
                raise JobsUnavailable(str(exc)) from exc
            raise

    async def ping(self) -> None:
        try:
            await self._open()
            await self.app.connector.execute_query_one_async("SELECT 1 AS ok")
        except Exception as exc:
            raise JobsUnavailable(f"job queue database: {type(exc).__name__}") from exc


WORKER_RESTART_MAX_S = 30.0


def _pool(**kwargs: Any) -> Any:
    """Procrastinate's connection pool, with a cheaper check of the connection it lends."""
    import psycopg_pool

    kwargs["check"] = _check_if_spoken_to
    return psycopg_pool.AsyncConnectionPool(**kwargs)


async def _autocommit(conn: Any) -> None:
    await conn.set_autocommit(True)


async def _check_if_spoken_to(conn: Any) -> None:
    """Check a pooled connection before lending it (a round trip) only when the server has
    said something on it since it went idle: a server that ends a session (restarting,
    shutting down, terminating the backend) sends its reason and closes the socket, which
    leaves it readable. A quiet idle connection is lent as it is: each job's fetch and
    finish save a round trip. A connection lost without a word (a network cut) fails on
    its first query as it would have without a check, and the worker starts again."""
    import psycopg_pool

    if conn.closed or conn.broken or _readable(conn.fileno()):
        await psycopg_pool.AsyncConnectionPool.check_connection(conn)


def _readable(fd: int) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


def database_lost(exc: BaseException) -> bool:
    """Whether an error of the queue means its database cannot be reached."""
    import procrastinate.exceptions

    if isinstance(exc, procrastinate.exceptions.ConnectorException | OSError):
        return True
    return type(exc).__module__.startswith("psycopg")
