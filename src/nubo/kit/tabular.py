"""CSV and Parquet answers streamed from batches of rows, in constant memory.

A row is a tuple in the order of its `Column`s. Each format turns one batch at a time into
bytes and lets it go: the answer's size is bounded by nothing but the data, its memory by one
batch (docs/decisions/exports.md).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
from starlette.responses import StreamingResponse

# "decimal": money as a decimal string ("-10.50"), a number to a spreadsheet, not guarded.
Kind = Literal["text", "int", "float", "decimal", "time", "bool"]
Row = Sequence[Any]

# A spreadsheet evaluates a cell starting with these as a formula (CSV injection, OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_ARROW: dict[Kind, pa.DataType] = {
    "text": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "decimal": pa.string(),
    "time": pa.timestamp("us", tz="UTC"),
    "bool": pa.bool_(),
}


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: Kind = "text"


def iso_utc(value: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, e.g. 2026-11-29T12:00:00Z."""
    text = value.astimezone(UTC).isoformat()
    return text.removesuffix("+00:00") + "Z"


def csv_cell(value: Any, kind: Kind) -> str:
    if value is None:
        return ""
    if kind == "time":
        return iso_utc(value)
    if kind == "bool":
        return "true" if value else "false"
    if kind != "text":
        return str(value)
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if text.startswith(FORMULA_STARTS):
        return "'" + text  # shown as text, never run
    return text


async def csv_stream(
    columns: Sequence[Column], batches: AsyncIterator[Iterable[Row]]
) -> AsyncIterator[bytes]:
    """UTF-8 CSV (RFC 4180, CRLF) with a BOM, so that spreadsheets read accents right."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([c.name for c in columns])
    yield b"\xef\xbb\xbf" + buffer.getvalue().encode()
    async for batch in batches:
        buffer.seek(0)
        buffer.truncate()
        for row in batch:
            writer.writerow([csv_cell(v, c.kind) for v, c in zip(row, columns, strict=True)])
        if buffer.tell():
            yield buffer.getvalue().encode()


class _Drain(io.RawIOBase):
    """A write-only sink whose bytes are taken away as soon as they are written."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._chunks.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        data, self._chunks = b"".join(self._chunks), []
        return data


def arrow_schema(columns: Sequence[Column]) -> pa.Schema:
    return pa.schema([pa.field(c.name, _ARROW[c.kind]) for c in columns])


def _arrow_value(value: Any, kind: Kind) -> Any:
    if kind == "text" and value is not None and not isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return value


async def parquet_stream(
    columns: Sequence[Column], batches: AsyncIterator[Iterable[Row]]
) -> AsyncIterator[bytes]:
    """Parquet, one row group per batch, each sent once written (no formula guard: the
    format carries types, nothing in it is evaluated)."""
    schema = arrow_schema(columns)
    sink = _Drain()
    writer = pq.ParquetWriter(sink, schema, compression="zstd")
    try:
        async for batch in batches:
            rows = list(batch)
            if not rows:
                continue
            arrays = [
                pa.array([_arrow_value(r[i], c.kind) for r in rows], type=schema.field(i).type)
                for i, c in enumerate(columns)
            ]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            yield sink.take()
    finally:
        writer.close()
    yield sink.take()


ExportFormat = Literal["csv", "parquet"]
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}
# For the OpenAPI schema of export routes.
EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The table, streamed",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}
PARQUET_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The table, streamed (`format=csv` or `format=parquet`)",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def table_response(
    columns: Sequence[Column],
    batches: AsyncIterator[Iterable[Row]],
    name: str,
    fmt: ExportFormat = "csv",
) -> StreamingResponse:
    """A download of the table named `name`, streamed as it is read."""
    body = parquet_stream(columns, batches) if fmt == "parquet" else csv_stream(columns, batches)
    headers = {"Content-Disposition": f'attachment; filename="{name}.{fmt}"'}
    return StreamingResponse(body, media_type=MEDIA_TYPES[fmt], headers=headers)
