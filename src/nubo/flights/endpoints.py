"""HTTP routes of the flights domain: thin, they parse, delegate and shape."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime, BaseModel, Field
from sse_starlette import EventSourceResponse
from starlette.types import Receive, Scope, Send

from nubo.bleed.series import to_arrow_stream
from nubo.flights import events, exports, ingest, repository, series, service
from nubo.flights.schemas import (
    FlightCreate,
    FlightOut,
    MultipartUploadOut,
    UploadCompleteIn,
    UploadUrlIn,
    UploadUrlOut,
    flight_item,
)
from nubo.identity.auth import FlightsRead, FlightsWrite
from nubo.identity.principal import Actor
from nubo.kit.db import ReadSessions, Session, StandaloneDb
from nubo.kit.edge import streams_body
from nubo.kit.errors import Unprocessable, UnsupportedMediaType
from nubo.kit.listing import Holes, page_response
from nubo.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, PageParams, build_page
from nubo.kit.query import QueryModel
from nubo.kit.tabular import EXPORT_RESPONSES, PARQUET_RESPONSES, ExportFormat, table_response
from nubo.kit.uploads import media_type, open_upload
from nubo.live import Hub, Subscription
from nubo.models import BleedStatus, ProcessingStatus
from nubo.platform import JobsDep, StoreDep
from nubo.web.session import BearerOrSession, SessionWriter

log = logging.getLogger("nubo.flights")

router = APIRouter(prefix="/flight", tags=["flights"])

FlightId = Annotated[uuid.UUID, Path(alias="id")]


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


@router.post(
    "/create",
    status_code=status.HTTP_201_CREATED,
    response_model=FlightOut,
    openapi_extra=_CREATE_BODY,
    summary="Create a flight (JSON record, or multipart record + data file)",
)
@streams_body(json_in_memory=True)
async def create_flight(
    request: Request,
    actor: SessionWriter,
    session: Session,
    db: StandaloneDb,
    store: StoreDep,
    jobs: JobsDep,
) -> FlightOut:
    """Create a flight (JSON record, or multipart record + data file).

    With a data file, processing starts at once; follow it on `/events`.
    """
    settings = request.app.state.settings
    ctype = media_type(request)
    if ctype == "application/json":
        try:
            raw = await request.json()
        except ValueError as exc:
            raise Unprocessable("the body is not valid JSON", code="invalid-json") from exc
        data = ingest.parse_create(raw)
        account_id = await service.target_account(db.read, actor, data.account_id)
        return FlightOut.of(await service.create_flight(session, account_id, data))
    if ctype != "multipart/form-data":
        raise UnsupportedMediaType("send JSON, or multipart/form-data with a `file` part")
    upload = await open_upload(request, settings.max_upload_bytes)
    flight = await ingest.create(
        session, db.read, store, jobs, actor, upload, settings.max_upload_bytes
    )
    return FlightOut.of(flight)


@router.post(
    "/{id}/upload",
    response_model=FlightOut,
    openapi_extra=_UPLOAD_BODY,
    summary="Attach or replace the data file (multipart `file`, or the raw body)",
)
@streams_body()
async def upload_file(
    flight_id: FlightId,
    request: Request,
    actor: FlightsWrite,
    session: Session,
    db: StandaloneDb,
    store: StoreDep,
    jobs: JobsDep,
) -> FlightOut:
    """Attach or replace a flight's data file (multipart `file`, or the raw body).

    Processing starts once the file is stored.
    """
    cap = request.app.state.settings.max_upload_bytes
    owner = await ingest.owner_of(db.read, actor, flight_id)
    upload = await open_upload(request, cap)
    flight = await ingest.attach(session, store, jobs, actor, flight_id, owner, upload, cap)
    return FlightOut.of(flight)


class _PageQuery(BaseModel):
    """`Pagination`'s parameters (the same names, limits and errors)."""

    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT
    cursor: Annotated[str | None, Field(max_length=512)] = None


class FlightFilterQuery(BaseModel):
    """The filters of the flights list, shared by its exports, validated at once
    (`kit.query`)."""

    registration: Annotated[str | None, Field(max_length=16)] = None
    status: ProcessingStatus | None = None
    bleed_status: BleedStatus | None = None
    departed_from: Annotated[AwareDatetime | None, Field(alias="from")] = None
    departed_to: Annotated[AwareDatetime | None, Field(alias="to")] = None
    account_id: uuid.UUID | None = None

    def filters(self) -> dict[str, Any]:
        """The filters' values, by the service's names."""
        return self.model_dump(exclude=set(_PageQuery.model_fields))


class FlightListQuery(FlightFilterQuery, _PageQuery):
    """The list's query parameters: a page and the filters."""

    def page(self) -> PageParams:
        return PageParams(limit=self.limit, cursor=self.cursor)


