"""Every ORM table; importing this module registers them all on Base.metadata."""

from nubo.models.account import Account, AccountStatus
from nubo.models.aircraft import Aircraft, EngineReset, TrendPoint
from nubo.models.api_key import ApiKey, Scope
from nubo.models.base import Base
from nubo.models.billing_run import BillingRun, BillingRunStatus
from nubo.models.dataset import Dataset
from nubo.models.flight import BleedStatus, Flight, ProcessingStatus
from nubo.models.flight_event import FlightEvent
from nubo.models.idempotency_key import IdempotencyKey
from nubo.models.invoice import (
    Invoice,
    InvoiceCounter,
    InvoiceLine,
    InvoiceLineKind,
    InvoiceStatus,
)
from nubo.models.rate_limit import RateLimitWindow
from nubo.models.refresh_token import RefreshToken
from nubo.models.reprocessing import Reprocessing, ReprocessingAircraft
from nubo.models.subscription import Subscription, SubscriptionStatus
from nubo.models.transaction import Transaction, TransactionType
from nubo.models.user import Role, User
from nubo.models.webhook import (
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)

__all__ = [
    "Account",
    "AccountStatus",
    "Aircraft",
    "ApiKey",
    "Base",
    "BillingRun",
    "BillingRunStatus",
    "BleedStatus",
    "Dataset",
    "DeliveryStatus",
    "EngineReset",
    "Flight",
    "FlightEvent",
    "IdempotencyKey",
    "Invoice",
    "InvoiceCounter",
    "InvoiceLine",
    "InvoiceLineKind",
    "InvoiceStatus",
    "ProcessingStatus",
    "RateLimitWindow",
    "RefreshToken",
    "Reprocessing",
    "ReprocessingAircraft",
    "Role",
    "Scope",
    "Subscription",
    "SubscriptionStatus",
    "Transaction",
    "TransactionType",
    "TrendPoint",
    "User",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookMessage",
]
