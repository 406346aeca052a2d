"""paykit's business layer: functions that take a session, a gateway and a clock."""

from paykit.services.orders import (
    OrderResult,
    PaymentInfo,
    apply_discount,
    apply_payment,
    cancel_order,
    fail_order_payment,
    mark_order_paid,
    place_order,
    sync_order_payment,
)
from paykit.services.payments import pay_order
from paykit.services.reconcile import ReconcileReport, reconcile, release_expired_orders
from paykit.services.refunds import (
    REFUND_ROLES,
    issue_refund,
    record_gateway_refund,
    sync_refund,
)
from paykit.services.seed import SeedResult, seed
from paykit.services.subscriptions import (
    cancel_subscription,
    change_subscription,
    ensure_gateway_customer,
    resume_subscription,
    subscribe,
    sync_invoice,
    sync_subscription,
)

__all__ = [
    "REFUND_ROLES",
    "OrderResult",
    "PaymentInfo",
    "ReconcileReport",
    "SeedResult",
    "apply_discount",
    "apply_payment",
    "cancel_order",
    "cancel_subscription",
    "change_subscription",
    "ensure_gateway_customer",
    "fail_order_payment",
    "issue_refund",
    "mark_order_paid",
    "pay_order",
    "place_order",
    "reconcile",
    "record_gateway_refund",
    "release_expired_orders",
    "resume_subscription",
    "seed",
    "subscribe",
    "sync_invoice",
    "sync_order_payment",
    "sync_refund",
    "sync_subscription",
]
