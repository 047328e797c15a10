"""Who is calling: typed dependencies for the current user and their role."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request, Response, Security
from fastapi.dependencies.models import Dependant
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes
from starlette.datastructures import Headers

from nubo.identity import keys, repository
from nubo.identity.principal import Actor, Principal
from nubo.kit.db import ReadConnection
from nubo.kit.errors import Forbidden, NotFound, Unauthorized
from nubo.kit.security import InvalidToken
from nubo.models import Role, Scope
from nubo.platform import Platform

bearer = HTTPBearer(
    auto_error=False,
    description="An access token from POST /api/auth/login, or an API key `nubo_…` "
    "(POST /api/api-keys), which may call the routes whose scope it holds.",
)


async def current_user(
    request: Request,
    security_scopes: SecurityScopes,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The caller, checked against the database on every request so that a deleted,
    disabled or re-passworded user's tokens, and a logged-out session's, stop at once.

    Read on its own connection rather than in the request's session: on the busiest routes
    (the caller's own profile) no unit of work is opened at all. App state is read directly,
    not through more dependencies, because this runs on every authenticated request.

    An API key (`nubo_…`) is accepted where the route names the scopes it needs
    (`Security(current_user, scopes=[...])`) and the key holds them all.
    """
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("a bearer access token is required", code="missing-token")
    platform: Platform = request.app.state.platform
    if keys.is_key(credentials.credentials):
        return await keys.key_principal(
            credentials.credentials,
            security_scopes.scopes,
            request.app.state.read_connection,
            request.app.state.write_connection,
            platform.key_requests,
        )
    try:
        claims = platform.tokens.decode(credentials.credentials, "access")
    except InvalidToken as exc:
        raise Unauthorized("the access token is not valid", code="invalid-token") from exc
    read_connection: ReadConnection = request.app.state.read_connection
    async with read_connection() as conn:
        user = await repository.active_principal(conn, claims.sub, claims.fam)
    if user is None or user.token_version != claims.ver:
        raise Unauthorized("the access token is no longer valid", code="invalid-token")
    return user


def require_bearer(platform: Platform) -> Callable[[Headers], None]:
    """The check of `current_user` that needs no database, for the edge: a route that needs
    a caller answers 401 to a missing or invalid token before it reads the request body."""

    def check(headers: Headers) -> None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("a bearer access token is required", code="missing-token")
        if keys.is_key(token.strip()):
            return  # a key is checked against its row, with the route's scopes
        try:
            platform.tokens.decode(token.strip(), "access")
        except InvalidToken as exc:
            raise Unauthorized("the access token is not valid", code="invalid-token") from exc

    return check


def needs_caller(dependant: Dependant) -> bool:
    """Whether a route (its dependency tree) authenticates its caller."""
    return any(d.call is current_user or needs_caller(d) for d in dependant.dependencies)


async def operator(user: Annotated[Principal, Depends(current_user)]) -> Principal:
    if user.role is not Role.operator:
        raise Forbidden("operators only", code="operator-required")
    return user


async def admin_or_operator(user: Annotated[Principal, Depends(current_user)]) -> Principal:
    if user.role is Role.member:
        raise Forbidden("account admins only", code="admin-required")
    return user


CurrentUser = Annotated[Principal, Depends(current_user)]
# People, and API keys holding the scope named: the routes machines may call.
FlightsRead = Annotated[Principal, Security(current_user, scopes=[Scope.flights_read.value])]
FlightsWrite = Annotated[Principal, Security(current_user, scopes=[Scope.flights_write.value])]
DatasetsRead = Annotated[Principal, Security(current_user, scopes=[Scope.datasets_read.value])]
BillingRead = Annotated[Principal, Security(current_user, scopes=[Scope.billing_read.value])]
Operator = Annotated[Principal, Depends(operator)]
AdminOrOperator = Annotated[Principal, Depends(admin_or_operator)]


def ensure_same_account(actor: Actor, account_id: uuid.UUID, what: str = "account") -> None:
    """Another account's resources are indistinguishable from missing ones."""
    if actor.role is not Role.operator and actor.account_id != account_id:
        raise NotFound(f"{what} not found")


def ensure_can_manage(actor: Actor, account_id: uuid.UUID, what: str = "account") -> None:
    """Admins manage their own account, operators any; members of the account get 403."""
    ensure_same_account(actor, account_id, what)
    if actor.role is Role.member:
        raise Forbidden("account admins only", code="admin-required")


def client_address(request: Request) -> str:
    """Whom the login and signup counters count per address."""
    return request.client.host if request.client else "unknown"


# The cookie of OWASP's device scheme (docs/decisions/identity-device-cookies.md).
DEVICE_COOKIE = "nubo_device"


def remember_device(
    request: Request, response: Response, platform: Platform, device: str, path: str
) -> None:
    """Leave the device cookie of a successful login: this browser may keep logging in while
    the email is locked out for unknown clients."""
    response.set_cookie(
        DEVICE_COOKIE,
        device,
        max_age=platform.settings.login_device_ttl_s,
        path=path,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


def key_scopes(dependant: Dependant) -> list[str] | None:
    """The scopes an API key needs on a route; None where keys are not accepted (routes
    that name no scope, and public ones)."""
    found: set[str] = set()
    pending = list(dependant.dependencies)
    while pending:
        sub = pending.pop()
        if sub.security_scopes_param_name is not None:
            found.update(sub.security_scopes or ())
        pending.extend(sub.dependencies)
    return sorted(found) or None
