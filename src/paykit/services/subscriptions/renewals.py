"""What a subscription's next renewal charges and to which payment method.

* :func:`set_subscription_default_payment_method` -- the method renewals of one
  subscription charge before the customer's default (Stripe's
  ``default_payment_method`` on the subscription);
* :func:`upcoming_invoice` -- the next invoice of a subscription as it stands:
  computed by paykit from the stored row (as :func:`preview_subscription_change`
  computes, the change scheduled for the period's end included), or, given a
  ``gateway``, the gateway's own preview (Stripe's ``invoices/create_preview``,
  with its discount and the customer's credit balance).

Both need a gateway that implements
:class:`~paykit.gateways.renewal_billing.RenewalBillingGateway` (FakeGateway
and StripeGateway do) where they call one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.clock import Clock, resolve_clock
from paykit.context import RequestContext
from paykit.errors import ConfigurationError, ValidationError
from paykit.gateways.base import PaymentGateway
from paykit.gateways.billing import GatewayInvoiceDetails
from paykit.gateways.renewal_billing import RenewalBillingGateway
from paykit.models import Price, Subscription, SubscriptionItem
from paykit.money import from_minor_units, quantize
from paykit.security.policy import Actor
from paykit.services.subscriptions._common import (
    gateway_key,
    next_plan,
    owned_subscription,
    owners_method,
    require_open,
)
from paykit.services.subscriptions._steps import record_answer
from paykit.services.subscriptions.proration import (
    InvoiceLine,
    floored,
    period_line,
    plan_change,
)

__all__ = ["UpcomingInvoice", "set_subscription_default_payment_method", "upcoming_invoice"]


@dataclass(frozen=True, slots=True, kw_only=True)
class UpcomingInvoice:
    """The next invoice of a subscription, as it stands now; nothing is created.

    ``lines`` as in :class:`InvoiceLine` (``subscription`` for the next period,
    ``pending_proration`` or ``proration`` for changes made in this one).
    ``total`` is the lines' sum less any discount, floored at zero;
    ``amount_due`` is what will be charged (after the customer's credit, when
    the gateway computed it); ``credit_carried`` what is left over for later
    invoices. ``next_payment_date`` is when the payment will be attempted.
    ``source`` says who computed it: ``paykit`` or ``gateway``.
    """

    subscription_id: str
    currency: str
    lines: tuple[InvoiceLine, ...]
    subtotal: Decimal
    discount: Decimal
    total: Decimal
    amount_due: Decimal
    credit_carried: Decimal
    next_payment_date: datetime
    source: str


def _renewal_gateway(gateway: PaymentGateway) -> RenewalBillingGateway:
    if not isinstance(gateway, RenewalBillingGateway):
        raise ConfigurationError(
            f"{type(gateway).__name__} does not implement RenewalBillingGateway",
            code="configuration_error",
        )
    return gateway


def _open(row: Subscription, verb: str) -> None:
    require_open(row, f"a {row.status.value} subscription has no {verb}")


@checked
def set_subscription_default_payment_method(
    session: Session,
    *,
    subscription_id: str,
    payment_method_id: str | None,
    gateway: PaymentGateway,
    clock: Clock | None = None,
    idempotency_key: str | None = None,
    actor_id: str | None = None,
    actor: Actor | None = None,
    context: RequestContext | None = None,
) -> Subscription:
    """Make a saved method (a paykit ``PaymentMethod`` id) the one this subscription's
    renewals charge first; ``None`` goes back to the customer's default.

    The method must be the subscription owner's. ``actor`` (or ``actor_id``)
    must own the subscription or hold ``subscription.manage_any``. The same
    ``idempotency_key`` makes one gateway call.
    """
    renewals = _renewal_gateway(gateway)
    row, acting = owned_subscription(session, subscription_id, actor, actor_id)
    _open(row, "payment method to change")
    method = (
        None
        if payment_method_id is None
        else owners_method(session, payment_method_id, row.user_id)
    )
    result = renewals.set_subscription_default_payment_method(
        row.stripe_subscription_id,
        payment_method_id=None if method is None else method.stripe_payment_method_id,
        idempotency_key=gateway_key("subscription-pm", row.id, idempotency_key),
    )
    return record_answer(
        session,
        result,
        "subscription.default_payment_method_changed",
        lambda _: {"payment_method_id": None if method is None else method.id},
        actor_id=acting,
        now=resolve_clock(clock).now(),
        clock=clock,
        gateway=gateway,
        context=context,
    )


def _from_gateway(row: Subscription, details: GatewayInvoiceDetails) -> UpcomingInvoice:
    currency = row.currency
    invoice = details.invoice
    lines = tuple(
        InvoiceLine(
            kind="proration" if line.proration else "subscription",
            description=line.description or "",
            amount=from_minor_units(line.amount_minor, currency),
            quantity=line.quantity,
            unit_amount=(
                None
                if line.proration or not line.quantity
                else from_minor_units(line.amount_minor // line.quantity, currency)
            ),
            period_start=line.period_start or row.current_period_end,
            period_end=line.period_end or row.current_period_end,
        )
        for line in details.lines
    )
    total, carried = floored(from_minor_units(invoice.total_minor, currency), currency)
    return UpcomingInvoice(
        subscription_id=row.id,
        currency=currency,
        lines=lines,
        subtotal=from_minor_units(invoice.subtotal_minor, currency),
        discount=from_minor_units(details.discount_minor, currency),
        total=total,
        amount_due=from_minor_units(invoice.amount_due_minor, currency),
        credit_carried=carried,
        next_payment_date=invoice.due_date or row.current_period_end,
        source="gateway",
    )


@checked
def upcoming_invoice(
    session: Session,
    *,
    subscription_id: str,
    gateway: PaymentGateway | None = None,
    clock: Clock | None = None,
    actor_id: str | None = None,
    actor: Actor | None = None,
) -> UpcomingInvoice:
    """The subscription's next invoice if nothing changes before it: lines, totals, date.

    Without ``gateway``, paykit computes it from the stored subscription (every
    item, the plan scheduled for the period's end and the pending prorations
    included; no discount or customer credit: paykit does not store them). With
    one, the gateway's own preview.
    A subscription set to cancel at the period's end, or not ACTIVE, TRIALING
    or PAST_DUE, has none (``ValidationError`` code ``subscription_not_changeable``).
    ``actor`` (or ``actor_id``) must own it or hold ``subscription.manage_any``.
    """
    now = resolve_clock(clock).now()
    row, _ = owned_subscription(session, subscription_id, actor, actor_id)
    _open(row, "upcoming invoice")
    if row.cancel_at_period_end:
        raise ValidationError(
            "a subscription set to cancel at the period's end has no upcoming invoice",
            code="subscription_not_changeable",
            details={"subscription_id": row.id, "status": row.status.value},
        )
    if gateway is not None:
        details = _renewal_gateway(gateway).upcoming_invoice(row.stripe_subscription_id)
        return _from_gateway(row, details)
    price, seats = next_plan(session, row)
    plan = plan_change(row, price, seats, proration="none", at_period_end=True, now=now)
    first, *rest = plan.next_invoice_lines
    lines = (first, *_other_items(session, row, plan.next_invoice_lines[0]), *rest)
    zero = quantize(0, row.currency)
    subtotal = sum((line.amount for line in lines), zero)
    total, carried = floored(subtotal, row.currency)
    return UpcomingInvoice(
        subscription_id=row.id,
        currency=row.currency,
        lines=lines,
        subtotal=subtotal,
        discount=zero,
        total=total,
        amount_due=total,
        credit_carried=carried,
        next_payment_date=plan.next_invoice_date,
        source="paykit",
    )


def _other_items(session: Session, row: Subscription, first: InvoiceLine) -> list[InvoiceLine]:
    """A full period of each item besides the first, at its own unit amount and quantity."""
    # Columns, not entities: sync_items writes with Core statements, so items
    # already in the session may be stale.
    others = session.execute(
        sa.select(
            SubscriptionItem.price_id, SubscriptionItem.quantity, SubscriptionItem.unit_amount
        )
        .where(SubscriptionItem.subscription_id == row.id)
        .where(SubscriptionItem.price_id != row.price_id)
        .order_by(SubscriptionItem.created_at, SubscriptionItem.id)
    ).all()
    return [
        period_line(
            session.get_one(Price, price_id),
            quantity,
            unit_amount,
            row.currency,
            first.period_start,
            first.period_end,
        )
        for price_id, quantity, unit_amount in others
    ]
