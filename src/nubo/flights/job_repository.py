"""The processing job's statements on its flight: Core, built once.

A job claims one row, writes one result into it and adds two events: it never needs the
row as an ORM object, and building the statements and loading the row into the identity
map cost a processing job more than PostgreSQL's work on them (docs/decisions/
processing-job-statements.md). Each statement here is made once, at import, with bound
parameters, so a job pays neither the expression building nor the cache-key walk again.
The ORM path (`still_ours`, `flight_by_id`) stays for the rare cases:
giving up, retrying, a failure, a reprocessing.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import (
    JSON,
    DateTime,
    Integer,
    Row,
    Select,
    Table,
    and_,
    bindparam,
    exists,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from nubo.fleet import trend_repository
from nubo.flights.repository import Claim
from nubo.kit.db import write_rows
from nubo.models import Aircraft, Flight, FlightEvent, ProcessingStatus, WebhookEndpoint

_FLIGHTS = cast(Table, Flight.__table__)
_EVENTS = cast(Table, FlightEvent.__table__)
_ENDPOINTS = cast(Table, WebhookEndpoint.__table__)
_AIRCRAFT = cast(Table, Aircraft.__table__)
_F = _FLIGHTS.c

# What the job needs of its flight at the claim.
_CLAIMED = (
    _F.id, _F.account_id, _F.registration, _F.aircraft_type, _F.departure_at,
    _F.file_uploaded_at, _F.created_at, _F.file_key, _F.processing_attempts,
)

_CLAIM = (
    update(_FLIGHTS)
    .where(
        _F.id == bindparam("p_id"),
        _F.processing_run == bindparam("p_run"),
        _F.deleted_at.is_(None),
        or_(
            _F.processing_status == ProcessingStatus.queued,
            and_(
                _F.processing_status == ProcessingStatus.processing,
                _F.lease_until < bindparam("p_now"),
            ),
        ),
    )
    .values(
        processing_status=ProcessingStatus.processing,
        job_token=bindparam("p_token"),
        lease_until=bindparam("p_lease"),
        processing_attempts=_F.processing_attempts + 1,
        updated_at=bindparam("p_now"),
    )
    .returning(*_CLAIMED)
)

# The result's JSON columns are not read back: the job holds them.
RESULT_JSON = ("engine_scores", "findings", "phases", "coverage", "warnings")
# The flight's columns `record_processed` returns.
FLIGHT_COLUMNS = frozenset(c.name for c in _FLIGHTS.c if c.name not in RESULT_JSON)

_RECORD_PROCESSED = (
    update(_FLIGHTS)
    .where(
        _F.id == bindparam("p_id"),
        _F.processing_run == bindparam("p_run"),
        _F.job_token == bindparam("p_token"),
        _F.processing_status == ProcessingStatus.processing,
        _F.deleted_at.is_(None),
    )
    .values(
        processing_status=ProcessingStatus.processed,
        job_token=None,
        lease_until=None,
        processed_at=bindparam("p_now"),
        updated_at=bindparam("p_now"),
        bleed_status=bindparam("p_bleed_status"),
        integrity_score=bindparam("p_integrity_score"),
        engine_scores=bindparam("p_engine_scores"),
        findings=bindparam("p_findings"),
        phases=bindparam("p_phases"),
        model_version=bindparam("p_model_version"),
        rows_read=bindparam("p_rows_read"),
        rows_used=bindparam("p_rows_used"),
        coverage=bindparam("p_coverage"),
        warnings=bindparam("p_warnings"),
        error_code=None,
        error_message=None,
    )
    .returning(
        *(c for c in _FLIGHTS.c if c.name in FLIGHT_COLUMNS),
        # Whether the account has a webhook endpoint enabled: most have none, and then
        # the outbox need not be asked (one query fewer).
        exists()
        .where(_ENDPOINTS.c.account_id == _F.account_id, _ENDPOINTS.c.enabled.is_(True))
        .label("webhooks"),
    )
)

_ADD_EVENT = (
    insert(_EVENTS)
    .values(
        flight_id=bindparam("p_flight_id"),
        status=bindparam("p_status"),
        message=bindparam("p_message"),
        data=bindparam("p_data"),
        created_at=bindparam("p_at"),
    )
    .returning(_EVENTS.c.id)
)


async def claim(
    session: AsyncSession, held: Claim, lease: timedelta, now: datetime
) -> Row[Any] | None:
    """Take the run (`queued`, or `processing` whose holder stopped renewing its lease) in
    one conditional UPDATE; the columns of `_CLAIMED`, or None when another job has it, it
    was replaced or is done."""
    conn = await session.connection()
    params = {"p_id": held.flight_id, "p_run": held.run, "p_now": now,
              "p_token": held.token, "p_lease": now + lease}
    return (await conn.execute(_CLAIM, params)).first()


async def record_processed(
    session: AsyncSession, held: Claim, now: datetime, values: dict[str, Any]
) -> Row[Any] | None:
    """Write a processed result (`values`: the `p_`-less names of `_RECORD_PROCESSED`)
    while the claim holds: the flight's other columns and `webhooks` (whether its account
    has an endpoint enabled), or None when the claim is gone.
    One statement instead of `still_ours`, `flight_by_id` and the flush of the row."""
    conn = await session.connection()
    params = {"p_id": held.flight_id, "p_run": held.run, "p_token": held.token, "p_now": now}
    params.update({f"p_{name}": value for name, value in values.items()})
    return (await conn.execute(_RECORD_PROCESSED, params)).first()


async def add_event(
    session: AsyncSession,
    flight_id: uuid.UUID,
    status: str,
    message: str | None,
    data: dict[str, Any] | None,
    at: datetime,
) -> int:
    """Insert a flight event now; its id."""
    conn = await session.connection()
    params = {"p_flight_id": flight_id, "p_status": status, "p_message": message,
              "p_data": data, "p_at": at}
    return int((await conn.execute(_ADD_EVENT, params)).scalar_one())


# PostgreSQL runs a statement's data-modifying WITH clauses too: there, the start of a job
# (the claim, its event, the trend it analyses against) is one statement, run as its own
# transaction without BEGIN and COMMIT, and the result's row, its event and the locked
# aircraft are one more. Each round trip saved is a wake-up of the worker's event loop and
# of PostgreSQL, and the driver's work around it (docs/decisions/processing-job-statements.md).
# SQLite has no such clauses: it runs the statements above one by one.

TAIL_PREFIX = "tail_"
_TAIL_NAMES = (*trend_repository.TAIL_COLUMNS, "reset_pending", "latest_version", "recorded")


def _event_of(flight: Any, data: Any, at_name: str, status: ProcessingStatus, message: str,
              *where: Any) -> Any:
    """An INSERT of one event of the flight row `flight` (a WITH clause) holds."""
    row = select(flight.c.id, literal(status.value), literal(message), data,
                 bindparam(at_name, type_=DateTime(timezone=True))).where(*where)
    return insert(_EVENTS).from_select(
        ["flight_id", "status", "message", "data", "created_at"], row
    ).returning(_EVENTS.c.id)


def _with_tail(flight: Any, event: Any, *, lock: bool) -> Select[Any]:
    """The flight row of a WITH clause, its event's id and its aircraft's trend tail
    (`tail_`-prefixed; null when it has no aircraft yet)."""
    tail_select = trend_repository.tail_of(flight.c.account_id, flight.c.registration,
                                           flight.c.id)
    if lock:
        tail_select = tail_select.with_for_update(of=_AIRCRAFT)
    tail = tail_select.lateral("tail")
    return (
        select(flight, event.c.id.label("event_id"),
               *(tail.c[name].label(TAIL_PREFIX + name) for name in _TAIL_NAMES))
        .select_from(flight.outerjoin(tail, true()).outerjoin(event, true()))
    )


def _start_statement() -> Select[Any]:
    claimed = _CLAIM.cte("claimed")
    data = func.json_build_object(
        literal_column("'run'"), bindparam("p_event_run", type_=Integer),
        literal_column("'attempt'"), claimed.c.processing_attempts, type_=JSON,
    )
    # An attempt past the last allowed one gives up instead (`flights.tasks._start`).
    event = _event_of(claimed, data, "p_event_at", ProcessingStatus.processing,
                      "processing started",
                      claimed.c.processing_attempts <= bindparam("p_max_attempts")).cte("event")
    return _with_tail(claimed, event, lock=False)


def _finish_statement() -> Select[Any]:
    written = _RECORD_PROCESSED.cte("written")
    event = _event_of(written, bindparam("p_event_data", type_=JSON), "p_event_at",
                      ProcessingStatus.processed, "processing finished").cte("event")
    return _with_tail(written, event, lock=True)


_START = _start_statement()
_FINISH = _finish_statement()


async def start(
    conn: AsyncConnection, held: Claim, lease: timedelta, now: datetime, max_attempts: int
) -> Row[Any] | None:
    """PostgreSQL: `claim`, the "processing started" event (unless this attempt is past
    `max_attempts`) and the aircraft's tail (`tail_` columns, not locked: the result's
    unit reads it again under lock) in one statement; None when there is no claim."""
    params = {"p_id": held.flight_id, "p_run": held.run, "p_now": now,
              "p_token": held.token, "p_lease": now + lease, "p_event_run": held.run,
              "p_event_at": now, "p_max_attempts": max_attempts}
    rows = await write_rows(conn, _START, params)
    return rows[0] if rows else None


async def record_processed_with_event(
    session: AsyncSession, held: Claim, now: datetime, values: dict[str, Any],
    event_data: dict[str, Any],
) -> Row[Any] | None:
    """PostgreSQL: `record_processed`, the "processing finished" event with `event_data`,
    and the aircraft's tail locked (`tail_` columns), in one statement; None when the
    claim is gone."""
    conn = await session.connection()
    params = {"p_id": held.flight_id, "p_run": held.run, "p_token": held.token, "p_now": now,
              "p_event_at": now, "p_event_data": event_data}
    params.update({f"p_{name}": value for name, value in values.items()})
    rows = await write_rows(conn, _FINISH, params)
    return rows[0] if rows else None


def tail(row: Row[Any]) -> Any:
    """The aircraft's tail a row of `start` or `record_processed_with_event` carries, or
    None when the flight's aircraft has no row yet."""
    mapping = row._asdict()
    if mapping[TAIL_PREFIX + "id"] is None:
        return None
    return SimpleNamespace(**{name: mapping[TAIL_PREFIX + name] for name in _TAIL_NAMES})
