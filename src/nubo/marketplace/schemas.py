"""Request and response bodies of the marketplace; money as decimal strings + currency."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from fractions import Fraction
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, field_validator
from pydantic_core import PydanticCustomError

from nubo.kit.listing import stored_json
from nubo.kit.schemas import RequestModel, ResponseModel
from nubo.marketplace import money
from nubo.marketplace.months import MonthError, parse_month, period_end_after
from nubo.models import BillingRunStatus, InvoiceStatus, SubscriptionStatus, TransactionType


def _currency(value: str) -> str:
    try:
        return money.check_currency(value)
    except money.MoneyError as exc:
        raise ValueError(str(exc)) from exc


def _amount(value: Any) -> str:
    # Before type checks: a JSON number gets one plain message, not pydantic's type jargon.
    try:
        return str(money.parse_decimal(value))
    except money.MoneyError as exc:
        raise PydanticCustomError("money", str(exc)) from exc


def _month(value: str) -> str:
    try:
        return parse_month(value)
    except MonthError as exc:
        raise ValueError(str(exc)) from exc


Currency = Annotated[
    str, Field(min_length=3, max_length=3, examples=["BRL"]), AfterValidator(_currency)
]
# Decimal strings only: a JSON float would already have lost precision.
Amount = Annotated[
    str,
    Field(examples=["49.90"], description=f"decimal string; {money.HOW_TO_SEND}"),
    BeforeValidator(_amount),
]
Month = Annotated[str, Field(examples=["2026-11"]), AfterValidator(_month)]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class DatasetCreate(RequestModel):
    name: Name
    description: Annotated[str, Field(max_length=10_000)] = ""
    location: Annotated[str, Field(max_length=200)] = ""
    price: Amount
    currency: Currency = money.DEFAULT_CURRENCY
    category: Annotated[str | None, Field(max_length=100)] = None
    format: Annotated[str | None, Field(max_length=50)] = None
    provider_account_id: uuid.UUID | None = None


class DatasetUpdate(RequestModel):
    name: Name | None = None
    description: Annotated[str | None, Field(max_length=10_000)] = None
    location: Annotated[str | None, Field(max_length=200)] = None
    price: Amount | None = None
    currency: Currency | None = None
    category: Annotated[str | None, Field(max_length=100)] = None
    format: Annotated[str | None, Field(max_length=50)] = None


class DatasetFile(ResponseModel):
    name: str | None
    size: int
    sha256: str | None
    content_type: str | None


class PreviewColumn(ResponseModel):
    name: str
    type: str = Field(examples=["Int64", "Float64", "String", "Date", "Datetime"])


class DatasetPreview(ResponseModel):
    """The data file's columns and first rows, read once when it was uploaded."""

    format: Literal["csv", "csv.gz", "parquet"]
    columns: list[PreviewColumn] = Field(description="the first 50 columns")
    column_count: int = Field(description="all columns of the file")
    rows: list[list[Any]] = Field(
        description="up to 10 rows, one value per listed column (null where the file has "
        "none, or where a Parquet column's first values lie too far into the file)"
    )


class DatasetOut(ResponseModel):
    id: uuid.UUID
    name: str
    description: str
    location: str
    price: str
    currency: str
    category: str | None
    format: str | None
    provider_account_id: uuid.UUID
    file: DatasetFile | None
    preview: DatasetPreview | None = Field(
        description="null without a file, or for a file whose format has no preview"
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, d: Any) -> DatasetOut:
        file = None
        if d.file_key is not None:
            file = DatasetFile.model_construct(
                name=d.file_name,
                size=d.file_size or 0,
                sha256=d.file_sha256,
                content_type=d.file_content_type,
            )
        # From the row, whose columns already have these types: no validation pass.
        return cls.model_construct(
            id=d.id,
            name=d.name,
            description=d.description,
            location=d.location,
            price=money.format_minor(d.price_minor, d.currency),
            currency=d.currency,
            category=d.category,
            format=d.format,
            provider_account_id=d.provider_account_id,
            file=file,
            preview=DatasetPreview.model_validate(d.preview) if d.preview else None,
            created_at=d.created_at,
            updated_at=d.updated_at,
        )


def dataset_item(row: Sequence[Any]) -> dict[str, Any]:
    """A `DatasetOut` as the dict its JSON is written from, fields in the model's order, from a
    row of `repository.LIST_COLUMNS` (ids as text, the preview as stored)."""
    (
        id_, name, description, location, price_minor, currency, category, format_,
        provider_account_id, file_key, file_name, file_size, file_sha256, file_content_type,
        preview, created_at, updated_at,
    ) = row
    shown = stored_json(preview)
    return {
        "id": id_, "name": name, "description": description, "location": location,
        "price": money.format_minor(price_minor, currency), "currency": currency,
        "category": category, "format": format_, "provider_account_id": provider_account_id,
        "file": None if file_key is None else {
            "name": file_name, "size": file_size or 0, "sha256": file_sha256,
            "content_type": file_content_type,
        },
        # Validated as `DatasetOut.of` does (it keeps the model's fields only).
        "preview": DatasetPreview.model_validate(shown) if shown else None,
        "created_at": created_at, "updated_at": updated_at,
    }


class PurchaseIn(RequestModel):
    type: TransactionType
    account_id: uuid.UUID
    dataset_id: uuid.UUID


class SubscriptionIn(RequestModel):
    account_id: uuid.UUID
    dataset_id: uuid.UUID


