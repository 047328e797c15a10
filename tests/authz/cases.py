"""How to call each route for the route-table walk: a setup builds the call for a world.

Domains register their routes with `@case(METHOD, PATH)`; the setup may create data (as the
operator, through the session) and returns the path parameters and body to send.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tests.fixtures.world import World


@dataclass
class Call:
    path: dict[str, str] = field(default_factory=dict)
    json: Any = None
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None
    data: dict[str, str] | None = None
    files: dict[str, Any] | None = None


Setup = Callable[[World, AsyncSession], Awaitable[Call]]
CASES: dict[tuple[str, str], Setup] = {}


def case(method: str, path: str) -> Callable[[Setup], Setup]:
    def register(setup: Setup) -> Setup:
        CASES[(method.upper(), path)] = setup
        return setup

    return register
