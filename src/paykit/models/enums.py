"""The seed's 14 enums, as ``StrEnum`` classes whose values are the seed's names."""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "DiscountType",
    "InvoiceStatus",
    "OrderStatus",
    "PaymentStatus",
    "PriceType",
    "ProductStatus",
    "ProductType",
    "RefundReason",
    "RefundStatus",
    "SubscriptionStatus",
    "TicketPriority",
    "TicketStatus",
    "UserRole",
    "UserStatus",
]


class UserRole(StrEnum):
    """What a user may do: see ``paykit.security`` for the policy table."""

    ADMIN = "ADMIN"
    CUSTOMER = "CUSTOMER"
    SUPPORT = "SUPPORT"


class UserStatus(StrEnum):
    """Account state; SUSPENDED and DELETED users cannot log in."""

    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"
    SUSPENDED = "SUSPENDED"
    DELETED = "DELETED"


class ProductStatus(StrEnum):
    """Catalog state; only PUBLISHED products can be ordered."""

    DRAFT = "DRAFT"
    PUBLISHED = "PUBLISHED"
    ARCHIVED = "ARCHIVED"
    DELETED = "DELETED"


class ProductType(StrEnum):
    """What kind of thing a product is."""

    ONE_TIME = "ONE_TIME"
    SUBSCRIPTION = "SUBSCRIPTION"
    DIGITAL_DOWNLOAD = "DIGITAL_DOWNLOAD"
    SERVICE = "SERVICE"


class PriceType(StrEnum):
    """A price is paid once or recurs."""

    ONE_TIME = "ONE_TIME"
    RECURRING = "RECURRING"


class OrderStatus(StrEnum):
    """Order lifecycle state (see docs/orders.md)."""

    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    REFUNDED = "REFUNDED"


class PaymentStatus(StrEnum):
    """State of an order's payment."""

    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    REFUNDED = "REFUNDED"


class SubscriptionStatus(StrEnum):
    """Subscription state; Stripe's ``canceled`` maps to CANCELLED."""

    TRIALING = "TRIALING"
    ACTIVE = "ACTIVE"
    PAST_DUE = "PAST_DUE"
    CANCELLED = "CANCELLED"
    UNPAID = "UNPAID"
    INCOMPLETE = "INCOMPLETE"
    INCOMPLETE_EXPIRED = "INCOMPLETE_EXPIRED"
    PAUSED = "PAUSED"


class InvoiceStatus(StrEnum):
    """Invoice state, as Stripe's."""

    DRAFT = "DRAFT"
    OPEN = "OPEN"
    PAID = "PAID"
    VOID = "VOID"
    UNCOLLECTIBLE = "UNCOLLECTIBLE"


class DiscountType(StrEnum):
    """A discount takes a percentage or a fixed amount off."""

    PERCENTAGE = "PERCENTAGE"
    FIXED_AMOUNT = "FIXED_AMOUNT"


class RefundReason(StrEnum):
    """Why a refund was made."""

    REQUESTED_BY_CUSTOMER = "REQUESTED_BY_CUSTOMER"
    DUPLICATE = "DUPLICATE"
    FRAUDULENT = "FRAUDULENT"
    SUBSCRIPTION_CANCELED = "SUBSCRIPTION_CANCELED"
    OTHER = "OTHER"


class RefundStatus(StrEnum):
    """State of a refund at the gateway."""

    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"


class TicketStatus(StrEnum):
    """Support ticket state."""

    OPEN = "OPEN"
    IN_PROGRESS = "IN_PROGRESS"
    RESOLVED = "RESOLVED"
    CLOSED = "CLOSED"


class TicketPriority(StrEnum):
    """Support ticket priority."""

    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    URGENT = "URGENT"
