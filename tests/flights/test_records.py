"""Flight records: create (JSON), read, list with filters and keyset pages, soft delete."""

from __future__ import annotations

import uuid

from httpx import AsyncClient

from tests.fixtures.world import World


async def _create(client: AsyncClient, world: World, who: str = "admin_a", **fields) -> dict:
    body = {"registration": "pr-xba", **fields}
    r = await client.post("/api/flight/create", json=body, headers=world.headers(who))
    assert r.status_code == 201, r.text
    return r.json()


async def test_create_normalises_and_answers_the_record(client: AsyncClient, world: World):
    flight = await _create(
        client,
        world,
        aircraft_type="A320",
        flight_number="la 3401",
        origin="sbgr",
        destination="GIG",
        departure_at="2026-11-20T10:00:00Z",
        arrival_at="2026-11-20T11:05:00+00:00",
    )
    assert flight["registration"] == "PR-XBA"
    assert flight["flight_number"] == "LA3401"
    assert (flight["origin"], flight["destination"]) == ("SBGR", "GIG")
    assert flight["account_id"] == str(world.account_a.id)
    assert flight["processing_status"] == "created"
    assert flight["bleed_status"] is None and flight["integrity_score"] is None
    assert flight["file"] is None and flight["error"] is None

    r = await client.get(f"/api/flight/{flight['id']}", headers=world.headers("member_a"))
    assert r.status_code == 200
    assert r.json()["departure_at"].startswith("2026-11-20T10:00:00")


async def test_create_refuses_bad_fields(client: AsyncClient, world: World):
    h = world.headers("admin_a")
    cases = [
        {"registration": "PR XBA!"},
        {"registration": "PR-XBA", "origin": "SB"},
        {"registration": "PR-XBA", "departure_at": "2026-11-20T10:00:00"},  # naive
        {
            "registration": "PR-XBA",
            "departure_at": "2026-11-20T10:00:00Z",
            "arrival_at": "2026-11-20T09:00:00Z",
        },
        {"registration": "PR-XBA", "processing_status": "processed"},  # not assignable
        {"registration": "PR-XBA", "file_key": "raw/x"},
    ]
    for body in cases:
        r = await client.post("/api/flight/create", json=body, headers=h)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    r = await client.post("/api/flight/create", content=b"x", headers=h)
    assert r.status_code == 415


async def test_operator_names_the_account(client: AsyncClient, world: World):
    h = world.headers("operator")
    r = await client.post("/api/flight/create", json={"registration": "PR-XBA"}, headers=h)
    assert r.status_code == 403
    assert r.json()["code"] == "account-required"
    flight = await _create(client, world, "operator", account_id=str(world.account_a.id))
    assert flight["account_id"] == str(world.account_a.id)
    r = await client.post(
        "/api/flight/create",
        json={"registration": "PR-XBA", "account_id": str(uuid.uuid4())},
        headers=h,
    )
    assert r.status_code == 404


async def test_other_accounts_flights_are_404(client: AsyncClient, world: World):
    flight = await _create(client, world)
    hb = world.headers("admin_b")
    for method, path in [
        ("GET", f"/api/flight/{flight['id']}"),
        ("DELETE", f"/api/flight/{flight['id']}"),
        ("GET", f"/api/flight/{flight['id']}/events"),
    ]:
        r = await client.request(method, path, headers=hb)
        assert r.status_code == 404, (method, path, r.text)
    r = await client.post(
        f"/api/flight/{flight['id']}/upload",
        files={"file": ("f.csv", b"a,b\n1,2\n")},
        headers=hb,
    )
    assert r.status_code == 404
    r = await client.post(
        "/api/flight/create",
        json={"registration": "PR-XBA", "account_id": str(world.account_a.id)},
        headers=hb,
    )
    assert r.status_code == 404
    r = await client.get("/api/flight", headers=hb)
    assert all(f["id"] != flight["id"] for f in r.json()["items"])


async def test_list_filters_and_keyset_pages(client: AsyncClient, world: World):
    made = []
    for i in range(5):
        made.append(
            await _create(
                client,
                world,
                registration="PR-XBA" if i % 2 == 0 else "PR-XBB",
                departure_at=f"2026-11-0{i + 1}T12:00:00Z",
            )
        )
    h = world.headers("member_a")
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        r = await client.get("/api/flight", params=params, headers=h)
        assert r.status_code == 200, r.text
        page = r.json()
        seen += [f["id"] for f in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    mine = [f["id"] for f in made]
    assert [i for i in seen if i in mine] == list(reversed(mine))  # newest first

    r = await client.get("/api/flight", params={"registration": "pr-xbb"}, headers=h)
    ids = {f["id"] for f in r.json()["items"]}
    assert ids >= {made[1]["id"], made[3]["id"]} and made[0]["id"] not in ids

    r = await client.get(
        "/api/flight",
        params={"from": "2026-11-02T00:00:00Z", "to": "2026-11-04T00:00:00Z"},
        headers=h,
    )
    ids = {f["id"] for f in r.json()["items"]}
    assert ids == {made[1]["id"], made[2]["id"]}

    r = await client.get("/api/flight", params={"status": "processed"}, headers=h)
    assert all(f["processing_status"] == "processed" for f in r.json()["items"])
    r = await client.get("/api/flight", params={"bleed_status": "alert"}, headers=h)
    assert r.status_code == 200
    r = await client.get("/api/flight", params={"status": "nope"}, headers=h)
    assert r.status_code == 422
    r = await client.get("/api/flight", params={"cursor": "garbage"}, headers=h)
    assert r.status_code == 422


async def test_soft_delete(client: AsyncClient, world: World):
    flight = await _create(client, world)
    url = f"/api/flight/{flight['id']}"
    r = await client.delete(url, headers=world.headers("member_a"))
    assert r.status_code == 403
    r = await client.delete(url, headers=world.headers("admin_a"))
    assert r.status_code == 204
    r = await client.get(url, headers=world.headers("admin_a"))
    assert r.status_code == 404
    r = await client.get("/api/flight", headers=world.headers("admin_a"))
    assert all(f["id"] != flight["id"] for f in r.json()["items"])
