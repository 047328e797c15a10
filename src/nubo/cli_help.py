"""Small fixes to how the `nubo` command talks: help without `<bool>` on flags, plurals."""

from __future__ import annotations

from typing import Any

from typer.core import TyperOption

_display_type = TyperOption.display_type_rich


def _no_type_on_flags(self: TyperOption, ctx: Any) -> str | None:
    # A flag takes no value; Typer would still print `<bool>` beside it.
    return None if self.is_flag else _display_type(self, ctx)


TyperOption.display_type_rich = _no_type_on_flags  # type: ignore[method-assign]


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
