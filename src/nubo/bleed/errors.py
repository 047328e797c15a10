"""The single exception type for unreadable or unusable flight files."""

from __future__ import annotations

from typing import Literal

ErrorCode = Literal[
    "empty-file",
    "header-only",
    "corrupt-gzip",
    "corrupt-parquet",
    "not-utf8",
    "missing-column",
    "no-time-column",
    "too-many-columns",
    "too-many-rows",
    "field-too-large",
    "insufficient-data",
    "unsupported-format",
]

ERROR_CODES: frozenset[str] = frozenset(ErrorCode.__args__)  # type: ignore[attr-defined]


class FlightDataError(Exception):
    """A flight file that ends the flight `failed`.

    `code` is stable and machine-readable (kebab-case); `message` is for humans and names
    the offending column or byte offset so the uploader can fix the file.
    """

    def __init__(self, code: ErrorCode, message: str) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown flight data error code: {code}")
        super().__init__(f"{code}: {message}")
        self.code: ErrorCode = code
        self.message = message

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}
