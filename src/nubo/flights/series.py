"""A flight's stored time series (the plots' data) and GET /api/flight/{id}/series.

Layout beside the features: `series/account=<id>/aircraft=<registration>/flight=<id>.parquet`,
written by the processing job, removed when the flight is deleted (and by the orphan sweep
when no flight refers to it). Served as JSON columns or, on request, as an Arrow IPC stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from typing import Any

import polars as pl

from nubo.bleed.read import TIME
from nubo.bleed.series import PLOTTED, json_columns, read_parquet, reduce_min_max
from nubo.kit.errors import NotFound, Unprocessable
from nubo.kit.storage import ObjectNotFound, ObjectStore
from nubo.models import Flight

PREFIX = "series"
ARROW_STREAM = "application/vnd.apache.arrow.stream"
JSON = "application/json"
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")


def series_key(account_id: Any, registration: str, flight_id: Any) -> str:
    reg = _UNSAFE.sub("_", registration)
    return f"{PREFIX}/account={account_id}/aircraft={reg}/flight={flight_id}.parquet"


def key_of(flight: Flight) -> str:
    return series_key(flight.account_id, flight.registration, flight.id)


async def remove(store: ObjectStore, account_id: Any, registration: str, flight_id: Any) -> None:
    with contextlib.suppress(ObjectNotFound):
        await store.delete(series_key(account_id, registration, flight_id))


def parse_params(raw: str | None) -> list[str] | None:
    if not raw:
        return None
    wanted = [p.strip() for p in raw.split(",") if p.strip()]
    unknown = [p for p in wanted if p not in PLOTTED]
    if unknown:
        raise Unprocessable(f"unknown parameter(s): {', '.join(unknown)}; known: "
                            f"{', '.join(PLOTTED)}", code="unknown-parameter")
    return list(dict.fromkeys(wanted))


async def load(
    store: ObjectStore, flight: Flight, params: list[str] | None, points: int | None
) -> pl.DataFrame:
    """The flight's series (all parameters, or `params`), reduced to `points` if given."""
    try:
        chunks = await store.get_stream(key_of(flight))
        data = b"".join([chunk async for chunk in chunks])
    except ObjectNotFound as exc:
        raise NotFound("this flight has no series (not processed yet)",
                       code="series-not-found") from exc
    frame = await asyncio.to_thread(read_parquet, data, params)
    if points is not None:
        frame = await asyncio.to_thread(reduce_min_max, frame, points)
    return frame


def json_body(frame: pl.DataFrame, flight_id: uuid.UUID) -> bytes:
    """JSON: the time axis (seconds from the first sample) and one array per parameter,
    assembled from the columns' text (see `bleed.series.json_columns`)."""
    columns = json_columns(frame)
    series = ",".join(f"{json.dumps(c)}:{columns[c]}" for c in frame.columns if c != TIME)
    return f'{{"flight_id":"{flight_id}","time_s":{columns[TIME]},"series":{{{series}}}}}'.encode()


def wants_arrow(accept: str | None) -> bool:
    """Arrow when the client names it before (or without) JSON in `Accept`."""
    if not accept:
        return False
    types = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    return ARROW_STREAM in types and (
        JSON not in types or types.index(ARROW_STREAM) < types.index(JSON)
    )
