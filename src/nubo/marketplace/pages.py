"""HTML routes of the data panel for customers: catalogue, dataset (preview, buy, download),
purchases and subscriptions, invoices. Thin: the same services as the endpoints."""

from __future__ import annotations

import uuid
from fractions import Fraction
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from nubo.kit.db import Session
from nubo.kit.errors import Unprocessable
from nubo.kit.pagination import PageParams, Pagination, build_page
from nubo.kit.types import utcnow
from nubo.marketplace import billing, datasets, holdings, invoicing, money, repository
from nubo.marketplace.line_words import describer
from nubo.marketplace.months import MonthError, parse_month, period_end_after
from nubo.marketplace.schemas import DatasetSort
from nubo.models import Dataset, SubscriptionStatus, TransactionType
from nubo.web import words
from nubo.web.forms import form
from nubo.web.session import SignedIn
from nubo.web.templating import render

router = APIRouter()
DatasetId = Annotated[uuid.UUID, Path(alias="id")]
Text = Annotated[str, Query(max_length=200)]
Kind = Literal["one_time", "subscription"]
# The catalogue's order by default: newest first.
NEWEST: DatasetSort = "-created_at"


def price(amount_minor: int, currency: str) -> dict[str, Any]:
    """What the templates format with `fmt.money`: a decimal string and its currency."""
    return {"amount": money.format_minor(amount_minor, currency), "currency": currency}


@router.get("/datasets")
async def catalogue_page(
    request: Request,
    user: SignedIn,
    session: Session,
    page: Pagination,
    q: Text = "",
    location: Text = "",
    category: Annotated[str, Query(max_length=100)] = "",
    min_price: Annotated[str, Query(max_length=32)] = "",
    max_price: Annotated[str, Query(max_length=32)] = "",
    sort: DatasetSort = NEWEST,
) -> Response:
    """The same search as GET /api/datasets; prices filter in reais (BRL)."""
    filters = {"q": q, "location": location, "category": category,
               "min_price": min_price, "max_price": max_price, "sort": sort}
    context: dict[str, Any] = {"rows": [], "next_cursor": None, "filters": filters,
                               "more": {}, "price": price, "sorts": words.SORTS}
    with form("marketplace/catalogue.html", context):
        rows = await datasets.search(
            session, page, q=q or None, location=location or None, category=category or None,
            min_price=_decimal(min_price), max_price=_decimal(max_price), sort=sort,
        )
    items, cursor = build_page(rows, page, lambda d: repository.sort_key(sort, d))
    more = {k: v for k, v in filters.items() if v and not (k == "sort" and v == NEWEST)}
    return await render(request, "marketplace/catalogue.html",
                        {**context, "rows": items, "next_cursor": cursor, "more": more})


def _decimal(value: str) -> str | None:
    """A person types `1.234,56` or `49,90`; the service takes `1234.56` and `49.90`."""
    text = value.strip().replace("R$", "").strip()
    if not text:
        return None
    if "," in text:
        text = text.replace(".", "").replace(",", ".")
    return text


@router.get("/datasets/{id}")
async def dataset_page(
    request: Request, dataset_id: DatasetId, user: SignedIn, session: Session
) -> Response:
    """Its facts, the preview stored at upload, and what the account may do with it."""
    dataset = await datasets.get(session, dataset_id)
    standing = await holdings.standing(session, user.principal, dataset)
    return await render(request, "marketplace/dataset.html", _dataset_context(dataset, standing))


def _dataset_context(dataset: Dataset, standing: holdings.Standing) -> dict[str, Any]:
    return {"dataset": dataset, "standing": standing, "price": price,
            "cost": price(dataset.price_minor, dataset.currency),
            "period_end": standing.subscription.ends_at if standing.subscription else None}


@router.get("/datasets/{id}/buy")
async def confirm_page(
    request: Request,
    dataset_id: DatasetId,
    user: SignedIn,
    session: Session,
    kind: Annotated[Kind, Query(alias="type")] = "one_time",
) -> Response:
    """States what the account will pay before it buys or subscribes."""
    dataset = await datasets.get(session, dataset_id)
    return await render(request, "marketplace/confirm.html", _confirm_context(dataset, kind))


def _confirm_context(dataset: Dataset, kind: str) -> dict[str, Any]:
    # Plain values: a refused purchase shows this page again after the rollback.
    shown = {"id": dataset.id, "name": dataset.name}
    return {"dataset": shown, "kind": kind, "cost": price(dataset.price_minor, dataset.currency),
            "renews": period_end_after(utcnow(), utcnow())}


