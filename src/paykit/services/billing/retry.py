"""Retrying a failed renewal: pay its open invoice now and settle the dunning state.

:func:`retry_invoice` is :func:`~paykit.services.billing.invoices.pay_invoice`
followed by the dunning bookkeeping of the invoice's subscription: a paid
retry clears the PAST_DUE state (``record_payment_success``), a declined one
counts one more attempt and schedules the next (``record_payment_failure``).
A decline is an answer, not an error: it comes back as a :class:`RetryResult`
whose ``paid`` is ``False``, with the attempt recorded, so the host commits in
both cases. Any other refusal (not found, not open, another customer's
invoice) raises before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.clock import Clock
from paykit.context import RequestContext
from paykit.errors import PaymentDeclined
from paykit.gateways.base import PaymentGateway
from paykit.models import Invoice
from paykit.security.policy import Actor
from paykit.services.billing.invoices import pay_invoice
from paykit.services.subscriptions.dunning import record_payment_failure, record_payment_success
from paykit.services.subscriptions.notices import BillingNotice

__all__ = ["RetryResult", "retry_invoice"]


@dataclass(frozen=True, slots=True)
class RetryResult:
    """What :func:`retry_invoice` did.

    ``paid`` says whether the invoice is paid now. ``notice`` is what to tell
    the customer (``payment_failed`` with the next retry, or
    ``payment_succeeded`` when the subscription leaves dunning), ``None`` when
    there is nothing new to tell. ``decline_code`` is the gateway's reason for
    a decline.
    """

    invoice: Invoice
    paid: bool
    notice: BillingNotice | None = None
    decline_code: str | None = None


@checked
def retry_invoice(
    session: Session,
    *,
    invoice_id: str,
    gateway: PaymentGateway,
    payment_method_id: str | None = None,
    actor: Actor | None = None,
    clock: Clock | None = None,
    idempotency_key: str | None = None,
    context: RequestContext | None = None,
) -> RetryResult:
    """Pay an OPEN invoice now and settle its subscription's dunning state.

    The same rules as :func:`pay_invoice` (the owner or staff; a saved method
    of the owner, paykit id, or the default; one payment per
    ``idempotency_key``). A paid retry clears the subscription's PAST_DUE
    state; a declined one records the failed attempt and schedules the next
    retry from ``billing.retry_schedule_days``. The invoice's later webhooks
    (``invoice.paid``, ``invoice.payment_failed`` with Stripe's attempt count)
    find the attempt already counted.
    """
    try:
        invoice = pay_invoice(
            session,
            invoice_id=invoice_id,
            gateway=gateway,
            payment_method_id=payment_method_id,
            actor=actor,
            clock=clock,
            idempotency_key=idempotency_key,
            context=context,
        )
    except PaymentDeclined as declined:
        invoice = session.get_one(Invoice, invoice_id)  # pay_invoice found and checked it
        notice = None
        if invoice.subscription_id is not None:
            notice = record_payment_failure(
                session,
                subscription_id=invoice.subscription_id,
                amount_due=invoice.amount_due,
                clock=clock,
                context=context,
            )
        return RetryResult(
            invoice=invoice, paid=False, notice=notice, decline_code=declined.decline_code
        )
    success = None
    if invoice.subscription_id is not None:
        success = record_payment_success(
            session,
            subscription_id=invoice.subscription_id,
            amount_paid=invoice.amount_paid,
            clock=clock,
            context=context,
        )
    return RetryResult(invoice=invoice, paid=True, notice=success)
