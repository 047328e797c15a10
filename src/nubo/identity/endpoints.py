"""HTTP routes of the identity domain: thin, they parse, delegate and shape."""

from __future__ import annotations

import json
import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status
from pydantic import ValidationError

from nubo.identity import keys, service, sessions
from nubo.identity.auth import (
    DEVICE_COOKIE,
    AdminOrOperator,
    CurrentUser,
    Operator,
    client_address,
    remember_device,
)
from nubo.identity.schemas import (
    AccountCreate,
    AccountOut,
    AccountUpdate,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    LoginIn,
    ProfileEdit,
    ProfileOut,
    RefreshIn,
    SignupIn,
    SignupOut,
    TokenPair,
    UserCreate,
    UserOut,
)
from nubo.kit.db import Session, StandaloneDb
from nubo.kit.errors import Unprocessable, UnsupportedMediaType
from nubo.kit.pagination import Page, Pagination, build_page
from nubo.platform import PlatformDep

auth_router = APIRouter(prefix="/auth", tags=["auth"])
users_router = APIRouter(prefix="/users", tags=["users"])
accounts_router = APIRouter(prefix="/accounts", tags=["accounts"])
keys_router = APIRouter(prefix="/api-keys", tags=["api-keys"])

EmailPath = Annotated[str, Path(min_length=3, max_length=320)]


async def _login_body(request: Request) -> LoginIn:
    """JSON, or the OAuth2 password form (so the docs' Authorize button works)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        try:
            raw = json.loads(await request.body())
        except ValueError as exc:
            raise Unprocessable("the body is not valid JSON", code="invalid-json") from exc
    elif content_type == "application/x-www-form-urlencoded":
        form = await request.form()
        raw = {"email": form.get("username") or form.get("email"), "password": form.get("password")}
    else:
        raise UnsupportedMediaType("send JSON or an OAuth2 password form")
    try:
        return LoginIn.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid"}
        raise Unprocessable(
            f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}",
            errors=[
                {"loc": [str(p) for p in e["loc"]], "message": e["msg"], "type": e["type"]}
                for e in exc.errors()
            ],
        ) from exc


_LOGIN_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": LoginIn.model_json_schema()},
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["username", "password"],
                    "properties": {
                        "username": {"type": "string", "description": "the email"},
                        "password": {"type": "string"},
                    },
                }
            },
        },
    }
}


@auth_router.post("/signup", status_code=status.HTTP_201_CREATED, response_model=SignupOut)
async def signup(
    data: SignupIn, request: Request, session: Session, db: StandaloneDb, platform: PlatformDep
) -> SignupOut:
    """Sign up: create an account and its first admin, and sign them in.

    Throttled per client address (429 with `Retry-After`); the password must not be one of the
    10,000 most common ones.
    """
    await sessions.count_signup(db, platform, client_address(request))
    account, user = await service.signup(session, platform, data)
    tokens = await sessions.issue_tokens(session, platform, user)
    return SignupOut(
        account=AccountOut.model_validate(account),
        user=UserOut.model_validate(user),
        tokens=tokens,
    )


async def _login(
    request: Request,
    response: Response,
    session: Session,
    db: StandaloneDb,
    platform: PlatformDep,
) -> TokenPair:
    """Log in with email and password (JSON, or the OAuth2 password form).

    Answers a token pair and leaves a device cookie: a browser that signed in before keeps signing
    in while the email is locked out for unknown clients after repeated failures.
    """
    data = await _login_body(request)
    tokens, device = await sessions.login(
        session, db, platform, data, client_address(request), request.cookies.get(DEVICE_COOKIE)
    )
    remember_device(request, response, platform, device, path="/api")
    return tokens


auth_router.add_api_route(
    "/login",
    _login,
    methods=["POST"],
    response_model=TokenPair,
    openapi_extra=_LOGIN_BODY,
    summary="Log in",
)
users_router.add_api_route(
    "/authenticate",
    _login,
    methods=["POST"],
    response_model=TokenPair,
    openapi_extra=_LOGIN_BODY,
    summary="Authenticate (same as /auth/login)",
)


@auth_router.post("/refresh", response_model=TokenPair)
async def refresh(data: RefreshIn, session: Session, platform: PlatformDep) -> TokenPair:
    """Exchange a refresh token for a new pair (rotation).

    Presenting an already used refresh token ends its whole session (`refresh-token-reused`).
    """
    return await sessions.refresh(session, platform, data.refresh_token)


@auth_router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(data: RefreshIn, session: Session, platform: PlatformDep) -> Response:
    """Log out: end the session of this refresh token.

    Its refresh tokens and its access tokens stop working at once.
    """
    await sessions.logout(session, platform, data.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@users_router.get("/profile", response_model=UserOut)
async def profile(user: CurrentUser) -> Response:
    """The caller's own user."""
    # Serialised once by the model itself: the response_model (kept for the schema) would
    # validate and serialise it a second time on the busiest route.
    return Response(UserOut.model_validate(user).model_dump_json(), media_type="application/json")


@users_router.patch("/edit", response_model=ProfileOut)
async def edit_profile(
    data: ProfileEdit, user: CurrentUser, session: Session, platform: PlatformDep
) -> ProfileOut:
    """Edit the caller's own name, email or password.

    Changing the email or the password takes `current_password`. A new password ends every session
    and answers a fresh token pair in `tokens`. Fields equal to the stored ones change nothing.
    """
    edited, new_password = await service.edit_profile(session, platform, user, data)
    # A new password ends every session; the caller's own continues with a fresh pair.
    tokens = await sessions.issue_tokens(session, platform, edited) if new_password else None
    return ProfileOut(**UserOut.model_validate(edited).model_dump(), tokens=tokens)


