from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from nubo.models.base import Base, IdMixin, TimestampMixin


class BillingRunStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


class BillingRun(IdMixin, TimestampMixin, Base):
    """One closing of a month run as a job: what the back office follows while it works.

    The counts are written by the job as batches finish; the invoices themselves are the
    truth (a run that dies is safe to start again: invoiced accounts are skipped)."""

    __tablename__ = "billing_runs"

    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    prorate: Mapped[bool] = mapped_column(default=False)
    status: Mapped[BillingRunStatus] = mapped_column(
        Enum(BillingRunStatus, native_enum=False, length=20), default=BillingRunStatus.queued
    )
    requested_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    accounts: Mapped[int | None] = mapped_column(Integer, default=None)
    done: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    totals_minor: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (
        Index("ix_billing_runs_month_created", "month", "created_at"),
        # One queued or running closing per month, whatever the race between two starts.
        Index(
            "uq_billing_runs_month_unfinished",
            "month",
            unique=True,
            sqlite_where=text("status IN ('queued', 'running')"),
            postgresql_where=text("status IN ('queued', 'running')"),
        ),
    )
