"""Normalised text for accent- and case-insensitive lookups ("sao paulo" finds "São Paulo")."""

from __future__ import annotations

import unicodedata


def normalise(value: str) -> str:
    """NFKD, drop combining marks, casefold, collapse whitespace, trim."""
    decomposed = unicodedata.normalize("NFKD", value)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())


def like_pattern(value: str) -> str:
    """A LIKE pattern matching `value` anywhere, with LIKE's wildcards escaped (escape `\\`)."""
    return f"%{like_literal(value)}%"


def location_key(value: str) -> str:
    """The location's comma-separated parts (city, region, country), each normalised:
    `"Rio de Janeiro ,RJ,BR"` -> `"rio de janeiro, rj, br"`."""
    return ", ".join(part for part in (normalise(p) for p in value.split(",")) if part)


def like_literal(value: str) -> str:
    """`value` with LIKE's wildcards escaped (escape `\\`), to build patterns around it."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
