"""Fleet views: latest verdict per aircraft, and the trend flight by flight."""

from __future__ import annotations

from datetime import timedelta

from nubo.kit.types import utcnow
from nubo.models import Aircraft
from tests.fixtures.fleet import flight_result, processed_flight


async def test_aircraft_list_shows_latest_status_and_score(client, world, session):
    start = utcnow() - timedelta(days=3)
    await processed_flight(session, world.account_a, "PR-XBA", start, flight_result("normal", 96))
    await processed_flight(session, world.account_a, "PR-XBA", start + timedelta(days=1),
                           flight_result("watch", 71))
    await processed_flight(session, world.account_a, "PR-XBB", start, flight_result("normal", 99))
    await session.commit()
    response = await client.get("/api/aircraft", headers=world.headers("member_a"))
    assert response.status_code == 200
    by_reg = {a["registration"]: a for a in response.json()["items"]}
    assert set(by_reg) == {"PR-XBA", "PR-XBB"}
    assert (by_reg["PR-XBA"]["latest_status"], by_reg["PR-XBA"]["latest_score"]) == ("watch", 71)
    assert by_reg["PR-XBA"]["flights_processed"] == 2


async def test_another_accounts_aircraft_are_invisible(client, world, session):
    await processed_flight(session, world.account_a, "PR-XBA")
    await session.commit()
    listing = await client.get("/api/aircraft", headers=world.headers("admin_b"))
    assert listing.json()["items"] == []
    one = await client.get("/api/aircraft/PR-XBA", headers=world.headers("admin_b"))
    assert one.status_code == 404


async def test_trend_lists_flights_in_the_order_flown_even_if_recorded_out_of_order(
    client, world, session
):
    start = utcnow() - timedelta(days=10)
    late = await processed_flight(session, world.account_a, "PR-XBA", start + timedelta(days=2),
                                  flight_result("watch", 80))
    early = await processed_flight(session, world.account_a, "PR-XBA", start,
                                   flight_result("normal", 98))
    await session.commit()
    response = await client.get("/api/aircraft/pr-xba", headers=world.headers("admin_a"))
    assert response.status_code == 200
    body = response.json()
    assert [p["flight_id"] for p in body["trend"]] == [str(early.id), str(late.id)]
    assert body["latest_flight_id"] == str(late.id)
    assert body["latest_status"] == "watch"


async def test_recording_the_same_flight_twice_keeps_one_point(session, world):
    flight = await processed_flight(session, world.account_a, "PR-XBA")
    from nubo.fleet import trend

    aircraft = await trend.record(session, flight, flight_result("alert", 40))
    assert aircraft.flights_processed == 1
    assert aircraft.latest_status == "alert"
    assert isinstance(aircraft, Aircraft) and aircraft.trend_state is not None


async def test_trend_pages_by_cursor(client, world, session):
    start = utcnow() - timedelta(days=30)
    for day in range(5):
        await processed_flight(session, world.account_a, "PR-XBC", start + timedelta(days=day))
    await session.commit()
    first = await client.get("/api/aircraft/PR-XBC", params={"limit": 3},
                             headers=world.headers("member_a"))
    body = first.json()
    assert len(body["trend"]) == 3 and body["next_cursor"]
    rest = await client.get("/api/aircraft/PR-XBC",
                            params={"limit": 3, "cursor": body["next_cursor"]},
                            headers=world.headers("member_a"))
    assert len(rest.json()["trend"]) == 2 and rest.json()["next_cursor"] is None
