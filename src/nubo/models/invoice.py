from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Enum, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from nubo.models.base import Base, IdMixin, TimestampMixin


class InvoiceStatus(enum.StrEnum):
    open = "open"
    paid = "paid"
    void = "void"


class Invoice(IdMixin, TimestampMixin, Base):
    __tablename__ = "invoices"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    number: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[InvoiceStatus] = mapped_column(
        Enum(InvoiceStatus, native_enum=False, length=20), default=InvoiceStatus.open
    )
    currency: Mapped[str] = mapped_column(String(3))
    total_minor: Mapped[int] = mapped_column(BigInteger)
    prorated: Mapped[bool] = mapped_column(default=False)
    manual: Mapped[bool] = mapped_column(default=False)
    paid_at: Mapped[datetime | None] = mapped_column(default=None)
    voided_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (
        # One (non-void) invoice per account and month, whatever the race.
        Index(
            "uq_invoices_account_month",
            "account_id",
            "month",
            unique=True,
            sqlite_where=text("status != 'void'"),
            postgresql_where=text("status != 'void'"),
        ),
        Index("ix_invoices_account_created", "account_id", "created_at", "id"),
        Index("ix_invoices_month_created", "month", "created_at", "id"),
    )


class InvoiceLineKind(enum.StrEnum):
    """What a built line bills: its words are the reader's language's, from `params`."""

    subscription = "subscription"  # params: dataset, month
    purchase = "purchase"  # params: dataset


class InvoiceLine(IdMixin, Base):
    """One billed item; quantity is exact (numerator / denominator, e.g. 16/31 days).

    `description` is the line in English as the API shows it; a built line also keeps its
    `kind` and `params`, from which pages and PDFs word it in the reader's language (a manual
    line, `kind` null, is shown as the operator wrote it)."""

    __tablename__ = "invoice_lines"

    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoices.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text)
    kind: Mapped[InvoiceLineKind | None] = mapped_column(
        Enum(InvoiceLineKind, native_enum=False, length=20), default=None
    )
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    period_start: Mapped[datetime | None] = mapped_column(default=None)
    period_end: Mapped[datetime | None] = mapped_column(default=None)
    quantity_num: Mapped[int] = mapped_column(BigInteger, default=1)
    quantity_den: Mapped[int] = mapped_column(BigInteger, default=1)
    unit_amount_minor: Mapped[int] = mapped_column(BigInteger)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    transaction_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("transactions.id"), default=None
    )
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("subscriptions.id"), default=None, index=True
    )
    # Set when the invoice is voided: the line no longer holds its transaction.
    voided: Mapped[bool] = mapped_column(default=False)

    __table_args__ = (
        # A one-off transaction is billed by at most one (non-void) invoice.
        Index(
            "uq_invoice_lines_transaction",
            "transaction_id",
            unique=True,
            sqlite_where=text("transaction_id IS NOT NULL AND voided = false"),
            postgresql_where=text("transaction_id IS NOT NULL AND voided = false"),
        ),
    )


class InvoiceCounter(Base):
    """The gapless invoice-number sequence of a month, advanced inside the invoice's
    transaction (so a rolled-back invoice gives its number back)."""

    __tablename__ = "invoice_counters"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    last_value: Mapped[int] = mapped_column(BigInteger, default=0)
