"""Fleet views under /api/aircraft."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query

from nubo.fleet import service
from nubo.fleet.schemas import AircraftDetail, AircraftOut, TrendPointOut
from nubo.identity.auth import CurrentUser
from nubo.kit.db import Session
from nubo.kit.pagination import Page, Pagination, build_page

router = APIRouter(prefix="/aircraft", tags=["fleet"])


@router.get("", response_model=Page[AircraftOut])
async def list_aircraft(
    actor: CurrentUser, session: Session, page: Pagination
) -> Page[AircraftOut]:
    rows = await service.list_aircraft(session, actor, page)
    items, cursor = build_page(rows, page, lambda a: (a.registration, a.id))
    return Page(items=[AircraftOut.model_validate(a) for a in items], next_cursor=cursor)


@router.get("/{registration}", response_model=AircraftDetail)
async def aircraft_trend(
    registration: Annotated[str, Path(min_length=1, max_length=16)],
    actor: CurrentUser,
    session: Session,
    page: Pagination,
    account_id: Annotated[uuid.UUID | None, Query(description="operators: which account")] = None,
) -> AircraftDetail:
    aircraft = await service.get_aircraft(session, actor, registration, account_id)
    points = await service.trend_page(session, aircraft, page)
    items, cursor = build_page(points, page, lambda p: (p.flown_at, p.flight_id))
    return AircraftDetail(
        **AircraftOut.model_validate(aircraft).model_dump(),
        trend=[TrendPointOut.model_validate(p) for p in items],
        next_cursor=cursor,
    )
