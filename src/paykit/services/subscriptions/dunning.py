"""Dunning: a failed renewal makes a subscription PAST_DUE, retries are scheduled, and
after a grace period the subscription ends.

* :func:`record_payment_failure` -- call it when a renewal payment fails (the
  ``invoice.payment_failed`` webhook, or a failed retry). It marks the row
  PAST_DUE, counts the attempt, schedules the next retry from
  ``billing.retry_schedule_days`` and returns a ``payment_failed`` notice.
  Passing the gateway's own attempt count (Stripe's ``attempt_count``) makes a
  replayed or late webhook count once.
* :func:`record_payment_success` -- a renewal or retry was paid: the dunning
  state is cleared and the row is ACTIVE again.
* :func:`enforce_grace_period` -- a job: a subscription PAST_DUE for longer than
  ``billing.grace_period_days`` is cancelled at the gateway (reason
  ``payment_failed``), or marked UNPAID when ``billing.grace_period_outcome``
  says so.

Each write is one conditional UPDATE, so parallel deliveries and jobs cannot
count an attempt twice or end a subscription that was paid meanwhile.
"""

from __future__ import annotations

from datetime import timedelta
from typing import cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.clock import Clock, resolve_clock
from paykit.context import RequestContext
from paykit.errors import ValidationError
from paykit.gateways.base import PaymentGateway
from paykit.models import Subscription, SubscriptionStatus
from paykit.money import MoneyInput, as_money
from paykit.services.config import DEFAULT_CONFIG, ConfigRegistry, get_config
from paykit.services.subscriptions._common import (
    audit_subscription,
    bounded,
    due_ids,
    subscription,
)
from paykit.services.subscriptions._steps import cancel_now
from paykit.services.subscriptions.notices import BillingNotice

__all__ = ["enforce_grace_period", "record_payment_failure", "record_payment_success"]

_TABLE = cast(sa.Table, Subscription.__table__)
_DUNNABLE = (
    SubscriptionStatus.ACTIVE,
    SubscriptionStatus.TRIALING,
    SubscriptionStatus.PAST_DUE,
)


@checked
def record_payment_failure(
    session: Session,
    *,
    subscription_id: str,
    amount_due: MoneyInput | None = None,
    attempt: int | None = None,
    clock: Clock | None = None,
    registry: ConfigRegistry = DEFAULT_CONFIG,
    context: RequestContext | None = None,
) -> BillingNotice:
    """A renewal payment failed: PAST_DUE, the attempt counted, the next retry scheduled.

    ``attempt`` is the gateway's count of attempts on the invoice (1 for the
    first failure); with it a replayed event changes nothing, without it each
    call counts one more. The notice's ``due_at`` is the next retry, ``None``
    when the schedule is used up (the grace period then decides).
    """
    now = resolve_clock(clock).now()
    row = subscription(session, subscription_id)
    amount = None if amount_due is None else as_money(amount_due, row.currency, field="amount_due")
    if attempt is not None:
        bounded(attempt, "attempt", 1, 1000)
    counted = (
        _TABLE.c.payment_attempts + 1
        if attempt is None
        else sa.func.max(_TABLE.c.payment_attempts, attempt)
        if session.get_bind().dialect.name == "sqlite"
        else sa.func.greatest(_TABLE.c.payment_attempts, attempt)
    )
    result = session.execute(
        sa.update(_TABLE)
        .where(_TABLE.c.id == row.id, _TABLE.c.status.in_([s.value for s in _DUNNABLE]))
        .values(
            payment_attempts=counted,
            past_due_since=sa.func.coalesce(_TABLE.c.past_due_since, now),
            status=SubscriptionStatus.PAST_DUE.value,
            updated_at=now,
        )
        .returning(_TABLE.c.payment_attempts)
    ).scalar_one_or_none()
    if result is None:
        raise ValidationError(
            f"a {row.status.value} subscription is not in dunning",
            code="subscription_not_changeable",
            details={"subscription_id": row.id, "status": row.status.value},
        )
    schedule = get_config(session, "billing.retry_schedule_days", registry=registry)
    next_at = now + timedelta(days=schedule[result - 1]) if result <= len(schedule) else None
    session.execute(
        sa.update(_TABLE).where(_TABLE.c.id == row.id).values(next_payment_attempt_at=next_at)
    )
    session.refresh(row)
    details = {"attempt": result, "amount_due": None if amount is None else str(amount)}
    audit_subscription(
        session, row, "subscription.payment_failed", details, now=now, context=context
    )
    session.flush()
    return BillingNotice(
        kind="payment_failed",
        subscription_id=row.id,
        user_id=row.user_id,
        occurred_at=now,
        due_at=next_at,
        amount=amount,
        currency=row.currency,
        details={"attempt": result, "final": next_at is None},
    )


