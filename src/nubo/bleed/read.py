"""Read one flight file into a 1 Hz Polars frame of canonical parameters.

Only the columns the analysis uses are ever materialised: CSV goes through `scan_csv` with
projection and the streaming engine, gzip is inflated chunk by chunk to a temporary file
first, Parquet through `scan_parquet` with projection.

Every row read is accounted for: a flight says how many it read and how many it used, and
rows the parser would misread (a quote that does not close on its line) are masked, never
dropped without a word.
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
import mmap
import os
import threading
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import polars as pl

from nubo.bleed._quotes import QUOTE, blank_lines, damaged_lines
from nubo.bleed._validate import (
    CHUNK,
    MAX_LINE_BYTES,
    ByteValidator,
    check_fields_per_line,
    first_long_line,
)
from nubo.bleed.aliases import PARAMS, REQUIRED, canonical_name
from nubo.bleed.errors import FlightDataError
from nubo.bleed.sniff import UTF8_BOM, FileFormat, detect_format

MAX_COLUMNS = 4096
# A day at 23 Hz, or two days at the 8 Hz of a busy recorder: no flight comes near it, and it
# keeps the raw samples of the used columns within a few hundred MB before the resample.
MAX_ROWS = 2_000_000
MAX_MASKED_SHARE = 0.20
MAX_SPAN_S = 86_400.0
HEAD_BYTES = 64 * 1024
BLOCK = 8 << 20  # parse granularity: memory is a few blocks plus the used columns
IN_FLIGHT = 2  # blocks parsed at once: two cores
WHOLE_FILE_MAX = 48 << 20  # below this a plain CSV is parsed as a single block
TIME = "time_s"


@dataclass
class FlightFrame:
    """A flight at 1 Hz: `time_s` (whole seconds from the first sample) + canonical columns."""

    data: pl.DataFrame
    source_format: FileFormat
    rows_read: int  # data rows in the file
    rows_used: int  # samples that entered the 1 Hz resample
    duration_s: float
    sample_rate_hz: float
    columns_total: int
    masked_share: dict[str, float]
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Layout:
    """Which file column feeds which canonical name."""

    source: dict[str, str]  # canonical -> column name in the scan
    time_col: str  # canonical time name: time_s or timestamp
    columns_total: int
    warnings: list[str]
    masked_rows: int = 0  # damaged rows masked whole, their time included


def read_flight(path: str | os.PathLike[str], *, aircraft_type: str | None = None) -> FlightFrame:
    """Read, validate, mask and resample a flight file; raise FlightDataError if unusable."""
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise FlightDataError("empty-file", "the file is empty (0 bytes)")
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    fmt = _detect_or_fail(head)
    if fmt == "parquet":
        raw, layout = _scan_parquet(path, aircraft_type)
    elif fmt == "csv.gz":
        raw, layout = _scan_gzip(path, aircraft_type)
    else:
        raw, layout = _scan_csv(path, aircraft_type)
    return _finish(raw, layout, fmt)


def _detect_or_fail(head: bytes) -> FileFormat:
    fmt = detect_format(head)
    if fmt is not None:
        return fmt
    body = head[len(UTF8_BOM) :] if head.startswith(UTF8_BOM) else head
    if not body.strip():
        raise FlightDataError("empty-file", "the file holds only whitespace")
    if b"\x00" not in body:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(body) - 3:  # not merely a character cut by the head size
                raise FlightDataError(
                    "not-utf8",
                    f"invalid UTF-8 at byte offset {exc.start + len(head) - len(body)}",
                ) from exc
    raise FlightDataError(
        "unsupported-format",
        "not CSV (a header of ',' or ';' separated names), gzip-compressed CSV or Parquet",
    )


# --- CSV -------------------------------------------------------------------------------


def _scan_csv(path: Path, aircraft_type: str | None) -> tuple[pl.DataFrame, _Layout]:
    # Small files parse in one go from the (memory-mapped) path, which is fastest; large
    # ones block by block so memory stays bounded.
    whole = path if path.stat().st_size <= WHOLE_FILE_MAX else None
    with path.open("rb") as fh:
        return _read_csv_stream(fh, aircraft_type, whole=whole)


def _read_csv_stream(
    fh: BinaryIO, aircraft_type: str | None, *, whole: Path | None = None
) -> tuple[pl.DataFrame, _Layout]:
    """Parse line-aligned blocks, two at a time, keeping only the used columns of each.

    Polars' own CSV scan holds the whole file in memory, so bounded memory for files of
    hundreds of MB with 1,000+ columns means feeding it blocks ourselves. Each block is
    validated (UTF-8, field and row size) before it is parsed; a small file, parsed whole,
    while it is parsed, to the same effect. Quoted fields spanning lines are not supported
    (flight recorders do not write them): a line whose quotes do not close is masked, so a
    file holding quotes is read block by block, where lines are checked before parsing.
    """
    header, header_len = _read_header(fh)
    delim = ";" if header.count(";") > header.count(",") else ","
    names = next(csv.reader([header], delimiter=delim))
    if len(names) > MAX_COLUMNS:
        raise FlightDataError(
            "too-many-columns", f"{len(names)} columns, the limit is {MAX_COLUMNS}"
        )
    keys = [f"c{i}" for i in range(len(names))]
    layout = _layout(names, keys, aircraft_type)
    # Used numeric columns parse straight to Float64; with ignore_errors an unparseable
    # cell becomes null, which is exactly the masking the spec asks for, at native speed.
    used_idx = sorted(keys.index(k) for k in layout.source.values())
    numeric = {k for c, k in layout.source.items() if c != "timestamp"}
    schema = {k: pl.Float64 if k in numeric else pl.String for k in keys}
    # Rows past the limit are never parsed: the reading stops at the first one too many.
    options: dict[str, Any] = {
        "has_header": False,
        "separator": delim,
        "schema": schema,
        "ignore_errors": True,
        "truncate_ragged_lines": True,
        **_RAGGED,
    }

    def parse_block(block: bytes, budget: int) -> pl.DataFrame:
        # Raw used columns only: masking once over the joined blocks costs one query instead
        # of one per block.
        return pl.read_csv(block, columns=used_idx, n_rows=budget, **options)

    frame: pl.DataFrame | None = None
    validator = ByteValidator(delim.encode(), header_len)
    # The whole-file parse runs beside the checks, so a file they might refuse goes block
    # by block, where they come first: one dense with line breaks (a day of samples or a
    # newline bomb), or with a line long enough to hold too many fields.
    in_blocks = whole is None or _suspect(fh, whole.stat().st_size, header_len)
    if not in_blocks and whole is not None:
        # A whole small file is scanned, so that the streaming engine parses, projects and
        # masks in one pass, without a frame of raw parsed columns in between.
        query = pl.scan_csv(whole, skip_lines=1, n_rows=MAX_ROWS + 1, **options)
        frame, in_blocks = _parse_whole(fh, validator, _project(query, layout))
        if in_blocks:
            fh.seek(header_len)
            validator = ByteValidator(delim.encode(), header_len)
    if in_blocks:
        plain_file = isinstance(fh, io.BufferedReader)
        blocks = _file_blocks(fh, BLOCK) if plain_file else _blocks(fh, BLOCK)
        raw, damage = _parse_blocks(blocks, validator, parse_block, delim.encode(), header_len)
        _report_damage(layout, damage)
        if raw:
            joined = raw[0] if len(raw) == 1 else pl.concat(raw, rechunk=True)
            del raw  # the blocks' frames, now copied into `joined`
            frame = _run(_project(joined.lazy(), layout))
    validator.close()
    if validator.data_bytes == 0 or frame is None:
        raise FlightDataError("header-only", "the file has a header row but no data rows")
    return frame, layout


def _parse_whole(
    fh: BinaryIO, validator: ByteValidator, query: pl.LazyFrame
) -> tuple[pl.DataFrame | None, bool]:
    """The frame of a small file parsed in one go, and whether it must be read block by
    block instead (it holds a quote, and quoted lines are checked before parsing).

    Polars parses in a thread while the byte checks run here: its threads leave the cores
    room enough that the checks cost no time, and they still have the first word. The
    query is planned first, so that the thread goes straight into Polars.
    """
    found: list[pl.DataFrame] = []
    quoted = False

    def check() -> None:
        nonlocal quoted
        quoted = _check_bytes(fh, validator)

    try:
        _beside(check, lambda: found.append(_run(query)))
    except pl.exceptions.PolarsError:
        if validator.data_bytes and not quoted:
            raise  # else a blank body, reported as header-only, or a quote the blocks mask
    if quoted:
        return None, True
    if found:
        _check_rows(found[0].height)
    return (found[0] if found else None), False


# A damaged row: (block index, line index in the block, byte offset in the file).
_Damage = tuple[int, int, int]


def _parse_blocks(
    blocks: Iterator[bytes],
    validator: ByteValidator,
    parse: Callable[[bytes, int], pl.DataFrame],
    delim: bytes,
    offset: int,
) -> tuple[list[pl.DataFrame], list[_Damage]]:
    """Parse up to `IN_FLIGHT` blocks at once while the next one is read and checked.

    One Polars parse of a block keeps the two cores only about 70 % busy, and inflating a
    gzip block is Python time that can overlap with parsing. Errors still surface in file
    order: a block's checks fail only after the blocks before it have parsed cleanly. Lines
    whose quotes do not close are blanked before parsing and returned as damage; each block
    parses at most the rows left under the limit, plus the one that breaks it.
    """
    parts: list[pl.DataFrame] = []
    damage: list[_Damage] = []
    rows = 0

    def collect(done: Future[pl.DataFrame]) -> None:
        nonlocal rows
        parts.append(done.result())
        rows += parts[-1].height
        _check_rows(rows)

    with ThreadPoolExecutor(IN_FLIGHT, thread_name_prefix="csv-block") as pool:
        pending: deque[Future[pl.DataFrame]] = deque()
        try:
            for index, block in enumerate(blocks):
                try:
                    validator.feed(block)
                    check_fields_per_line(block, delim, MAX_COLUMNS, offset)
                except FlightDataError:
                    while pending:  # an earlier block's error comes first
                        collect(pending.popleft())
                    raise
                bad = damaged_lines(block, delim)
                damage += [(index, line, offset + start) for line, start in bad]
                offset += len(block)
                if _more_lines_than(block, MAX_ROWS - rows):
                    while pending:  # an earlier block's error comes first
                        collect(pending.popleft())
                    _too_many_rows()
                if bad:
                    block = blank_lines(block, [start for _, start in bad])
                pending.append(pool.submit(parse, block, MAX_ROWS + 1 - rows))
                if len(pending) >= IN_FLIGHT:
                    collect(pending.popleft())
            while pending:
                collect(pending.popleft())
        finally:
            for waiting in pending:
                waiting.cancel()
    # Rows before each block, to number the damaged ones: a block gives one row per line.
    first_rows = np.cumsum([0] + [part.height for part in parts]).tolist()
    return parts, [(index, first_rows[index] + line, at) for index, line, at in damage]


def _report_damage(layout: _Layout, damage: list[_Damage]) -> None:
    if not damage:
        return
    shown = ", ".join(f"row {row + 1} (byte offset {at})" for _, row, at in damage[:5])
    more = f" and {len(damage) - 5} more" if len(damage) > 5 else ""
    layout.masked_rows = len(damage)
    layout.warnings.append(
        f"{len(damage)} row(s) masked because a quote does not close on its line: {shown}{more}"
    )


def _check_rows(rows: int) -> None:
    """Samples are held until the 1 Hz resample, so their number bounds the memory."""
    if rows > MAX_ROWS:
        _too_many_rows()


def _too_many_rows() -> None:
    raise FlightDataError(
        "too-many-rows",
        f"more than {MAX_ROWS:,} samples, the limit (a day at 23 Hz); split the recording",
    )


_SAMPLE = 64 << 10


def _suspect(fh: BinaryIO, size: int, header_len: int) -> bool:
    """Whether a small file must be checked before it is parsed (see `_read_csv_stream`).

    The file is mapped, not read: the search for a long line touches one page per window.
    """
    sample = fh.read(_SAMPLE)
    fh.seek(header_len)
    if _dense(sample, size, MAX_ROWS):
        return True
    with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        return first_long_line(mapped, header_len) >= 0


def _dense(sample: bytes, size: int, limit: int) -> bool:
    """Whether `size` bytes beginning with `sample` may hold more than `limit` lines, judged
    from the line breaks of the sample, with a margin of two (a flight's rows are alike)."""
    return sample.count(b"\n") * size > limit * len(sample) // 2


def _more_lines_than(block: bytes, limit: int) -> bool:
    """Whether `block` holds more than `limit` lines (rows), counted only when its first
    bytes say it may: a block that hides a dense part further in is still bounded, by the
    rows each parse may return."""
    if not _dense(block[:_SAMPLE], len(block), limit):
        return False
    return block.count(b"\n") + (not block.endswith(b"\n")) > limit


# Rows with fewer or more fields than the header, the first one included: missing cells are
# null (masked, per the spec), surplus ones dropped, never a schema error.
_RAGGED: dict[str, Any] = {"missing_columns": "insert", "extra_columns": "ignore"}


def _check_bytes(fh: BinaryIO, validator: ByteValidator) -> bool:
    """Feed the rest of the file to `validator`; whether it holds a quote."""
    quoted = False
    buf = bytearray(CHUNK)  # refilled in place: no allocation per chunk
    while n := fh.readinto(buf):  # type: ignore[attr-defined]
        chunk = buf if n == CHUNK else buf[:n]
        validator.feed(chunk)
        quoted = quoted or QUOTE in chunk
    validator.close()
    return quoted


def _beside(check: Callable[[], None], work: Callable[[], None]) -> None:
    """Run `work` in a thread while `check` runs here, and fail as if `check` had run
    first: its error, if it raises one, is the error raised, whatever `work` did.

    `work` is the one sent away because it goes straight into Polars, which releases the
    GIL; the other way round, the Python of `check` would hold up the start of `work`.
    """
    failure: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # handed over to the calling thread
            failure.append(exc)

    thread = threading.Thread(target=run, name="csv-parse")
    thread.start()
    try:
        check()
    finally:
        thread.join()
    if failure:
        raise failure[0]


def _file_blocks(fh: BinaryIO, size: int) -> Iterator[bytes]:
    """Line-aligned blocks of about `size` bytes from a seekable file, each read exactly.

    The end of a block is found first in a small read of its last bytes, so the block itself
    is read once, straight into the bytes handed to the parser: no copy to cut it at a line
    break. Plain reads rather than a memory map: with the parse running on the other core, the
    page faults and page releases of a mapping cost more than the copies they save.
    """
    probe = min(size, _PROBE_BYTES)
    while True:
        start = fh.tell()
        fh.seek(start + size - probe)
        tail = fh.read(probe)
        fh.seek(start)
        if len(tail) < probe:  # the file ends within this block
            if block := fh.read():
                yield block
            return
        cut = tail.rfind(b"\n")
        if cut < 0:  # a line longer than the probe: read on to its end
            yield fh.read(size) + _rest_of_line(fh, size, MAX_LINE_BYTES)
        else:
            yield fh.read(size - probe + cut + 1)


_PROBE_BYTES = 64 << 10


def _rest_of_line(fh: BinaryIO, size: int, limit: int) -> bytes:
    """The bytes up to and including the next line break (or the end of the file), or the
    first ones past `limit` of a longer line, which the byte check then refuses."""
    pieces: list[bytes] = []
    held = 0
    while held <= limit and (more := fh.read(size)):
        cut = more.find(b"\n")
        if cut >= 0:
            fh.seek(cut + 1 - len(more), os.SEEK_CUR)
            pieces.append(more[: cut + 1])
            break
        pieces.append(more)
        held += len(more)
    return b"".join(pieces)


def _blocks(fh: BinaryIO, size: int) -> Iterator[bytes]:
    """Blocks of about `size` bytes that end on a line break (the last one may not)."""
    carry = b""
    while block := fh.read(size):
        buf = carry + block if carry else block
        cut = buf.rfind(b"\n")
        if cut < 0:
            if len(buf) > MAX_LINE_BYTES:
                # Handed on rather than held: the byte check refuses a line this long, so
                # a line that never ends costs a block or two, not the whole stream.
                yield buf
                buf = b""
            carry = buf
            continue
        yield buf[: cut + 1]
        carry = buf[cut + 1 :]
    if carry.strip():
        yield carry


def _read_header(fh: BinaryIO) -> tuple[str, int]:
    """The first line, decoded, and its length in bytes including the newline."""
    raw = fh.readline(MAX_LINE_BYTES)
    length = len(raw)
    if not raw.endswith(b"\n") and length >= MAX_LINE_BYTES:
        raise FlightDataError("field-too-large", "the header row exceeds 4 MiB")
    if raw.startswith(UTF8_BOM):
        raw = raw[len(UTF8_BOM) :]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FlightDataError(
            "not-utf8", f"invalid UTF-8 in the header at byte offset {exc.start}"
        ) from exc
    return text.rstrip("\r\n"), length


def _scan_gzip(path: Path, aircraft_type: str | None) -> tuple[pl.DataFrame, _Layout]:
    """Inflate while parsing: only one block of decompressed text exists at a time."""
    with path.open("rb") as raw:
        gz = gzip.GzipFile(fileobj=raw)
        try:
            return _read_csv_stream(gz, aircraft_type)  # type: ignore[arg-type]
        except (OSError, EOFError, zlib.error) as exc:
            raise FlightDataError(
                "corrupt-gzip", f"gzip stream broken near compressed byte offset {raw.tell()}"
            ) from exc


# --- Parquet ---------------------------------------------------------------------------


def _scan_parquet(path: Path, aircraft_type: str | None) -> tuple[pl.DataFrame, _Layout]:
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
    except Exception as exc:  # pyarrow raises several types for a broken footer
        raise FlightDataError(
            "corrupt-parquet", f"cannot read the Parquet footer ({size_hint(path)}): {exc}"
        ) from exc
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    if len(names) > MAX_COLUMNS:
        raise FlightDataError(
            "too-many-columns", f"{len(names)} columns, the limit is {MAX_COLUMNS}"
        )
    if meta.num_rows == 0:
        raise FlightDataError("header-only", "the Parquet file has columns but no rows")
    _check_rows(meta.num_rows)
    layout = _layout(names, names, aircraft_type)
    try:
        return _run(_project(pl.scan_parquet(path), layout)), layout
    except pl.exceptions.PolarsError as exc:
        raise FlightDataError("corrupt-parquet", f"cannot decode the Parquet data: {exc}") from exc


def size_hint(path: Path) -> str:
    return f"{path.stat().st_size} bytes"


# --- shared ----------------------------------------------------------------------------


def _layout(names: list[str], keys: list[str], aircraft_type: str | None) -> _Layout:
    source: dict[str, str] = {}
    unknown: list[str] = []
    warnings: list[str] = []
    for name, key in zip(names, keys, strict=True):
        canon = canonical_name(name, aircraft_type)
        if canon is None:
            unknown.append(name)
        elif canon in source:
            warnings.append(f"column '{name}' duplicates '{canon}'; the first one is used")
        else:
            source[canon] = key
    missing = [c for c in REQUIRED if c not in source]
    if missing:
        raise FlightDataError("missing-column", f"required column(s) missing: {', '.join(missing)}")
    time_col = next((t for t in (TIME, "timestamp") if t in source), None)
    if time_col is None:
        raise FlightDataError("no-time-column", "neither 'time_s' nor 'timestamp' is present")
    if unknown:
        shown = ", ".join(unknown[:20]) + (
            f" and {len(unknown) - 20} more" if len(unknown) > 20 else ""
        )
        warnings.insert(0, f"{len(unknown)} unknown column(s) ignored: {shown}")
    if time_col == "timestamp" and TIME in source:
        del source["timestamp"]
    return _Layout(source, time_col, len(names), warnings)


def _project(lf: pl.LazyFrame, layout: _Layout) -> pl.LazyFrame:
    """The used columns under their canonical names, numeric, with bad cells masked."""
    schema = lf.collect_schema()
    used = tuple((canon, key, schema[key]) for canon, key in layout.source.items())
    return lf.select(_masking(used, layout.time_col))


@functools.lru_cache(maxsize=64)
def _masking(used: tuple[tuple[str, str, pl.DataType], ...], time_col: str) -> tuple[pl.Expr, ...]:
    """The expressions of `_project` for (canonical name, source column, dtype) triples.

    Cached: building them costs about a millisecond, and the files of one fleet share a
    layout (the plans are immutable, so sharing them is safe).
    """
    source = {canon: (key, dtype) for canon, key, dtype in used}
    exprs = [_time_expr(pl.col(source[time_col][0]), source[time_col][1], time_col)]
    for canon, (key, dtype) in source.items():
        if canon in (TIME, "timestamp"):
            continue
        p = PARAMS[canon]
        value = _numeric(pl.col(key), dtype)
        # NaN sorts above every number and ±inf lie outside every range, so the range test
        # alone masks non-finite cells too.
        exprs.append(pl.when(value.is_between(p.low, p.high)).then(value).alias(canon))
    return tuple(exprs)


def _run(query: pl.LazyFrame) -> pl.DataFrame:
    try:
        return query.collect(engine="streaming")
    except pl.exceptions.ComputeError as exc:
        if "utf-8" in str(exc).lower() or "utf8" in str(exc).lower():
            raise FlightDataError("not-utf8", f"invalid UTF-8: {exc}") from exc
        raise


def _numeric(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.String:
        return expr.str.strip_chars().cast(pl.Float64, strict=False)
    if dtype == pl.Boolean or dtype.is_numeric():
        return expr.cast(pl.Float64, strict=False)
    return pl.lit(None, dtype=pl.Float64)


def _time_expr(expr: pl.Expr, dtype: pl.DataType, name: str) -> pl.Expr:
    """Seconds as Float64: `time_s` as given, `timestamp` as UTC epoch seconds."""
    if name == TIME:
        sec = _numeric(expr, dtype)
    else:
        if dtype == pl.String:
            expr = expr.str.strip_chars().str.to_datetime(
                time_unit="us", time_zone="UTC", strict=False
            )
        elif isinstance(dtype, pl.Datetime):
            expr = expr if dtype.time_zone else expr.dt.replace_time_zone("UTC")
        else:
            return pl.lit(None, dtype=pl.Float64).alias(TIME)
        sec = expr.dt.epoch("us").cast(pl.Float64) / 1e6
    return pl.when(sec.is_finite()).then(sec).otherwise(None).alias(TIME)


def _finish(raw: pl.DataFrame, layout: _Layout, fmt: FileFormat) -> FlightFrame:
    rows = raw.height
    if rows == 0:
        raise FlightDataError("header-only", "the file has a header row but no data rows")
    warnings = list(layout.warnings)
    params = [c for c in raw.columns if c != TIME]
    masked = {c: raw[c].null_count() / rows for c in params}
    for c in REQUIRED:
        if masked[c] > MAX_MASKED_SHARE:
            raise FlightDataError(
                "insufficient-data",
                f"column '{c}' has {masked[c]:.0%} unusable cells (limit {MAX_MASKED_SHARE:.0%})",
            )
    keep = _usable_time(raw[TIME])
    bad_time = rows - int(keep.sum())
    if bad_time > rows - 2:
        raise FlightDataError("no-time-column", f"column '{layout.time_col}' has no usable values")
    if bad_time > layout.masked_rows:  # masked rows have no time either, and are reported
        warnings.append(
            f"{bad_time - layout.masked_rows} row(s) without a usable time were dropped"
        )
    if bad_time:
        raw = raw.filter(pl.Series(keep))
    df = _dedupe_sorted(raw)
    t0, t1 = df[TIME][0], df[TIME][-1]
    duration = float(t1 - t0)
    if duration <= 0:
        raise FlightDataError("no-time-column", f"column '{layout.time_col}' does not advance")
    data = resample_1hz(df, params, origin=t0)
    return FlightFrame(
        data=data,
        source_format=fmt,
        rows_read=rows,
        rows_used=df.height,
        duration_s=duration,
        sample_rate_hz=(df.height - 1) / duration,
        columns_total=layout.columns_total,
        masked_share=masked,
        warnings=warnings,
    )


def _usable_time(time: pl.Series) -> np.ndarray:
    """Rows whose time can be used: present and within a day of the median.

    A garbage time far from the bulk of the recording would stretch the 1 Hz grid to
    absurd lengths; one flight never spans more than a day either side of its median.
    Tested in numpy: an eager Polars expression would be a query of its own.
    """
    seconds = time.to_numpy()  # null is NaN here, and fails every test below
    if time.null_count() == 0 and seconds.max() - seconds.min() <= MAX_SPAN_S:
        # The usual case, decided without the median: it lies between the extremes, so
        # no time can be further from it than they are from each other.
        return np.ones(seconds.size, dtype=bool)
    mid = time.median()
    with np.errstate(invalid="ignore"):
        return np.abs(seconds - (np.nan if mid is None else mid)) <= MAX_SPAN_S


def _dedupe_sorted(df: pl.DataFrame) -> pl.DataFrame:
    """Sort by time; for exact duplicate timestamps keep the row that came last in the file."""
    if (np.diff(df[TIME].to_numpy()) > 0).all():
        return df  # the usual case: already strictly increasing
    return (
        df.with_row_index("_row")
        .sort([TIME, "_row"])
        .unique(subset=TIME, keep="last", maintain_order=True)
        .drop("_row")
    )


def resample_1hz(df: pl.DataFrame, params: list[str], origin: float = 0.0) -> pl.DataFrame:
    """Whole seconds from `origin` as bins: mean for continuous values, last valid value
    for discretes.

    Seconds without samples stay as null rows so downstream code sees gaps as gaps.
    """
    second = (pl.col(TIME) - origin).floor().cast(pl.Int64)
    binned = df.group_by(second, maintain_order=True).agg(_bin_aggregates(tuple(params)))
    last = int(binned[TIME].max())  # type: ignore[arg-type]
    if binned.height == last + 1:
        return binned  # no gaps: already the full grid, in order
    grid = pl.DataFrame({TIME: pl.arange(0, last + 1, eager=True).cast(pl.Int64)})
    return grid.join(binned, on=TIME, how="left")


@functools.lru_cache(maxsize=64)
def _bin_aggregates(params: tuple[str, ...]) -> tuple[pl.Expr, ...]:
    """The aggregations of `resample_1hz`, built once per set of columns."""
    return tuple(
        pl.col(c).drop_nulls().last() if PARAMS[c].kind == "discrete" else pl.col(c).mean()
        for c in params
    )
