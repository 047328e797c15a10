from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from nubo.kit.types import utcnow
from nubo.models.base import Base, IdMixin, TimestampMixin


class WebhookEndpoint(IdMixin, TimestampMixin, Base):
    """Where an account wants its events sent, and which ones.

    The secret is kept as issued (`whsec_` + base64): every delivery is signed with it, so
    it cannot be a one-way hash. `failing_since` is the first failed attempt after the last
    success; an endpoint failing for too long is disabled (`disabled_reason = "failing"`).
    """

    __tablename__ = "webhook_endpoints"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str | None] = mapped_column(String(200), default=None)
    event_types: Mapped[list[str]] = mapped_column(JSON)
    secret: Mapped[str] = mapped_column(String(128))
    enabled: Mapped[bool] = mapped_column(default=True)
    failing_since: Mapped[datetime | None] = mapped_column(default=None)
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)
    disabled_reason: Mapped[str | None] = mapped_column(String(20), default=None)

    __table_args__ = (Index("ix_webhook_endpoints_account_created", "account_id", "created_at",
                            "id"),)


class WebhookMessage(IdMixin, Base):
    """One event of an account, written in the transaction of the change it reports (the
    outbox). Its id is the `webhook-id` of every attempt to every endpoint."""

    __tablename__ = "webhook_messages"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), index=True)
    event_type: Mapped[str] = mapped_column(String(40))
    # The delivered body, `{type, timestamp, data}`: the same bytes on every attempt.
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeliveryStatus(enum.StrEnum):
    pending = "pending"
    succeeded = "succeeded"
    failed = "failed"


class WebhookDelivery(IdMixin, Base):
    """One message owed to one endpoint: its attempts so far and when the next one is due."""

    __tablename__ = "webhook_deliveries"

    message_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_messages.id", ondelete="CASCADE")
    )
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    event_type: Mapped[str] = mapped_column(String(40))
    status: Mapped[DeliveryStatus] = mapped_column(
        Enum(DeliveryStatus, native_enum=False, length=20), default=DeliveryStatus.pending
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Due when pending; an attempt under way pushes it past its lease (the claim).
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    last_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    last_status_code: Mapped[int | None] = mapped_column(default=None)
    last_duration_ms: Mapped[int | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(String(300), default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", "created_at", "id"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_message_id", "message_id"),
    )
