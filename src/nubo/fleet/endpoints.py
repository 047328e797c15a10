"""Fleet views under /api/aircraft and /api/fleet."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status
from fastapi.responses import StreamingResponse

from nubo.fleet import exports, reprocess, service
from nubo.fleet.schemas import (
    AircraftDetail,
    AircraftOut,
    FleetItemOut,
    FleetStatus,
    RefitIn,
    RefitOut,
    Registration,
    ReplacementIn,
    ReplacementOut,
    ReprocessIn,
    ReprocessingOut,
    TrendPointOut,
    aircraft_item,
    fleet_item,
)
from nubo.identity.auth import CurrentUser, FlightsRead, Operator
from nubo.kit.db import ReadSessions, Session, StandaloneDb
from nubo.kit.listing import page_response
from nubo.kit.pagination import Page, Pagination, build_page
from nubo.kit.tabular import EXPORT_RESPONSES, table_response
from nubo.platform import JobsDep
from nubo.web.session import BearerOrSession

router = APIRouter(prefix="/aircraft", tags=["fleet"])
AccountOfOperator = Annotated[uuid.UUID | None, Query(description="operators: which account")]


@router.get("", response_model=Page[AircraftOut])
async def list_aircraft(
    actor: FlightsRead, db: StandaloneDb, page: Pagination
) -> Response:
    """The account's aircraft with their latest bleed-health verdict."""
    rows = await service.list_aircraft(db.read, actor, page)
    items, cursor = build_page(rows, page, lambda a: (a.registration, a.id))
    return page_response([aircraft_item(a) for a in items], cursor)


@router.get("/{registration}", response_model=AircraftDetail)
async def aircraft_trend(
    registration: Registration,
    actor: FlightsRead,
    session: Session,
    page: Pagination,
    account_id: AccountOfOperator = None,
) -> AircraftDetail:
    """One aircraft's trend, flight by flight."""
    aircraft = await service.get_aircraft(session, actor, registration, account_id)
    points = await service.trend_page(session, aircraft, page)
    items, cursor = build_page(points, page, lambda p: (p.flown_at, p.flight_id))
    return AircraftDetail(
        **AircraftOut.model_validate(aircraft).model_dump(),
        trend=[TrendPointOut.model_validate(p) for p in items],
        next_cursor=cursor,
    )


@router.get("/{registration}/export", response_class=StreamingResponse,
            responses=EXPORT_RESPONSES)
async def export_trend(
    registration: Registration,
    actor: BearerOrSession,
    session: Session,
    sessions: ReadSessions,
    account_id: AccountOfOperator = None,
) -> StreamingResponse:
    """One aircraft's trend as CSV, flight by flight, whatever its length.

    The rows of `GET /api/aircraft/{registration}`'s trend, with each engine's score. Also
    accepts the panel's session cookie (the aircraft page's "Export CSV" link).
    """
    aircraft = await service.get_aircraft(session, actor, registration, account_id)
    name = f"trend-{aircraft.registration}"
    return table_response(exports.TREND_COLUMNS, exports.trend_table(sessions, aircraft), name)


@router.post("/refit", response_model=RefitOut)
async def refit(body: RefitIn, actor: CurrentUser, session: Session) -> RefitOut:
    """Relearn every engine's reference of the account's fleet (or of one aircraft type)
    from its own healthy flights flown since `since`."""
    fleet = await service.refit_references(
        session, actor, body.account_id, body.aircraft_type, body.since
    )
    return RefitOut(aircraft=len(fleet), engines=len(fleet) * len(service.ENGINES))


@router.post(
    "/{registration}/replacements",
    response_model=ReplacementOut,
    status_code=status.HTTP_201_CREATED,
)
async def record_replacement(
    registration: Registration,
    body: ReplacementIn,
    actor: CurrentUser,
    session: Session,
    account_id: AccountOfOperator = None,
) -> ReplacementOut:
    """An engine or bleed component was replaced: the engine's trend reference restarts."""
    aircraft = await service.get_aircraft(session, actor, registration, account_id)
    reset = await service.record_replacement(
        session, actor, aircraft, body.engine, body.component, body.done_at
    )
    return ReplacementOut.model_validate(reset)


fleet_router = APIRouter(prefix="/fleet", tags=["fleet"])


@fleet_router.get("", response_model=Page[FleetItemOut])
async def fleet(
    actor: FlightsRead,
    db: StandaloneDb,
    page: Pagination,
    status: Annotated[
        FleetStatus | None, Query(description='one status only ("none": no verdict yet)')
    ] = None,
) -> Response:
    """The fleet worst first (alert, watch, normal, no verdict yet), then by registration:
    the fleet page's rows, with the latest flight's scores per engine and its number of
    findings."""
    rows = await service.fleet_overview(db.read, actor, page, status)
    items, cursor = build_page(rows, page, service.fleet_key)
    return page_response([fleet_item(r) for r in items], cursor)


reprocessing_router = APIRouter(prefix="/reprocessings", tags=["fleet"])


def _reprocessing_out(progress: reprocess.Progress, resumed: bool = False) -> ReprocessingOut:
    run = progress.reprocessing
    return ReprocessingOut(
        id=run.id, account_id=run.account_id, registration=run.registration,
        model_version=run.model_version, aircraft_total=run.aircraft_total,
        aircraft_done=progress.aircraft_done, flights_total=run.flights_total,
        flights_done=progress.flights_done, resumed=resumed, created_at=run.created_at,
        finished_at=run.finished_at,
    )


@reprocessing_router.post(
    "", response_model=ReprocessingOut, status_code=status.HTTP_202_ACCEPTED
)
async def start_reprocessing(
    body: ReprocessIn, actor: Operator, session: Session, jobs: JobsDep
) -> ReprocessingOut:
    """Re-run every processed flight (of one account, of one aircraft) with the current
    model, in flight order per aircraft; follow it with `GET /reprocessings/{id}`.

    An unfinished reprocessing of the same scope and model is resumed, not repeated.
    """
    started = await reprocess.start(
        session, body.account_id, body.registration, actor.id, queue=jobs
    )
    progress = await reprocess.progress(session, started.reprocessing.id)
    return _reprocessing_out(progress, started.resumed)


@reprocessing_router.get("/{id}", response_model=ReprocessingOut)
async def reprocessing_progress(
    reprocessing_id: Annotated[uuid.UUID, Path(alias="id")], _: Operator, session: Session
) -> ReprocessingOut:
    """A reprocessing's progress: aircraft and flights done of their totals."""
    return _reprocessing_out(await reprocess.progress(session, reprocessing_id))
