from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Enum, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from nubo.models.base import Base, IdMixin, TimestampMixin


class SubscriptionStatus(enum.StrEnum):
    active = "active"
    canceled = "canceled"


class Subscription(IdMixin, TimestampMixin, Base):
    """A monthly subscription to a dataset; canceled rows are kept.

    `ends_at` is the moment access ends: set when canceled now, or to the end of the paid
    period when canceled at period end (the row stays `active` until then).
    """

    __tablename__ = "subscriptions"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datasets.id"), index=True)
    status: Mapped[SubscriptionStatus] = mapped_column(
        Enum(SubscriptionStatus, native_enum=False, length=20), default=SubscriptionStatus.active
    )
    price_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    started_at: Mapped[datetime]
    ends_at: Mapped[datetime | None] = mapped_column(default=None)
    canceled_at: Mapped[datetime | None] = mapped_column(default=None)
    cancel_at_period_end: Mapped[bool] = mapped_column(default=False)

    __table_args__ = (
        # One active subscription per account and dataset, whatever the race.
        Index(
            "uq_subscriptions_active_account_dataset",
            "account_id",
            "dataset_id",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
        Index("ix_subscriptions_account_created", "account_id", "created_at", "id"),
    )
