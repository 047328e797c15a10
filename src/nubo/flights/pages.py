"""HTML routes of the flights domain: the flights list and one flight."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from nubo.flights import direct, service
from nubo.flights.schemas import FlightOut
from nubo.kit.db import PageReader, Session
from nubo.kit.pagination import Pagination, build_page
from nubo.kit.tabular import iso_utc
from nubo.models import BleedStatus, ProcessingStatus
from nubo.platform import StoreDep
from nubo.web import i18n, words
from nubo.web.headers import csp
from nubo.web.session import SignedIn
from nubo.web.templating import render

router = APIRouter()


def _day_start(day: date | None, days: int = 0) -> datetime | None:
    return None if day is None else datetime.combine(day + timedelta(days=days), time(), UTC)


@router.get("/flights")
async def flights_page(
    request: Request,
    read: PageReader,
    user: SignedIn,
    page: Pagination,
    registration: Annotated[str | None, Query(max_length=16)] = None,
    status: Annotated[ProcessingStatus | None, Query()] = None,
    bleed_status: Annotated[BleedStatus | None, Query()] = None,
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
) -> Response:
    """Newest first, the API's filters; `to` is a whole day (flights departing on it count)."""
    rows = await service.flight_rows(
        read, user.principal, page, registration=registration or None, status=status,
        bleed_status=bleed_status, departed_from=_day_start(date_from),
        departed_to=_day_start(date_to, days=1),
    )
    items, cursor = build_page(rows, page, lambda f: (f.created_at, f.id))
    filters = {"registration": registration or "", "status": status.value if status else "",
               "bleed_status": bleed_status.value if bleed_status else "",
               "from": date_from.isoformat() if date_from else "",
               "to": date_to.isoformat() if date_to else ""}
    more = {k: v for k, v in filters.items() if v}
    # The API's export, with the same filters as the page (whole days as UTC instants).
    bounds = {"from": _day_start(date_from), "to": _day_start(date_to, days=1)}
    export = {**more, **{k: iso_utc(v) for k, v in bounds.items() if v is not None}}
    return await render(request, "flights/list.html", {
        "flights": _cells(items, i18n.negotiate(request)), "next_cursor": cursor,
        "filters": filters, "more": more,
        "processing": words.PROCESSING, "export_url": "/api/flight/export?" + urlencode(export),
    })


def _cells(rows: list[Any], language: str) -> list[tuple[Any, ...]]:
    """Each flight's cells as the page shows them, formatted here in one pass (the page
    shows up to 200): id, name (flight number or file, if any), registration, departure,
    processing stage, bleed status and score."""
    fmt = i18n.formats(language)
    number, when = fmt.number, fmt.datetime
    return [
        (f.id, f.flight_number or f.file_name, f.registration,
         when(f.departure_at and datetime.fromisoformat(f.departure_at)),
         f.processing_status, f.bleed_status or "none", number(f.integrity_score, 1))
        for f in rows
    ]


@router.get("/flights/{id}")
async def flight_page(
    request: Request,
    flight_id: Annotated[uuid.UUID, Path(alias="id")],
    user: SignedIn,
    session: Session,
) -> Response:
    flight = FlightOut.of(await service.get_flight(session, user.principal, flight_id))
    return await render(request, "flights/detail.html", {
        "flight": flight, "words": words, "marks": _marks(flight.findings or []),
    })


def _marks(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the plots mark: each placed finding's span, numbered as the page lists them."""
    return [{"n": n, "start_s": f["start_s"], "end_s": f["end_s"], "severity": f["severity"]}
            for n, f in enumerate(findings, 1) if f.get("start_s") is not None]


@router.get("/upload")
async def upload_page(request: Request, user: SignedIn, store: StoreDep) -> Response:
    """Several files at once; each goes to POST /api/flight/create (the session and its CSRF
    token authenticate the script), or, when the store is S3 and the file large, straight to
    S3 through the API's presigned multipart grant; its stages arrive on GET /api/events."""
    origin = await direct.browser_origin(store)
    response = await render(request, "flights/upload.html", {
        "processing": words.PROCESSING,
        "max_bytes": request.app.state.settings.max_upload_bytes,
        "direct_from": direct.BROWSER_DIRECT_FROM if origin else None,
    })
    if origin:  # this page alone may send to the store
        response.headers["Content-Security-Policy"] = csp(connect_also=origin)
    return response
