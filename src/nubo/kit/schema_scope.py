"""Which database objects the migrations own (the job queue library manages its own)."""

from __future__ import annotations

from typing import Any

FOREIGN_PREFIXES = ("procrastinate_",)


def owned_by_migrations(obj: Any, name: str | None, type_: str, reflected: bool, _: Any) -> bool:
    table = obj if type_ == "table" else getattr(obj, "table", None)
    table_name = getattr(table, "name", name) or ""
    return not (reflected and table_name.startswith(FOREIGN_PREFIXES))
