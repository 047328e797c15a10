"""Receiving a flight's data file, in one unit of work per request.

The flight's owner is read once, on a standalone connection, before a byte is stored (no
transaction stays open while the body streams). The body streams into the store: the format
sniffed from its first bytes before anything is written, the size capped, the sha256
computed. Then the flight is locked and re-read, the file recorded, and the request's unit
of work commits once. What must follow the commit is a hook of that unit: defer the
processing job, delete the file it replaced, remove an ended grant. If the unit rolls back
instead, the object just stored is removed.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from nubo.bleed.sniff import detect_format
from nubo.flights import direct, grants, repository, service
from nubo.flights.schemas import (
    FlightCreate,
    MultipartUploadOut,
    PartUrlOut,
    UploadUrlIn,
    UploadUrlOut,
)
from nubo.flights.tasks import defer_processing
from nubo.identity.principal import Actor
from nubo.kit.db import ReadConnection, after_commit, after_rollback
from nubo.kit.errors import Conflict, NotFound, Unprocessable
from nubo.kit.jobs import JobQueue
from nubo.kit.storage import ObjectStore, StoredObject, discard, new_key
from nubo.kit.types import utcnow
from nubo.kit.uploads import Upload, sanitize_filename
from nubo.models import Flight
from nubo.settings import Settings

log = logging.getLogger("nubo.flights.ingest")


@dataclass(frozen=True, slots=True)
class Received:
    stored: StoredObject
    file_format: str
    file_name: str | None


def raw_prefix(account_id: uuid.UUID, flight_id: uuid.UUID) -> str:
    return f"raw/account={account_id}/flight={flight_id}"


def new_raw_key(account_id: uuid.UUID, flight_id: uuid.UUID) -> str:
    return new_key(raw_prefix(account_id, flight_id))


def parse_create(raw: Any) -> FlightCreate:
    try:
        return FlightCreate.model_validate(raw)
    except ValidationError as exc:
        errors = [
            {"loc": [str(p) for p in e["loc"]], "message": e["msg"], "type": e["type"]}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"loc": [], "message": "invalid"}
        raise Unprocessable(f"{'.'.join(first['loc'])}: {first['message']}", errors=errors) from exc


def _form_record(fields: dict[str, str]) -> dict[str, str]:
    # Empty form fields mean "not given".
    return {k: v for k, v in fields.items() if v != ""}


async def store_file(
    session: AsyncSession, store: ObjectStore, key: str, upload: Upload, max_bytes: int
) -> Received:
    """Stream the upload's file to `key`; removed again unless the unit of work commits."""
    assert upload.chunks is not None
    formats: list[str] = []

    def sniff(head: bytes) -> None:
        fmt = detect_format(head)
        if fmt is None:
            raise direct.unsupported_format()
        formats.append(fmt)

    stored = await store.put_stream(key, upload.chunks, max_bytes=max_bytes, on_first_bytes=sniff)
    after_rollback(session, lambda: discard(store, key))
    return Received(stored, formats[0], upload.filename)


def record(
    session: AsyncSession, store: ObjectStore, jobs: JobQueue, flight: Flight, received: Received
) -> Flight:
    """Point the locked flight at the received file and end its grant; after commit the
    replaced file is deleted and the processing job deferred (the `queued` row is the
    outbox: the sweeper re-defers it if this hand-off is lost)."""
    replaced = service.record_file(
        session, flight, received.stored, received.file_format, received.file_name
    )
    grants.clear(session, store, flight, keep=received.stored.key)
    if replaced is not None:
        after_commit(session, lambda: discard(store, replaced))
    after_commit(session, lambda: defer_processing(jobs, flight))
    return flight


async def owner_of(read: ReadConnection, actor: Actor, flight_id: uuid.UUID) -> uuid.UUID:
    """The account of a flight the actor may upload to (404 before a byte is read)."""
    row = await repository.peek_readable(read, actor, flight_id)
    if row is None:
        raise NotFound("flight not found")
    account_id: uuid.UUID = row.account_id
    return account_id


async def locked(session: AsyncSession, actor: Actor, flight_id: uuid.UUID) -> Flight:
    flight = await repository.lock_readable(session, actor, flight_id)
    if flight is None:
        raise NotFound("flight not found")
    return flight


