"""paykit's business layer: functions that take a session, a gateway and a clock."""

from paykit.services.orders import (
    OrderResult,
    PaymentInfo,
    apply_discount,
    cancel_order,
    fail_order_payment,
    mark_order_paid,
    place_order,
    sync_order_payment,
)
from paykit.services.refunds import REFUND_ROLES, issue_refund, sync_refund
from paykit.services.seed import SeedResult, seed

__all__ = [
    "REFUND_ROLES",
    "OrderResult",
    "PaymentInfo",
    "SeedResult",
    "apply_discount",
    "cancel_order",
    "fail_order_payment",
    "issue_refund",
    "mark_order_paid",
    "place_order",
    "seed",
    "sync_order_payment",
    "sync_refund",
]
