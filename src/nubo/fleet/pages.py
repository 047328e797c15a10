"""HTML routes of the fleet domain: the fleet page (the panel's home)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from nubo.fleet import service
from nubo.fleet.schemas import FleetStatus, Registration
from nubo.kit.db import PageReader, Session
from nubo.kit.pagination import Pagination, build_page
from nubo.web import i18n, words
from nubo.web.forms import N_
from nubo.web.session import SignedIn
from nubo.web.templating import render

router = APIRouter()


@router.get("/")
async def fleet_page(
    request: Request,
    read: PageReader,
    user: SignedIn,
    page: Pagination,
    status: Annotated[FleetStatus | None, Query()] = None,
) -> Response:
    rows = await service.fleet_overview(read, user.principal, page, status)
    items, cursor = build_page(rows, page, service.fleet_key)
    return await render(request, "fleet/index.html", {
        "rows": _cells(items, i18n.negotiate(request)), "next_cursor": cursor,
        "status": status, "statuses": service.FLEET_STATUSES,
    })


ENGINE = N_("Engine %(n)s")


def _cells(rows: list[service.FleetRow], language: str) -> list[tuple[Any, ...]]:
    """Each row's cells as the page shows them, formatted here in one pass rather than by a
    dozen template calls a row (the page shows up to 200): registration, status, score,
    scores per engine, latest flight (id, time) and its number of findings."""
    fmt = i18n.formats(language)
    number, when = fmt.number, fmt.datetime
    engine = i18n.translations(language).ugettext(ENGINE)
    return [
        (r.registration, r.latest_status or "none", number(r.latest_score, 1),
         " · ".join(f"{engine % {'n': n}}: {number(score, 1)}"
                    for n, score in r.engine_scores.items()) or "—",
         r.latest_flight_id, when(r.latest_flight_at), number(r.findings))
        for r in rows
    ]


@router.get("/aircraft/{registration}")
async def aircraft_page(
    request: Request,
    registration: Registration,
    user: SignedIn,
    session: Session,
    account_id: Annotated[uuid.UUID | None, Query()] = None,
) -> Response:
    """The trend flight by flight, per engine and residual channel; each point links to its
    flight, and a change of status and each engine reset are marked."""
    aircraft = await service.get_aircraft(session, user.principal, registration, account_id)
    history = await service.trend_history(session, aircraft)
    points = history.points
    changed = [i > 0 and p.bleed_status != points[i - 1].bleed_status
               for i, p in enumerate(points)]
    chart = {
        "x": [int(p.flown_at.timestamp()) for p in points],
        "flights": [str(p.flight_id) for p in points],
        "changed": [i for i, c in enumerate(changed) if c],
        "channels": history.channels,
        # Where each engine's reference restarted: the charts break their lines there.
        "resets": [{"index": n, "engine": str(r.engine), "at": int(r.effective_at.timestamp())}
                   for n, placed in history.resets.items() for r in placed],
    }
    return await render(request, "fleet/aircraft.html", {
        "aircraft": aircraft, "points": points, "changed": changed, "chart": chart,
        "resets": history.resets, "later_resets": history.later_resets, "words": words,
    })