_FILTER_QUERY = QueryModel(FlightFilterQuery)
FlightFilters = Annotated[FlightFilterQuery, Depends(_FILTER_QUERY)]
_LIST_QUERY = QueryModel(FlightListQuery)


@router.get(
    "",
    response_model=Page[FlightOut],
    summary="The account's flights, newest first",
    openapi_extra=_LIST_QUERY.openapi,
)
async def list_flights(
    actor: FlightsRead, db: StandaloneDb, query: Annotated[FlightListQuery, Depends(_LIST_QUERY)]
) -> Response:
    """The account's flights, newest first (operators: every account)."""
    page = query.page()
    rows = await service.flight_rows(db.read, actor, page, **query.filters())
    items, cursor = build_page(rows, page, lambda f: (f.created_at, f.id))
    stored = Holes()
    return page_response([flight_item(f, stored) for f in items], cursor, stored)


# Declared before /{id}, which would otherwise take "export" for an id.
@router.get(
    "/export", response_class=StreamingResponse, responses=PARQUET_RESPONSES,
    openapi_extra=_FILTER_QUERY.openapi,
)
async def export_flights(
    actor: BearerOrSession,
    sessions: ReadSessions,
    filters: FlightFilters,
    format_: Annotated[ExportFormat, Query(alias="format")] = "csv",
) -> StreamingResponse:
    """The flights list as a table (CSV or Parquet), whatever its length.

    The filters of `GET /api/flight`; one row per flight, newest first, with its status,
    score and number of findings. Streamed as it is read. Also accepts the panel's session
    cookie (its "Export CSV" link).
    """
    return table_response(
        exports.FLIGHT_COLUMNS, exports.flights_table(sessions, actor, filters.filters()),
        "flights", format_,
    )


@router.get(
    "/findings/export", response_class=StreamingResponse, responses=EXPORT_RESPONSES,
    openapi_extra=_FILTER_QUERY.openapi,
)
async def export_findings(
    actor: FlightsRead, sessions: ReadSessions, filters: FlightFilters
) -> StreamingResponse:
    """The findings of the listed flights as CSV, one row per finding.

    The filters of `GET /api/flight` choose the flights. Streamed as it is read.
    """
    return table_response(
        exports.FINDING_COLUMNS, exports.findings_table(sessions, actor, filters.filters()),
        "findings",
    )


@router.get("/{id}", response_model=FlightOut)
async def get_flight(flight_id: FlightId, actor: FlightsRead, session: Session) -> FlightOut:
    """One flight: its record, processing status and result."""
    return FlightOut.of(await service.get_flight(session, actor, flight_id))


@router.delete("/{id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_flight(
    flight_id: FlightId, actor: FlightsWrite, session: Session, store: StoreDep
) -> Response:
    """Delete a flight (soft)."""
    await repository.touch(session, flight_id)  # the unit starts with a write (see touch)
    await service.delete_flight(session, store, actor, flight_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# What both event streams take and answer: resume after an event id, heartbeats, no caching.
LastEventId = Annotated[str | None, Header(alias="Last-Event-ID", max_length=32)]
After = Annotated[int | None, Query(ge=0, description="same as Last-Event-ID")]
SSE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}, "description": "event stream"}
}


class _StreamResponse(EventSourceResponse):
    """An event stream that gives its place under the account's cap back when it ends,
    however it ends (also when its body never started: a HEAD, a client already gone)."""

    def __init__(self, stream: AsyncIterator[bytes], sub: Subscription,
                 **kwargs: Any) -> None:
        super().__init__(stream, **kwargs)
        self.sub = sub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.sub.close()


def _watch(request: Request, actor: Actor, key: str) -> events.Watch:
    """Subscribe a new stream of the actor's account to `key` (429 past the cap)."""
    settings = request.app.state.settings
    hub: Hub = request.app.state.live.hub
    sub = hub.open(str(actor.account_id), key,
                              settings.events_max_streams_per_account)
    return events.Watch(sub, settings.events_poll_s, settings.events_stream_max_s)


