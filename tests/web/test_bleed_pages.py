"""The fleet, flights, flight and aircraft pages: status, content and tenant scoping."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta

from nubo.fleet import service as fleet_service
from tests.fixtures.fleet import flight_result, processed_flight
from tests.web.helpers import browser_session


async def _signed_in(client, session, world, who="admin_a"):
    cookie, _ = await browser_session(session, world.platform, getattr(world, who))
    client.cookies.set("nubo_session", cookie)


async def test_fleet_lists_the_worst_first_with_words_for_status(client, session, world):
    await processed_flight(session, world.account_a, "PR-AAA", result=flight_result("normal", 97))
    await processed_flight(session, world.account_a, "PR-ZZZ", result=flight_result("alert", 41))
    await processed_flight(session, world.account_a, "PR-MMM", result=flight_result("watch", 70))
    await processed_flight(session, world.account_b, "PR-BBB", result=flight_result("alert", 10))
    await session.commit()
    await _signed_in(client, session, world)
    page = (await client.get("/")).text
    order = [page.index(r) for r in ("PR-ZZZ", "PR-MMM", "PR-AAA")]
    assert order == sorted(order)
    assert "PR-BBB" not in page
    assert ">Alerta</span>" in page and ">Atenção</span>" in page
    assert "Motor 1: 41,0" in page


async def test_fleet_filters_by_status(client, session, world):
    await processed_flight(session, world.account_a, "PR-AAA", result=flight_result("normal", 97))
    await processed_flight(session, world.account_a, "PR-ZZZ", result=flight_result("alert", 41))
    await session.commit()
    await _signed_in(client, session, world)
    page = (await client.get("/?status=normal")).text
    assert "PR-AAA" in page and "PR-ZZZ" not in page
    assert (await client.get("/?status=purple")).status_code == 422


async def test_fleet_more_link_continues_after_the_last_row(client, session, world):
    for n in range(3):
        await processed_flight(session, world.account_a, f"PR-AA{n}")
    await session.commit()
    await _signed_in(client, session, world)
    first = (await client.get("/?limit=2")).text
    assert "PR-AA0" in first and "PR-AA1" in first and "PR-AA2" not in first
    cursor = first.split('href="/?cursor=')[1].split('"')[0]
    second = (await client.get(f"/?limit=2&cursor={cursor}")).text
    assert "PR-AA2" in second and "PR-AA0" not in second


async def test_flights_page_filters_and_scopes(client, session, world):
    day = datetime(2026, 11, 20, 10, tzinfo=UTC)
    watched = await processed_flight(session, world.account_a, "PR-AAA", departure_at=day)
    watched.bleed_status = "watch"
    await processed_flight(session, world.account_a, "PR-CCC",
                           departure_at=day - timedelta(days=5))
    await processed_flight(session, world.account_b, "PR-BBB", departure_at=day)
    await session.commit()
    await _signed_in(client, session, world)
    everything = (await client.get("/flights")).text
    assert "PR-AAA" in everything and "PR-CCC" in everything and "PR-BBB" not in everything
    one_day = (await client.get("/flights?from=2026-11-20&to=2026-11-20")).text
    assert "PR-AAA" in one_day and "PR-CCC" not in one_day
    watch = (await client.get("/flights?bleed_status=watch")).text
    assert "PR-AAA" in watch and "PR-CCC" not in watch


async def test_flight_page_shows_status_scores_and_findings_in_words(client, session, world):
    flight = await processed_flight(session, world.account_a, "PR-AAA")
    flight.bleed_status, flight.integrity_score = "alert", 42.5
    flight.engine_scores = {"1": 42.5, "2": 96.0}
    flight.phases = [{"phase": "cruise", "start_s": 600.0, "end_s": 4200.0}]
    flight.findings = [{"engine": 1, "code": "overpressure", "severity": "alert",
                        "message": "Engine 1: pressure above 60 psi for 12 s",
                        "evidence": {"over_s": 12.0}}]
    await session.commit()
    await _signed_in(client, session, world)
    response = await client.get(f"/flights/{flight.id}")
    assert response.status_code == 200
    assert "Sobrepressão" in response.text
    assert "Tempo acima de 60 psi (s)" in response.text
    assert "Cruzeiro" in response.text and "0:10:00" in response.text
    assert "Motor 2: 96,0" in response.text


async def test_flight_page_says_where_each_finding_was_seen_and_marks_it(client, session, world):
    flight = await processed_flight(session, world.account_a, "PR-AAA")
    flight.bleed_status = "alert"
    flight.findings = [
        {"engine": 1, "code": "overpressure", "severity": "alert", "message": "m",
         "evidence": {"over_s": 599.0}, "start_s": 556.0, "end_s": 1187.0, "seconds": 599,
         "phase": "climb"},
        # stored before findings were placed: no span, no mark
        {"engine": 2, "code": "leak", "severity": "watch", "message": "m",
         "evidence": {"leak_s": 3.0}},
    ]
    await session.commit()
    await _signed_in(client, session, world)
    page = (await client.get(f"/flights/{flight.id}")).text
    assert "Visto de 0:09:16 a 0:19:47 do voo (599 s), sobretudo em subida." in page
    assert page.count("Visto de") == 1
    marks = page.split("data-findings='")[1].split("'")[0]
    assert json.loads(html.unescape(marks)) == [
        {"n": 1, "start_s": 556.0, "end_s": 1187.0, "severity": "alert"}]
    client.cookies.set("nubo_lang", "en")
    english = (await client.get(f"/flights/{flight.id}")).text
    assert "Seen from 0:09:16 to 0:19:47 into the flight (599 s), mostly in climb." in english


async def test_another_accounts_flight_is_the_404_page(client, session, world):
    flight = await processed_flight(session, world.account_b, "PR-BBB")
    await session.commit()
    await _signed_in(client, session, world)
    response = await client.get(f"/flights/{flight.id}")
    assert response.status_code == 404
    assert "<h1>Página não encontrada</h1>" in response.text


async def test_aircraft_page_has_the_trend_and_links_each_flight(client, session, world):
    start = datetime(2026, 11, 1, tzinfo=UTC)
    flights = [await processed_flight(session, world.account_a, "PR-AAA",
                                      departure_at=start + timedelta(days=n))
               for n in range(7)]
    await session.commit()
    await _signed_in(client, session, world)
    response = await client.get("/aircraft/pr-aaa")
    assert response.status_code == 200
    for flight in flights:
        assert f'href="/flights/{flight.id}"' in response.text
    assert 'id="trend-data"' in response.text
    assert (await client.get("/aircraft/PR-BBB")).status_code == 404


async def test_fleet_counts_the_findings_of_the_last_flight(client, session, world):
    flight = await processed_flight(session, world.account_a, "PR-AAA")
    flight.findings = [{"engine": 1, "code": "leak", "severity": "alert", "message": "m",
                        "evidence": {}}] * 3
    await session.commit()
    await _signed_in(client, session, world)
    page = (await client.get("/")).text
    assert '<td class="num">3</td>' in page


async def test_aircraft_trend_includes_every_channel_the_trend_keeps(client, session, world):
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for n in range(7):
        await processed_flight(session, world.account_a, "PR-AAA",
                               departure_at=start + timedelta(days=n))
    await session.commit()
    await _signed_in(client, session, world)
    response = await client.get("/aircraft/PR-AAA")
    assert response.status_code == 200
    assert '"score"' in response.text  # the integrity score is trended too


async def test_aircraft_page_shows_where_an_engine_was_reset(client, session, world):
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for n in range(10):
        await processed_flight(session, world.account_a, "PR-AAA",
                               departure_at=start + timedelta(days=n))
    # Replaced between the 7th and the 8th flight, and again after the last one.
    await fleet_service.restart_engine(session, world.account_a.id, "PR-AAA", 1, "bleed-valve",
                                       start + timedelta(days=6, hours=12))
    await fleet_service.restart_engine(session, world.account_a.id, "PR-AAA", 2, "precooler",
                                       start + timedelta(days=20))
    await session.commit()
    await _signed_in(client, session, world)
    page = (await client.get("/aircraft/PR-AAA")).text
    assert "Válvula de sangria substituída" in page and "Pré-resfriador substituído" in page
    assert page.count("Referência do motor 1 reiniciada") == 1
    chart = json.loads(html.unescape(page.split('id="trend-data">')[1].split("</script>")[0]))
    assert [(r["index"], r["engine"]) for r in chart["resets"]] == [(7, "1")]
    ewma = chart["channels"]["1"]["press_res_ip"]["ewma"]
    assert ewma[6] is not None and ewma[7] is None  # no line drawn across the reset
    assert chart["channels"]["2"]["press_res_ip"]["ewma"][7] is not None


async def test_flights_page_links_an_export_with_its_filters(client, session, world):
    departed = datetime(2026, 11, 20, 10, tzinfo=UTC)
    await processed_flight(session, world.account_a, "PR-AAA", departed)
    await processed_flight(session, world.account_a, "PR-AAA", departed + timedelta(days=3))
    await processed_flight(session, world.account_a, "PR-CCC", departed)
    await session.commit()
    await _signed_in(client, session, world)
    page = (await client.get("/flights?registration=PR-AAA&from=2026-11-20&to=2026-11-20")).text
    assert "Exportar CSV" in page
    href = html.unescape(re.search(r'class="export" href="([^"]+)"', page).group(1))
    assert href.startswith("/api/flight/export?")
    export = await client.get(href)  # the session cookie is enough for this download
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    lines = export.content.decode("utf-8-sig").splitlines()
    assert len(lines) == 2 and ",PR-AAA," in lines[1] and "2026-11-20T10:00:00Z" in lines[1]


async def test_aircraft_page_links_its_trend_export(client, session, world):
    await processed_flight(session, world.account_a, "PR-AAA", result=flight_result("watch", 70))
    await session.commit()
    await _signed_in(client, session, world, "member_a")
    page = (await client.get("/aircraft/PR-AAA")).text
    href = html.unescape(re.search(r'class="export" href="([^"]+)"', page).group(1))
    export = await client.get(href)  # with the session cookie, as the browser follows it
    assert export.status_code == 200
    lines = export.content.decode("utf-8-sig").splitlines()
    assert len(lines) == 2 and lines[1].startswith("PR-AAA,")
