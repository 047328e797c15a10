"""GET /api/flight/{id}/series: columns of the stored series, tenant-scoped like the flight."""

from __future__ import annotations

import io
import uuid

import numpy as np
import polars as pl

from nubo.bleed.series import PLOTTED, series_frame, to_parquet
from nubo.flights.series import key_of
from nubo.models import Flight


def series_bytes(n: int = 600) -> bytes:
    columns = {name: np.linspace(0, 10, n) for name in PLOTTED}
    return to_parquet(series_frame(pl.DataFrame({"time_s": np.arange(n), **columns})))


async def _stored(session, store, flight_id: str) -> Flight:
    flight = await session.get(Flight, uuid.UUID(flight_id))
    await store.put_bytes(key_of(flight), series_bytes())
    return flight


async def test_series_returns_the_time_axis_and_the_chosen_parameters(
    client, world, session, store, flight_a
):
    await _stored(session, store, flight_a["id"])
    response = await client.get(
        f"/api/flight/{flight_a['id']}/series",
        params={"params": "eng1_bleed_press_psi,alt_std_ft"}, headers=world.headers("member_a"))
    assert response.status_code == 200
    body = response.json()
    assert body["time_s"][:3] == [0, 1, 2] and len(body["time_s"]) == 600
    assert sorted(body["series"]) == ["alt_std_ft", "eng1_bleed_press_psi"]


async def test_arrow_is_served_when_asked_for_and_holds_the_same_columns(
    client, world, session, store, flight_a
):
    await _stored(session, store, flight_a["id"])
    url = f"/api/flight/{flight_a['id']}/series"
    headers = world.headers("member_a")
    arrow = await client.get(url, params={"points": 100}, headers={
        **headers, "Accept": "application/vnd.apache.arrow.stream, application/json;q=0.5"})
    assert arrow.status_code == 200
    assert arrow.headers["content-type"] == "application/vnd.apache.arrow.stream"
    assert "Accept" in arrow.headers["vary"]
    frame = pl.read_ipc_stream(io.BytesIO(arrow.content))
    body = (await client.get(url, params={"points": 100}, headers=headers)).json()
    assert frame["time_s"].to_list() == body["time_s"]
    assert frame["eng1_n2_pct"].dtype == pl.Float32
    for name, values in body["series"].items():
        assert np.array(values, dtype=np.float32).tolist() == frame[name].to_list()


async def test_json_writes_each_value_as_its_shortest_float32_and_gaps_as_null(
    client, world, session, store, flight_a
):
    flight = await session.get(Flight, uuid.UUID(flight_a["id"]))
    press = np.array([45.1, np.nan, np.inf, 1e-7], dtype=np.float32)
    frame = pl.DataFrame({"time_s": pl.Series(range(4), dtype=pl.Int32),
                          "eng1_bleed_press_psi": press})
    await store.put_bytes(key_of(flight), to_parquet(frame))
    response = await client.get(f"/api/flight/{flight_a['id']}/series",
                                headers=world.headers("member_a"))
    assert response.headers["content-type"] == "application/json"
    assert '"eng1_bleed_press_psi":[45.1,null,null,1e-7]' in response.text
    assert response.json()["flight_id"] == flight_a["id"]


async def test_points_bounds_each_series(client, world, session, store, flight_a):
    await _stored(session, store, flight_a["id"])
    response = await client.get(f"/api/flight/{flight_a['id']}/series", params={"points": 100},
                                headers=world.headers("admin_a"))
    body = response.json()
    assert len(body["time_s"]) <= 100
    assert set(body["series"]) == set(PLOTTED)
    assert max(body["series"]["eng2_n2_pct"]) == 10.0


async def test_another_accounts_series_is_404(client, world, session, store, flight_a):
    await _stored(session, store, flight_a["id"])
    response = await client.get(f"/api/flight/{flight_a['id']}/series",
                                headers=world.headers("admin_b"))
    assert response.status_code == 404


async def test_unknown_parameter_is_422_and_missing_series_404(client, world, flight_a):
    url = f"/api/flight/{flight_a['id']}/series"
    unknown = await client.get(url, params={"params": "nope"}, headers=world.headers("admin_a"))
    assert unknown.status_code == 422
    assert unknown.json()["code"] == "unknown-parameter"
    missing = await client.get(url, headers=world.headers("admin_a"))
    assert missing.status_code == 404
    assert missing.json()["code"] == "series-not-found"


async def test_deleting_the_flight_deletes_its_series(client, world, session, store, flight_a):
    flight = await _stored(session, store, flight_a["id"])
    response = await client.delete(f"/api/flight/{flight_a['id']}",
                                   headers=world.headers("admin_a"))
    assert response.status_code == 204
    assert await store.head(key_of(flight)) is None
