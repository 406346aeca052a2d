"""The domain events paykit emits after a host's transaction commits.

Each event is a frozen dataclass of plain values (ids, amounts, the recipient's
address), never an ORM row: it is delivered after the commit, possibly on
another thread, when the session's rows are expired.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import ClassVar

__all__ = [
    "EmailVerificationRequested",
    "Event",
    "InvoicePaymentFailed",
    "OrderPaid",
    "PasswordResetRequested",
    "PaymentFailed",
    "RefundFailed",
    "RefundIssued",
    "RenewalUpcoming",
    "SubscriptionCancelled",
    "SubscriptionCreated",
    "SubscriptionRenewalFailed",
    "TrialEnding",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """What every event holds: who it is about, where to reach them, and when.

    ``kind`` is the event's stable name (``"order_paid"``), also the name of its
    e-mail templates. ``email`` is ``None`` when the user has no address (or was
    erased); an e-mail notifier then sends nothing.
    """

    kind: ClassVar[str] = "event"
    user_id: str | None
    email: str | None
    occurred_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class _OrderEvent(Event):
    """What an event about an order's money holds: the order and the amount."""

    order_id: str
    order_number: str
    amount: Decimal
    currency: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderPaid(_OrderEvent):
    """An order's payment succeeded and the order is COMPLETED."""

    kind: ClassVar[str] = "order_paid"


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentFailed(_OrderEvent):
    """A payment attempt for an order was declined or failed."""

    kind: ClassVar[str] = "payment_failed"
    decline_code: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class _RefundEvent(_OrderEvent):
    """An event about a refund of an order: the refund, the order and the amount."""

    refund_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RefundIssued(_RefundEvent):
    """A refund was created at the gateway (succeeded or still pending)."""

    kind: ClassVar[str] = "refund_issued"


@dataclass(frozen=True, slots=True, kw_only=True)
class RefundFailed(_RefundEvent):
    """A refund failed or was cancelled at the gateway."""

    kind: ClassVar[str] = "refund_failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class _SubscriptionEvent(Event):
    """An event about a subscription: its id."""

    subscription_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionCreated(_SubscriptionEvent):
    """A subscription was created (by ``subscribe`` or a gateway sync)."""

    kind: ClassVar[str] = "subscription_created"
    status: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionRenewalFailed(_SubscriptionEvent):
    """A subscription went PAST_DUE or UNPAID: its renewal payment failed."""

    kind: ClassVar[str] = "subscription_renewal_failed"
    status: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionCancelled(_SubscriptionEvent):
    """A subscription was cancelled (now or at the end of its period)."""

    kind: ClassVar[str] = "subscription_cancelled"


@dataclass(frozen=True, slots=True, kw_only=True)
class InvoicePaymentFailed(_SubscriptionEvent):
    """A subscription invoice's payment attempt failed (Stripe retries it)."""

    kind: ClassVar[str] = "invoice_payment_failed"
    invoice_id: str
    invoice_number: str
    amount_due: Decimal
    currency: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TrialEnding(_SubscriptionEvent):
    """The gateway says a subscription's trial ends soon (``trial_will_end``)."""

    kind: ClassVar[str] = "trial_ending"
    trial_end: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RenewalUpcoming(_SubscriptionEvent):
    """The gateway says a subscription renews soon (Stripe's ``invoice.upcoming``).

    ``amount_due`` is what the renewal invoice will charge; ``renews_at`` when.
    """

    kind: ClassVar[str] = "renewal_upcoming"
    amount_due: Decimal
    currency: str
    renews_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PasswordResetRequested(Event):
    """Emitted by the host (``notify``) with the link it built from the token
    ``request_password_reset`` returned: paykit never queues a raw token."""

    kind: ClassVar[str] = "password_reset_requested"
    reset_url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class EmailVerificationRequested(Event):
    """Emitted by the host (``notify``) with the link it built from the token
    ``request_email_verification`` returned."""

    kind: ClassVar[str] = "email_verification_requested"
    verify_url: str
