from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

from sqlalchemy.ext.asyncio import AsyncSession

from nubo.flights.series import key_of
from nubo.models import Flight, FlightEvent, ProcessingStatus
from tests.authz.cases import Call, case
from tests.fixtures.world import World
from tests.flights.test_series import series_bytes

CSV = b"time_s,alt_std_ft,cas_kt\n0,0,0\n"


async def _flight_a(
    session: AsyncSession, world: World, status: ProcessingStatus = ProcessingStatus.created
) -> Flight:
    flight = Flight(account_id=world.account_a.id, registration="PR-XBA", processing_status=status)
    session.add(flight)
    await session.flush()
    session.add(FlightEvent(flight_id=flight.id, status=str(status)))
    await session.commit()
    return flight


@case("GET", "/api/flight")
@case("GET", "/api/flight/export")
@case("GET", "/api/flight/findings/export")
async def _list(world: World, session: AsyncSession) -> Call:
    await _flight_a(session, world)
    return Call()


@case("POST", "/api/flight/create")
async def _create(world: World, session: AsyncSession) -> Call:
    return Call(json={"account_id": str(world.account_a.id), "registration": "pr-xba"})


@case("GET", "/api/flight/{id}")
@case("GET", "/flights/{id}")
@case("DELETE", "/api/flight/{id}")
@case("POST", "/api/flight/{id}/upload-complete")
async def _one(world: World, session: AsyncSession) -> Call:
    return Call(path={"id": str((await _flight_a(session, world)).id)})


@case("POST", "/api/flight/{id}/upload-url")
async def _upload_url(world: World, session: AsyncSession) -> Call:
    flight = await _flight_a(session, world)
    return Call(path={"id": str(flight.id)}, json={"file_name": "flight.csv"})


@case("POST", "/api/flight/{id}/upload")
async def _upload(world: World, session: AsyncSession) -> Call:
    flight = await _flight_a(session, world)
    return Call(path={"id": str(flight.id)}, files={"file": ("flight.csv", CSV, "text/csv")})


@case("GET", "/api/flight/{id}/events")
async def _events(world: World, session: AsyncSession) -> Call:
    # A processed flight: the stream replays its events and ends.
    flight = await _flight_a(session, world, ProcessingStatus.processed)
    return Call(path={"id": str(flight.id)})


@case("GET", "/api/events")
async def _account_events(world: World, session: AsyncSession) -> Call:
    # The walk's settings close the account stream after a moment (events_stream_max_s).
    return Call(params={"after": "0"})


@case("GET", "/api/flight/{id}/series")
async def _series(world: World, session: AsyncSession) -> Call:
    # A processed flight whose series lies in the app's local object store.
    flight = await _flight_a(session, world, ProcessingStatus.processed)
    root = Path(url2pathname(urlparse(world.platform.settings.resolved_storage_url).path))
    path = root / key_of(flight)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(series_bytes(10))
    return Call(path={"id": str(flight.id)})
