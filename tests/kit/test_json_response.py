"""The list routes serialise their page once (kit.schemas.json_response), from models built
without validation; their JSON must stay what the validated models gave."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from nubo.fleet.schemas import AircraftOut
from nubo.flights.schemas import FileOut, FlightOut
from nubo.kit.pagination import Page
from nubo.kit.schemas import json_response
from nubo.kit.types import utcnow
from nubo.marketplace.money import format_minor
from nubo.marketplace.schemas import DatasetFile, DatasetOut, DatasetPreview
from nubo.models import Aircraft, BleedStatus, Dataset, Flight, ProcessingStatus
from tests.fixtures.fleet import processed_flight
from tests.marketplace.factories import make_dataset


def _validated_flight(f: Flight) -> dict[str, Any]:
    """The flight as the API showed it before: every field validated, FastAPI's dump."""
    file = None
    if f.file_key is not None:
        file = FileOut(key=f.file_key, size=f.file_size, sha256=f.file_sha256,
                       format=f.file_format, name=f.file_name, uploaded_at=f.file_uploaded_at)
    data = {name: getattr(f, name) for name in FlightOut.model_fields if name != "file"}
    return FlightOut.model_validate({**data, "file": file}).model_dump(mode="json")


def _validated_dataset(d: Dataset) -> dict[str, Any]:
    file = None
    if d.file_key is not None:
        file = DatasetFile(name=d.file_name, size=d.file_size or 0, sha256=d.file_sha256,
                           content_type=d.file_content_type)
    return DatasetOut(
        id=d.id, name=d.name, description=d.description, location=d.location,
        price=format_minor(d.price_minor, d.currency), currency=d.currency,
        category=d.category, format=d.format, provider_account_id=d.provider_account_id,
        file=file, preview=DatasetPreview.model_validate(d.preview) if d.preview else None,
        created_at=d.created_at, updated_at=d.updated_at,
    ).model_dump(mode="json")


