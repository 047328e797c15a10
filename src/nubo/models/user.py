from __future__ import annotations

import enum
import uuid

from sqlalchemy import Enum, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from nubo.models.account import Account
from nubo.models.base import Base, IdMixin, SoftDeleteMixin, TimestampMixin


class Role(enum.StrEnum):
    operator = "operator"
    admin = "admin"
    member = "member"


class User(IdMixin, TimestampMixin, SoftDeleteMixin, Base):
    __tablename__ = "users"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=20))
    # Bumped when the password changes: access tokens minted before it stop working.
    token_version: Mapped[int] = mapped_column(default=0)

    account: Mapped[Account] = relationship(lazy="raise")

    __table_args__ = (
        Index(
            "uq_users_live_email",
            "email",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
        Index("ix_users_account_created", "account_id", "created_at", "id"),
    )

    @property
    def is_operator(self) -> bool:
        return self.role is Role.operator