class SubscriptionOut(ResponseModel):
    id: uuid.UUID
    account_id: uuid.UUID
    dataset_id: uuid.UUID
    status: SubscriptionStatus
    price: str
    currency: str
    started_at: datetime
    current_period_end: datetime | None
    cancel_at_period_end: bool
    ends_at: datetime | None
    canceled_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, s: Any, now: datetime) -> SubscriptionOut:
        live = s.status is SubscriptionStatus.active and (s.ends_at is None or s.ends_at > now)
        return cls(
            id=s.id,
            account_id=s.account_id,
            dataset_id=s.dataset_id,
            status=SubscriptionStatus.active if live else SubscriptionStatus.canceled,
            price=money.format_minor(s.price_minor, s.currency),
            currency=s.currency,
            started_at=s.started_at,
            current_period_end=(
                s.ends_at if s.ends_at is not None else period_end_after(s.started_at, now)
            )
            if live
            else None,
            cancel_at_period_end=s.cancel_at_period_end,
            ends_at=s.ends_at,
            canceled_at=s.canceled_at,
            created_at=s.created_at,
        )


class TransactionOut(ResponseModel):
    id: uuid.UUID
    type: TransactionType
    account_id: uuid.UUID
    dataset_id: uuid.UUID
    amount: str
    currency: str
    period_start: datetime | None
    period_end: datetime | None
    subscription: SubscriptionOut | None
    created_at: datetime

    @classmethod
    def of(cls, t: Any, subscription: Any, now: datetime) -> TransactionOut:
        return cls(
            id=t.id,
            type=t.type,
            account_id=t.account_id,
            dataset_id=t.dataset_id,
            amount=money.format_minor(t.amount_minor, t.currency),
            currency=t.currency,
            period_start=t.period_start,
            period_end=t.period_end,
            subscription=SubscriptionOut.of(subscription, now) if subscription else None,
            created_at=t.created_at,
        )


class InvoiceLineIn(RequestModel):
    description: Annotated[str, Field(min_length=1, max_length=500)]
    quantity: Amount = "1"
    unit_amount: Amount
    period_start: datetime | None = None
    period_end: datetime | None = None

    @field_validator("period_start", "period_end")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a timezone (UTC), e.g. 2026-11-01T00:00:00Z")
        return value


class InvoiceCreate(RequestModel):
    account_id: uuid.UUID
    month: Month
    prorate: bool = False
    lines: Annotated[list[InvoiceLineIn] | None, Field(min_length=1, max_length=500)] = None
    currency: Currency | None = None


class InvoiceLineOut(ResponseModel):
    position: int
    description: str
    period_start: datetime | None
    period_end: datetime | None
    quantity: str
    unit_amount: str
    amount: str
    transaction_id: uuid.UUID | None
    subscription_id: uuid.UUID | None


class InvoiceOut(ResponseModel):
    id: uuid.UUID
    number: str
    account_id: uuid.UUID
    month: str
    status: InvoiceStatus
    currency: str
    total: str
    prorated: bool
    manual: bool
    lines: list[InvoiceLineOut]
    created_at: datetime

    @classmethod
    def of(cls, inv: Any, lines: list[Any]) -> InvoiceOut:
        return cls(
            id=inv.id,
            number=inv.number,
            account_id=inv.account_id,
            month=inv.month,
            status=inv.status,
            currency=inv.currency,
            total=money.format_minor(inv.total_minor, inv.currency),
            prorated=inv.prorated,
            manual=inv.manual,
            created_at=inv.created_at,
            lines=[
                InvoiceLineOut(
                    position=ln.position,
                    description=ln.description,
                    period_start=ln.period_start,
                    period_end=ln.period_end,
                    quantity=money.format_fraction(Fraction(ln.quantity_num, ln.quantity_den)),
                    unit_amount=money.format_minor(ln.unit_amount_minor, inv.currency),
                    amount=money.format_minor(ln.amount_minor, inv.currency),
                    transaction_id=ln.transaction_id,
                    subscription_id=ln.subscription_id,
                )
                for ln in sorted(lines, key=lambda x: x.position)
            ],
        )


class BillingRunIn(RequestModel):
    month: Month
    prorate: bool = Field(
        default=False, description="charge active days ÷ days of the month, as `nubo billing "
        "close-month --prorate`",
    )


class BillingRunOut(ResponseModel):
    """One closing of a month, run as a job: its progress while it works, then its outcome.
    The counts are written as batches finish; the invoices themselves are the truth."""

    id: uuid.UUID
    month: str
    prorate: bool
    status: BillingRunStatus
    accounts: int | None = Field(
        description="accounts with something to bill; null until the run has counted them"
    )
    done: int = Field(description="accounts handled so far")
    created: int = Field(description="invoices issued")
    skipped: int = Field(description="accounts invoiced already, or with nothing left to bill")
    failed: dict[str, str] = Field(description="account id -> why it was not invoiced")
    totals: dict[str, str] = Field(
        description="currency -> the issued invoices' total, a decimal string"
    )
    error: str | None = Field(description="why the run stopped, when it failed")
    requested_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, run: Any) -> BillingRunOut:
        return cls(
            id=run.id, month=run.month, prorate=run.prorate, status=run.status,
            accounts=run.accounts, done=run.done, created=run.created, skipped=run.skipped,
            failed={str(k): str(v) for k, v in (run.failed or {}).items()},
            totals={currency: money.format_minor(int(minor), currency)
                    for currency, minor in sorted((run.totals_minor or {}).items())},
            error=run.error, requested_by=run.requested_by, created_at=run.created_at,
            updated_at=run.updated_at, finished_at=run.finished_at,
        )


DatasetSort = Literal["price", "-price", "created_at", "-created_at"]
