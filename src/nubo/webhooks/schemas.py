from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from nubo.kit.schemas import RequestModel, ResponseModel
from nubo.models import DeliveryStatus
from nubo.webhooks import signing

EventType = Literal[
    "flight.processed",
    "flight.failed",
    "aircraft.status_changed",
    "invoice.created",
    "invoice.paid",
    "subscription.canceled",
]
Url = Annotated[
    str,
    Field(min_length=1, max_length=2048, examples=["https://hooks.example.com/nubo"],
          description="http(s); in production, public addresses only"),
]
EventTypes = Annotated[
    list[EventType],
    Field(min_length=1, max_length=6, examples=[["aircraft.status_changed", "invoice.created"]],
          description="the events sent to this endpoint"),
]
Description = Annotated[str | None, Field(default=None, max_length=200)]


class EndpointIn(RequestModel):
    url: Url
    event_types: EventTypes
    description: Description = None
    enabled: bool = True
    account_id: uuid.UUID | None = Field(
        default=None, description="operators: which account (default: the caller's)"
    )


class EndpointPatch(RequestModel):
    url: Url | None = None
    event_types: EventTypes | None = None
    description: Description = None
    enabled: bool | None = Field(
        default=None, description="true also re-enables an endpoint disabled for failing"
    )


class EndpointOut(ResponseModel):
    id: uuid.UUID
    account_id: uuid.UUID
    url: str
    description: str | None
    event_types: list[str]
    enabled: bool
    disabled_reason: Literal["failing"] | None = Field(
        description="`failing`: disabled after failing for days; re-enable with PATCH"
    )
    disabled_at: datetime | None
    failing_since: datetime | None
    created_at: datetime
    updated_at: datetime


class EndpointCreated(EndpointOut):
    secret: str = Field(
        description="`whsec_` + base64 of the HMAC key: shown once, keep it to verify",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    )


class DeliveryOut(ResponseModel):
    id: uuid.UUID
    webhook_id: str = Field(description="the `webhook-id` header, the same on every attempt")
    event_type: str
    status: DeliveryStatus
    attempts: int
    last_attempt_at: datetime | None
    last_status_code: int | None = Field(description="null: no HTTP answer (see last_error)")
    last_duration_ms: int | None
    last_error: str | None
    next_attempt_at: datetime | None = Field(description="when pending: the next attempt")
    delivered_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, d: Any) -> DeliveryOut:
        values = {name: getattr(d, name) for name in cls.model_fields if name != "webhook_id"}
        return cls(webhook_id=signing.webhook_id(d.message_id), **values)
