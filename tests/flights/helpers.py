"""Data files and small helpers for the flights tests."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

from nubo.bleed.aliases import REQUIRED

HEADER = ["time_s", *REQUIRED, "mach", "unknown_param"]


def csv_bytes(rows: int = 5, header: Iterable[str] = HEADER, sep: str = ",") -> bytes:
    names = list(header)
    lines = [sep.join(names)]
    for i in range(rows):
        lines.append(sep.join(str(i if n == "time_s" else 1) for n in names))
    return ("\n".join(lines) + "\n").encode()


def csv_gz_bytes(rows: int = 5) -> bytes:
    return gzip.compress(csv_bytes(rows))


def parquet_bytes(rows: int = 5) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # The same plausible values as csv_bytes: time counts up, every signal reads 1.
    table = pa.table(
        {name: [float(i) if name == "time_s" else 1.0 for i in range(rows)] for name in HEADER}
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def big_csv_chunks(total: int, chunk: int = 256 * 1024) -> Iterable[bytes]:
    """A valid CSV head followed by filler rows, `total` bytes in `chunk`-sized pieces."""
    head = csv_bytes(1)
    row = (",".join("1" for _ in HEADER) + "\n").encode()
    body = bytearray(head)
    while len(body) < chunk:
        body += row
    first = bytes(body[:chunk])
    filler = (row * (chunk // len(row) + 1))[:chunk]
    sent = 0
    piece = first
    while sent < total:
        n = min(chunk, total - sent)
        yield piece[:n]
        sent += n
        piece = filler


async def agen(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    for c in chunks:
        yield c
        await asyncio.sleep(0)


def files_under(root: Path, prefix: str) -> list[Path]:
    base = root / prefix
    if not base.exists():
        return []
    return [p for p in base.rglob("*") if p.is_file()]


def parse_sse(text: str) -> list[dict[str, Any]]:
    """Events (id, event, data) and comments of an SSE body."""
    out: list[dict[str, Any]] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        if not block.strip():
            continue
        item: dict[str, Any] = {}
        for line in block.split("\n"):
            if line.startswith(":"):
                item.setdefault("comments", []).append(line[1:].strip())
            elif ":" in line:
                key, _, value = line.partition(":")
                item[key] = value[1:] if value.startswith(" ") else value
        if "data" in item:
            item["data"] = json.loads(item["data"])
        out.append(item)
    return out


def sse_events(text: str) -> list[dict[str, Any]]:
    return [e for e in parse_sse(text) if "data" in e]
