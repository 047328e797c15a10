"""HTTP routes of the flights domain: thin, they parse, delegate and shape."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response, status
from pydantic import AwareDatetime, ValidationError
from sse_starlette import EventSourceResponse

from nubo.flights import events, repository, service, uploads
from nubo.flights.schemas import (
    FlightCreate,
    FlightOut,
    MultipartUploadOut,
    UploadCompleteIn,
    UploadUrlIn,
    UploadUrlOut,
)
from nubo.flights.tasks import defer_processing
from nubo.flights.uploads import StoreDep
from nubo.flights.wiring import JobsDep
from nubo.identity.auth import CurrentUser
from nubo.identity.principal import Actor
from nubo.kit.db import Session
from nubo.kit.errors import Unprocessable, UnsupportedMediaType
from nubo.kit.pagination import Page, Pagination, build_page
from nubo.models import BleedStatus, Flight, ProcessingStatus

log = logging.getLogger("nubo.flights")

router = APIRouter(prefix="/flight", tags=["flights"])

FlightId = Annotated[uuid.UUID, Path(alias="id")]


def _unprocessable(exc: ValidationError) -> Unprocessable:
    errors = [
        {"loc": [str(p) for p in e["loc"]], "message": e["msg"], "type": e["type"]}
        for e in exc.errors()
    ]
    first = errors[0] if errors else {"loc": [], "message": "invalid"}
    return Unprocessable(f"{'.'.join(first['loc'])}: {first['message']}", errors=errors)


def _validate_create(raw: Any) -> FlightCreate:
    try:
        return FlightCreate.model_validate(raw)
    except ValidationError as exc:
        raise _unprocessable(exc) from exc


def _form_record(fields: dict[str, str]) -> dict[str, Any]:
    # Empty form fields mean "not given".
    return {k: v for k, v in fields.items() if v != ""}


_FLIGHT_FIELDS = FlightCreate.model_json_schema()
_CREATE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _FLIGHT_FIELDS},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["registration"],
                    "properties": {
                        **_FLIGHT_FIELDS["properties"],
                        "file": {"type": "string", "format": "binary"},
                    },
                },
                "encoding": {"file": {"contentType": "application/octet-stream"}},
            },
        },
    }
}
_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


async def _durable(session: Any) -> None:
    """Commit before answering: the request session's own commit runs after the response
    has started (FastAPI's default dependency scope), and a 2xx must mean durable."""
    await session.commit()


async def _commit_upload(
    request: Request,
    session: Any,
    jobs: Any,
    store: Any,
    flight: Flight,
    received: uploads.Received,
) -> Flight:
    """Record a stored object on the flight, commit, then hand off the job.

    The object is complete before the row points at it; if recording fails the object is
    removed. The defer happens after the commit: the flight row (`queued`) is the outbox,
    and the sweeper re-defers it if this hand-off is lost.
    """
    try:
        replaced = service.record_file(
            session, flight, received.stored, received.file_format, received.file_name
        )
        await session.commit()
    except BaseException:
        await session.rollback()
        await uploads.discard(store, received.stored.key)
        raise
    if replaced:
        await uploads.discard(store, replaced)
    await defer_processing(jobs, flight)
    return flight


@router.post(
    "/create",
    status_code=status.HTTP_201_CREATED,
    response_model=FlightOut,
    openapi_extra=_CREATE_BODY,
    summary="Create a flight (JSON record, or multipart record + data file)",
)
async def create_flight(
    request: Request, actor: CurrentUser, session: Session, store: StoreDep, jobs: JobsDep
) -> FlightOut:
    ctype = uploads.content_type(request)
    if ctype == "application/json":
        try:
            raw = await request.json()
        except ValueError as exc:
            raise Unprocessable("the body is not valid JSON", code="invalid-json") from exc
        data = _validate_create(raw)
        await session.commit()  # end the authentication read; the unit starts with its insert
        flight = await service.create_flight(session, actor, data)
        await _durable(session)
        return FlightOut.of(flight)
    if ctype != "multipart/form-data":
        raise UnsupportedMediaType("send JSON, or multipart/form-data with a `file` part")
    return FlightOut.of(await _create_with_file(request, actor, session, store, jobs))


async def _create_with_file(
    request: Request, actor: Actor, session: Any, store: Any, jobs: Any
) -> Flight:
    settings = request.app.state.settings
    flight_id = uuid.uuid4()
    account: dict[str, uuid.UUID] = {}

    async def make_key(early: dict[str, str]) -> str:
        # What is known before the file is checked before a byte is stored.
        record = _form_record(early)
        if "registration" in record:
            _validate_create(record)
        raw_account = record.get("account_id")
        try:
            wanted = uuid.UUID(raw_account) if raw_account else None
        except ValueError as exc:
            raise Unprocessable("account_id: not a valid UUID") from exc
        account["id"] = await service.target_account(session, actor, wanted)
        await session.commit()  # nothing written; release the connection during the upload
        return uploads.new_raw_key(account["id"], flight_id)

    fields, received = await uploads.receive_form(
        request, store, settings.max_upload_bytes, make_key
    )
    try:
        data = _validate_create(_form_record(fields))
        if (
            received is not None
            and data.account_id is not None
            and (data.account_id != account["id"])
        ):
            raise Unprocessable(
                "account_id must be sent before the file", code="account-after-file"
            )
        flight = await service.create_flight(session, actor, data, flight_id)
    except BaseException:
        await session.rollback()
        if received is not None:
            await uploads.discard(store, received.stored.key)
        raise
    if received is None:
        await _durable(session)
        return flight
    return await _commit_upload(request, session, jobs, store, flight, received)


@router.post(
    "/{id}/upload",
    response_model=FlightOut,
    openapi_extra=_UPLOAD_BODY,
    summary="Attach or replace the data file (multipart `file`, or the raw body)",
)
async def upload_file(
    flight_id: FlightId,
    request: Request,
    actor: CurrentUser,
    session: Session,
    store: StoreDep,
    jobs: JobsDep,
) -> FlightOut:
    settings = request.app.state.settings
    flight = await service.get_flight(session, actor, flight_id)
    key = uploads.new_raw_key(flight.account_id, flight.id)
    await session.commit()  # nothing written; release the connection during the upload
    if uploads.content_type(request) == "multipart/form-data":

        async def make_key(early: dict[str, str]) -> str:
            return key

        fields, received = await uploads.receive_form(
            request, store, settings.max_upload_bytes, make_key
        )
        if received is None:
            raise Unprocessable("the form has no `file` part", code="file-required")
        if fields:
            await uploads.discard(store, key)
            raise Unprocessable(
                f"unexpected form field(s): {', '.join(sorted(fields))}", code="unexpected-field"
            )
    else:
        received = await uploads.receive_raw(request, store, key, settings.max_upload_bytes)
    try:
        await repository.touch(session, flight_id)
        flight = await service.get_flight(session, actor, flight_id, for_update=True)
    except BaseException:
        await session.rollback()
        await uploads.discard(store, key)
        raise
    return FlightOut.of(await _commit_upload(request, session, jobs, store, flight, received))


@router.get("", response_model=Page[FlightOut], summary="The account's flights, newest first")
async def list_flights(
    actor: CurrentUser,
    session: Session,
    page: Pagination,
    registration: Annotated[str | None, Query(max_length=16)] = None,
    status_: Annotated[ProcessingStatus | None, Query(alias="status")] = None,
    bleed_status: BleedStatus | None = None,
    departed_from: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    departed_to: Annotated[AwareDatetime | None, Query(alias="to")] = None,
    account_id: uuid.UUID | None = None,
) -> Page[FlightOut]:
    rows = await service.list_flights(
        session,
        actor,
        page,
        registration=registration,
        status=status_,
        bleed_status=bleed_status,
        departed_from=departed_from,
        departed_to=departed_to,
        account_id=account_id,
    )
    items, cursor = build_page(rows, page, lambda f: (f.created_at, f.id))
    return Page(items=[FlightOut.of(f) for f in items], next_cursor=cursor)


@router.get("/{id}", response_model=FlightOut)
async def get_flight(flight_id: FlightId, actor: CurrentUser, session: Session) -> FlightOut:
    return FlightOut.of(await service.get_flight(session, actor, flight_id))


@router.delete("/{id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_flight(flight_id: FlightId, actor: CurrentUser, session: Session) -> Response:
    await session.commit()  # end the authentication read; the delete starts with a write
    await repository.touch(session, flight_id)
    await service.delete_flight(session, actor, flight_id)
    await _durable(session)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{id}/events",
    summary="Server-Sent Events of the flight's status changes",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "event stream"}},
)
async def flight_events(
    flight_id: FlightId,
    request: Request,
    actor: CurrentUser,
    session: Session,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=32)] = None,
    after: Annotated[int | None, Query(ge=0, description="same as Last-Event-ID")] = None,
) -> EventSourceResponse:
    flight = await service.get_flight(session, actor, flight_id)
    start = events.parse_last_event_id(last_event_id, after)
    current = flight.processing_status
    await session.commit()  # the stream polls with its own short sessions
    settings = request.app.state.settings
    return EventSourceResponse(
        events.event_stream(
            request,
            request.app.state.sessionmaker,
            flight.id,
            start,
            current,
            settings.events_poll_s,
        ),
        ping=settings.events_heartbeat_s,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.post(
    "/{id}/upload-url",
    response_model=UploadUrlOut | MultipartUploadOut,
    summary="Presigned URL(s) to upload the data file straight to object storage (S3 only)",
    description="A single presigned PUT, or with `size` above 64 MiB (or `multipart: true`) "
    "a presigned multipart upload: one URL per part, then `upload-complete` with the ETags.",
)
async def upload_url(
    flight_id: FlightId,
    request: Request,
    actor: CurrentUser,
    session: Session,
    store: StoreDep,
    data: UploadUrlIn | None = None,
) -> UploadUrlOut | MultipartUploadOut:
    from nubo.flights import direct

    # Committed inside: a multipart upload created on S3 is aborted if the commit fails.
    return await direct.start(request, actor, session, store, flight_id, data)


@router.post(
    "/{id}/upload-complete",
    response_model=FlightOut,
    summary="Verify and record a file uploaded to the presigned URL(s)",
    description="No body after a single PUT; after a multipart grant "
    "`{parts: [{part_number, etag}]}` with every uploaded part (409 `upload-parts-mismatch` "
    "if the list does not match what was uploaded).",
)
async def upload_complete(
    flight_id: FlightId,
    request: Request,
    actor: CurrentUser,
    session: Session,
    store: StoreDep,
    jobs: JobsDep,
    data: UploadCompleteIn | None = None,
) -> FlightOut:
    from nubo.flights import direct

    received, flight = await direct.verify(request, actor, session, store, flight_id, data)
    return FlightOut.of(await _commit_upload(request, session, jobs, store, flight, received))


routers = [router]
