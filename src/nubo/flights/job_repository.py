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
from typing import Any, cast

from sqlalchemy import Row, Table, and_, bindparam, exists, insert, or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from nubo.flights.repository import Claim
from nubo.models import Flight, FlightEvent, ProcessingStatus, WebhookEndpoint

_FLIGHTS = cast(Table, Flight.__table__)
_EVENTS = cast(Table, FlightEvent.__table__)
_ENDPOINTS = cast(Table, WebhookEndpoint.__table__)
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
        *(c for c in _FLIGHTS.c if c.name not in RESULT_JSON),
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
