"""HTML routes of the back office for billing (operators): close a month as a job and follow
it, settle invoices. Thin: the same services as /api/invoices and `nubo billing close-month`."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from nubo.identity import service as identity
from nubo.identity.principal import Actor
from nubo.kit.db import Session
from nubo.kit.errors import Unprocessable
from nubo.kit.pagination import PageParams, Pagination, build_page
from nubo.kit.types import utcnow
from nubo.marketplace import closing_runs, invoicing
from nubo.marketplace.months import MonthError, add_months, month_of, parse_month
from nubo.marketplace.schemas import InvoiceOut
from nubo.models import BillingRun, InvoiceStatus
from nubo.platform import JobsDep
from nubo.web.forms import N_, form
from nubo.web.session import SignedInOperator, safe_next
from nubo.web.templating import render

router = APIRouter(prefix="/backoffice")
RunId = Annotated[uuid.UUID, Path(alias="runId")]
InvoiceId = Annotated[uuid.UUID, Path(alias="invoiceId")]
BILLING = "backoffice/billing.html"
DONE = {"paid": N_("Invoice marked as paid."), "void": N_("Invoice voided.")}
RUN_INVOICES_SHOWN = 50


def _month(value: str) -> str:
    try:
        return parse_month(value)
    except MonthError as exc:
        raise Unprocessable(str(exc), code="invalid-month") from exc


async def _invoices(
    session: AsyncSession, actor: Actor, params: PageParams, **filters: Any
) -> dict[str, Any]:
    rows, _ = await invoicing.search(session, actor, params, **filters)
    items, cursor = build_page(rows, params, lambda i: (i.created_at, i.id))
    names = await identity.account_names(session, {i.account_id for i in items})
    return {"invoices": [InvoiceOut.of(i, []) for i in items], "next_cursor": cursor,
            "account_names": names}


async def _billing(
    session: AsyncSession, actor: Actor, params: PageParams, account_id: uuid.UUID | None = None,
    status: InvoiceStatus | None = None, month: str = "",
) -> dict[str, Any]:
    filters = {"account_id": account_id, "status": status,
               "month": _month(month) if month else None}
    shown = {"account_id": str(account_id or ""), "status": status.value if status else "",
             "month": month}
    return {
        **await _invoices(session, actor, params, **filters),
        "runs": [_view(r) for r in await closing_runs.recent(session)],
        "filters": shown, "more": {k: v for k, v in shown.items() if v},
        "close_month": month_of(add_months(utcnow(), -1)), "done": None,
    }


@router.get("/billing")
async def billing_page(
    request: Request, user: SignedInOperator, session: Session, page: Pagination,
    account_id: uuid.UUID | None = None, status: InvoiceStatus | None = None,
    month: Annotated[str, Query(max_length=7)] = "", done: str | None = None,
) -> Response:
    """Close a month; every invoice, newest first (GET /api/invoices with its filters)."""
    context = await _billing(session, user.principal, page, account_id, status, month)
    return await render(request, BILLING, {**context, "done": DONE.get(done or "")})


@router.post("/billing/close")
async def close_month(
    request: Request, user: SignedInOperator, session: Session, jobs: JobsDep,
    month: Annotated[str, Form(max_length=16)] = "",
    prorate: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """The work of `nubo billing close-month`, as a job; its page follows the progress."""
    context = await _billing(session, user.principal, PageParams(limit=50, cursor=None))
    with form(BILLING, {**context, "close_month": month}):
        run = await closing_runs.start(session, jobs, user.principal, _month(month),
                                       prorate=prorate == "yes")
    return RedirectResponse(f"/backoffice/billing/runs/{run.id}", status_code=303)


def _view(run: BillingRun) -> dict[str, Any]:
    """The run's columns, out of the ORM (a rejected form's rollback expires the rows)."""
    return {column.key: getattr(run, column.key) for column in BillingRun.__mapper__.column_attrs}


async def _run_context(session: AsyncSession, actor: Actor, run: BillingRun) -> dict[str, Any]:
    context: dict[str, Any] = {"run": _view(run), "invoices": [], "account_names": {}}
    if run.status.value == "done":
        params = PageParams(limit=RUN_INVOICES_SHOWN, cursor=None)
        context.update(await _invoices(session, actor, params, month=run.month))
    return context


@router.get("/billing/runs/{runId}")
async def run_page(
    request: Request, run_id: RunId, user: SignedInOperator, session: Session,
    done: str | None = None,
) -> Response:
    """One closing: its progress live (htmx polls the fragment), then the month's invoices."""
    run = await closing_runs.get(session, run_id)
    context = await _run_context(session, user.principal, run)
    return await render(request, "backoffice/run.html", {**context, "done": DONE.get(done or "")})


@router.get("/billing/runs/{runId}/progress")
async def run_progress(
    request: Request, run_id: RunId, user: SignedInOperator, session: Session,
) -> Response:
    """The fragment the run's page polls until the run has finished."""
    run = await closing_runs.get(session, run_id)
    context = await _run_context(session, user.principal, run)
    return await render(request, "backoffice/_run_progress.html", context)


async def _settle(
    request: Request, user: SignedInOperator, session: AsyncSession, invoice_id: uuid.UUID,
    target: InvoiceStatus, next_page: str,
) -> Response:
    context = await _billing(session, user.principal, PageParams(limit=50, cursor=None))
    with form(BILLING, context):
        await invoicing.settle(session, user.principal, invoice_id, target)
    back = safe_next(next_page)
    joiner = "&" if "?" in back else "?"
    return RedirectResponse(f"{back}{joiner}done={target.value}", status_code=303)


@router.post("/invoices/{invoiceId}/pay")
async def pay_invoice(
    request: Request, invoice_id: InvoiceId, user: SignedInOperator, session: Session,
    next: Annotated[str, Form(max_length=2048)] = "/backoffice/billing",
) -> Response:
    """POST /api/invoices/{invoiceId}/pay."""
    return await _settle(request, user, session, invoice_id, InvoiceStatus.paid, next)


@router.post("/invoices/{invoiceId}/void")
async def void_invoice(
    request: Request, invoice_id: InvoiceId, user: SignedInOperator, session: Session,
    next: Annotated[str, Form(max_length=2048)] = "/backoffice/billing",
) -> Response:
    """POST /api/invoices/{invoiceId}/void: its month and one-offs can be invoiced again."""
    return await _settle(request, user, session, invoice_id, InvoiceStatus.void, next)
