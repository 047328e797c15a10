"""Who a request acts as: the caller read for this request, apart from any ORM session."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Protocol

from nubo.models import Role


class Actor(Protocol):
    """What permission checks read of a caller; a `Principal` or a `User` row both fit."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def account_id(self) -> uuid.UUID: ...

    @property
    def role(self) -> Role: ...


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated user as one read at the start of the request.

    A plain value, not an ORM object: nothing to flush by mistake, and no session is needed
    to authenticate, so routes that only read the caller never open a unit of work. A
    service that changes the caller's own row loads it into its session first.

    An API key is a principal too: its id, its account, the role `admin` (never more) and
    the `scopes` it was given; a person's `scopes` are None (their role alone decides).
    """

    id: uuid.UUID
    account_id: uuid.UUID
    name: str
    email: str
    role: Role
    token_version: int
    created_at: datetime
    updated_at: datetime
    scopes: frozenset[str] | None = None

    @property
    def is_key(self) -> bool:
        return self.scopes is not None


# The user columns a person's principal is read from, in field order.
PRINCIPAL_FIELDS = tuple(f.name for f in fields(Principal) if f.name != "scopes")
