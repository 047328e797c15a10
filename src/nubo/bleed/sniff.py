"""Content-based file type detection; the name and Content-Type are never trusted."""

from __future__ import annotations

import codecs
import re
from typing import Literal

FileFormat = Literal["csv", "csv.gz", "parquet"]

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
UTF8_BOM = codecs.BOM_UTF8

# A header name: anything printable but the delimiters and quotes-less control chars.
_NAME = r'\s*"?[^,;"\r\n\x00-\x08\x0b\x0c\x0e-\x1f]+"?\s*'
_HEADER_RE = re.compile(rf"^{_NAME}(?:[,;]{_NAME})+$")


def detect_format(head: bytes) -> FileFormat | None:
    """Classify a file from its first bytes (a few KiB is plenty).

    CSV means decodable UTF-8 text whose first line is a `,`- or `;`-delimited list of
    names. A head that cuts a multi-byte character or the header line short still counts.
    """
    if head.startswith(GZIP_MAGIC):
        return "csv.gz"
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    return "csv" if _looks_like_csv(head) else None


def _looks_like_csv(head: bytes) -> bool:
    if head.startswith(UTF8_BOM):
        head = head[len(UTF8_BOM) :]
    # An incremental decoder tolerates a character split at the end of the head.
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    first_line = text.split("\n", 1)[0].rstrip("\r")
    return bool(first_line) and _HEADER_RE.match(first_line) is not None
