"""`GET /api/fleet`: the fleet page's rows as JSON, same order, filter and cursor."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

from nubo.fleet.schemas import FleetItemOut
from nubo.kit.pagination import Page
from nubo.kit.schemas import json_response
from nubo.kit.types import utcnow
from nubo.models import Aircraft
from tests.fixtures.fleet import flight_result, processed_flight
from tests.web.helpers import browser_session

ROW = re.compile(
    r'<tr>\s*<th scope="row"><a href="/aircraft/[^"]*">(?P<registration>[^<]*)</a></th>\s*'
    r'<td><span class="badge (?P<status>[a-z]+)">[^<]*</span></td>\s*'
    r'<td class="num">(?P<score>[^<]*)</td>\s*<td>(?P<engines>[^<]*)</td>\s*'
    r'<td>(?:<a href="/flights/(?P<flight>[^"]+)">[^<]*</a>|—)</td>\s*'
    r'<td class="num">(?P<findings>[^<]*)</td>\s*</tr>'
)


async def _fleet(session, world) -> None:
    """Account A: two alerts, a watch, two normals, one aircraft without a verdict, findings
    on the latest flight of one; account B: an alert of its own."""
    start = utcnow() - timedelta(days=2)
    await processed_flight(session, world.account_a, "PR-NNB", start,
                           flight_result("normal", 98.25))
    await processed_flight(session, world.account_a, "PR-NNA", start,
                           flight_result("alert", 30))
    await processed_flight(session, world.account_a, "PR-NNA", start + timedelta(days=1),
                           flight_result("normal", 96.5))
    await processed_flight(session, world.account_a, "PR-WWA", start, flight_result("watch", 71))
    await processed_flight(session, world.account_a, "PR-AAB", start, flight_result("alert", 44))
    flagged = await processed_flight(session, world.account_a, "PR-AAA", start,
                                     flight_result("alert", 12.5))
    flagged.findings = [{"engine": 1, "code": "leak", "severity": "alert", "message": "m",
                         "evidence": {}}] * 2
    session.add(Aircraft(account_id=world.account_a.id, registration="PR-NEW",
                         flights_processed=0))
    await processed_flight(session, world.account_b, "PR-BBB", start, flight_result("alert", 5))
    await session.commit()


def _number(text: str) -> float:
    return float(text.replace(".", "").replace(",", "."))


def _page_rows(text: str) -> list[dict[str, Any]]:
    """The fleet page's rows, read back from its table (numbers as the page rounds them)."""
    rows = []
    for m in ROW.finditer(text):
        engines = {}
        if m["engines"] != "—":
            for part in html.unescape(m["engines"]).split(" · "):
                name, score = part.split(": ")
                engines[name.split()[-1]] = _number(score)
        rows.append({
            "registration": m["registration"], "status": m["status"],
            "score": None if m["score"] == "—" else _number(m["score"]),
            "engines": engines, "flight": m["flight"], "findings": int(m["findings"]),
        })
    return rows


def _as_shown(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The JSON items as the page shows them."""
    return [{
        "registration": i["registration"], "status": i["latest_status"] or "none",
        "score": None if i["latest_score"] is None else round(i["latest_score"], 1),
        "engines": {n: round(s, 1) for n, s in i["engine_scores"].items()},
        "flight": i["latest_flight_id"], "findings": i["findings"],
    } for i in items]


async def _page(client, query: str = "") -> tuple[list[dict[str, Any]], str | None]:
    response = await client.get(f"/{query}")
    assert response.status_code == 200
    found = re.search(r'href="/\?cursor=([^"&]+)', response.text)
    return _page_rows(response.text), found[1] if found else None


async def _api(client, world, query: str = "", who: str = "member_a") -> dict[str, Any]:
    response = await client.get(f"/api/fleet{query}", headers=world.headers(who))
    assert response.status_code == 200, response.text
    body = response.json()
    # The bytes of the response model's page of the same values.
    model = Page[FleetItemOut](items=[FleetItemOut.model_validate(i) for i in body["items"]],
                               next_cursor=body["next_cursor"])
    assert response.content == json_response(model).body
    return body


async def _signed_in(client, session, world, who: str = "member_a") -> None:
    cookie, _ = await browser_session(session, world.platform, getattr(world, who))
    client.cookies.set("nubo_session", cookie)


async def test_fleet_json_lists_the_rows_of_the_fleet_page_worst_first(client, session, world):
    await _fleet(session, world)
    await _signed_in(client, session, world)
    body = await _api(client, world)
    rows, cursor = await _page(client)
    assert [i["registration"] for i in body["items"]] == [
        "PR-AAA", "PR-AAB", "PR-WWA", "PR-NNA", "PR-NNB", "PR-NEW"
    ]
    assert _as_shown(body["items"]) == rows
    assert body["next_cursor"] is None and cursor is None
    first = body["items"][0]
    assert first["findings"] == 2 and first["engine_scores"] == {"1": 12.5, "2": 12.5}
    assert first["latest_status"] == "alert" and first["latest_score"] == 12.5
    assert first["latest_flight_id"] == rows[0]["flight"] and first["latest_flight_at"]
    new = body["items"][-1]
    assert new["latest_status"] is None and new["latest_flight_id"] is None
    assert new["engine_scores"] == {} and new["findings"] == 0


async def test_fleet_json_filters_by_status_as_the_page_does(client, session, world):
    await _fleet(session, world)
    await _signed_in(client, session, world)
    expected = {"alert": ["PR-AAA", "PR-AAB"], "watch": ["PR-WWA"],
                "normal": ["PR-NNA", "PR-NNB"], "none": ["PR-NEW"]}
    for status, registrations in expected.items():
        body = await _api(client, world, f"?status={status}")
        assert [i["registration"] for i in body["items"]] == registrations, status
        rows, _ = await _page(client, f"?status={status}")
        assert _as_shown(body["items"]) == rows, status
    response = await client.get("/api/fleet?status=purple", headers=world.headers("member_a"))
    assert response.status_code == 422


async def test_fleet_json_cursor_pages_through_the_fleet_like_the_page(client, session, world):
    await _fleet(session, world)
    await _signed_in(client, session, world)
    whole = (await _api(client, world))["items"]
    for status in ("", "&status=alert", "&status=normal"):
        seen: list[dict[str, Any]] = []
        cursor: str | None = None
        pages = 0
        while True:
            query = f"?limit=2{status}" + (f"&cursor={cursor}" if cursor else "")
            body = await _api(client, world, query)
            rows, page_cursor = await _page(client, query)
            assert _as_shown(body["items"]) == rows, query
            assert body["next_cursor"] == page_cursor, query  # the same cursor
            seen += body["items"]
            pages += 1
            cursor = body["next_cursor"]
            if cursor is None:
                break
        wanted = [i for i in whole if not status or i["latest_status"] == status.split("=")[1]]
        assert seen == wanted, status
        assert pages == max(1, (len(wanted) + 1) // 2), status


async def test_fleet_json_never_lists_another_accounts_aircraft(client, session, world):
    await _fleet(session, world)
    mine = [i["registration"] for i in (await _api(client, world, who="admin_b"))["items"]]
    assert mine == ["PR-BBB"]
    alert = await _api(client, world, "?status=alert", who="member_a")
    assert "PR-BBB" not in [i["registration"] for i in alert["items"]]
    everyone = [i["registration"] for i in (await _api(client, world, who="operator"))["items"]]
    assert everyone[:3] == ["PR-AAA", "PR-AAB", "PR-BBB"] and "PR-NEW" in everyone
