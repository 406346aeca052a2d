"""The webhook handlers: which Stripe event type does what (docs/stripe.md has the table).

Each handler takes the session, the event payload and a :class:`HandlerContext`,
runs inside the caller's SAVEPOINT, and returns ``processed`` or ``ignored``;
an exception marks the delivery ``failed``. :data:`HANDLERS` is read on every
delivery, so a test may replace an entry.
"""

from __future__ import annotations

from collections.abc import Mapping

from paykit.stripe.handlers.billing import invoice_event, subscription_event, trial_will_end
from paykit.stripe.handlers.billing_methods import (
    checkout_session_completed,
    payment_method_updated,
    setup_intent_succeeded,
)
from paykit.stripe.handlers.context import Handler, HandlerContext
from paykit.stripe.handlers.customers import (
    customer_updated,
    payment_method_attached,
    payment_method_detached,
)
from paykit.stripe.handlers.dunning import invoice_paid, invoice_payment_failed
from paykit.stripe.handlers.payments import (
    charge_refunded,
    payment_canceled,
    payment_failed,
    payment_succeeded,
    refund_event,
)
from paykit.stripe.handlers.renewals import invoice_upcoming

__all__ = ["HANDLED_EVENT_TYPES", "HANDLERS", "Handler", "HandlerContext"]

HANDLERS: Mapping[str, Handler] = {
    "payment_intent.succeeded": payment_succeeded,
    "payment_intent.payment_failed": payment_failed,
    "payment_intent.canceled": payment_canceled,
    "charge.refunded": charge_refunded,
    "refund.created": refund_event,
    "refund.updated": refund_event,
    "refund.failed": refund_event,
    "customer.subscription.created": subscription_event,
    "customer.subscription.updated": subscription_event,
    "customer.subscription.deleted": subscription_event,
    "customer.subscription.paused": subscription_event,
    "customer.subscription.resumed": subscription_event,
    "customer.subscription.trial_will_end": trial_will_end,
    "invoice.created": invoice_event,
    "invoice.finalized": invoice_event,
    "invoice.updated": invoice_event,
    "invoice.paid": invoice_paid,
    "invoice.payment_succeeded": invoice_paid,
    "invoice.payment_failed": invoice_payment_failed,
    "invoice.voided": invoice_event,
    "invoice.marked_uncollectible": invoice_event,
    "invoice.upcoming": invoice_upcoming,
    "payment_method.attached": payment_method_attached,
    "payment_method.detached": payment_method_detached,
    "customer.updated": customer_updated,
    "setup_intent.succeeded": setup_intent_succeeded,
    "payment_method.updated": payment_method_updated,
    "payment_method.automatically_updated": payment_method_updated,
    "checkout.session.completed": checkout_session_completed,
}

HANDLED_EVENT_TYPES: frozenset[str] = frozenset(HANDLERS)
"""The event types paykit applies; subscribe your Stripe endpoint to these."""
