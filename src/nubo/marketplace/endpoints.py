"""HTTP routes of the marketplace: thin, they parse, delegate and shape."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from nubo.identity.auth import BillingRead, CurrentUser, DatasetsRead, Operator
from nubo.identity.principal import Actor
from nubo.kit.db import ReadSessions, Session, StandaloneDb
from nubo.kit.edge import streams_body
from nubo.kit.errors import PROBLEM_JSON, Problem, Unprocessable
from nubo.kit.listing import page_response
from nubo.kit.pagination import Page, Pagination, build_page
from nubo.kit.tabular import EXPORT_RESPONSES, table_response
from nubo.kit.types import utcnow
from nubo.kit.uploads import open_upload
from nubo.marketplace import (
    billing,
    closing_runs,
    datasets,
    exports,
    files,
    idempotency,
    invoice_pdf,
    invoicing,
    repository,
)
from nubo.marketplace.idempotency import IdempotencyHeader
from nubo.marketplace.months import MonthError, parse_month
from nubo.marketplace.schemas import (
    BillingRunIn,
    BillingRunOut,
    DatasetCreate,
    DatasetOut,
    DatasetSort,
    DatasetUpdate,
    InvoiceCreate,
    InvoiceOut,
    PurchaseIn,
    SubscriptionIn,
    SubscriptionOut,
    TransactionOut,
    dataset_item,
)
from nubo.models import BillingRunStatus, InvoiceStatus, SubscriptionStatus
from nubo.platform import JobsDep, StoreDep
from nubo.web.i18n import negotiate
from nubo.web.session import BillingReadOrSession, DatasetsReadOrSession, OperatorWriter

datasets_router = APIRouter(prefix="/datasets", tags=["datasets"])
transactions_router = APIRouter(prefix="/transactions", tags=["billing"])
subscriptions_router = APIRouter(prefix="/subscriptions", tags=["billing"])
invoices_router = APIRouter(prefix="/invoices", tags=["billing"])
billing_runs_router = APIRouter(prefix="/billing-runs", tags=["billing"])

DatasetId = Annotated[uuid.UUID, Path(alias="datasetId")]
AccountId = Annotated[uuid.UUID, Path(alias="accountId")]
Text = Annotated[str | None, Query(max_length=200)]
PriceQuery = Annotated[str | None, Query(max_length=32, examples=["10.00"])]
CurrencyQuery = Annotated[
    str | None, Query(max_length=3, description="ISO 4217; price filters are in it (BRL)")
]


def _month_query(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return parse_month(value)
    except MonthError as exc:
        raise Unprocessable(str(exc), code="invalid-month") from exc


def _dataset_page(rows: list[Row[Any]], page: Pagination, sort: str) -> Response:
    """A page of `repository.LIST_COLUMNS` rows, written as the `Page[DatasetOut]` of them."""
    items, cursor = build_page(rows, page, lambda d: repository.sort_key(sort, d))
    return page_response([dataset_item(d) for d in items], cursor)


# ------------------------------------------------------------------ datasets


@datasets_router.post("", status_code=status.HTTP_201_CREATED, response_model=DatasetOut)
async def create_dataset(data: DatasetCreate, actor: Operator, session: Session) -> DatasetOut:
    """Add a dataset to the catalogue.

    Prices are decimal strings with at most the currency's minor digits, e.g. "49.95".
    """
    dataset = await datasets.create(session, actor, data)
    return DatasetOut.of(dataset)


@datasets_router.get("", response_model=Page[DatasetOut])
async def list_datasets(
    _: DatasetsRead,
    db: StandaloneDb,
    page: Pagination,
    q: Text = None,
    location: Text = None,
    min_price: PriceQuery = None,
    max_price: PriceQuery = None,
    currency: CurrencyQuery = None,
    category: Annotated[str | None, Query(max_length=100)] = None,
    sort: DatasetSort = "created_at",
) -> Response:
    """Search the catalogue: text, location, price range, category; sorted and paginated."""
    rows = await datasets.search_rows(
        db.read,
        page,
        q=q,
        location=location,
        min_price=min_price,
        max_price=max_price,
        currency=currency,
        category=category,
        sort=sort,
    )
    return _dataset_page(rows, page, sort)


@datasets_router.get("/location/{location}", response_model=Page[DatasetOut])
async def datasets_by_location(
    location: Annotated[str, Path(max_length=200)],
    _: DatasetsRead,
    db: StandaloneDb,
    page: Pagination,
) -> Response:
    """Datasets at a location: the city alone or with its region/country.

    Case, accents and spacing are ignored: `sao paulo` finds "São Paulo, BR".
    """
    return _dataset_page(await datasets.by_location(db.read, location, page), page, "created_at")


@datasets_router.get("/price/{price}", response_model=Page[DatasetOut])
async def datasets_by_price(
    price: Annotated[str, Path(max_length=32)],
    _: DatasetsRead,
    db: StandaloneDb,
    page: Pagination,
    currency: CurrencyQuery = None,
) -> Response:
    """Datasets at exactly this price (in `currency`, default BRL)."""
    return _dataset_page(await datasets.by_price(db.read, price, currency, page), page, "price")


@datasets_router.get("/{datasetId}", response_model=DatasetOut)
async def get_dataset(dataset_id: DatasetId, _: DatasetsRead, session: Session) -> DatasetOut:
    """One dataset of the catalogue."""
    return DatasetOut.of(await datasets.get(session, dataset_id))


@datasets_router.put("/{datasetId}", response_model=DatasetOut)
async def update_dataset(
    dataset_id: DatasetId, data: DatasetUpdate, _: Operator, session: Session
) -> DatasetOut:
    """Change any of a dataset's fields."""
    dataset = await datasets.update(session, dataset_id, data)
    return DatasetOut.of(dataset)


