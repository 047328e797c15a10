"""What the processing job runs on a downloaded file (pure, CPU-bound, no DB, no HTTP).

Until the full bleed pipeline is wired in, the check validates the file's header against
the required columns of the data format. Swapping in the pipeline is the one line marked
below: `ANALYZE = pipeline.analyze` (its result has the same `to_dict()` shape the job
applies to the flight).
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from nubo.bleed.aliases import REQUIRED, TIME_COLUMNS, canonical_name
from nubo.bleed.errors import FlightDataError
from nubo.bleed.sniff import UTF8_BOM, detect_format

MAX_COLUMNS = 4096
MAX_HEADER_BYTES = 4 * 1024 * 1024
HEAD_BYTES = 64 * 1024
HEADER_CHECK_VERSION = "header-check-1"


class Analysis(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


@dataclass
class HeaderCheck:
    """The result of the header validation: the file is usable, nothing is predicted yet."""

    file_format: str
    columns: int
    matched: list[str]
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_version": HEADER_CHECK_VERSION,
            "warnings": self.warnings,
            "stats": {"format": self.file_format, "columns": self.columns, "matched": self.matched},
        }


def check_header(path: str | os.PathLike[str], *, aircraft_type: str | None = None) -> HeaderCheck:
    """Raise FlightDataError unless the file has the required columns and some data."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise FlightDataError("empty-file", "the file is empty (0 bytes)")
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    fmt = detect_format(head)
    if fmt == "parquet":
        names, rows = _parquet_header(path)
        if rows == 0:
            raise FlightDataError("header-only", "the Parquet file has columns but no rows")
    elif fmt == "csv.gz":
        try:
            with gzip.open(path, "rb") as fh:
                names = _csv_header(fh)
        except (OSError, EOFError, zlib.error) as exc:
            raise FlightDataError("corrupt-gzip", f"the gzip stream is corrupt: {exc}") from exc
    elif fmt == "csv":
        with path.open("rb") as fh:
            names = _csv_header(fh)
    else:
        raise FlightDataError(
            "unsupported-format", "not CSV, gzip-compressed CSV or Parquet (from its bytes)"
        )
    if len(names) > MAX_COLUMNS:
        raise FlightDataError(
            "too-many-columns", f"{len(names)} columns, the limit is {MAX_COLUMNS}"
        )
    canonical = {canonical_name(n, aircraft_type): n for n in names}
    canonical.pop(None, None)
    if not any(t in canonical for t in TIME_COLUMNS):
        raise FlightDataError("no-time-column", "no time_s or timestamp column in the header")
    missing = [name for name in REQUIRED if name not in canonical]
    if missing:
        raise FlightDataError("missing-column", f"required column(s) missing: {', '.join(missing)}")
    unknown = [n for n in names if canonical_name(n, aircraft_type) is None]
    warnings = [f"{len(unknown)} unknown column(s) ignored"] if unknown else []
    return HeaderCheck(fmt, len(names), sorted(k for k in canonical if k), warnings)


def _csv_header(fh: Any) -> list[str]:
    raw = fh.readline(MAX_HEADER_BYTES)
    if not raw.endswith(b"\n") and len(raw) >= MAX_HEADER_BYTES:
        raise FlightDataError("field-too-large", "the header row exceeds 4 MiB")
    if raw.startswith(UTF8_BOM):
        raw = raw[len(UTF8_BOM) :]
    try:
        text = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise FlightDataError(
            "not-utf8", f"invalid UTF-8 in the header at byte offset {exc.start}"
        ) from exc
    if not text.strip():
        raise FlightDataError("empty-file", "the first line is empty")
    # A data row must follow the header.
    while True:
        line = fh.readline(MAX_HEADER_BYTES)
        if not line:
            raise FlightDataError("header-only", "the file has a header row but no data rows")
        if line.strip():
            break
    delim = ";" if text.count(";") > text.count(",") else ","
    return next(csv.reader(io.StringIO(text), delimiter=delim))


def _parquet_header(path: Path) -> tuple[list[str], int]:
    import pyarrow.parquet as pq

    try:
        meta = pq.read_metadata(path)
    except Exception as exc:
        raise FlightDataError(
            "corrupt-parquet", f"the Parquet footer is unreadable: {exc}"
        ) from exc
    return list(meta.schema.names), int(meta.num_rows)


# The analysis the processing job runs. Swap in the pipeline with:
#     from nubo.bleed.pipeline import analyze as ANALYZE
ANALYZE: Callable[..., Analysis] = check_header
