"""One cheap streaming pass over CSV bytes: UTF-8 validity, the 1 MiB field limit and the
4 MiB row limit.

Polars only validates the columns it projects, so without this pass a latin-1 byte in an
unused column would slip through; the pass runs at memchr speed on ASCII chunks.
"""

from __future__ import annotations

import codecs
import mmap

import numpy as np

from nubo.bleed.errors import FlightDataError

MAX_FIELD_BYTES = 1 << 20
# A row of 4,096 columns of 1 KiB each; the readers never hold more than this of an
# unfinished line, so a line that never ends costs no more memory than a block.
MAX_LINE_BYTES = 4 << 20
CHUNK = 1 << 20

Buffer = bytes | bytearray


class ByteValidator:
    def __init__(self, delimiter: bytes, start_offset: int = 0) -> None:
        self._delim = delimiter
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._offset = start_offset  # file offset of the current chunk
        self._run = 0  # bytes since the last delimiter or newline
        self._line = 0  # bytes since the last newline
        self.data_bytes = 0  # non-whitespace bytes seen, to tell header-only files apart

    def feed(self, data: Buffer) -> None:
        """Validate `data`, the bytes that follow those fed so far.

        Sub-chunks no longer than the field limit keep the run accounting exact. They are
        ranges of `data`, not copies, and pure ASCII, the usual case, is recognised in one
        vectorised pass.
        """
        ascii_only = self._decoder.getstate()[0] == b"" and _is_ascii(data)
        for begin in range(0, len(data), CHUNK):
            end = min(begin + CHUNK, len(data))
            if not ascii_only:
                self._check_utf8(data[begin:end])
            self._check_field_size(data, begin, end)
            self._check_line_size(data, begin, end)
            if self.data_bytes == 0:
                self.data_bytes = len(data[begin:end].strip())
            self._offset += end - begin

    def close(self) -> None:
        try:
            self._decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise FlightDataError(
                "not-utf8", f"file ends inside a UTF-8 sequence at byte offset {self._offset}"
            ) from exc

    def _check_utf8(self, chunk: bytes | bytearray) -> None:
        if chunk.isascii() and self._decoder.getstate()[0] == b"":
            return
        try:
            self._decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            raise FlightDataError(
                "not-utf8", f"invalid UTF-8 at byte offset {self._offset + exc.start}"
            ) from exc

    def _check_field_size(self, data: Buffer, start: int, end: int) -> None:
        """Fields in data[start:end], which begins at file offset `self._offset`."""
        first = _first_sep(data, self._delim, start, end)
        if first < 0:
            self._run += end - start
            if self._run > MAX_FIELD_BYTES:
                self._too_large(self._offset + end - start - self._run)
            return
        if self._run + first - start > MAX_FIELD_BYTES:
            self._too_large(self._offset - self._run)
        # Runs strictly inside one chunk are shorter than the chunk, so only the tail matters.
        last = max(data.rfind(b"\n", start, end), data.rfind(self._delim, start, end))
        self._run = end - 1 - last

    def _check_line_size(self, data: Buffer, start: int, end: int) -> None:
        """As `_check_field_size`, for whole lines (sub-chunks are shorter than the limit)."""
        first = data.find(b"\n", start, end)
        if first < 0:
            self._line += end - start
            if self._line > MAX_LINE_BYTES:
                self._row_too_large(self._offset + end - start - self._line)
            return
        if self._line + first - start > MAX_LINE_BYTES:
            self._row_too_large(self._offset - self._line)
        self._line = end - 1 - data.rfind(b"\n", start, end)

    def _row_too_large(self, start: int) -> None:
        raise FlightDataError(
            "field-too-large", f"a row starting near byte offset {start} exceeds 4 MiB"
        )

    def _too_large(self, start: int) -> None:
        raise FlightDataError(
            "field-too-large", f"a field starting near byte offset {start} exceeds 1 MiB"
        )


def _is_ascii(data: Buffer) -> bool:
    # numpy rather than bytes.isascii: about twice as fast, and without holding the GIL.
    arr = np.frombuffer(data, dtype=np.uint8)
    try:
        return bool(arr.max(initial=0) < 0x80)
    finally:
        del arr  # release the buffer at once: a bytearray cannot be refilled while exported


def _first_sep(data: Buffer, delim: bytes, start: int, end: int) -> int:
    hits = [i for i in (data.find(b"\n", start, end), data.find(delim, start, end)) if i >= 0]
    return min(hits) if hits else -1


# Lines longer than two windows hold a window without a line break: only those have their
# fields counted, so the usual block costs one short search per window.
WINDOW = 64 << 10


def first_long_line(data: Buffer | mmap.mmap, start: int = 0) -> int:
    """Offset of a window of `data[start:]` without a line break, or -1: a line longer than
    `2 * WINDOW` bytes always holds one."""
    for at in range(start, len(data), WINDOW):
        if data.find(b"\n", at, at + WINDOW) < 0 and at + WINDOW <= len(data):
            return at
    return -1


def check_fields_per_line(data: Buffer, delim: bytes, limit: int, offset: int = 0) -> None:
    """Refuse a line of `data` with more than `limit` fields (fields cost the CSV parser
    time and memory that grow faster than the line); lines up to `2 * WINDOW` bytes are
    left to the parser, which handles that many fields at ordinary speed."""
    at = first_long_line(data)
    while at >= 0:
        begin = data.rfind(b"\n", 0, at) + 1
        end = data.find(b"\n", at)
        end = len(data) if end < 0 else end
        if data.count(delim, begin, end) >= limit:
            raise FlightDataError(
                "too-many-columns",
                f"the row starting near byte offset {offset + begin} has more than "
                f"{limit:,} fields",
            )
        at = first_long_line(data, end)