@datasets_router.delete("/{datasetId}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_dataset(dataset_id: DatasetId, _: Operator, session: Session) -> Response:
    """Remove a dataset from the catalogue (soft).

    Running subscriptions end with their paid period; buyers keep their download.
    """
    await datasets.delete(session, dataset_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@datasets_router.post(
    "/{datasetId}/file",
    response_model=DatasetOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                },
            },
        }
    },
)
@streams_body()
async def upload_dataset_file(
    dataset_id: DatasetId,
    request: Request,
    _: OperatorWriter,
    session: Session,
    db: StandaloneDb,
    store: StoreDep,
    filename: Annotated[str | None, Query(max_length=255, description="shown to buyers")] = None,
) -> DatasetOut:
    """The data file: the raw body (its Content-Type is the file's), or the `file` part of a
    multipart form (that part's Content-Type and filename). `?filename=` names it for buyers.

    The back office's page posts here with its session and CSRF token instead of a bearer.
    """
    max_bytes = request.app.state.settings.max_upload_bytes
    await datasets.ensure_exists(db.read, dataset_id)  # 404 before a byte is read
    upload = await open_upload(request, max_bytes)
    dataset = await files.upload(session, store, upload, dataset_id, filename, max_bytes)
    return DatasetOut.of(dataset)


