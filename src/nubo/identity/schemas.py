from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, EmailStr, Field, field_validator
from pydantic_core import PydanticCustomError

from nubo.identity.passwords import COMMON_PASSWORDS_COUNT, is_common
from nubo.kit.schemas import RequestModel, ResponseModel
from nubo.kit.types import utcnow
from nubo.models import AccountStatus, Role, Scope


def _lower(value: str) -> str:
    return value.lower()


def _uncommon(value: str) -> str:
    if is_common(value):
        raise PydanticCustomError(
            "common_password",
            "this password is one of the {count} most common ones, the first an attacker "
            "tries; choose another (a few unrelated words make a strong one)",
            {"count": f"{COMMON_PASSWORDS_COUNT:,}"},
        )
    return value


Email = Annotated[EmailStr, Field(max_length=320), AfterValidator(_lower)]
# A new password: 8-128 characters and not among the most common ones (ASVS V6.2.4).
Password = Annotated[
    str,
    Field(min_length=8, max_length=128, examples=["correct horse battery"]),
    AfterValidator(_uncommon),
]
Name = Annotated[str, Field(min_length=1, max_length=200, examples=["Ana Souza"])]


class SignupIn(RequestModel):
    account_name: Name
    name: Name
    email: Email
    password: Password


class LoginIn(RequestModel):
    email: Email
    password: Annotated[str, Field(min_length=1, max_length=128)]


class RefreshIn(RequestModel):
    refresh_token: Annotated[str, Field(min_length=1, max_length=4096)]


class TokenPair(ResponseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


class AccountOut(ResponseModel):
    id: uuid.UUID
    name: str
    email: str
    status: AccountStatus
    created_at: datetime
    updated_at: datetime


class UserOut(ResponseModel):
    id: uuid.UUID
    account_id: uuid.UUID
    name: str
    email: str
    role: Role
    created_at: datetime
    updated_at: datetime


class SignupOut(ResponseModel):
    account: AccountOut
    user: UserOut
    tokens: TokenPair


class UserCreate(RequestModel):
    account_id: uuid.UUID | None = None
    name: Name
    email: Email
    password: Password
    role: Role = Role.member


class ProfileEdit(RequestModel):
    name: Name | None = None
    email: Email | None = None
    password: Password | None = None
    current_password: Annotated[str | None, Field(max_length=128)] = None


class ProfileOut(UserOut):
    # Present only after a password change: the caller's new session (every other one ended).
    tokens: TokenPair | None = None


class AccountCreate(RequestModel):
    name: Name
    email: Email


class AccountUpdate(RequestModel):
    name: Name | None = None
    email: Email | None = None
    status: AccountStatus | None = None


def _future(value: datetime | None) -> datetime | None:
    if value is not None and value <= utcnow():
        raise PydanticCustomError("expiry_past", "the expiry must be in the future", {})
    return value


class ApiKeyCreate(RequestModel):
    name: Annotated[str, Field(min_length=1, max_length=100, examples=["ground station GRU"])]
    scopes: Annotated[
        list[Scope], Field(min_length=1, examples=[["flights:read", "flights:write"]])
    ]
    # Optional: a key without one lives until revoked.
    expires_at: Annotated[
        AwareDatetime | None, AfterValidator(_future), Field(examples=["2030-01-01T00:00:00Z"])
    ] = None


class ApiKeyOut(ResponseModel):
    id: uuid.UUID
    account_id: uuid.UUID
    name: str
    prefix: Annotated[str, Field(examples=["3f9c2a71b0d4"])]
    scopes: list[Scope]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None = Field(
        description="the last request made with the key, to the minute"
    )

    @field_validator("scopes", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return value.split() if isinstance(value, str) else value


class ApiKeyCreated(ApiKeyOut):
    # The whole key, shown in this answer only: only its hash is kept.
    key: Annotated[str, Field(examples=["nubo_3f9c2a71b0d4_" + "x" * 40])]
