from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Enum, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from nubo.kit.types import utcnow
from nubo.models.base import Base, IdMixin


class TransactionType(enum.StrEnum):
    one_time = "one_time"
    subscription = "subscription"


class Transaction(IdMixin, Base):
    """A purchase: a one-off (permanent entitlement) or a subscription's first-period charge.

    The price is copied at purchase time; later catalogue changes do not touch it.
    """

    __tablename__ = "transactions"

    type: Mapped[TransactionType] = mapped_column(
        Enum(TransactionType, native_enum=False, length=20)
    )
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datasets.id"), index=True)
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("subscriptions.id"), default=None, index=True
    )
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    period_start: Mapped[datetime | None] = mapped_column(default=None)
    period_end: Mapped[datetime | None] = mapped_column(default=None)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_transactions_account_created", "account_id", "created_at", "id"),
        # A one-off purchase is a permanent entitlement: buying it twice is refused.
        Index(
            "uq_transactions_one_time_account_dataset",
            "account_id",
            "dataset_id",
            unique=True,
            sqlite_where=text("type = 'one_time'"),
            postgresql_where=text("type = 'one_time'"),
        ),
    )