@checked
def record_payment_success(
    session: Session,
    *,
    subscription_id: str,
    amount_paid: MoneyInput | None = None,
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> BillingNotice | None:
    """A renewal or retry was paid: the dunning state cleared, PAST_DUE back to ACTIVE.

    Returns a ``payment_succeeded`` notice if the subscription was in dunning,
    else ``None`` (a replayed event finds nothing to clear).
    """
    now = resolve_clock(clock).now()
    row = subscription(session, subscription_id)
    amount = (
        None if amount_paid is None else as_money(amount_paid, row.currency, field="amount_paid")
    )
    cleared = session.execute(
        sa.update(_TABLE)
        .where(_TABLE.c.id == row.id, _TABLE.c.past_due_since.is_not(None))
        .values(
            payment_attempts=0,
            past_due_since=None,
            next_payment_attempt_at=None,
            status=sa.case(
                (
                    _TABLE.c.status == SubscriptionStatus.PAST_DUE,
                    sa.literal(SubscriptionStatus.ACTIVE, _TABLE.c.status.type),
                ),
                else_=_TABLE.c.status,
            ),
            updated_at=now,
        )
        .returning(_TABLE.c.id)
    ).scalar_one_or_none()
    session.refresh(row)
    if cleared is None:
        return None
    audit_subscription(
        session,
        row,
        "subscription.payment_recovered",
        {"status": row.status.value},
        now=now,
        context=context,
    )
    session.flush()
    return BillingNotice(
        kind="payment_succeeded",
        subscription_id=row.id,
        user_id=row.user_id,
        occurred_at=now,
        amount=amount,
        currency=row.currency,
    )


def _end(
    session: Session,
    row: Subscription,
    outcome: str,
    *,
    gateway: PaymentGateway,
    clock: Clock | None,
    context: RequestContext | None,
) -> Subscription:
    if outcome == "unpaid":
        row.status = SubscriptionStatus.UNPAID
        row.next_payment_attempt_at = None
        return row
    since = row.past_due_since
    assert since is not None
    key = f"paykit:grace:{row.id}:{int(since.timestamp())}"
    synced = cancel_now(
        session, row, "payment_failed", key=key, clock=clock, gateway=gateway, context=context
    )
    synced.next_payment_attempt_at = None
    return synced


@checked
def enforce_grace_period(
    session: Session,
    *,
    gateway: PaymentGateway,
    clock: Clock | None = None,
    limit: int = 100,
    registry: ConfigRegistry = DEFAULT_CONFIG,
    context: RequestContext | None = None,
) -> list[BillingNotice]:
    """End the subscriptions PAST_DUE for longer than ``billing.grace_period_days``.

    Run it from a periodic job. Each ends as ``billing.grace_period_outcome``
    says: ``cancel`` (at the gateway, now; reason ``payment_failed``) or
    ``unpaid`` (UNPAID here; configure the gateway the same way). Returns one
    ``grace_period_ended`` notice per subscription ended. A subscription paid
    meanwhile (``record_payment_success``) is no longer PAST_DUE and is left alone.
    """
    now = resolve_clock(clock).now()
    bounded(limit, "limit", 1, 10_000)
    days = get_config(session, "billing.grace_period_days", registry=registry)
    outcome = get_config(session, "billing.grace_period_outcome", registry=registry)
    ids = due_ids(
        session,
        Subscription.past_due_since,
        Subscription.status == SubscriptionStatus.PAST_DUE,
        Subscription.past_due_since <= now - timedelta(days=days),
        limit=limit,
    )
    notices = []
    for sub_id in ids:
        row = subscription(session, sub_id)
        since = row.past_due_since
        ended = _end(session, row, outcome, gateway=gateway, clock=clock, context=context)
        audit_subscription(
            session,
            ended,
            "subscription.grace_period_ended",
            {"outcome": outcome},
            now=now,
            context=context,
        )
        notices.append(
            BillingNotice(
                kind="grace_period_ended",
                subscription_id=ended.id,
                user_id=ended.user_id,
                occurred_at=now,
                due_at=now,
                currency=ended.currency,
                details={"outcome": outcome, "past_due_since": since, "status": ended.status.value},
            )
        )
    session.flush()
    return notices