async def test_the_flight_list_answers_the_json_of_the_validated_records(client, world, session):
    done = await processed_flight(session, world.account_a, "PR-XBA")
    done.bleed_status, done.integrity_score = BleedStatus.watch, 71.25
    done.engine_scores = {"1": 71.25, "2": None}
    done.findings = [{"engine": 1, "code": "press-low", "evidence": {"z": -3.5, "n": [1, 2]}}]
    done.phases = [{"name": "climb", "start": "2026-01-01T10:00:00Z", "seconds": 612.5}]
    done.coverage = {"engines": {"1": True, "2": False}, "ratio": 0.875}
    done.warnings, done.rows_read, done.rows_used = ["incomplete-flight"], 7200, 7100
    done.file_key, done.file_size, done.file_sha256 = "flights/x/data.csv", 1234, "b" * 64
    done.file_format, done.file_name, done.file_uploaded_at = "csv", "voo ção.csv", utcnow()
    # Instants written by the database as the JSON writes them: whole seconds, a few
    # microseconds, an early year.
    done.departure_at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    done.arrival_at = datetime(2026, 1, 2, 4, 5, 6, 120, tzinfo=UTC)
    done.processed_at = datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    failed = await processed_flight(session, world.account_a, "PR-XBB")
    failed.processing_status = ProcessingStatus.failed
    failed.error_code, failed.error_message = "file-missing", "the data file is missing"
    await session.commit()
    response = await client.get("/api/flight", headers=world.headers("admin_a"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    by_id = {item["id"]: item for item in response.json()["items"]}
    for flight in (done, failed):
        await session.refresh(flight)
        assert by_id[str(flight.id)] == _validated_flight(flight)
    assert by_id[str(failed.id)]["error"] == {"code": "file-missing",
                                               "message": "the data file is missing"}


async def test_the_dataset_list_answers_the_json_of_the_validated_records(client, world, session):
    plain = await make_dataset(session, world.account_a, price_minor=123456, currency="JPY")
    filed = await make_dataset(session, world.account_a, file_key="d/1", file_name="a.csv",
                               file_size=10, file_sha256="c" * 64, file_content_type="text/csv")
    await session.commit()
    response = await client.get("/api/datasets", headers=world.headers("member_a"))
    assert response.status_code == 200
    by_id = {item["id"]: item for item in response.json()["items"]}
    for dataset in (plain, filed):
        await session.refresh(dataset)
        assert by_id[str(dataset.id)] == _validated_dataset(dataset)


async def test_the_aircraft_list_answers_the_json_of_the_validated_records(client, world, session):
    await processed_flight(session, world.account_a, "PR-XBA")
    await session.commit()
    response = await client.get("/api/aircraft", headers=world.headers("member_a"))
    assert response.status_code == 200
    [item] = response.json()["items"]
    aircraft = await session.get(Aircraft, uuid.UUID(item["id"]))
    assert item == AircraftOut.model_validate(aircraft).model_dump(mode="json")


async def _varied_flights(session, world) -> None:
    """Flights of two accounts: processed with every JSON column (nested, non-ASCII, a
    tiny and a huge float), failed with an error, and one still waiting for its file."""
    done = await processed_flight(session, world.account_a, "PR-XBA")
    done.bleed_status, done.integrity_score = BleedStatus.alert, 12.5
    done.engine_scores = {"1": 1e-7, "2": None, "3": 1.5e300}
    done.findings = [{"engine": 2, "code": "leak", "message_pt": "vazamento ção", "evidence":
                      {"z": -3.25, "n": [1, 2.0, None], "deep": {"a": [{"b": True}]}}}]
    done.phases = [{"phase": "cruise", "start_s": 0.1, "end_s": 4200.0}]
    done.coverage, done.warnings = {"ratio": 0.3333333333333333}, ["incomplete-flight"]
    done.file_key, done.file_size, done.file_sha256 = "flights/x/data.csv", 10**12, "b" * 64
    done.file_format, done.file_name, done.file_uploaded_at = "csv", "voo ção.csv", utcnow()
    # Instants written by the database as the JSON writes them: whole seconds, a few
    # microseconds, an early year.
    done.departure_at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    done.arrival_at = datetime(2026, 1, 2, 4, 5, 6, 120, tzinfo=UTC)
    done.processed_at = datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    failed = await processed_flight(session, world.account_b, "PR-XBB")
    failed.processing_status = ProcessingStatus.failed
    failed.error_code, failed.error_message = "file-missing", None
    session.add(Flight(account_id=world.account_a.id, registration="PR-XBC",
                       processing_status=ProcessingStatus.created))
    await session.commit()


async def _model_page(session, items: list[dict[str, Any]], cursor: str | None, model, row):
    """The page as `json_response` wrote it from the validated-free models of the rows."""
    found = []
    for item in items:
        entity = await session.get(row, uuid.UUID(item["id"]))
        await session.refresh(entity)
        found.append(model.of(entity))
    return json_response(Page(items=found, next_cursor=cursor)).body


async def test_the_flight_list_writes_the_bytes_of_the_page_of_flight_records(
    client, world, session
):
    await _varied_flights(session, world)
    for who, query in (("admin_a", ""), ("operator", ""), ("operator", "?limit=2"),
                       ("operator", "?status=failed"), ("admin_a", "?registration=pr-xba")):
        response = await client.get(f"/api/flight{query}", headers=world.headers(who))
        assert response.status_code == 200
        page = response.json()
        assert page["items"], (who, query)
        expected = await _model_page(session, page["items"], page["next_cursor"], FlightOut,
                                     Flight)
        assert response.content == expected, (who, query)


async def test_the_aircraft_list_writes_the_bytes_of_the_page_of_aircraft_records(
    client, world, session
):
    await _varied_flights(session, world)
    session.add(Aircraft(account_id=world.account_a.id, registration="PR-NEW",
                         flights_processed=0))
    await session.commit()
    for who, query in (("member_a", ""), ("operator", ""), ("operator", "?limit=1")):
        response = await client.get(f"/api/aircraft{query}", headers=world.headers(who))
        page = response.json()
        assert page["items"], (who, query)
        expected = await _model_page(session, page["items"], page["next_cursor"], AircraftOut,
                                     Aircraft)
        assert response.content == expected, (who, query)


async def test_the_dataset_lists_write_the_bytes_of_the_page_of_dataset_records(
    client, world, session
):
    preview = {"format": "csv", "columns": [{"name": "t", "type": "Float64"}], "column_count": 1,
               "rows": [[1e-7], [None], ["ção"]], "left_over": True}
    await make_dataset(session, world.account_a, name="plain", price_minor=123456,
                       currency="JPY")
    await make_dataset(session, world.account_a, name="filed", file_key="d/1",
                       file_name="a ção.csv", file_size=None, file_sha256="c" * 64,
                       file_content_type="text/csv", preview=preview, location="Rio, RJ, BR")
    await make_dataset(session, world.account_b, name="empty preview", preview={},
                       category=None, format=None, price_minor=4990)
    await session.commit()
    for query in ("", "?limit=1", "?sort=-price&limit=2", "?q=filed", "/location/rio",
                  "/price/49.90"):
        response = await client.get(f"/api/datasets{query}", headers=world.headers("member_a"))
        assert response.status_code == 200
        page = response.json()
        assert page["items"], query
        expected = await _model_page(session, page["items"], page["next_cursor"], DatasetOut,
                                     Dataset)
        assert response.content == expected, query


async def test_the_dataset_list_walks_every_sort_page_by_page_in_the_bytes_of_its_records(
    client, world, session
):
    for price in (4990, 4990, 100, 999999):  # a tie on price: the id decides
        await make_dataset(session, world.account_a, price_minor=price)
    await session.commit()
    headers = world.headers("member_a")
    every = (await client.get("/api/datasets?limit=200", headers=headers)).json()["items"]
    for sort in ("price", "-price", "created_at", "-created_at"):
        seen, cursor = [], None
        while True:
            query = f"?sort={sort}&limit=1" + (f"&cursor={cursor}" if cursor else "")
            response = await client.get(f"/api/datasets{query}", headers=headers)
            page = response.json()
            expected = await _model_page(session, page["items"], page["next_cursor"],
                                         DatasetOut, Dataset)
            assert response.content == expected, sort
            seen += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(d["id"] for d in seen) == sorted(d["id"] for d in every), sort
        keys = [(float(d["price"]) if "price" in sort else d["created_at"], d["id"])
                for d in seen]
        assert keys == sorted(keys, reverse=sort.startswith("-")), sort
