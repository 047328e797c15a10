"""HTML routes of an account's own administration: its details and its users. Thin: the
same services as /api/accounts and /api/users."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from nubo.identity import service
from nubo.identity.principal import Actor
from nubo.identity.schemas import AccountOut, AccountUpdate, UserCreate, UserOut
from nubo.kit.db import Session
from nubo.kit.pagination import PageParams, build_page
from nubo.platform import PlatformDep
from nubo.web.forms import N_, form, parse
from nubo.web.session import SignedIn, SignedInAdmin
from nubo.web.templating import render

router = APIRouter()
Text = Annotated[str, Form(max_length=4096)]
UserId = Annotated[uuid.UUID, Path(alias="userId")]
TEMPLATE = "identity/account.html"
# Shown once after a redirect (?done=…): what the last form did.
DONE = {"added": N_("User added."), "removed": N_("User removed."), "saved": N_("Saved.")}
USERS_SHOWN = 200


async def account_context(
    session: AsyncSession, actor: Actor, account_id: uuid.UUID, cursor: str | None = None
) -> dict[str, Any]:
    """An account and a page of its users (oldest first), as the API reads them; copied out
    of the ORM, so that a rejected form (its unit rolled back) can still show them."""
    account = await service.get_account(session, actor, account_id)
    page = PageParams(limit=USERS_SHOWN, cursor=cursor)
    rows = await service.users_of_account(session, actor, account_id, page)
    users, next_cursor = build_page(rows, page, lambda u: (u.created_at, u.id))
    return {"account": AccountOut.model_validate(account), "is_platform": account.is_platform,
            "users": [UserOut.model_validate(u) for u in users], "next_cursor": next_cursor,
            "new_user": {"name": "", "email": "", "role": "member"}}


def _done(done: str | None) -> str | None:
    return DONE.get(done or "")


@router.get("/account")
async def account_page(
    request: Request, user: SignedIn, session: Session,
    done: str | None = None, cursor: str | None = None,
) -> Response:
    """Every user of the account reads it; admins also add and remove users."""
    context = await account_context(session, user.principal, user.principal.account_id, cursor)
    return await render(request, TEMPLATE, {**context, "done": _done(done)})


@router.post("/account")
async def edit_account(
    request: Request, user: SignedInAdmin, session: Session,
    name: Text = "", email: Text = "",
) -> Response:
    """The account's name and email (PUT /api/accounts/{accountId})."""
    actor = user.principal
    context = await account_context(session, actor, actor.account_id)
    with form(TEMPLATE, {**context, "done": None}):
        data = parse(AccountUpdate, {"name": name, "email": email})
        await service.update_account(session, actor, actor.account_id, data)
    return RedirectResponse("/account?done=saved", status_code=303)


@router.post("/account/users")
async def add_user(
    request: Request, user: SignedInAdmin, session: Session, platform: PlatformDep,
    name: Text = "", email: Text = "", password: Text = "", role: Text = "member",
) -> Response:
    """An admin or a member of the caller's account (POST /api/users)."""
    actor = user.principal
    context = await account_context(session, actor, actor.account_id)
    context["new_user"] = {"name": name, "email": email, "role": role}
    with form(TEMPLATE, {**context, "done": None}):
        data = parse(UserCreate, {"name": name, "email": email, "password": password,
                                  "role": role if role in ("admin", "member") else "member"})
        await service.create_user(session, platform, actor, data)
    return RedirectResponse("/account?done=added", status_code=303)


@router.post("/account/users/{userId}/delete")
async def remove_user(
    request: Request, user_id: UserId, user: SignedInAdmin, session: Session
) -> Response:
    """DELETE /api/users/{userId}: the last admin stays, with the reason on the page."""
    actor = user.principal
    context = await account_context(session, actor, actor.account_id)
    with form(TEMPLATE, {**context, "done": None}):
        await service.delete_user(session, actor, user_id, account_id=actor.account_id)
    return RedirectResponse("/account?done=removed", status_code=303)