@users_router.post("", status_code=status.HTTP_201_CREATED, response_model=UserOut)
async def create_user(
    data: UserCreate, actor: AdminOrOperator, session: Session, platform: PlatformDep
) -> UserOut:
    """Create a user in an account (default: the caller's).

    Only operators create operators, and only in the platform account.
    """
    return UserOut.model_validate(await service.create_user(session, platform, actor, data))


@users_router.get("/email/{email}", response_model=UserOut)
async def user_by_email(email: EmailPath, actor: CurrentUser, session: Session) -> UserOut:
    """A user of the caller's account by email (operators: any account)."""
    return UserOut.model_validate(await service.user_by_email(session, actor, email))


@users_router.get("/account/{accountId}", response_model=Page[UserOut])
async def users_of_account(
    account_id: Annotated[uuid.UUID, Path(alias="accountId")],
    actor: CurrentUser,
    session: Session,
    page: Pagination,
) -> Page[UserOut]:
    """The users of an account, oldest first, paginated."""
    rows = await service.users_of_account(session, actor, account_id, page)
    items, cursor = build_page(rows, page, lambda u: (u.created_at, u.id))
    return Page(items=[UserOut.model_validate(u) for u in items], next_cursor=cursor)


@users_router.delete("/{userId}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_user(
    user_id: Annotated[uuid.UUID, Path(alias="userId")], actor: AdminOrOperator, session: Session
) -> Response:
    """Delete a user (soft): their tokens stop at once.

    The last admin of an account cannot be deleted (409).
    """
    await service.delete_user(session, actor, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@accounts_router.post("", status_code=status.HTTP_201_CREATED, response_model=AccountOut)
async def create_account(data: AccountCreate, _: Operator, session: Session) -> AccountOut:
    """Create a customer account (operators)."""
    return AccountOut.model_validate(await service.create_account(session, data))


@accounts_router.put("/{accountId}", response_model=AccountOut)
async def update_account(
    account_id: Annotated[uuid.UUID, Path(alias="accountId")],
    data: AccountUpdate,
    actor: CurrentUser,
    session: Session,
) -> AccountOut:
    """Rename an account or change its email; operators also change its status.

    Fields equal to the stored ones change nothing.
    """
    return AccountOut.model_validate(await service.update_account(session, actor, account_id, data))


@accounts_router.get("/email/{email}", response_model=AccountOut)
async def account_by_email(email: EmailPath, actor: CurrentUser, session: Session) -> AccountOut:
    """The caller's account by its email (operators: any account)."""
    return AccountOut.model_validate(await service.account_by_email(session, actor, email))


@accounts_router.get("", response_model=Page[AccountOut])
async def list_accounts(
    actor: CurrentUser,
    session: Session,
    page: Pagination,
    q: Annotated[str | None, Query(max_length=200, description="in the name or email")] = None,
) -> Page[AccountOut]:
    """Accounts: every account for operators, the caller's own for everyone else.

    `q` keeps those whose name or email contains it (case-insensitive).
    """
    rows = await service.list_accounts(session, actor, page, q)
    items, cursor = build_page(rows, page, lambda a: (a.created_at, a.id))
    return Page(items=[AccountOut.model_validate(a) for a in items], next_cursor=cursor)


@accounts_router.delete("/{accountId}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_account(
    account_id: Annotated[uuid.UUID, Path(alias="accountId")],
    actor: Operator,
    session: Session,
) -> Response:
    """Delete a customer account (soft): its users' tokens stop, its subscriptions end."""
    await service.delete_account(session, actor, account_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@keys_router.post("", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated)
async def create_api_key(
    data: ApiKeyCreate, actor: AdminOrOperator, session: Session
) -> ApiKeyCreated:
    """Create an API key for the caller's account (account admins).

    The answer's `key` is the only time the secret is shown: store it in the machine's
    secret store. Send it as `Authorization: Bearer nubo_…`; it acts for the account with
    no more than its scopes, until it expires or is revoked.
    """
    key, token = await keys.create_key(session, actor, data)
    return ApiKeyCreated(**ApiKeyOut.model_validate(key).model_dump(), key=token)


@keys_router.get("", response_model=Page[ApiKeyOut])
async def list_api_keys(
    actor: AdminOrOperator, session: Session, page: Pagination
) -> Page[ApiKeyOut]:
    """The account's API keys that are not revoked, oldest first (operators: every account's).

    Secrets are never shown again; the `prefix` tells keys apart, and `last_used_at` says
    when each was last used (to the minute).
    """
    rows = await keys.list_keys(session, actor, page)
    items, cursor = build_page(rows, page, lambda k: (k.created_at, k.id))
    return Page(items=[ApiKeyOut.model_validate(k) for k in items], next_cursor=cursor)


@keys_router.delete("/{keyId}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_api_key(
    key_id: Annotated[uuid.UUID, Path(alias="keyId")], actor: AdminOrOperator, session: Session
) -> Response:
    """Revoke an API key: its next request answers 401."""
    await keys.revoke_key(session, actor, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


routers = [auth_router, users_router, accounts_router, keys_router]
