"""Engine references in the stored trend: a replacement or a refit restarts them, and an
incomplete flight leaves the trend alone."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select

from nubo.fleet import trend
from nubo.kit.types import utcnow
from nubo.models import Aircraft
from tests.fixtures.fleet import flight_result, processed_flight


async def _six_flights(session, world):
    start = utcnow() - timedelta(days=10)
    for k in range(6):
        await processed_flight(session, world.account_a, "PR-XBA", start + timedelta(days=k))
    await session.commit()
    return start


async def _state(session):
    stmt = select(Aircraft).execution_options(populate_existing=True)
    aircraft = (await session.execute(stmt)).scalar_one()
    return aircraft.trend_state


async def test_replacing_a_bleed_valve_restarts_that_engines_reference(client, world, session):
    await _six_flights(session, world)
    assert {"1", "2"} <= set((await _state(session))["engines"])
    response = await client.post(
        "/api/aircraft/PR-XBA/replacements",
        json={"engine": 1, "component": "bleed-valve"},
        headers=world.headers("admin_a"),
    )
    assert response.status_code == 201, response.text
    assert response.json()["engine"] == 1
    engines = (await _state(session))["engines"]
    assert "1" not in engines and engines["2"]["press_res_ip"]["ref"] is not None


async def test_members_cannot_record_a_replacement(client, world, session):
    await _six_flights(session, world)
    response = await client.post(
        "/api/aircraft/PR-XBA/replacements",
        json={"engine": 2, "component": "engine"},
        headers=world.headers("member_a"),
    )
    assert response.status_code == 403


async def test_refit_relearns_every_engine_from_the_flights_since(client, world, session):
    start = await _six_flights(session, world)
    since = start + timedelta(days=2, hours=12)  # three flights flown since
    response = await client.post(
        "/api/aircraft/refit", json={"since": since.isoformat()}, headers=world.headers("admin_a")
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"aircraft": 1, "engines": 2}
    for engine in ("1", "2"):
        channel = (await _state(session))["engines"][engine]["press_res_ip"]
        assert channel["n"] == 3 and channel["ref"] is None  # learning again


async def test_operators_must_name_the_account_to_refit(client, world, session):
    await _six_flights(session, world)
    response = await client.post(
        "/api/aircraft/refit", json={"since": utcnow().isoformat()},
        headers=world.headers("operator"),
    )
    assert response.status_code == 403
    assert response.json()["code"] == "account-required"


async def test_an_incomplete_flight_leaves_the_trend_alone(session, world):
    flight = await processed_flight(session, world.account_a, "PR-XBA")
    incomplete = replace(flight_result(), counts_for_trend=False, integrity_score=None)
    other = await processed_flight(session, world.account_a, "PR-XBA", result=incomplete)
    aircraft = await trend.record(session, other, incomplete)
    assert aircraft.flights_processed == 1
    assert aircraft.latest_flight_id == flight.id
