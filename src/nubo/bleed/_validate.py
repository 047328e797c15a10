"""One cheap streaming pass over CSV bytes: UTF-8 validity and the 1 MiB field limit.

Polars only validates the columns it projects, so without this pass a latin-1 byte in an
unused column would slip through; the pass runs at memchr speed on ASCII chunks.
"""

from __future__ import annotations

import codecs

from nubo.bleed.errors import FlightDataError

MAX_FIELD_BYTES = 1 << 20
CHUNK = 1 << 20


class ByteValidator:
    def __init__(self, delimiter: bytes, start_offset: int = 0) -> None:
        self._delim = delimiter
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._offset = start_offset  # file offset of the current chunk
        self._run = 0  # bytes since the last delimiter or newline
        self.data_bytes = 0  # non-whitespace bytes seen, to tell header-only files apart

    def feed(self, data: bytes) -> None:
        # Sub-chunks no longer than the field limit keep the run accounting exact.
        view = memoryview(data)
        for i in range(0, len(data), CHUNK):
            self._feed(bytes(view[i : i + CHUNK]))

    def _feed(self, chunk: bytes) -> None:
        self._check_utf8(chunk)
        self._check_field_size(chunk)
        if self.data_bytes == 0 and chunk.strip():
            self.data_bytes = len(chunk.strip())
        self._offset += len(chunk)

    def close(self) -> None:
        try:
            self._decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise FlightDataError(
                "not-utf8", f"file ends inside a UTF-8 sequence at byte offset {self._offset}"
            ) from exc

    def _check_utf8(self, chunk: bytes) -> None:
        if chunk.isascii() and self._decoder.getstate()[0] == b"":
            return
        try:
            self._decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            raise FlightDataError(
                "not-utf8", f"invalid UTF-8 at byte offset {self._offset + exc.start}"
            ) from exc

    def _check_field_size(self, chunk: bytes) -> None:
        first = _first_sep(chunk, self._delim)
        if first < 0:
            self._run += len(chunk)
            if self._run > MAX_FIELD_BYTES:
                self._too_large(self._offset + len(chunk) - self._run)
            return
        if self._run + first > MAX_FIELD_BYTES:
            self._too_large(self._offset - self._run)
        # Runs strictly inside one chunk are shorter than the chunk, so only the tail matters.
        last = max(chunk.rfind(b"\n"), chunk.rfind(self._delim))
        self._run = len(chunk) - 1 - last

    def _too_large(self, start: int) -> None:
        raise FlightDataError(
            "field-too-large", f"a field starting near byte offset {start} exceeds 1 MiB"
        )


def _first_sep(chunk: bytes, delim: bytes) -> int:
    hits = [i for i in (chunk.find(b"\n"), chunk.find(delim)) if i >= 0]
    return min(hits) if hits else -1
