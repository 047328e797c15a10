"""HTML routes of the back office for accounts and their users (operators). Thin: the same
services as /api/accounts and /api/users."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from nubo.identity import service
from nubo.identity.account_pages import DONE, account_context
from nubo.identity.principal import Actor
from nubo.identity.schemas import AccountCreate, AccountUpdate, UserCreate
from nubo.kit.db import Session
from nubo.kit.pagination import PageParams, Pagination, build_page
from nubo.kit.types import utcnow
from nubo.marketplace import billing
from nubo.marketplace.schemas import TransactionOut
from nubo.platform import PlatformDep
from nubo.web.forms import N_, form, parse
from nubo.web.session import SignedInOperator
from nubo.web.templating import render

router = APIRouter(prefix="/backoffice")
Text = Annotated[str, Form(max_length=4096)]
AccountId = Annotated[uuid.UUID, Path(alias="accountId")]
UserId = Annotated[uuid.UUID, Path(alias="userId")]
LIST = "backoffice/accounts.html"
DETAIL = "backoffice/account.html"
BACKOFFICE_DONE = {**DONE, "created": N_("Account created."), "deleted": N_("Account deleted.")}


@router.get("/accounts")
async def accounts_page(
    request: Request, user: SignedInOperator, session: Session, page: Pagination,
    q: Annotated[str, Query(max_length=200)] = "", done: str | None = None,
) -> Response:
    """Every account, oldest first; `q` searches names and emails (GET /api/accounts?q=)."""
    rows = await service.list_accounts(session, user.principal, page, q or None)
    accounts, cursor = build_page(rows, page, lambda a: (a.created_at, a.id))
    return await render(request, LIST, {
        "accounts": accounts, "next_cursor": cursor, "q": q,
        "new_account": {"name": "", "email": ""}, "done": BACKOFFICE_DONE.get(done or ""),
    })


@router.post("/accounts")
async def create_account(
    request: Request, user: SignedInOperator, session: Session, name: Text = "", email: Text = "",
) -> Response:
    fields = {"name": name, "email": email}
    context: dict[str, Any] = {"accounts": [], "next_cursor": None, "q": "", "done": None,
                               "new_account": fields}
    with form(LIST, context):
        data = parse(AccountCreate, fields)
        account = await service.create_account(session, data)
    return RedirectResponse(f"/backoffice/accounts/{account.id}?done=created", status_code=303)


async def _detail(
    session: AsyncSession, actor: Actor, account_id: uuid.UUID, cursor: str | None = None
) -> dict[str, Any]:
    context = await account_context(session, actor, account_id)
    context.update(await _transactions(session, actor, account_id, cursor))
    return context


async def _transactions(
    session: AsyncSession, actor: Actor, account_id: uuid.UUID, cursor: str | None
) -> dict[str, Any]:
    params = PageParams(limit=50, cursor=cursor)
    rows = await billing.transactions_of_account(session, actor, account_id, params)
    items, next_cursor = build_page(rows, params, lambda t: (t.created_at, t.id))
    names = await billing.dataset_names(session, {t.dataset_id for t in items})
    now = utcnow()
    return {"transactions": [TransactionOut.of(t, None, now) for t in items],
            "transactions_cursor": next_cursor, "dataset_names": names}


@router.get("/accounts/{accountId}")
async def account_page(
    request: Request, account_id: AccountId, user: SignedInOperator, session: Session,
    done: str | None = None, cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    """An account: its details, users and purchases; edit, add users, delete."""
    context = await _detail(session, user.principal, account_id, cursor)
    return await render(request, DETAIL, {**context, "done": BACKOFFICE_DONE.get(done or "")})


@router.post("/accounts/{accountId}")
async def edit_account(
    request: Request, account_id: AccountId, user: SignedInOperator, session: Session,
    name: Text = "", email: Text = "", status: Text = "",
) -> Response:
    """PUT /api/accounts/{accountId}: name, email and status."""
    context = await _detail(session, user.principal, account_id)
    with form(DETAIL, {**context, "done": None}):
        data = parse(AccountUpdate, {"name": name, "email": email, "status": status})
        await service.update_account(session, user.principal, account_id, data)
    return RedirectResponse(f"/backoffice/accounts/{account_id}?done=saved", status_code=303)


@router.post("/accounts/{accountId}/delete")
async def delete_account(
    request: Request, account_id: AccountId, user: SignedInOperator, session: Session,
) -> Response:
    """DELETE /api/accounts/{accountId}: what it does is stated beside the button."""
    context = await _detail(session, user.principal, account_id)
    with form(DETAIL, {**context, "done": None}):
        await service.delete_account(session, user.principal, account_id)
    return RedirectResponse("/backoffice/accounts?done=deleted", status_code=303)


@router.post("/accounts/{accountId}/users")
async def add_user(
    request: Request, account_id: AccountId, user: SignedInOperator, session: Session,
    platform: PlatformDep, name: Text = "", email: Text = "", password: Text = "",
    role: Text = "member",
) -> Response:
    """POST /api/users: operators only in the platform account (the form offers no other)."""
    context = await _detail(session, user.principal, account_id)
    context["new_user"] = {"name": name, "email": email, "role": role}
    with form(DETAIL, {**context, "done": None}):
        data = parse(UserCreate, {"account_id": str(account_id), "name": name, "email": email,
                                  "password": password, "role": role})
        await service.create_user(session, platform, user.principal, data)
    return RedirectResponse(f"/backoffice/accounts/{account_id}?done=added", status_code=303)


@router.post("/accounts/{accountId}/users/{userId}/delete")
async def remove_user(
    request: Request, account_id: AccountId, user_id: UserId, user: SignedInOperator,
    session: Session,
) -> Response:
    """DELETE /api/users/{userId}; the last admin stays, with the reason on the page."""
    context = await _detail(session, user.principal, account_id)
    with form(DETAIL, {**context, "done": None}):
        await service.delete_user(session, user.principal, user_id, account_id=account_id)
    return RedirectResponse(f"/backoffice/accounts/{account_id}?done=removed", status_code=303)