async def attach(
    session: AsyncSession,
    store: ObjectStore,
    jobs: JobQueue,
    actor: Actor,
    flight_id: uuid.UUID,
    owner: uuid.UUID,
    upload: Upload,
    max_bytes: int,
) -> Flight:
    """Attach (or replace) the file of a flight of `owner` (see `owner_of`)."""
    if upload.chunks is None:
        raise Unprocessable("the form has no `file` part", code="file-required")
    received = await store_file(session, store, new_raw_key(owner, flight_id), upload, max_bytes)
    fields = await upload.finish()
    if fields:
        raise Unprocessable(
            f"unexpected form field(s): {', '.join(sorted(fields))}", code="unexpected-field"
        )
    flight = await locked(session, actor, flight_id)
    return record(session, store, jobs, flight, received)


async def create(
    session: AsyncSession,
    read: ReadConnection,
    store: ObjectStore,
    jobs: JobQueue,
    actor: Actor,
    upload: Upload,
    max_bytes: int,
) -> Flight:
    """A flight from a form: its record's fields, and optionally its file. What is sent
    before the file (the record, the account) is checked before a byte is stored."""
    early = _form_record(upload.fields)
    if "registration" in early:
        parse_create(early)
    try:
        wanted = uuid.UUID(early["account_id"]) if "account_id" in early else None
    except ValueError as exc:
        raise Unprocessable("account_id: not a valid UUID") from exc
    account_id = await service.target_account(read, actor, wanted)
    flight_id = uuid.uuid4()
    received = None
    if upload.chunks is not None:
        key = new_raw_key(account_id, flight_id)
        received = await store_file(session, store, key, upload, max_bytes)
    data = parse_create(_form_record(await upload.finish()))
    if data.account_id is not None and data.account_id != account_id:
        raise Unprocessable("account_id must be sent before the file", code="account-after-file")
    flight = await service.create_flight(session, account_id, data, flight_id)
    if received is None:
        return flight
    return record(session, store, jobs, flight, received)


async def complete(
    session: AsyncSession,
    read: ReadConnection,
    store: ObjectStore,
    jobs: JobQueue,
    actor: Actor,
    flight_id: uuid.UUID,
    parts: list[Any] | None,
    max_bytes: int,
) -> Flight:
    """Record the file a client uploaded to the flight's presigned URL(s), once verified.

    Of several calls for one grant, the first records it; the others find the grant ended
    under the lock and answer 409 `upload-superseded`.
    """
    row = await repository.peek_readable(read, actor, flight_id)
    if row is None:
        raise NotFound("flight not found")
    ticket = direct.ticket(row.pending_key, row.pending_name, row.pending_upload_id, parts)
    stored, fmt = await direct.verify(store, ticket, parts, max_bytes)
    flight = await locked(session, actor, flight_id)
    if flight.pending_key != ticket.key:
        if flight.file_key != ticket.key:  # nobody points at it any more
            after_rollback(session, lambda: discard(store, ticket.key))
        raise Conflict("another upload replaced this one", code="upload-superseded")
    return record(session, store, jobs, flight, Received(stored, fmt, ticket.name))


async def grant_upload(
    session: AsyncSession,
    read: ReadConnection,
    store: ObjectStore,
    actor: Actor,
    flight_id: uuid.UUID,
    data: UploadUrlIn | None,
    settings: Settings,
) -> UploadUrlOut | MultipartUploadOut:
    """Presigned URL(s) for the flight's file, kept on the flight as its pending grant (the
    grant it replaces is removed once this unit of work commits)."""
    cap = settings.max_upload_bytes
    owner = await owner_of(read, actor, flight_id)  # 404 before 413
    if data is not None and data.size is not None and data.size > cap:
        raise direct.too_large(cap)
    name = sanitize_filename(data.file_name) if data and data.file_name else None
    key = new_raw_key(owner, flight_id)
    ttl = settings.presigned_upload_ttl_s
    if direct.wants_multipart(data):
        assert data is not None
        upload_id, part_size, urls = await direct.open_multipart(session, store, key, data, ttl)
    else:
        upload_id, url = None, await direct.presign_single(store, key, ttl)
    expires = utcnow() + timedelta(seconds=ttl)
    flight = await locked(session, actor, flight_id)
    grants.grant(session, store, flight, grants.Pending(key, name, upload_id), expires)
    if upload_id is None:
        return UploadUrlOut(url=url, key=key, expires_at=expires, max_bytes=cap)
    return MultipartUploadOut(
        upload_id=upload_id,
        key=key,
        part_size=part_size,
        parts=[PartUrlOut(part_number=n, url=u) for n, u in enumerate(urls, start=1)],
        expires_at=expires,
        max_bytes=cap,
    )
