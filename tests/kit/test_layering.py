"""The kit is plumbing any domain can use: it imports no domain, no ORM table and no settings,
so that it can be read, tested and reused on its own."""

from __future__ import annotations

import ast
from pathlib import Path

import nubo.kit

KIT = Path(nubo.kit.__file__).parent


def _imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_the_kit_imports_nothing_of_nubo_but_the_kit():
    outside = {
        f"{path.name}: {module}"
        for path in sorted(KIT.glob("*.py"))
        for module in _imported_modules(path)
        if (module == "nubo" or module.startswith("nubo.")) and not module.startswith("nubo.kit")
    }
    assert not outside, f"kit modules import outside the kit: {sorted(outside)}"
