"""A dataset file's preview: its columns (name, type) and first rows, taken once while the
upload streams past, in bounded memory.

`Capture` keeps the first `HEAD_BYTES` and the last `TAIL_BYTES` of the stream, whatever its
size. CSV (and gzip-compressed CSV) is read from the head; Parquet's schema from the footer
in the tail, and its first rows from the head when the first row group's column chunks lie
there (the columns that do not show no values). Anything else, or a file these bytes cannot
describe, has no preview (None): the upload itself never fails because of its preview.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import zlib
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import polars as pl
import pyarrow.parquet as pq

log = logging.getLogger("nubo.marketplace")

HEAD_BYTES = 1024 * 1024
TAIL_BYTES = 1024 * 1024
ROWS = 10
MAX_COLUMNS = 50
MAX_CELL = 200
GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
SEPARATORS = ",;\t|"


class Capture:
    """Passes the upload's chunks on unchanged and keeps its head and tail."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self.head = bytearray()
        self._tail: deque[bytes] = deque()  # whole chunks, as few as cover TAIL_BYTES
        self._tail_size = 0
        self.size = 0

    async def chunks(self) -> AsyncIterator[bytes]:
        async for chunk in self._chunks:
            self.take(chunk)
            yield chunk

    def take(self, chunk: bytes | bytearray | memoryview) -> None:
        data = bytes(chunk)
        self.size += len(data)
        if len(self.head) < HEAD_BYTES:
            self.head += data[: HEAD_BYTES - len(self.head)]
        self._tail.append(data)
        self._tail_size += len(data)
        while self._tail_size - len(self._tail[0]) >= TAIL_BYTES:
            self._tail_size -= len(self._tail.popleft())

    @property
    def tail(self) -> bytes:
        return b"".join(self._tail)[-TAIL_BYTES:]


def compute(capture: Capture) -> dict[str, Any] | None:
    """The preview of the captured file, or None (unknown format, unreadable head)."""
    head, tail = bytes(capture.head), bytes(capture.tail)
    try:
        if head.startswith(PARQUET_MAGIC) and tail.endswith(PARQUET_MAGIC):
            return _parquet(head, tail, capture.size)
        if head.startswith(GZIP_MAGIC):
            text, whole = _gunzip_head(head, complete=capture.size <= HEAD_BYTES)
            return _csv(text, whole, "csv.gz")
        return _csv(head, capture.size <= HEAD_BYTES, "csv")
    except Exception as exc:  # a preview is a courtesy: never fail the upload for it
        log.info("no preview for an uploaded file: %s", exc)
        return None


# ----------------------------------------------------------------------------- CSV


def _gunzip_head(data: bytes, *, complete: bool) -> tuple[bytes, bool]:
    inflater = zlib.decompressobj(wbits=31)
    text = inflater.decompress(data, HEAD_BYTES)
    return text, complete and inflater.eof and not inflater.unconsumed_tail


def _decode(data: bytes) -> str | None:
    if b"\0" in data:
        return None  # binary, not text
    for encoding in ("utf-8-sig", "latin-1"):  # Brazilian files are often Latin-1
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None  # pragma: no cover - latin-1 decodes any bytes


def _csv(data: bytes, whole: bool, kind: str) -> dict[str, Any] | None:
    if not whole:
        cut = data.rfind(b"\n")
        if cut <= 0:
            return None  # not one whole line in the head
        data = data[: cut + 1]
    text = _decode(data)
    if text is None or not text.strip():
        return None
    first_lines = "\n".join(text[:65536].splitlines()[:20])
    try:
        separator = csv.Sniffer().sniff(first_lines, delimiters=SEPARATORS).delimiter
    except csv.Error:
        separator = ","
    frame = pl.read_csv(
        text.encode(),
        separator=separator,
        infer_schema_length=10_000,
        try_parse_dates=True,
    )
    return _shape(kind, frame.schema, frame.head(ROWS).rows())


# ------------------------------------------------------------------------- Parquet


class OutOfWindow(OSError):
    """The reader asked for bytes the capture did not keep."""


class _Window(io.RawIOBase):
    """A seekable file over the kept head and tail of a stream of `size` bytes."""

    def __init__(self, head: bytes, tail: bytes, size: int) -> None:
        self.head, self.tail, self.size, self.pos = head, tail, size, 0
        self.tail_start = size - len(tail)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def read(self, n: int | None = -1) -> bytes:
        end = self.size if n is None or n < 0 else min(self.size, self.pos + n)
        data = self.slice(self.pos, end)
        self.pos = end
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def slice(self, start: int, end: int) -> bytes:
        if end <= len(self.head):
            return self.head[start:end]
        if start >= self.tail_start:
            return self.tail[start - self.tail_start : end - self.tail_start]
        if start < len(self.head) and self.tail_start <= len(self.head):
            return self.head[start:] + self.tail[len(self.head) - self.tail_start :][
                : end - len(self.head)
            ]
        raise OutOfWindow(f"bytes {start}-{end} were not kept")


def _parquet(head: bytes, tail: bytes, size: int) -> dict[str, Any]:
    window = _Window(head, tail, size)
    parquet = pq.ParquetFile(window)
    schema = parquet.schema_arrow
    names = schema.names[:MAX_COLUMNS]
    polars_schema = pl.from_arrow(schema.empty_table()).schema  # type: ignore[union-attr]
    rows: list[tuple[Any, ...]] = []
    if parquet.metadata.num_row_groups:
        kept = _columns_in_head(parquet, names, len(head))
        if kept:
            batch = next(parquet.iter_batches(batch_size=ROWS, row_groups=[0], columns=kept))
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            values = {name: frame[name].to_list() for name in kept}
            rows = [
                tuple(values[n][i] if n in values else None for n in names)
                for i in range(frame.height)
            ]
    return _shape("parquet", polars_schema, rows, names=names)


def _columns_in_head(parquet: pq.ParquetFile, names: list[str], head_size: int) -> list[str]:
    """Top-level columns whose chunk of the first row group lies in the head."""
    group = parquet.metadata.row_group(0)
    ends: dict[str, int] = {}
    for i in range(group.num_columns):
        chunk = group.column(i)
        top = chunk.path_in_schema.split(".")[0]
        start = chunk.dictionary_page_offset or chunk.data_page_offset
        ends[top] = max(ends.get(top, 0), start + chunk.total_compressed_size)
    return [n for n in names if n in ends and ends[n] <= head_size]


# --------------------------------------------------------------------------- shape


def _type_name(dtype: pl.DataType) -> str:
    return str(dtype.base_type()) if dtype.is_temporal() else str(dtype)


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def _shape(
    kind: str, schema: Any, rows: list[tuple[Any, ...]], names: list[str] | None = None
) -> dict[str, Any]:
    shown = names if names is not None else list(schema.names())[:MAX_COLUMNS]
    return {
        "format": kind,
        "columns": [{"name": n, "type": _type_name(schema[n])} for n in shown],
        "column_count": len(schema),
        "rows": [[_cell(v) for v in row[: len(shown)]] for row in rows[:ROWS]],
    }
