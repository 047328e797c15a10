"""An aircraft's trend as CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from tests.fixtures.fleet import flight_result, processed_flight
from tests.fixtures.world import World


async def test_an_aircraft_trend_exports_flight_by_flight(client, world: World, session):
    for day, score in ((1, 95.0), (2, 61.0)):
        await processed_flight(session, world.account_a, departure_at=datetime(
            2026, 11, day, 10, tzinfo=UTC), result=flight_result("normal", score))
    await session.commit()
    r = await client.get("/api/aircraft/PR-XBA/export", headers=world.headers("member_a"))
    assert r.status_code == 200
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [x["flown_at"] for x in rows] == ["2026-11-01T10:00:00Z", "2026-11-02T10:00:00Z"]
    assert [x["engine1_score"] for x in rows] == ["95.0", "61.0"]
    other = await client.get("/api/aircraft/PR-XBA/export", headers=world.headers("admin_b"))
    assert other.status_code == 404