def _sse(request: Request, watch: events.Watch,
         stream: AsyncIterator[bytes]) -> EventSourceResponse:
    return _StreamResponse(
        stream,
        watch.sub,
        ping=request.app.state.settings.events_heartbeat_s,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get(
    "/{id}/events",
    summary="Server-Sent Events of the flight's status changes",
    response_class=EventSourceResponse,
    responses=SSE_RESPONSES,
)
async def flight_events(
    flight_id: FlightId,
    request: Request,
    actor: BearerOrSession,
    session: Session,
    last_event_id: LastEventId = None,
    after: After = None,
) -> EventSourceResponse:
    """Server-Sent Events of the flight's status changes, until it is processed or failed."""
    flight = await service.get_flight(session, actor, flight_id)
    start = events.parse_last_event_id(last_event_id, after)
    current = flight.processing_status
    await session.commit()  # the stream reads with its own short sessions
    watch = _watch(request, actor, str(flight.id))
    maker = request.app.state.sessionmaker
    return _sse(request, watch, events.event_stream(maker, watch, flight.id, start, current))


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
    actor: SessionWriter,
    session: Session,
    db: StandaloneDb,
    store: StoreDep,
    data: UploadUrlIn | None = None,
) -> UploadUrlOut | MultipartUploadOut:
    """Presigned URL(s) to upload the data file straight to object storage (S3 only)."""
    settings = request.app.state.settings
    return await ingest.grant_upload(session, db.read, store, actor, flight_id, data, settings)


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
    actor: SessionWriter,
    session: Session,
    db: StandaloneDb,
    store: StoreDep,
    jobs: JobsDep,
    data: UploadCompleteIn | None = None,
) -> FlightOut:
    """Verify and record a file uploaded to the presigned URL(s)."""
    cap = request.app.state.settings.max_upload_bytes
    parts = None if data is None else data.parts
    flight = await ingest.complete(session, db.read, store, jobs, actor, flight_id, parts, cap)
    return FlightOut.of(flight)


_SERIES_EXAMPLE = {
    "flight_id": "0b8f3c52-6a55-4f0e-9d6c-2f4a1e0c9b11",
    "time_s": [0, 1, 2],
    "series": {"eng1_bleed_press_psi": [44.8, 45.1, None], "alt_std_ft": [1200.0, 1215.5, 1231.0]},
}
_SERIES_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The time axis and one column per parameter: JSON arrays (null where "
        "a second had no value) by default; with `Accept: application/vnd.apache.arrow.stream`, "
        "an Arrow IPC stream of the same columns: `time_s` (int32) and each "
        "parameter (float32, null where no value).",
        "content": {
            series.JSON: {
                "schema": {
                    "type": "object",
                    "required": ["flight_id", "time_s", "series"],
                    "properties": {
                        "flight_id": {"type": "string", "format": "uuid"},
                        "time_s": {"type": "array", "items": {"type": "integer"},
                                   "description": "seconds from the recording's first sample"},
                        "series": {"type": "object", "additionalProperties": {
                            "type": "array", "items": {"type": ["number", "null"]}}},
                    },
                },
                "example": _SERIES_EXAMPLE,
            },
            series.ARROW_STREAM: {"schema": {"type": "string", "format": "binary"}},
        },
    },
}


@router.get(
    "/{id}/series",
    summary="The flight's time series: the time axis and the chosen parameters as columns",
    description="`params`: comma-separated parameter names (default: all). `points`: reduce "
    "each series to at most that many points by min/max per bucket, so spikes survive. "
    "JSON by default; an Arrow IPC stream when `Accept` names "
    "`application/vnd.apache.arrow.stream` (before JSON, if both are named).",
    response_class=Response,
    responses=_SERIES_RESPONSES,
)
async def flight_series(
    request: Request,
    flight_id: FlightId,
    actor: BearerOrSession,
    session: Session,
    store: StoreDep,
    params: Annotated[str | None, Query(max_length=1000)] = None,
    points: Annotated[int | None, Query(ge=2, le=1_000_000)] = None,
) -> Response:
    wanted = series.parse_params(params)
    flight = await service.get_flight(session, actor, flight_id)
    await session.commit()  # nothing to write; the read of the object needs no transaction
    frame = await series.load(store, flight, wanted, points)
    vary = {"Vary": "Accept"}
    if series.wants_arrow(request.headers.get("accept")):
        body = await asyncio.to_thread(to_arrow_stream, frame)
        return Response(body, media_type=series.ARROW_STREAM, headers=vary)
    body = await asyncio.to_thread(series.json_body, frame, flight.id)
    return Response(body, media_type=series.JSON, headers=vary)


events_router = APIRouter(prefix="/events", tags=["flights"])


@events_router.get(
    "",
    summary="Server-Sent Events of every flight of the account",
    response_class=EventSourceResponse,
    responses=SSE_RESPONSES,
)
async def account_events(
    request: Request,
    actor: BearerOrSession,
    session: Session,
    last_event_id: LastEventId = None,
    after: After = None,
) -> EventSourceResponse:
    """One stream for a page showing many flights. Without `Last-Event-ID` or `after` it
    starts with the next event (the account's whole history is not replayed)."""
    if last_event_id is None and after is None:
        start = await repository.newest_event_id(session)
    else:
        start = events.parse_last_event_id(last_event_id, after)
    await session.commit()  # the stream reads with its own short sessions
    watch = _watch(request, actor, events.stream_key(actor))
    maker = request.app.state.sessionmaker
    return _sse(request, watch, events.account_stream(maker, watch, actor, start))


routers = [router, events_router]