@router.post("/datasets/{id}/buy")
async def buy(
    request: Request,
    dataset_id: DatasetId,
    user: SignedIn,
    session: Session,
    kind: Annotated[Kind, Form(alias="type")] = "one_time",
) -> Response:
    """Same purchase as POST /api/transactions, for the caller's own account."""
    dataset = await datasets.get(session, dataset_id)
    with form("marketplace/confirm.html", _confirm_context(dataset, kind)):
        await billing.purchase(session, user.principal, TransactionType(kind),
                               user.principal.account_id, dataset.id)
    return RedirectResponse(f"/datasets/{dataset.id}?done={kind}", status_code=303)


@router.get("/purchases")
async def purchases_page(
    request: Request,
    user: SignedIn,
    session: Session,
    page: Pagination,
    purchases_cursor: Annotated[str | None, Query(max_length=512)] = None,
    canceled: Annotated[Literal["now", "period_end"] | None, Query()] = None,
) -> Response:
    """One-off purchases and subscriptions of the caller's account, each list by cursor."""
    actor = user.principal
    bought_page = PageParams(limit=page.limit, cursor=purchases_cursor)
    bought, bought_sets = await holdings.purchases(session, actor, actor.account_id, bought_page)
    bought_items, bought_next = build_page(bought, bought_page, lambda t: (t.created_at, t.id))
    subs, sub_sets = await holdings.subscriptions(session, actor, actor.account_id, page)
    sub_items, sub_next = build_page(subs, page, lambda s: (s.created_at, s.id))
    now = utcnow()
    return await render(request, "marketplace/purchases.html", {
        "bought": bought_items, "bought_next": bought_next, "subscriptions": [
            _subscription_row(s, now) for s in sub_items
        ], "subscriptions_next": sub_next, "named": {**bought_sets, **sub_sets},
        "may_cancel": holdings.may_buy(actor), "canceled": canceled, "price": price,
    })


def _subscription_row(s: Any, now: Any) -> dict[str, Any]:
    live = s.status is SubscriptionStatus.active and (s.ends_at is None or s.ends_at > now)
    period_end = (s.ends_at or period_end_after(s.started_at, now)) if live else None
    return {"s": s, "live": live, "period_end": period_end,
            "ending": live and s.cancel_at_period_end}


@router.post("/subscriptions/{id}/cancel")
async def cancel(
    request: Request,
    subscription_id: Annotated[uuid.UUID, Path(alias="id")],
    user: SignedIn,
    session: Session,
    when: Annotated[Literal["now", "period_end"], Form()] = "period_end",
) -> Response:
    """Same cancellation as DELETE /api/subscriptions/{id}; back to the list, which says it."""
    await billing.cancel(session, user.principal, subscription_id,
                         at_period_end=when == "period_end")
    return RedirectResponse(f"/purchases?canceled={when}", status_code=303)


@router.get("/invoices")
async def invoices_page(
    request: Request,
    user: SignedIn,
    session: Session,
    page: Pagination,
    month: Annotated[str, Query(max_length=7)] = "",
) -> Response:
    """The account's invoices, newest month first, as GET /api/invoices/account/{id}."""
    actor = user.principal
    context: dict[str, Any] = {"invoices": [], "next_cursor": None, "month": month,
                               "price": price, "words": words,
                               "export_url": f"/api/invoices/account/{actor.account_id}/export"}
    with form("marketplace/invoices.html", context):
        try:
            chosen = parse_month(month) if month else None
        except MonthError as exc:
            raise Unprocessable(str(exc), code="invalid-month") from exc
        rows, _ = await invoicing.of_account(session, actor, actor.account_id, page,
                                             month=chosen)
    items, cursor = build_page(rows, page, lambda i: (i.created_at, i.id))
    return await render(request, "marketplace/invoices.html",
                        {**context, "invoices": items, "next_cursor": cursor})


@router.get("/invoices/{id}")
async def invoice_page(
    request: Request,
    invoice_id: Annotated[uuid.UUID, Path(alias="id")],
    user: SignedIn,
    session: Session,
) -> Response:
    """Lines, total and number; the PDF is GET /api/invoices/{id}/pdf."""
    invoice, lines, account = await invoicing.printable(session, user.principal, invoice_id)
    return await render(request, "marketplace/invoice.html", {
        "invoice": invoice, "lines": sorted(lines, key=lambda x: x.position),
        "account": account, "price": price, "words": words,
        "describe": describer(request),
        "quantity": lambda ln: money.format_fraction(Fraction(ln.quantity_num, ln.quantity_den)),
    })
