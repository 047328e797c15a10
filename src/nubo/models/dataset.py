from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from nubo.models.base import Base, IdMixin, SoftDeleteMixin, TimestampMixin

LIVE = text("deleted_at IS NULL")


class Dataset(IdMixin, TimestampMixin, SoftDeleteMixin, Base):
    """A catalogue entry; the data itself (optional) lives in object storage."""

    __tablename__ = "datasets"

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    location: Mapped[str] = mapped_column(String(200), default="")
    # location_key(location) and normalise(name + description + location): accent- and
    # case-free lookups (marketplace/text.py).
    location_key: Mapped[str] = mapped_column(String(200), default="")
    search_text: Mapped[str] = mapped_column(Text, default="")
    price_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    category: Mapped[str | None] = mapped_column(String(100), default=None)
    format: Mapped[str | None] = mapped_column(String(50), default=None)
    provider_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), index=True)
    file_key: Mapped[str | None] = mapped_column(String(500), default=None)
    file_name: Mapped[str | None] = mapped_column(String(255), default=None)
    file_size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    file_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    file_content_type: Mapped[str | None] = mapped_column(String(255), default=None)
    # First rows and columns of the file, taken once at upload (marketplace/preview.py).
    preview: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)

    __table_args__ = (
        # Keyset orders of the catalogue, live rows only (deleted rows never appear).
        Index(
            "ix_datasets_live_price", "price_minor", "id", sqlite_where=LIVE, postgresql_where=LIVE
        ),
        Index(
            "ix_datasets_live_created", "created_at", "id", sqlite_where=LIVE, postgresql_where=LIVE
        ),
        Index(
            "ix_datasets_live_location_price",
            "location_key",
            "price_minor",
            "id",
            sqlite_where=LIVE,
            postgresql_where=LIVE,
        ),
        Index(
            "ix_datasets_live_category_price",
            "category",
            "price_minor",
            "id",
            sqlite_where=LIVE,
            postgresql_where=LIVE,
        ),
    )
