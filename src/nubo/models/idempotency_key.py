from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from nubo.kit.types import utcnow
from nubo.models.base import Base, IdMixin


class IdempotencyKey(IdMixin, Base):
    """A client's `Idempotency-Key`, inserted first in the unit of work it protects and
    completed with the response in the same transaction."""

    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(100))  # the calling user
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    response_body: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    __table_args__ = (UniqueConstraint("scope", "key"),)
