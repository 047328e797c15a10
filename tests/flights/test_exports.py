"""Exports of the flights list and its findings: CSV a spreadsheet opens safely, Parquet,
the list's filters and scope, and memory bounded by a batch whatever the length."""

from __future__ import annotations

import csv
import io
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
from sqlalchemy import insert

from nubo.flights import exports
from nubo.kit.db import read_only_options
from nubo.kit.tabular import csv_stream
from nubo.models import BleedStatus, Flight, ProcessingStatus, Scope
from tests.fixtures.world import World, make_api_key

FINDING = {
    "engine": 1, "code": "=HYPERLINK(\"http://x\")", "severity": "watch",
    "message": "-precooler outlet 12 °C hot", "evidence": {"channel": "temp_res_hi",
                                                          "deviation": 12.0, "z": 3.1,
                                                          "integrity_score": 71.0},
}


async def _flight(session, world: World, **fields) -> Flight:
    values = {"account_id": world.account_a.id, "registration": "PR-XBA",
              "processing_status": ProcessingStatus.created, **fields}
    flight = Flight(**values)
    session.add(flight)
    await session.flush()
    return flight


def _csv(body: bytes) -> list[dict[str, str]]:
    assert body.startswith(b"\xef\xbb\xbf")  # spreadsheets then read UTF-8 right
    return list(csv.DictReader(io.StringIO(body[3:].decode())))


async def test_flights_export_has_status_score_findings_and_utc_times(client, world, session):
    departed = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    await _flight(session, world, processing_status=ProcessingStatus.processed,
                  bleed_status=BleedStatus.watch, integrity_score=71.5, findings=[FINDING],
                  departure_at=departed, flight_number="=1+1")
    await session.commit()
    r = await client.get("/api/flight/export", headers=world.headers("member_a"))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert 'filename="flights.csv"' in r.headers["content-disposition"]
    [row] = _csv(r.content)
    assert row["processing_status"] == "processed" and row["bleed_status"] == "watch"
    assert row["integrity_score"] == "71.5" and row["findings_count"] == "1"
    assert row["departure_at"] == "2026-11-20T10:00:00Z"
    assert row["flight_number"] == "'=1+1"  # text, never a formula


async def test_findings_export_guards_every_text_cell(client, world, session):
    await _flight(session, world, processing_status=ProcessingStatus.processed,
                  findings=[FINDING, {**FINDING, "engine": 2, "code": "@SUM(A1)"}])
    await _flight(session, world)  # not processed: no findings, no rows
    await session.commit()
    r = await client.get("/api/flight/findings/export", headers=world.headers("admin_a"))
    rows = _csv(r.content)
    assert [x["engine"] for x in rows] == ["1", "2"]
    assert rows[0]["code"].startswith("'=") and rows[1]["code"] == "'@SUM(A1)"
    assert rows[0]["message"].startswith("'-") and rows[0]["deviation"] == "12.0"


async def test_the_export_takes_the_list_filters_and_the_account_scope(client, world, session):
    await _flight(session, world, registration="PR-AAA")
    await _flight(session, world, registration="PR-BBB")
    await _flight(session, world, registration="PR-AAA", account_id=world.account_b.id)
    await session.commit()
    r = await client.get("/api/flight/export", params={"registration": "pr-aaa"},
                         headers=world.headers("admin_a"))
    rows = _csv(r.content)
    assert [(x["registration"], x["account_id"]) for x in rows] == [
        ("PR-AAA", str(world.account_a.id))
    ]
    mine = _csv((await client.get("/api/flight/export", headers=world.headers("admin_b"))).content)
    assert [x["registration"] for x in mine] == ["PR-AAA"]


async def test_flights_export_as_parquet_keeps_types(client, world, session):
    await _flight(session, world, integrity_score=88.0,
                  departure_at=datetime(2026, 11, 20, 10, tzinfo=UTC))
    await session.commit()
    r = await client.get("/api/flight/export", params={"format": "parquet"},
                         headers=world.headers("admin_a"))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(r.content))
    assert table.column("integrity_score").to_pylist() == [88.0]
    assert str(table.schema.field("departure_at").type) == "timestamp[us, tz=UTC]"


async def test_a_key_with_flights_read_exports(client, world, session):
    _, token = await make_api_key(session, world.account_a, [Scope.flights_read])
    await session.commit()
    await _flight(session, world)
    await session.commit()
    r = await client.get("/api/flight/export", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and len(_csv(r.content)) == 1


async def test_export_memory_is_bounded_by_a_batch_not_the_length(app, world, session):
    async def add(n: int) -> None:
        now = datetime.now(UTC)
        rows = [{"id": uuid.uuid4(), "account_id": world.account_a.id, "registration": "PR-XBA",
                 "processing_status": ProcessingStatus.processed, "findings": [FINDING] * 3,
                 "created_at": now - timedelta(seconds=i), "updated_at": now,
                 "processing_run": 0, "processing_attempts": 0}
                for i in range(n)]
        await session.execute(insert(Flight), rows)
        await session.commit()

    maker = app.state.sessionmaker

    async def peak() -> tuple[int, int]:
        size = 0
        tracemalloc.start()
        tables = exports.flights_table(lambda: maker(**read_only_options(True)),
                                       world.admin_a, {}, size=100)
        async for chunk in csv_stream(exports.FLIGHT_COLUMNS, tables):
            size += len(chunk)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return size, top

    await add(300)
    small_size, small_peak = await peak()
    await add(900)
    big_size, big_peak = await peak()
    assert big_size > 3.5 * small_size
    assert big_peak < 1.5 * small_peak, (small_peak, big_peak)


def test_the_exports_document_the_filters_of_the_list(app):
    # The list's query model extends the exports' filters: the same parameters either way.
    paths = app.openapi()["paths"]

    def parameters(path: str) -> list[dict[str, object]]:
        return [p for p in paths[path]["get"]["parameters"] if p["name"] != "format"]

    filters = [p for p in parameters("/api/flight") if p["name"] not in ("limit", "cursor")]
    assert [p["name"] for p in filters] == [
        "registration", "status", "bleed_status", "from", "to", "account_id"
    ]
    assert parameters("/api/flight/export") == filters
    assert parameters("/api/flight/findings/export") == filters
