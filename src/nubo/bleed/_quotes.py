"""Rows whose quotes do not close on their own line, found before the CSV parser sees them.

The parser lets a quoted field run on over line breaks, so one stray `"` swallows every row up
to the next quote, often the rest of the file. Flight recorders never write fields across
lines, so a line whose quoting is not well-formed on its own is damaged: RFC 4180 form, where a
field either holds no quote or is wholly quoted with inner quotes doubled. A damaged line is
blanked to spaces, which the parser reads as one row of empty (masked) cells.
"""

from __future__ import annotations

import functools
import re

import numpy as np

QUOTE = b'"'


def damaged_lines(block: bytes, delim: bytes) -> list[tuple[int, int]]:
    """(line index, byte offset) in `block` of each line whose quoting is not well-formed.

    Only lines holding a quote are matched, one by one; a block without quotes, the usual
    case, costs one memchr.
    """
    if QUOTE not in block:
        return []
    arr = np.frombuffer(block, dtype=np.uint8)
    newlines = np.flatnonzero(arr == ord("\n"))
    quoted = np.unique(np.searchsorted(newlines, np.flatnonzero(arr == ord(QUOTE))))
    well_formed = _line_pattern(delim).fullmatch
    found: list[tuple[int, int]] = []
    for line in quoted.tolist():
        start = int(newlines[line - 1]) + 1 if line else 0
        end = int(newlines[line]) if line < newlines.size else len(block)
        if well_formed(block, start, end) is None:
            found.append((line, start))
    return found


def blank_lines(block: bytes, starts: list[int]) -> bytes:
    """`block` with the lines starting at `starts` turned to spaces (same length)."""
    buf = bytearray(block)
    for start in starts:
        end = buf.find(b"\n", start)
        end = len(buf) if end < 0 else end
        buf[start:end] = b" " * (end - start)
    return bytes(buf)


@functools.lru_cache(maxsize=2)
def _line_pattern(delim: bytes) -> re.Pattern[bytes]:
    d = re.escape(delim)
    # Possessive quantifiers: each alternative is chosen by its first byte, so matching is
    # linear in the line's length whatever it holds.
    field = rb'(?:"(?:[^"]++|"")*+"|[^"' + d + rb"\n]*+)"
    return re.compile(field + rb"(?:" + d + field + rb")*+\r?")
