"""The browser session: an HttpOnly cookie holding a refresh token of its own login family,
checked against the database on every request (identity.sessions.browser_session), and the
CSRF token bound to it."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request, Response, Security
from fastapi.dependencies.models import Dependant
from fastapi.security import HTTPAuthorizationCredentials, SecurityScopes
from starlette.datastructures import Headers
from starlette.requests import cookie_parser

from nubo.identity import sessions
from nubo.identity.auth import bearer, current_user
from nubo.identity.principal import Principal
from nubo.kit.db import reader_of
from nubo.kit.errors import Forbidden, NuboError, Unauthorized
from nubo.models import Role, Scope
from nubo.platform import Platform
from nubo.settings import Settings

PRE_SESSION_COOKIE = "nubo_presession"  # binds the CSRF token of the sign-in/up forms
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def secure_cookies(settings: Settings) -> bool:
    return settings.env == "production"


def session_cookie_name(settings: Settings) -> str:
    # __Host-: the browser only accepts it Secure, for path /, from this very host.
    return "__Host-nubo_session" if secure_cookies(settings) else "nubo_session"


class SignInRequired(NuboError):
    """A page was asked for without a live session: the browser goes to the sign-in page."""

    status, code, title = 401, "sign-in-required", "Sign in required"


@dataclass(frozen=True, slots=True)
class WebUser:
    principal: Principal
    family: uuid.UUID
    csrf: str


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def csrf_for(platform: Platform, binding: str) -> str:
    key = platform.settings.signing_key.encode()
    return hmac.new(key, b"csrf|" + binding.encode(), hashlib.sha256).hexdigest()


async def optional_user(request: Request) -> WebUser | None:
    if "web_user" in request.scope:
        cached: WebUser | None = request.scope["web_user"]
        return cached
    token = request.cookies.get(session_cookie_name(_settings(request)))
    found = None
    if token:
        platform: Platform = request.app.state.platform
        found = await sessions.browser_session(reader_of(request), platform, token)
    user = None
    if found is not None:
        principal, family = found
        user = WebUser(principal, family, csrf_for(request.app.state.platform, str(family)))
    request.scope["web_user"] = user
    return user


async def required_user(
    request: Request, user: Annotated[WebUser | None, Depends(optional_user)]
) -> WebUser:
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(headers={"Location": f"/login?next={quote(target, safe='')}"})
    return user


OptionalUser = Annotated[WebUser | None, Depends(optional_user)]
SignedIn = Annotated[WebUser, Depends(required_user)]


async def required_operator(user: SignedIn) -> WebUser:
    """The back office's pages: operators only, the 403 page for everyone else."""
    if user.principal.role is not Role.operator:
        raise Forbidden("operators only", code="operator-required")
    return user


async def required_admin(user: SignedIn) -> WebUser:
    """Pages that manage an account: its admins and operators; members get the 403 page."""
    if user.principal.role is Role.member:
        raise Forbidden("account admins only", code="admin-required")
    return user


SignedInOperator = Annotated[WebUser, Depends(required_operator)]
SignedInAdmin = Annotated[WebUser, Depends(required_admin)]


def set_session(response: Response, settings: Settings, refresh_token: str) -> None:
    response.set_cookie(
        session_cookie_name(settings),
        refresh_token,
        max_age=settings.refresh_token_ttl_s,
        path="/",
        httponly=True,
        secure=secure_cookies(settings),
        samesite="lax",
    )


def clear_session(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        session_cookie_name(settings), path="/", httponly=True,
        secure=secure_cookies(settings), samesite="lax",
    )


def anonymous_csrf(request: Request) -> str:
    """The CSRF token of a form shown before sign-in, bound to a random pre-session cookie
    (`remember_pre_session` sets it on the response when it is new)."""
    binding = request.cookies.get(PRE_SESSION_COOKIE)
    if not binding or len(binding) > 64:
        binding = secrets.token_urlsafe(24)
        request.scope["new_pre_session"] = binding
    return csrf_for(request.app.state.platform, binding)


def remember_pre_session(request: Request, response: Response) -> None:
    binding = request.scope.get("new_pre_session")
    if binding:
        response.set_cookie(
            PRE_SESSION_COOKIE, binding, path="/", httponly=True,
            secure=secure_cookies(_settings(request)), samesite="lax",
        )


