from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Enum, Float, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from nubo.models.base import Base, IdMixin, SoftDeleteMixin, TimestampMixin


class ProcessingStatus(enum.StrEnum):
    created = "created"  # a record without a data file yet
    uploaded = "uploaded"
    queued = "queued"
    processing = "processing"
    processed = "processed"
    failed = "failed"


TERMINAL_STATUSES = frozenset({ProcessingStatus.processed, ProcessingStatus.failed})


class BleedStatus(enum.StrEnum):
    normal = "normal"
    watch = "watch"
    alert = "alert"


class Flight(IdMixin, TimestampMixin, SoftDeleteMixin, Base):
    """One flight of one aircraft, its data file and the bleed-health result.

    The row is also the outbox of its processing job: `processing_status` `queued` (or
    `processing` past `lease_until`) means a job is owed, and the sweeper re-defers it.
    """

    __tablename__ = "flights"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    registration: Mapped[str] = mapped_column(String(16))
    aircraft_type: Mapped[str | None] = mapped_column(String(40), default=None)
    flight_number: Mapped[str | None] = mapped_column(String(16), default=None)
    origin: Mapped[str | None] = mapped_column(String(4), default=None)
    destination: Mapped[str | None] = mapped_column(String(4), default=None)
    departure_at: Mapped[datetime | None] = mapped_column(default=None)
    arrival_at: Mapped[datetime | None] = mapped_column(default=None)

    processing_status: Mapped[ProcessingStatus] = mapped_column(
        Enum(ProcessingStatus, native_enum=False, length=20), default=ProcessingStatus.created
    )
    # Every recorded file starts a new run; a job acts only on the run it was deferred for.
    processing_run: Mapped[int] = mapped_column(default=0)
    # Claims of the current run; past settings.jobs_max_attempts the run ends `failed`.
    processing_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    queued_at: Mapped[datetime | None] = mapped_column(default=None)
    # The claim of the job currently processing the run, and until when it holds.
    job_token: Mapped[uuid.UUID | None] = mapped_column(default=None)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    processed_at: Mapped[datetime | None] = mapped_column(default=None)

    # Result (null until processed).
    bleed_status: Mapped[BleedStatus | None] = mapped_column(
        Enum(BleedStatus, native_enum=False, length=20), default=None
    )
    integrity_score: Mapped[float | None] = mapped_column(Float, default=None)
    engine_scores: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    findings: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, default=None)
    phases: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, default=None)
    model_version: Mapped[str | None] = mapped_column(String(64), default=None)
    # Data rows in the file, and how many of them the analysis used.
    rows_read: Mapped[int | None] = mapped_column(BigInteger, default=None)
    rows_used: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # What the recording allowed to assess, and the reader's warnings (`incomplete-flight`).
    coverage: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    warnings: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    error_code: Mapped[str | None] = mapped_column(String(64), default=None)
    error_message: Mapped[str | None] = mapped_column(String(2000), default=None)

    # The data file (written completely before these are set).
    file_key: Mapped[str | None] = mapped_column(String(1024), default=None)
    file_size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    file_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    file_format: Mapped[str | None] = mapped_column(String(16), default=None)
    file_name: Mapped[str | None] = mapped_column(String(255), default=None)
    file_uploaded_at: Mapped[datetime | None] = mapped_column(default=None)

    # A presigned direct upload in progress (S3): the server-made key and its expiry, and
    # for a multipart grant the S3 upload id (completed or aborted by the server).
    pending_key: Mapped[str | None] = mapped_column(String(1024), default=None)
    pending_name: Mapped[str | None] = mapped_column(String(255), default=None)
    pending_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    pending_upload_id: Mapped[str | None] = mapped_column(String(1024), default=None)

    __table_args__ = (
        Index("ix_flights_account_created", "account_id", "created_at", "id"),
        Index("ix_flights_account_registration", "account_id", "registration"),
        Index("ix_flights_account_departure", "account_id", "departure_at"),
        Index(
            "ix_flights_outbox",
            "processing_status",
            "queued_at",
            sqlite_where=text("processing_status IN ('queued', 'processing')"),
            postgresql_where=text("processing_status IN ('queued', 'processing')"),
        ),
    )

    @property
    def error(self) -> dict[str, str] | None:
        if self.error_code is None:
            return None
        return {"code": self.error_code, "message": self.error_message or ""}
