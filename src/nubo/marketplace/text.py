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
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
