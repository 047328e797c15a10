"""HTML routes of the identity domain: sign in, sign up, sign out, profile. Thin: they parse
the form, call the same services as the endpoints and render."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from nubo.identity import service, sessions
from nubo.identity.auth import DEVICE_COOKIE, client_address, remember_device
from nubo.identity.schemas import LoginIn, ProfileEdit, SignupIn
from nubo.kit.db import Session, StandaloneDb
from nubo.kit.errors import NotFound
from nubo.platform import PlatformDep
from nubo.web.forms import form
from nubo.web.session import (
    OptionalUser,
    SignedIn,
    clear_session,
    safe_next,
    session_cookie_name,
    set_session,
)
from nubo.web.templating import render

router = APIRouter()
Text = Annotated[str, Form(max_length=4096)]
Next = Annotated[str, Form(max_length=2048)]
SAVED = {"name", "email", "password"}


def _signed_in(request: Request, refresh_token: str, target: str) -> RedirectResponse:
    response = RedirectResponse(safe_next(target), status_code=303)
    set_session(response, request.app.state.settings, refresh_token)
    return response


@router.get("/login")
async def login_page(request: Request, user: OptionalUser, next: str = "/") -> Response:
    if user is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return await render(request, "identity/login.html", {"next": safe_next(next), "email": ""})


@router.post("/login")
async def login(
    request: Request,
    session: Session,
    db: StandaloneDb,
    platform: PlatformDep,
    email: Text = "",
    password: Text = "",
    next: Next = "/",
) -> Response:
    """Same throttled login as POST /api/auth/login (the attempt counters are shared)."""
    context = {"next": safe_next(next), "email": email}
    with form("identity/login.html", context):
        data = LoginIn.model_validate({"email": email, "password": password})
        tokens, device = await sessions.login(
            session,
            db,
            platform,
            data,
            client_address(request),
            request.cookies.get(DEVICE_COOKIE),
        )
    response = _signed_in(request, tokens.refresh_token, next)
    remember_device(request, response, platform, device, path="/login")
    return response


@router.get("/signup")
async def signup_page(request: Request, user: OptionalUser) -> Response:
    if user is not None:
        return RedirectResponse("/", status_code=303)
    blank = {"account_name": "", "name": "", "email": "", "invalid": []}
    return await render(request, "identity/signup.html", blank)


@router.post("/signup")
async def signup(
    request: Request,
    session: Session,
    db: StandaloneDb,
    platform: PlatformDep,
    account_name: Text = "",
    name: Text = "",
    email: Text = "",
    password: Text = "",
) -> Response:
    """A new account and its first admin, signed in at once."""
    context = {"account_name": account_name, "name": name, "email": email, "invalid": []}
    with form("identity/signup.html", context):
        data = SignupIn.model_validate(
            {"account_name": account_name, "name": name, "email": email, "password": password}
        )
        await sessions.count_signup(db, platform, client_address(request))
        _, user = await service.signup(session, platform, data)
        tokens = await sessions.issue_tokens(session, platform, user)
    return _signed_in(request, tokens.refresh_token, "/")


@router.post("/logout")
async def logout(request: Request, session: Session, platform: PlatformDep) -> Response:
    """Ends the session's whole token family, then forgets the cookie."""
    settings = request.app.state.settings
    token = request.cookies.get(session_cookie_name(settings))
    if token:
        await sessions.logout(session, platform, token)
    response = RedirectResponse("/login", status_code=303)
    clear_session(response, settings)
    return response


@router.get("/profile", response_class=HTMLResponse)
async def profile_page(request: Request, user: SignedIn, saved: str | None = None) -> Response:
    shown = saved if saved in SAVED else None
    return await render(request, "identity/profile.html", {"saved": shown, "invalid": []})


@router.post("/profile/{part}")
async def edit_profile(
    request: Request,
    part: str,
    user: SignedIn,
    session: Session,
    platform: PlatformDep,
    name: Text = "",
    email: Text = "",
    password: Text = "",
    current_password: Text = "",
) -> Response:
    """One form per part (name, email, password); email and password need the current
    password. A new password ends every session; this browser continues with a new one."""
    confirm = current_password or None
    fields = {
        "name": {"name": name},
        "email": {"email": email, "current_password": confirm},
        "password": {"password": password, "current_password": confirm},
    }
    if part not in fields:
        raise NotFound("no such part of the profile")
    with form("identity/profile.html", {"saved": None, "invalid": []}):
        data = ProfileEdit.model_validate(fields[part])
        edited, new_password = await service.edit_profile(session, platform, user.principal, data)
        tokens = await sessions.issue_tokens(session, platform, edited) if new_password else None
    response = RedirectResponse(f"/profile?saved={part}", status_code=303)
    if tokens is not None:
        set_session(response, request.app.state.settings, tokens.refresh_token)
    return response
