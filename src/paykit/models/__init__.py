"""paykit's SQLAlchemy 2 models: one class per model of the seed schema, same names.

``Base.metadata`` is the whole schema. Python attribute and column names are the
snake_case of the seed's field names; the seed's ``metadata`` JSON fields are the
attribute ``metadata_`` (SQLAlchemy reserves ``metadata``) on the column ``metadata``.
"""

from paykit.models.analytics import Analytics, SubscriptionMrrHistory
from paykit.models.audit import AuditLog
from paykit.models.base import NAMING_CONVENTION, Base, new_id
from paykit.models.catalog import (
    Price,
    Product,
    ProductCategory,
    ProductReview,
    ReviewVote,
    product_category_links,
)
from paykit.models.config import SystemConfig
from paykit.models.discounts import Discount, DiscountUsage, ProductDiscount
from paykit.models.enums import (
    DiscountType,
    InvoiceStatus,
    OrderStatus,
    PaymentStatus,
    PriceType,
    ProductStatus,
    ProductType,
    RefundReason,
    RefundStatus,
    SubscriptionStatus,
    TicketPriority,
    TicketStatus,
    UserRole,
    UserStatus,
)
from paykit.models.idempotency import IdempotencyKey
from paykit.models.invoice_lines import InvoiceLine
from paykit.models.orders import Order, OrderItem
from paykit.models.payments import PaymentMethod
from paykit.models.refunds import Refund
from paykit.models.subscriptions import Invoice, Subscription, SubscriptionItem
from paykit.models.support import SupportTicket, TicketMessage
from paykit.models.throttle import LoginAttempt
from paykit.models.types import ExactDecimal, JSONDocument, StringArray, UTCDateTime
from paykit.models.users import Session, User
from paykit.models.webhooks import WebhookEvent, WebhookEventStatus

__all__ = [
    "NAMING_CONVENTION",
    "Analytics",
    "AuditLog",
    "Base",
    "Discount",
    "DiscountType",
    "DiscountUsage",
    "ExactDecimal",
    "IdempotencyKey",
    "Invoice",
    "InvoiceLine",
    "InvoiceStatus",
    "JSONDocument",
    "LoginAttempt",
    "Order",
    "OrderItem",
    "OrderStatus",
    "PaymentMethod",
    "PaymentStatus",
    "Price",
    "PriceType",
    "Product",
    "ProductCategory",
    "ProductDiscount",
    "ProductReview",
    "ProductStatus",
    "ProductType",
    "Refund",
    "RefundReason",
    "RefundStatus",
    "ReviewVote",
    "Session",
    "StringArray",
    "Subscription",
    "SubscriptionItem",
    "SubscriptionMrrHistory",
    "SubscriptionStatus",
    "SupportTicket",
    "SystemConfig",
    "TicketMessage",
    "TicketPriority",
    "TicketStatus",
    "UTCDateTime",
    "User",
    "UserRole",
    "UserStatus",
    "WebhookEvent",
    "WebhookEventStatus",
    "new_id",
    "product_category_links",
]
