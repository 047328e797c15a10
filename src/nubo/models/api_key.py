from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from nubo.kit.types import utcnow
from nubo.models.base import Base, IdMixin


class Scope(enum.StrEnum):
    """What a key may do; each route names the one it needs (docs/authz.md)."""

    flights_read = "flights:read"
    flights_write = "flights:write"
    datasets_read = "datasets:read"
    billing_read = "billing:read"


class ApiKey(IdMixin, Base):
    """A machine's credential for one account: `nubo_<prefix>_<secret>`, of which only the
    prefix (to find the row) and a SHA-256 of the whole (to check it) are stored."""

    __tablename__ = "api_keys"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    # Space-separated `Scope` values, read on every request as one plain column.
    scopes: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    # Written at most once a minute per key (see identity/keys.py), not on every request.
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (Index("ix_api_keys_account_created", "account_id", "created_at", "id"),)

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()
