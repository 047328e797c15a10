"""The dataset catalogue over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.fixtures.world import World
from tests.marketplace.factories import make_dataset

BODY = {"name": "Rain gauges", "description": "Daily rain in the Northeast",
        "location": "São Paulo, BR", "price": "49.90", "category": "weather", "format": "csv"}


async def _create(client, world: World, **fields):
    response = await client.post("/api/datasets", json={**BODY, **fields},
                                 headers=world.headers("operator"))
    assert response.status_code == 201, response.text
    return response.json()


async def test_create_read_update_delete(client, world):
    created = await _create(client, world)
    assert created["price"] == "49.90" and created["currency"] == "BRL"
    assert created["provider_account_id"] == str(world.platform_account.id)
    assert created["file"] is None
    url = f"/api/datasets/{created['id']}"
    got = await client.get(url, headers=world.headers("member_a"))
    assert got.status_code == 200 and got.json()["name"] == "Rain gauges"

    updated = await client.put(url, json={"price": "59", "location": "Recife, BR"},
                               headers=world.headers("operator"))
    assert updated.status_code == 200
    assert updated.json()["price"] == "59.00" and updated.json()["location"] == "Recife, BR"

    assert (await client.delete(url, headers=world.headers("operator"))).status_code == 204
    assert (await client.get(url, headers=world.headers("member_a"))).status_code == 404
    assert (await client.put(url, json={"price": "1"},
                             headers=world.headers("operator"))).status_code == 404
    assert (await client.delete(url, headers=world.headers("operator"))).status_code == 404
    listed = await client.get("/api/datasets", headers=world.headers("member_a"))
    assert created["id"] not in [d["id"] for d in listed.json()["items"]]


async def test_money_validation(client, world):
    headers = world.headers("operator")
    for price in ["-1", "abc", "1e3", 10.5, "10.001"]:
        response = await client.post("/api/datasets", json={**BODY, "price": price},
                                     headers=headers)
        assert response.status_code == 422, (price, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    bad_currency = await client.post("/api/datasets", json={**BODY, "currency": "XXX"},
                                     headers=headers)
    assert bad_currency.status_code == 422
    yen = await _create(client, world, price="1500", currency="jpy")
    assert (yen["price"], yen["currency"]) == ("1500", "JPY")
    unknown = await client.post("/api/datasets", json={**BODY, "owner": "me"}, headers=headers)
    assert unknown.status_code == 422


async def test_a_price_sent_as_a_json_number_says_to_send_a_decimal_string(client, world):
    response = await client.post("/api/datasets", json={**BODY, "price": 49.95},
                                 headers=world.headers("operator"))
    assert response.status_code == 422
    assert response.json()["code"] == "validation-error"
    assert 'send money as a decimal string, e.g. \\"49.95\\"' in response.text
    for jargon in ("constrained-str", "int_from_float", "string_type"):
        assert jargon not in response.text


async def test_only_a_plain_decimal_string_is_a_price(client, world):
    headers = world.headers("operator")
    refused = [True, 10.0, 10, "\u0661\u0660", " 10", "10 ", "+10", "1_000", "10.", ".5"]
    for price in refused:
        response = await client.post("/api/datasets", json={**BODY, "price": price},
                                     headers=headers)
        assert response.status_code == 422, (price, response.text)
    too_precise = [("10.001", "BRL"), ("1.5", "JPY"), ("1.0001", "KWD")]
    for price, currency in too_precise:
        response = await client.post("/api/datasets",
                                     json={**BODY, "price": price, "currency": currency},
                                     headers=headers)
        assert response.status_code == 422, (price, currency, response.text)
        assert f"more decimals than {currency} allows" in response.json()["detail"]
    assert (await _create(client, world, price="1.234", currency="KWD"))["price"] == "1.234"


async def test_location_is_accent_case_and_space_insensitive(client, world, session):
    sp = await make_dataset(session, world.platform_account, location="São Paulo, BR")
    await make_dataset(session, world.platform_account, location="Rio de Janeiro, BR")
    await session.commit()
    headers = world.headers("member_a")
    for raw in ["sao paulo, br", "SÃO PAULO, BR", "  sao   paulo ,br  ", "Sa%CC%83o Paulo, BR",
                "sao paulo", "São Paulo"]:
        response = await client.get(f"/api/datasets/location/{raw}", headers=headers)
        assert response.status_code == 200
        assert [d["id"] for d in response.json()["items"]] == [str(sp.id)], raw
    blank = await client.get("/api/datasets/location/%20", headers=headers)
    assert blank.status_code == 422


async def _ids_at(client, world, location: str) -> set[str]:
    response = await client.get(f"/api/datasets/location/{location}",
                                headers=world.headers("member_a"))
    assert response.status_code == 200, response.text
    return {d["id"] for d in response.json()["items"]}


async def test_a_location_matches_its_city_alone_or_with_region_or_country(client, world, session):
    made = {}
    for location in ["São Paulo, BR", "Brasília, DF, BR", "Goiânia, GO, BR",
                     "Rio de Janeiro, RJ, BR", "Rio Branco, AC, BR"]:
        made[location] = str((await make_dataset(session, world.platform_account,
                                                 location=location)).id)
    await session.commit()
    rio = {made["Rio de Janeiro, RJ, BR"]}
    for query in ["rio de janeiro", "Rio de Janeiro, RJ", "RIO DE JANEIRO,rj,br",
                  "rio de janeiro, br"]:
        assert await _ids_at(client, world, query) == rio, query
    assert await _ids_at(client, world, "brasilia") == {made["Brasília, DF, BR"]}
    assert await _ids_at(client, world, "Brasilia, df") == {made["Brasília, DF, BR"]}
    assert await _ids_at(client, world, "goiania") == {made["Goiânia, GO, BR"]}
    assert await _ids_at(client, world, "goiania, go, br") == {made["Goiânia, GO, BR"]}
    for nothing in ["rio", "rj", "br", "janeiro", "rio de janeiro, sp", "paulo"]:
        assert await _ids_at(client, world, nothing) == set(), nothing
    listed = await client.get("/api/datasets", params={"location": "sao paulo"},
                              headers=world.headers("member_a"))
    assert [d["id"] for d in listed.json()["items"]] == [made["São Paulo, BR"]]


async def test_q_searches_name_description_and_location(client, world, session):
    in_goiania = await _create(client, world, name="Soil moisture", description="Hourly",
                               location="Goiânia, GO, BR")
    await _create(client, world, name="Traffic", description="Hourly", location="Recife, BR")
    for q in ["goiania", "GOIÂNIA", "soil"]:
        response = await client.get("/api/datasets", params={"q": q},
                                    headers=world.headers("member_a"))
        assert [d["id"] for d in response.json()["items"]] == [in_goiania["id"]], q


async def test_price_lookup(client, world, session):
    ten = await make_dataset(session, world.platform_account, price_minor=1000)
    await make_dataset(session, world.platform_account, price_minor=1001)
    await make_dataset(session, world.platform_account, price_minor=1000, currency="USD")
    await session.commit()
    headers = world.headers("member_a")
    for raw in ["10", "10.0", "10.00"]:
        response = await client.get(f"/api/datasets/price/{raw}", headers=headers)
        assert response.status_code == 200
        assert [d["id"] for d in response.json()["items"]] == [str(ten.id)], raw
    usd = await client.get("/api/datasets/price/10", params={"currency": "USD"},
                           headers=headers)
    assert len(usd.json()["items"]) == 1 and usd.json()["items"][0]["currency"] == "USD"
    for bad in ["-10", "ten", "1e1", "10,00"]:
        assert (await client.get(f"/api/datasets/price/{bad}",
                                 headers=headers)).status_code == 422, bad
    assert (await client.get("/api/datasets/price/10.001", headers=headers)).json()["items"] == []


async def test_filters_sort_and_keyset_pagination(client, world, session):
    provider = world.platform_account
    for i in range(7):
        await make_dataset(session, provider, name=f"Wind {i}", price_minor=1000 + i * 100,
                           location="Recife, BR", category="wind")
    await make_dataset(session, provider, name="Ocean buoys", description="Águas profundas",
                       price_minor=1200, location="Recife, BR", category="ocean")
    await make_dataset(session, provider, name="Wind far", price_minor=1300, location="Natal, BR",
                       category="wind")
    await session.commit()
    headers = world.headers("member_a")
    params = {"location": "recife, br", "min_price": "11", "max_price": "15.00",
              "sort": "price", "limit": "2", "category": "wind"}
    seen, cursor = [], None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/api/datasets", params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [(d["name"], d["price"]) for d in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [("Wind 1", "11.00"), ("Wind 2", "12.00"), ("Wind 3", "13.00"),
                    ("Wind 4", "14.00"), ("Wind 5", "15.00")]

    desc = await client.get("/api/datasets", params={"sort": "-price", "location": "Recife, BR",
                                                     "limit": 1}, headers=headers)
    assert desc.json()["items"][0]["name"] == "Wind 6"
    q = await client.get("/api/datasets", params={"q": "AGUAS"}, headers=headers)
    assert [d["name"] for d in q.json()["items"]] == ["Ocean buoys"]
    wildcard = await client.get("/api/datasets", params={"q": "%"}, headers=headers)
    assert wildcard.json()["items"] == []
    by_created = await client.get("/api/datasets", params={"sort": "-created_at", "limit": 200},
                                  headers=headers)
    stamps = [d["created_at"] for d in by_created.json()["items"]]
    assert stamps == sorted(stamps, reverse=True)


async def test_bad_filters_are_422(client, world):
    headers = world.headers("member_a")
    for params in [{"min_price": "-1"}, {"max_price": "x"}, {"sort": "name"},
                   {"min_price": "5", "max_price": "4"}, {"currency": "ZZZ", "min_price": "1"},
                   {"cursor": "not-a-cursor"}, {"limit": "0"}]:
        response = await client.get("/api/datasets", params=params, headers=headers)
        assert response.status_code == 422, (params, response.text)
    price_cursor = await client.get("/api/datasets", params={"sort": "created_at",
                                                             "cursor": "WzEwMDAsIngiXQ"},
                                    headers=headers)
    assert price_cursor.status_code == 422


async def test_only_operators_write_and_anonymous_reads_nothing(client, world, session):
    dataset = await make_dataset(session, world.platform_account)
    await session.commit()
    for who in ["admin_a", "member_a", "admin_b"]:
        assert (await client.post("/api/datasets", json=BODY,
                                  headers=world.headers(who))).status_code == 403
    assert (await client.get(f"/api/datasets/{dataset.id}")).status_code == 401
