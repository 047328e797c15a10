from __future__ import annotations

import enum

from sqlalchemy import Enum, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from nubo.models.base import Base, IdMixin, SoftDeleteMixin, TimestampMixin


class AccountStatus(enum.StrEnum):
    active = "active"
    disabled = "disabled"


class Account(IdMixin, TimestampMixin, SoftDeleteMixin, Base):
    __tablename__ = "accounts"

    name: Mapped[str] = mapped_column(String(200))
    # Stored lower-cased: uniqueness among live rows is then case-insensitive.
    email: Mapped[str] = mapped_column(String(320))
    status: Mapped[AccountStatus] = mapped_column(
        Enum(AccountStatus, native_enum=False, length=20), default=AccountStatus.active
    )
    is_platform: Mapped[bool] = mapped_column(default=False)

    __table_args__ = (
        Index(
            "uq_accounts_live_email",
            "email",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
    )
