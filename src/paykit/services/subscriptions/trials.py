"""Trials: the notices before a trial ends, and what happens when it ends.

A trial converts to a paid subscription at its end when the customer has a
payment method (the gateway charges the first period). Without one, what
happens follows Stripe's ``trial_settings.end_behavior.missing_payment_method``,
set per subscription (``Subscription.trial_end_behavior``, given to
:func:`~paykit.services.subscriptions.subscribe`) or by the
``billing.trial_end_behavior`` setting:

* ``cancel`` (paykit's default): the subscription is cancelled at the gateway,
  reason ``trial_ended_without_payment_method``;
* ``create_invoice``: it goes on, its first invoice cannot be paid, so it is
  PAST_DUE and dunning starts (docs/subscriptions.md);
* ``pause``: the gateway pauses it at the trial's end (``PAUSED``, no invoice);
  :func:`~paykit.services.subscriptions.resume_subscription` starts a paid
  period once the customer has a payment method. Needs a gateway that
  implements ``RenewalBillingGateway`` (``subscribe`` tells it the behaviour).

:func:`subscribe` tells such a gateway every behaviour, so the gateway acts at
the trial's end by itself (Stripe's ``trial_settings``) and its webhooks bring
the outcome; :func:`end_trials` settles whatever the webhooks have not yet.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.clock import Clock, ensure_utc, resolve_clock
from paykit.context import RequestContext
from paykit.errors import GatewayError, ValidationError
from paykit.gateways.base import PaymentGateway
from paykit.gateways.subscription_billing import SubscriptionBillingGateway
from paykit.models import PaymentMethod, Subscription, SubscriptionStatus
from paykit.security.policy import Actor
from paykit.services.config import DEFAULT_CONFIG, ConfigRegistry, get_config
from paykit.services.subscriptions._common import (
    audit_subscription,
    bounded,
    due_ids,
    gateway_key,
    invalid_argument,
    owned_subscription,
    subscription,
)
from paykit.services.subscriptions._steps import cancel_now, current_state, record_answer
from paykit.services.subscriptions.dunning import record_payment_failure
from paykit.services.subscriptions.notices import BillingNotice

__all__ = ["TRIAL_END_BEHAVIORS", "end_trial", "end_trials", "extend_trial", "trial_ending_notices"]

TRIAL_END_BEHAVIORS = ("cancel", "pause", "create_invoice")
"""What a trial without a payment method may do when it ends."""

TRIAL_ENDED_REASON = "trial_ended_without_payment_method"


@checked
def trial_ending_notices(
    session: Session,
    *,
    clock: Clock | None = None,
    days: int | None = None,
    limit: int = 1000,
    registry: ConfigRegistry = DEFAULT_CONFIG,
) -> list[BillingNotice]:
    """A ``trial_will_end`` notice for each trial ending within ``days`` (default
    ``billing.trial_notice_days``); read-only, so a daily job may call it and
    send each notice once by its ``key``.
    """
    now = resolve_clock(clock).now()
    bounded(limit, "limit", 1, 10_000)
    window = (
        bounded(days, "days", 0, 366)
        if days is not None
        else get_config(session, "billing.trial_notice_days", registry=registry)
    )
    rows = session.scalars(
        sa.select(Subscription)
        .where(
            Subscription.status == SubscriptionStatus.TRIALING,
            Subscription.trial_end > now,
            Subscription.trial_end <= now + timedelta(days=window),
        )
        .order_by(Subscription.trial_end, Subscription.id)
        .limit(limit)
    ).all()
    return [
        BillingNotice(
            kind="trial_will_end",
            subscription_id=row.id,
            user_id=row.user_id,
            occurred_at=now,
            due_at=row.trial_end,
            details={"has_payment_method": _has_method(session, row.user_id)},
        )
        for row in rows
    ]


def _has_method(session: Session, user_id: str) -> bool:
    return bool(session.scalar(sa.select(sa.exists().where(PaymentMethod.user_id == user_id))))


def _end_one(
    session: Session,
    row: Subscription,
    behavior: str,
    *,
    gateway: PaymentGateway,
    clock: Clock | None,
    context: RequestContext | None,
) -> tuple[Subscription, str]:
    if _has_method(session, row.user_id):
        synced = current_state(session, row, clock=clock, gateway=gateway, context=context)
        return synced, "converted"
    if behavior == "pause":
        synced = current_state(session, row, clock=clock, gateway=gateway, context=context)
        if synced.status is not SubscriptionStatus.PAUSED:
            raise GatewayError(
                f"the gateway did not pause subscription {row.id} at its trial's end "
                "(it needs RenewalBillingGateway and trial_end_behavior at subscribe)",
                code="subscription_unexpected_state",
                details={"subscription_id": row.id, "status": synced.status.value},
            )
        return synced, "paused"
    if behavior == "create_invoice":
        synced = current_state(session, row, clock=clock, gateway=gateway, context=context)
        record_payment_failure(
            session, subscription_id=synced.id, attempt=1, clock=clock, context=context
        )
        return subscription(session, synced.id), "past_due"
    assert row.trial_end is not None
    key = f"paykit:trial-end:{row.id}:{int(row.trial_end.timestamp())}"
    synced = cancel_now(
        session, row, TRIAL_ENDED_REASON, key=key, clock=clock, gateway=gateway, context=context
    )
    return synced, "cancelled"


@checked
def end_trials(
    session: Session,
    *,
    gateway: PaymentGateway,
    clock: Clock | None = None,
    limit: int = 100,
    registry: ConfigRegistry = DEFAULT_CONFIG,
    context: RequestContext | None = None,
) -> list[BillingNotice]:
    """Settle the trials whose end has passed; one ``trial_ended`` notice each.

    With a payment method the subscription converts (``details['outcome']``
    ``converted``); without one it is ``cancelled``, ``paused`` or goes
    ``past_due`` as its ``trial_end_behavior`` (or ``billing.trial_end_behavior``) says.
    """
    now = resolve_clock(clock).now()
    bounded(limit, "limit", 1, 10_000)
    default = get_config(session, "billing.trial_end_behavior", registry=registry)
    ids = due_ids(
        session,
        Subscription.trial_end,
        Subscription.status == SubscriptionStatus.TRIALING,
        Subscription.trial_end <= now,
        limit=limit,
    )
    notices = []
    for sub_id in ids:
        row = subscription(session, sub_id)
        behavior = row.trial_end_behavior or default
        ended, outcome = _end_one(
            session, row, behavior, gateway=gateway, clock=clock, context=context
        )
        audit_subscription(
            session,
            ended,
            "subscription.trial_ended",
            {"outcome": outcome, "status": ended.status.value},
            now=now,
            context=context,
        )
        notices.append(
            BillingNotice(
                kind="trial_ended",
                subscription_id=ended.id,
                user_id=ended.user_id,
                occurred_at=now,
                due_at=row.trial_end,
                details={"outcome": outcome, "status": ended.status.value},
            )
        )
    session.flush()
    return notices


def _move_trial(
    session: Session,
    row: Subscription,
    trial_end: datetime | None,
    *,
    action: str,
    gateway: PaymentGateway,
    key: str | None,
    actor_id: str | None,
    clock: Clock | None,
    context: RequestContext | None,
) -> Subscription:
    if not isinstance(gateway, SubscriptionBillingGateway):
        raise GatewayError(
            "the gateway cannot move a trial (it does not implement SubscriptionBillingGateway)",
            code="subscription_unexpected_state",
            details={"subscription_id": row.id},
        )
    if row.status is not SubscriptionStatus.TRIALING:
        raise ValidationError(
            f"a {row.status.value} subscription has no trial to move",
            code="subscription_not_changeable",
            details={"subscription_id": row.id, "status": row.status.value},
        )
    now = resolve_clock(clock).now()
    if trial_end is not None and ensure_utc(trial_end) <= now:
        raise invalid_argument("trial_end", "trial_end must be in the future")
    result = gateway.set_trial_end(
        row.stripe_subscription_id,
        trial_end=trial_end,
        idempotency_key=gateway_key(action, row.id, key),
    )
    return record_answer(
        session,
        result,
        f"subscription.{action}",
        lambda synced: {"trial_end": synced.trial_end, "status": synced.status.value},
        actor_id=actor_id,
        now=now,
        clock=clock,
        gateway=gateway,
        context=context,
    )


@checked
def extend_trial(
    session: Session,
    *,
    subscription_id: str,
    trial_end: datetime,
    gateway: PaymentGateway,
    clock: Clock | None = None,
    idempotency_key: str | None = None,
    actor_id: str | None = None,
    actor: Actor | None = None,
    context: RequestContext | None = None,
) -> Subscription:
    """Move a trial's end to ``trial_end`` (later or earlier, but in the future).

    Needs a gateway that implements ``SubscriptionBillingGateway`` (both of
    paykit's do). ``actor`` (or ``actor_id``) must own the subscription or hold
    ``subscription.manage_any``.
    """
    row, acting = owned_subscription(session, subscription_id, actor, actor_id)
    return _move_trial(
        session,
        row,
        trial_end,
        action="trial_extended",
        gateway=gateway,
        key=idempotency_key,
        actor_id=acting,
        clock=clock,
        context=context,
    )


@checked
def end_trial(
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
    """End a trial now: the first paid period starts and the gateway charges it.

    As :func:`extend_trial` for the gateway and the actor.
    """
    row, acting = owned_subscription(session, subscription_id, actor, actor_id)
    return _move_trial(
        session,
        row,
        None,
        action="trial_ended_early",
        gateway=gateway,
        key=idempotency_key,
        actor_id=acting,
        clock=clock,
        context=context,
    )