def safe_next(target: str | None) -> str:
    """Only a path of ours: never an absolute or protocol-relative URL (open redirect)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target


def _same_origin(request: Request) -> bool:
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        return False
    parts = urlsplit(source)
    host = request.headers.get("host", "")
    return parts.netloc == host and parts.scheme in {"http", "https"}


async def verify_csrf(request: Request) -> None:
    """Every unsafe method of the panel: same Origin, and the token bound to this session."""
    if request.method not in UNSAFE_METHODS:
        return
    if not _same_origin(request):
        raise Forbidden("cross-origin form posts are refused", code="csrf-origin")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    user = await optional_user(request)
    platform: Platform = request.app.state.platform
    binding = str(user.family) if user else request.cookies.get(PRE_SESSION_COOKIE)
    if not sent or not binding or not hmac.compare_digest(sent, csrf_for(platform, binding)):
        raise Forbidden("the form's CSRF token is missing or wrong", code="csrf-token")


async def bearer_or_session(
    request: Request,
    security_scopes: SecurityScopes,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """For the API's event streams: a bearer token, or the panel's session cookie (the
    browser's EventSource sends no headers of its own; the cookie is SameSite=Lax, so only
    our own pages' streams carry it). Only for safe methods: nothing here checks CSRF."""
    if credentials is not None:
        return await current_user(request, security_scopes, credentials)
    user = await optional_user(request)
    if user is None:
        raise Unauthorized("a bearer access token or a session is required", code="missing-token")
    return user.principal


# The event streams and the series are read by people and by keys with `flights:read`.
BearerOrSession = Annotated[
    Principal, Security(bearer_or_session, scopes=[Scope.flights_read.value])
]
# Downloads the panel links to: people, and keys with the scope of what they read.
DatasetsReadOrSession = Annotated[
    Principal, Security(bearer_or_session, scopes=[Scope.datasets_read.value])
]
BillingReadOrSession = Annotated[
    Principal, Security(bearer_or_session, scopes=[Scope.billing_read.value])
]


async def bearer_or_session_with_csrf(
    request: Request,
    security_scopes: SecurityScopes,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """For the API routes the panel's scripts post to (uploads): a bearer token, or the
    session cookie with our Origin and the session's CSRF token in `X-CSRF-Token` (the body
    is streamed, so the token cannot be a form field here)."""
    if credentials is not None:
        return await current_user(request, security_scopes, credentials)
    user = await optional_user(request)
    if user is None:
        raise Unauthorized("a bearer access token or a session is required", code="missing-token")
    sent = request.headers.get(CSRF_HEADER, "")
    if not _same_origin(request) or not hmac.compare_digest(sent, user.csrf):
        raise Forbidden("the CSRF token or the origin is wrong", code="csrf-token")
    return user.principal


# Flight creation: people, and keys with `flights:write`.
SessionWriter = Annotated[
    Principal, Security(bearer_or_session_with_csrf, scopes=[Scope.flights_write.value])
]


async def operator_bearer_or_session(
    caller: Annotated[Principal, Depends(bearer_or_session_with_csrf)],
) -> Principal:
    """Operator routes the back office's scripts post to (a dataset's file); no key may."""
    if caller.role is not Role.operator:
        raise Forbidden("operators only", code="operator-required")
    return caller


OperatorWriter = Annotated[Principal, Depends(operator_bearer_or_session)]


def accepts_session(dependant: Dependant) -> bool:
    """Whether a route (its dependency tree) takes a bearer token or the panel's session."""
    return any(
        d.call in (bearer_or_session, bearer_or_session_with_csrf) or accepts_session(d)
        for d in dependant.dependencies
    )


def bearer_or_session_at_edge(
    check_bearer: Callable[[Headers], None], settings: Settings
) -> Callable[[Headers], None]:
    """The edge's check for routes that also take the session: a request with neither a
    bearer token nor a session cookie is 401 before its body is read; a cookie is checked
    by the route itself (it needs the database), within the body cap."""
    cookie = session_cookie_name(settings)

    def check(headers: Headers) -> None:
        if "authorization" not in headers and cookie in cookie_parser(headers.get("cookie", "")):
            return
        check_bearer(headers)

    return check