@datasets_router.get(
    "/{datasetId}/download",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def download_dataset_file(
    dataset_id: DatasetId, actor: DatasetsReadOrSession, session: Session, store: StoreDep
) -> StreamingResponse:
    """Download a dataset's data file.

    For accounts that bought it or subscribe to it now, and operators. A dataset of the
    catalogue not bought answers 403 `not-entitled`: buy it or subscribe. The panel's
    session cookie is accepted too (its download link).
    """
    dataset, chunks = await files.open_download(session, store, actor, dataset_id)
    name = (dataset.file_name or "data").replace('"', "")
    ascii_name = name.encode("ascii", "replace").decode().replace("?", "_")
    headers = {
        "Content-Disposition": (
            f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
        ),
        "X-Content-SHA256": dataset.file_sha256 or "",
    }
    if dataset.file_size is not None:
        headers["Content-Length"] = str(dataset.file_size)
    return StreamingResponse(
        chunks,
        media_type=dataset.file_content_type or files.DEFAULT_CONTENT_TYPE,
        headers=headers,
    )


# ------------------------------------------------------- transactions, subscriptions


@transactions_router.post("", status_code=status.HTTP_201_CREATED, response_model=TransactionOut)
async def create_transaction(
    data: PurchaseIn,
    request: Request,
    actor: CurrentUser,
    session: Session,
    idempotency_key: IdempotencyHeader = None,
) -> Response:
    """Buy a dataset for an account: one-off, or a subscription with its first period.

    Safe to retry with an `Idempotency-Key` header.
    """
    body = data.model_dump(mode="json")
    claim = await idempotency.claim(session, actor, idempotency_key, "POST", request.url.path, body)
    if claim.replay is not None:
        return claim.replay
    transaction, subscription = await billing.purchase(
        session, actor, data.type, data.account_id, data.dataset_id
    )
    out = TransactionOut.of(transaction, subscription, utcnow())
    response = await claim.respond(session, status.HTTP_201_CREATED, out.model_dump(mode="json"))
    return response


@subscriptions_router.post("", status_code=status.HTTP_201_CREATED, response_model=SubscriptionOut)
async def create_subscription(
    data: SubscriptionIn,
    request: Request,
    actor: CurrentUser,
    session: Session,
    idempotency_key: IdempotencyHeader = None,
) -> Response:
    """Subscribe an account to a dataset (no charge now).

    Safe to retry with an `Idempotency-Key` header.
    """
    body = data.model_dump(mode="json")
    claim = await idempotency.claim(session, actor, idempotency_key, "POST", request.url.path, body)
    if claim.replay is not None:
        return claim.replay
    subscription = await billing.subscribe(session, actor, data.account_id, data.dataset_id)
    out = SubscriptionOut.of(subscription, utcnow())
    response = await claim.respond(session, status.HTTP_201_CREATED, out.model_dump(mode="json"))
    return response


@subscriptions_router.delete("/{subscriptionId}", response_model=SubscriptionOut)
async def cancel_subscription(
    subscription_id: Annotated[uuid.UUID, Path(alias="subscriptionId")],
    actor: CurrentUser,
    session: Session,
    at_period_end: bool = False,
) -> SubscriptionOut:
    """Cancel a subscription now, or at the end of its paid period."""
    subscription = await billing.cancel(
        session, actor, subscription_id, at_period_end=at_period_end
    )
    return SubscriptionOut.of(subscription, utcnow())


@subscriptions_router.get("/account/{accountId}", response_model=Page[SubscriptionOut])
async def subscriptions_of_account(
    account_id: AccountId,
    actor: BillingRead,
    session: Session,
    page: Pagination,
    status: SubscriptionStatus | None = None,
) -> Page[SubscriptionOut]:
    """An account's subscriptions, newest first."""
    rows = await billing.of_account(session, actor, account_id, page, status)
    return _subscription_page(rows, page)


@subscriptions_router.get(
    "/account/{accountId}/month/{month}", response_model=Page[SubscriptionOut]
)
async def subscriptions_of_account_in_month(
    account_id: AccountId,
    month: Annotated[str, Path(max_length=16, description="YYYY-MM, or 1-12 (this UTC year)")],
    actor: BillingRead,
    session: Session,
    page: Pagination,
) -> Page[SubscriptionOut]:
    """An account's subscriptions active at any moment of a month."""
    try:
        parsed = parse_month(month, allow_number=True)
    except MonthError as exc:
        raise Unprocessable(str(exc), code="invalid-month") from exc
    rows = await billing.of_account_in_month(session, actor, account_id, parsed, page)
    return _subscription_page(rows, page)


def _subscription_page(rows: list, page: Pagination) -> Page[SubscriptionOut]:
    items, cursor = build_page(rows, page, lambda s: (s.created_at, s.id))
    now = utcnow()
    return Page(items=[SubscriptionOut.of(s, now) for s in items], next_cursor=cursor)


# ------------------------------------------------------------------ invoices


@invoices_router.post("", status_code=status.HTTP_201_CREATED, response_model=InvoiceOut)
async def create_invoice(
    data: InvoiceCreate,
    request: Request,
    actor: Operator,
    session: Session,
    idempotency_key: IdempotencyHeader = None,
) -> Response:
    """Issue an invoice for an account: a month's charges, or manual lines.

    Safe to retry with an `Idempotency-Key` header.
    """
    body = data.model_dump(mode="json")
    claim = await idempotency.claim(session, actor, idempotency_key, "POST", request.url.path, body)
    if claim.replay is not None:
        return claim.replay
    invoice, lines = await invoicing.create(session, actor, data)
    out = InvoiceOut.of(invoice, lines)
    response = await claim.respond(session, status.HTTP_201_CREATED, out.model_dump(mode="json"))
    return response


@invoices_router.get("", response_model=Page[InvoiceOut])
async def list_invoices(
    actor: Operator,
    session: Session,
    page: Pagination,
    account_id: uuid.UUID | None = None,
    status: InvoiceStatus | None = None,
    month: Annotated[str | None, Query(max_length=7, examples=["2026-11"])] = None,
) -> Page[InvoiceOut]:
    """Every invoice, newest first (operators)."""
    rows, lines = await invoicing.search(
        session, actor, page, account_id=account_id, status=status, month=_month_query(month)
    )
    return _invoice_page(rows, lines, page)


@invoices_router.get("/account/{accountId}", response_model=Page[InvoiceOut])
async def invoices_of_account(
    account_id: AccountId,
    actor: BillingRead,
    session: Session,
    page: Pagination,
    status: InvoiceStatus | None = None,
    month: Annotated[str | None, Query(max_length=7, examples=["2026-11"])] = None,
) -> Page[InvoiceOut]:
    """An account's invoices, newest first."""
    rows, lines = await invoicing.of_account(
        session, actor, account_id, page, status=status, month=_month_query(month)
    )
    return _invoice_page(rows, lines, page)


@invoices_router.get(
    "/account/{accountId}/export", response_class=StreamingResponse, responses=EXPORT_RESPONSES
)
async def export_invoices(
    account_id: AccountId, actor: BillingReadOrSession, session: Session, sessions: ReadSessions
) -> StreamingResponse:
    """An account's invoices as CSV, newest first, whatever their number.

    Also accepts the panel's session cookie (the invoices page's "Export CSV" link).
    """
    rows = await exports.invoices_table(session, sessions, actor, account_id)
    return table_response(exports.INVOICE_COLUMNS, rows, "invoices")


@transactions_router.get(
    "/account/{accountId}/export", response_class=StreamingResponse, responses=EXPORT_RESPONSES
)
async def export_transactions(
    account_id: AccountId, actor: BillingRead, session: Session, sessions: ReadSessions
) -> StreamingResponse:
    """An account's transactions (purchases, subscription payments) as CSV, newest first."""
    rows = await exports.transactions_table(session, sessions, actor, account_id)
    return table_response(exports.TRANSACTION_COLUMNS, rows, "transactions")


@invoices_router.get("/{invoiceId}", response_model=InvoiceOut)
async def get_invoice(
    invoice_id: Annotated[uuid.UUID, Path(alias="invoiceId")],
    actor: BillingRead,
    session: Session,
) -> InvoiceOut:
    """One invoice with its lines."""
    invoice, lines = await invoicing.get(session, actor, invoice_id)
    return InvoiceOut.of(invoice, lines)


@invoices_router.get(
    "/{invoiceId}/pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
async def invoice_as_pdf(
    invoice_id: Annotated[uuid.UUID, Path(alias="invoiceId")],
    request: Request,
    actor: BillingReadOrSession,
    session: Session,
) -> Response:
    """One invoice as a PDF: number, account, month, status, lines and total.

    In the language of `Accept-Language` (or the panel's language cookie): Portuguese
    (Brazil) by default, or English. The panel's session cookie is accepted too (its link).
    """
    invoice, lines, account = await invoicing.printable(session, actor, invoice_id)
    body = await asyncio.to_thread(invoice_pdf.render, invoice, lines, account, negotiate(request))
    return Response(
        body,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{invoice.number}.pdf"'},
    )


@invoices_router.post("/{invoiceId}/pay", response_model=InvoiceOut)
async def pay_invoice(
    invoice_id: Annotated[uuid.UUID, Path(alias="invoiceId")],
    actor: Operator,
    session: Session,
) -> InvoiceOut:
    """Record the payment of an open invoice (409 if it is paid or void)."""
    return await _settle(session, actor, invoice_id, InvoiceStatus.paid)


@invoices_router.post("/{invoiceId}/void", response_model=InvoiceOut)
async def void_invoice(
    invoice_id: Annotated[uuid.UUID, Path(alias="invoiceId")],
    actor: Operator,
    session: Session,
) -> InvoiceOut:
    """Void an open invoice: its month and one-off purchases can be invoiced again."""
    return await _settle(session, actor, invoice_id, InvoiceStatus.void)


async def _settle(
    session: AsyncSession, actor: Actor, invoice_id: uuid.UUID, status: InvoiceStatus
) -> InvoiceOut:
    invoice, lines = await invoicing.settle(session, actor, invoice_id, status)
    return InvoiceOut.of(invoice, lines)


def _invoice_page(rows: list, lines: dict, page: Pagination) -> Page[InvoiceOut]:
    items, cursor = build_page(rows, page, lambda i: (i.created_at, i.id))
    return Page(items=[InvoiceOut.of(i, lines.get(i.id, [])) for i in items], next_cursor=cursor)


# ------------------------------------------------------------------ billing runs

RunId = Annotated[uuid.UUID, Path(alias="runId")]


@billing_runs_router.post(
    "", status_code=status.HTTP_202_ACCEPTED, response_model=BillingRunOut,
    responses={409: {
        "description": "The month is being closed already (`billing-run-in-progress`; "
                       "`run_id` names that run)",
        "content": {PROBLEM_JSON: {"schema": Problem.model_json_schema()}},
    }},
)
async def start_billing_run(
    data: BillingRunIn,
    request: Request,
    actor: Operator,
    session: Session,
    jobs: JobsDep,
    idempotency_key: IdempotencyHeader = None,
) -> Response:
    """Close a month: invoice every account with something to bill, as a job (the work of
    `nubo billing close-month` and of the back office's Billing page).

    Answers at once with the queued run; follow it at `GET /billing-runs/{runId}` (the
    `Location` header) until its status is `done` or `failed`. While a closing of the same
    month is queued or running, another is refused: 409 `billing-run-in-progress`, whose
    `run_id` names the run to follow. A closed month may be closed again: accounts invoiced
    already are skipped, so only what is new gets invoiced. Safe to retry with an
    `Idempotency-Key` header.
    """
    body = data.model_dump(mode="json")
    claim = await idempotency.claim(session, actor, idempotency_key, "POST", request.url.path, body)
    if claim.replay is not None:
        response = claim.replay
    else:
        run = await closing_runs.start(session, jobs, actor, data.month, prorate=data.prorate)
        out = BillingRunOut.of(run).model_dump(mode="json")
        response = await claim.respond(session, status.HTTP_202_ACCEPTED, out)
    run_id = json.loads(bytes(response.body)).get("id") if response.status_code == 202 else None
    if run_id:
        response.headers["Location"] = f"{request.url.path}/{run_id}"
    return response


@billing_runs_router.get("", response_model=Page[BillingRunOut])
async def list_billing_runs(
    _: Operator,
    session: Session,
    page: Pagination,
    month: Annotated[str | None, Query(max_length=7, examples=["2026-11"])] = None,
    status: BillingRunStatus | None = None,
) -> Page[BillingRunOut]:
    """Closings of months, newest first (operators)."""
    rows = await closing_runs.search(session, page, month=_month_query(month), status=status)
    items, cursor = build_page(rows, page, lambda r: (r.created_at, r.id))
    return Page(items=[BillingRunOut.of(r) for r in items], next_cursor=cursor)


@billing_runs_router.get("/{runId}", response_model=BillingRunOut)
async def get_billing_run(run_id: RunId, _: Operator, session: Session) -> BillingRunOut:
    """One closing: its progress while it works (accounts done of those found), then what
    it issued (invoices created, skipped and failed accounts, totals per currency)."""
    return BillingRunOut.of(await closing_runs.get(session, run_id))


routers = [
    datasets_router, transactions_router, subscriptions_router, invoices_router,
    billing_runs_router,
]
