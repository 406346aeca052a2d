"""Cancelling and resuming a subscription at the gateway: ``cancel_subscription``,
``resume_subscription`` (``change_subscription`` is in :mod:`.changes`).
The gateway acts first (no row lock held), then its answer is synced.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.clock import Clock, resolve_clock
from paykit.context import RequestContext
from paykit.gateways.base import PaymentGateway
from paykit.models import Subscription
from paykit.security.policy import Actor
from paykit.services.subscriptions._common import (
    cancel_at_gateway,
    gateway_key,
    invalid_argument,
    owned_subscription,
)
from paykit.services.subscriptions._steps import record_answer, with_status

__all__ = ["CANCELLATION_FEEDBACK", "cancel_subscription", "resume_subscription"]

CANCELLATION_FEEDBACK = (
    "customer_service",
    "low_quality",
    "missing_features",
    "other",
    "switched_service",
    "too_complex",
    "too_expensive",
    "unused",
)
"""The feedback words a cancellation may carry (Stripe's ``cancellation_details.feedback``)."""

_MAX_COMMENT = 500


def _check_details(feedback: str | None, comment: str | None) -> None:
    if feedback is not None and feedback not in CANCELLATION_FEEDBACK:
        raise invalid_argument(
            "feedback", f"feedback must be one of {', '.join(CANCELLATION_FEEDBACK)}"
        )
    if comment is not None and (len(comment) > _MAX_COMMENT or "\x00" in comment):
        raise invalid_argument(
            "comment", f"comment must be at most {_MAX_COMMENT} characters, without NUL"
        )


@checked
def cancel_subscription(
    session: Session,
    *,
    subscription_id: str,
    gateway: PaymentGateway,
    at_period_end: bool = True,
    feedback: str | None = None,
    comment: str | None = None,
    clock: Clock | None = None,
    idempotency_key: str | None = None,
    actor_id: str | None = None,
    actor: Actor | None = None,
    context: RequestContext | None = None,
) -> Subscription:
    """Cancel at the end of the current period (default) or at once, with why.

    The row keeps Stripe's ``cancellation_details``: ``cancellation_reason``
    ``cancellation_requested``, ``feedback`` (one of :data:`CANCELLATION_FEEDBACK`)
    and a free ``comment`` (up to 500 characters, stored as given, never
    rendered by paykit). Resuming clears them.

    Cancelling one that the gateway already has as canceled (a retry after a
    timeout, a cancellation in the dashboard) syncs it and returns it.

    ``actor`` (or ``actor_id``) must own the subscription or hold
    ``subscription.manage_any``; without one the host acts on its own authority
    (docs/security.md).
    """
    row, actor_id = owned_subscription(session, subscription_id, actor, actor_id)
    _check_details(feedback, comment)
    result = cancel_at_gateway(
        gateway,
        row,
        at_period_end=at_period_end,
        key=gateway_key("subscription-cancel", row.id, idempotency_key),
        only_if_canceled=True,
    )
    row.cancellation_reason = "cancellation_requested"
    row.cancellation_feedback = feedback
    row.cancellation_comment = comment
    return record_answer(
        session,
        result,
        "subscription.cancelled" if not at_period_end else "subscription.cancel_scheduled",
        with_status({"at_period_end": at_period_end, "feedback": feedback}),
        actor_id=actor_id,
        now=resolve_clock(clock).now(),
        clock=clock,
        gateway=gateway,
        context=context,
    )


@checked
def resume_subscription(
    session: Session,
    *,
    subscription_id: str,
    gateway: PaymentGateway,
    clock: Clock | None = None,
    idempotency_key: str | None = None,
    actor_id: str | None = None,
    actor: Actor | None = None,
    context: RequestContext | None = None,
) -> Subscription:
    """Undo a pending end-of-period cancellation, or resume a paused subscription.

    ``actor`` (or ``actor_id``) must own the subscription or hold
    ``subscription.manage_any``; without one the host acts on its own authority
    (docs/security.md).
    """
    row, actor_id = owned_subscription(session, subscription_id, actor, actor_id)
    result = gateway.resume_subscription(
        row.stripe_subscription_id,
        idempotency_key=gateway_key("subscription-resume", row.id, idempotency_key),
    )
    synced = record_answer(
        session,
        result,
        "subscription.resumed",
        with_status({}),
        actor_id=actor_id,
        now=resolve_clock(clock).now(),
        clock=clock,
        gateway=gateway,
        context=context,
    )
    synced.cancellation_reason = None
    synced.cancellation_feedback = None
    synced.cancellation_comment = None
    session.flush()
    return synced
