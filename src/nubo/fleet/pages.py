"""HTML routes of the fleet domain: the fleet page (the panel's home)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from nubo.fleet import service
from nubo.kit.db import Session
from nubo.kit.pagination import Pagination, build_page
from nubo.web.session import SignedIn
from nubo.web.templating import render

router = APIRouter()


@router.get("/")
async def fleet_page(
    request: Request, user: SignedIn, session: Session, page: Pagination
) -> Response:
    rows = await service.list_aircraft(session, user.principal, page)
    items, cursor = build_page(rows, page, lambda a: (a.registration, a.id))
    return await render(request, "fleet/index.html", {"aircraft": items, "next_cursor": cursor})
