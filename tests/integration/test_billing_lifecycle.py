"""Prorated and scheduled changes, cancellation details, dunning and trials, on both databases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests import factories as f

from paykit import errors
from paykit import models as m
from paykit.clock import FrozenClock
from paykit.context import RequestContext
from paykit.gateways import FakeGateway
from paykit.security.policy import Actor
from paykit.services.subscriptions import (
    apply_scheduled_changes,
    cancel_subscription,
    change_subscription,
    ensure_gateway_customer,
    preview_subscription_change,
    resume_subscription,
    subscribe,
)
from paykit.services.subscriptions.dunning import (
    enforce_grace_period,
    record_payment_failure,
    record_payment_success,
)
from paykit.services.subscriptions.trials import (
    end_trial,
    end_trials,
    extend_trial,
    trial_ending_notices,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)
SEAT = Decimal("10.00")


@dataclass
class World:
    session: Session
    clock: FrozenClock
    gateway: FakeGateway
    user: m.User
    customer_id: str
    seat: m.Price
    team: m.Price


def _price(
    session: Session, gateway: FakeGateway, product: m.Product, cents: int, name: str
) -> m.Price:
    stripe_id = gateway.add_price(unit_amount=cents, currency="usd", price_id=name)
    return f.price(
        session,
        product,
        stripe_price_id=stripe_id,
        unit_amount=Decimal(cents).scaleb(-2),
        type=m.PriceType.RECURRING,
        recurring={"interval": "month", "interval_count": 1},
    )


@pytest.fixture
def world(session: Session) -> World:
    clock = FrozenClock(T0)
    gateway = FakeGateway(clock=clock)
    user = f.user(session)
    customer_id = ensure_gateway_customer(session, user, gateway, clock=clock)
    product = f.product(session, type=m.ProductType.SUBSCRIPTION, base_price=SEAT)
    seat = _price(session, gateway, product, 1000, "price_seat")
    team = _price(session, gateway, product, 1500, "price_team")
    gateway.attach_payment_method("pm_card_visa", customer_id=customer_id, idempotency_key="pm-1")
    return World(session, clock, gateway, user, customer_id, seat, team)


def _sub(w: World, **kw: Any) -> m.Subscription:
    return subscribe(
        w.session, user_id=w.user.id, price_id=w.seat.id, gateway=w.gateway, clock=w.clock, **kw
    )


def _count(session: Session, action: str) -> int:
    query = sa.select(sa.func.count()).select_from(m.AuditLog).where(m.AuditLog.action == action)
    return int(session.scalar(query) or 0)


# ------------------------------------------------------------------------------ preview, change


def test_preview_matches_an_independent_computation_and_changes_nothing(world: World) -> None:
    w = world
    row = _sub(w, quantity=3)
    period = (row.current_period_end - row.current_period_start).total_seconds()
    w.clock.advance(timedelta(days=10))
    before = (row.quantity, row.pending_proration, len(w.gateway.calls))
    preview = preview_subscription_change(
        w.session, subscription_id=row.id, quantity=5, clock=w.clock
    )
    remaining = (row.current_period_end - w.clock.now()).total_seconds()
    credit = (Decimal(3000) * Decimal(remaining) / Decimal(period)).quantize(
        Decimal(1), "ROUND_HALF_UP"
    )
    charge = (Decimal(5000) * Decimal(remaining) / Decimal(period)).quantize(
        Decimal(1), "ROUND_HALF_UP"
    )
    net = (charge - credit).scaleb(-2)
    assert preview.amount_due_now == Decimal("0.00")
    assert preview.pending_proration_after == net
    assert preview.next_invoice_total == Decimal("50.00") + net
    assert [line.kind for line in preview.next_invoice_lines] == [
        "subscription",
        "pending_proration",
    ]
    assert (row.quantity, row.pending_proration, len(w.gateway.calls)) == before


def test_change_now_prorates_once_per_key(world: World) -> None:
    w = world
    row = _sub(w, quantity=3)
    w.clock.advance(timedelta(days=15))
    preview = preview_subscription_change(
        w.session, subscription_id=row.id, quantity=5, clock=w.clock
    )
    changed = change_subscription(
        w.session,
        subscription_id=row.id,
        quantity=5,
        gateway=w.gateway,
        clock=w.clock,
        idempotency_key="seats-5",
    )
    assert changed.quantity == 5
    assert changed.pending_proration == preview.pending_proration_after > 0
    again = change_subscription(
        w.session,
        subscription_id=row.id,
        quantity=5,
        gateway=w.gateway,
        clock=w.clock,
        idempotency_key="seats-5",
    )
    assert again.pending_proration == preview.pending_proration_after
    assert [c for c, _ in w.gateway.calls].count("change_subscription_items") == 1
    assert [(p["behavior"], p["date"]) for p in w.gateway.prorations] == [
        ("create_prorations", w.clock.now())
    ]


def test_always_invoice_bills_an_upgrade_now(world: World) -> None:
    w = world
    row = _sub(w, quantity=1)
    w.clock.advance(timedelta(days=5))
    preview = preview_subscription_change(
        w.session,
        subscription_id=row.id,
        price_id=w.team.id,
        proration="always_invoice",
        clock=w.clock,
    )
    assert preview.amount_due_now > 0
    assert [line.kind for line in preview.lines_now] == ["credit", "charge"]
    assert preview.next_invoice_total == Decimal("15.00")


def test_a_downgrade_with_no_prorations_bills_the_new_price_next(world: World) -> None:
    w = world
    row = _sub(w, quantity=4)
    w.clock.advance(timedelta(days=5))
    preview = preview_subscription_change(
        w.session, subscription_id=row.id, quantity=2, proration="none", clock=w.clock
    )
    assert preview.pending_proration_after == 0
    assert preview.next_invoice_total == Decimal("20.00")


def test_change_at_period_end_waits_for_the_job(world: World) -> None:
    w = world
    row = _sub(w, quantity=2)
    end = row.current_period_end
    changed = change_subscription(
        w.session,
        subscription_id=row.id,
        price_id=w.team.id,
        at_period_end=True,
        gateway=w.gateway,
        clock=w.clock,
    )
    assert (changed.price_id, changed.pending_price_id, changed.pending_change_at) == (
        w.seat.id,
        w.team.id,
        end,
    )
    assert "change_subscription_items" not in [c for c, _ in w.gateway.calls]
    assert apply_scheduled_changes(w.session, gateway=w.gateway, clock=w.clock) == []
    w.clock.set(end + timedelta(minutes=1))
    applied = apply_scheduled_changes(w.session, gateway=w.gateway, clock=w.clock)
    assert [s.id for s in applied] == [row.id]
    assert (applied[0].price_id, applied[0].quantity, applied[0].pending_price_id) == (
        w.team.id,
        2,
        None,
    )
    assert apply_scheduled_changes(w.session, gateway=w.gateway, clock=w.clock) == []


def test_another_customers_subscription_is_not_found(world: World) -> None:
    w = world
    row = _sub(w)
    stranger = Actor.of(f.user(w.session))
    with pytest.raises(errors.NotFound):
        preview_subscription_change(w.session, subscription_id=row.id, quantity=9, actor=stranger)
    with pytest.raises(errors.NotFound):
        change_subscription(
            w.session, subscription_id=row.id, quantity=9, gateway=w.gateway, actor=stranger
        )
    assert row.quantity == 1


@pytest.mark.parametrize(
    "kw",
    [
        {"quantity": 0},
        {"quantity": None, "price_id": None},
        {"quantity": 2, "proration": "sometimes"},
        {"quantity": "2"},
        {"price_id": 7},
    ],
)
def test_bad_change_input_is_refused_and_changes_nothing(world: World, kw: dict[str, Any]) -> None:
    w = world
    row = _sub(w)
    with pytest.raises(errors.ValidationError):
        change_subscription(w.session, subscription_id=row.id, gateway=w.gateway, **kw)
    assert (row.quantity, row.pending_proration) == (1, Decimal("0.00"))


def test_a_cancelled_subscription_cannot_change(world: World) -> None:
    w = world
    row = _sub(w)
    cancel_subscription(w.session, subscription_id=row.id, gateway=w.gateway, at_period_end=False)
    with pytest.raises(errors.ValidationError) as caught:
        change_subscription(w.session, subscription_id=row.id, quantity=2, gateway=w.gateway)
    assert caught.value.code == "subscription_not_changeable"


def test_a_change_racing_a_cancel_at_the_gateway_leaves_the_row(world: World) -> None:
    w = world
    row = _sub(w)
    # Cancelled elsewhere (dashboard, another worker) before this call reaches the gateway.
    w.gateway.cancel_subscription(
        row.stripe_subscription_id, at_period_end=False, idempotency_key="x"
    )
    with pytest.raises(errors.GatewayError):
        change_subscription(w.session, subscription_id=row.id, quantity=2, gateway=w.gateway)
    assert (row.quantity, row.pending_proration) == (1, Decimal("0.00"))


# ------------------------------------------------------------------------------ cancellation


def test_cancel_keeps_reason_feedback_comment_and_resume_clears_them(world: World) -> None:
    w = world
    row = _sub(w)
    done = cancel_subscription(
        w.session,
        subscription_id=row.id,
        gateway=w.gateway,
        feedback="too_expensive",
        comment="Budget cut.",
    )
    assert (done.cancellation_reason, done.cancellation_feedback, done.cancellation_comment) == (
        "cancellation_requested",
        "too_expensive",
        "Budget cut.",
    )
    back = resume_subscription(w.session, subscription_id=row.id, gateway=w.gateway)
    assert (back.cancellation_reason, back.cancellation_feedback) == (None, None)


@pytest.mark.parametrize("kw", [{"feedback": "meh"}, {"comment": "x" * 501}, {"comment": "a\x00b"}])
def test_bad_cancellation_details_are_refused_before_the_gateway(
    world: World, kw: dict[str, Any]
) -> None:
    w = world
    row = _sub(w)
    with pytest.raises(errors.ValidationError):
        cancel_subscription(w.session, subscription_id=row.id, gateway=w.gateway, **kw)
    assert "cancel_subscription" not in [c for c, _ in w.gateway.calls]
    assert row.cancellation_reason is None


# ------------------------------------------------------------------------------ dunning


def test_failure_retry_schedule_replay_and_recovery(world: World) -> None:
    w = world
    row = _sub(w)
    notice = record_payment_failure(
        w.session, subscription_id=row.id, amount_due="10.00", attempt=1, clock=w.clock
    )
    assert (row.status, row.payment_attempts, row.past_due_since) == (
        m.SubscriptionStatus.PAST_DUE,
        1,
        T0,
    )
    assert notice.kind == "payment_failed"
    assert notice.due_at == T0 + timedelta(days=3)
    assert notice.amount == Decimal("10.00")
    # The same webhook delivered again counts once.
    record_payment_failure(w.session, subscription_id=row.id, attempt=1, clock=w.clock)
    assert row.payment_attempts == 1
    ok = record_payment_success(w.session, subscription_id=row.id, clock=w.clock)
    assert ok is not None
    assert (row.status, row.payment_attempts, row.past_due_since) == (
        m.SubscriptionStatus.ACTIVE,
        0,
        None,
    )
    assert record_payment_success(w.session, subscription_id=row.id, clock=w.clock) is None


def test_grace_period_cancels_only_what_is_still_unpaid(world: World) -> None:
    w = world
    unpaid, paid = _sub(w), _sub(w, idempotency_key="second")
    for row in (unpaid, paid):
        record_payment_failure(w.session, subscription_id=row.id, clock=w.clock)
    w.clock.advance(timedelta(days=13))
    assert enforce_grace_period(w.session, gateway=w.gateway, clock=w.clock) == []
    record_payment_success(w.session, subscription_id=paid.id, clock=w.clock)
    w.clock.advance(timedelta(days=2))
    notices = enforce_grace_period(w.session, gateway=w.gateway, clock=w.clock)
    assert [(n.kind, n.subscription_id) for n in notices] == [("grace_period_ended", unpaid.id)]
    assert (unpaid.status, unpaid.cancellation_reason) == (
        m.SubscriptionStatus.CANCELLED,
        "payment_failed",
    )
    assert paid.status is m.SubscriptionStatus.ACTIVE
    assert enforce_grace_period(w.session, gateway=w.gateway, clock=w.clock) == []


def test_failure_on_a_cancelled_subscription_is_refused(world: World) -> None:
    w = world
    row = _sub(w)
    cancel_subscription(w.session, subscription_id=row.id, gateway=w.gateway, at_period_end=False)
    with pytest.raises(errors.ValidationError):
        record_payment_failure(w.session, subscription_id=row.id, clock=w.clock)
    with pytest.raises(errors.ValidationError):
        record_payment_failure(w.session, subscription_id=row.id, attempt=0, clock=w.clock)
    with pytest.raises(errors.NotFound):
        record_payment_failure(w.session, subscription_id="nope", clock=w.clock)


# ------------------------------------------------------------------------------ trials


def test_trial_notice_then_cancel_without_a_payment_method(world: World) -> None:
    w = world
    row = _sub(w, trial_days=14)
    assert row.status is m.SubscriptionStatus.TRIALING
    w.clock.advance(timedelta(days=12))
    notices = trial_ending_notices(w.session, clock=w.clock)
    assert [(n.kind, n.due_at) for n in notices] == [("trial_will_end", row.trial_end)]
    assert notices[0].details["has_payment_method"] is False
    w.clock.advance(timedelta(days=2, seconds=1))
    ended = end_trials(w.session, gateway=w.gateway, clock=w.clock)
    assert [n.details["outcome"] for n in ended] == ["cancelled"]
    assert (row.status, row.cancellation_reason) == (
        m.SubscriptionStatus.CANCELLED,
        "trial_ended_without_payment_method",
    )
    assert end_trials(w.session, gateway=w.gateway, clock=w.clock) == []


def test_every_audit_row_of_end_trials_carries_the_request_context(world: World) -> None:
    # The sync of the cancelled trial was audited without the host's context.
    w = world
    _sub(w, trial_days=14)
    w.clock.advance(timedelta(days=14, seconds=1))
    job = RequestContext(ip_address="198.51.100.9", user_agent="TrialJob/1")
    end_trials(w.session, gateway=w.gateway, clock=w.clock, context=job)
    rows = w.session.scalars(
        sa.select(m.AuditLog).where(m.AuditLog.created_at == w.clock.now())
    ).all()
    assert {r.action for r in rows} >= {"subscription.synced", "subscription.trial_ended"}
    assert {(r.ip_address, r.user_agent) for r in rows} == {("198.51.100.9", "TrialJob/1")}


def test_trial_converts_with_a_payment_method(world: World) -> None:
    w = world
    row = _sub(w, trial_days=7, trial_end_behavior="create_invoice")
    w.session.add(
        m.PaymentMethod(user_id=w.user.id, stripe_payment_method_id="pm_card_visa", type="card")
    )
    w.session.flush()
    w.clock.advance(timedelta(days=7, seconds=1))
    ended = end_trials(w.session, gateway=w.gateway, clock=w.clock)
    assert [n.details["outcome"] for n in ended] == ["converted"]
    assert row.status is m.SubscriptionStatus.ACTIVE


def test_trial_without_a_method_can_go_past_due_instead(world: World) -> None:
    w = world
    row = _sub(w, trial_days=7, trial_end_behavior="create_invoice")
    w.clock.advance(timedelta(days=7, seconds=1))
    ended = end_trials(w.session, gateway=w.gateway, clock=w.clock)
    assert [n.details["outcome"] for n in ended] == ["past_due"]
    assert (row.status, row.payment_attempts) == (m.SubscriptionStatus.PAST_DUE, 1)


def test_no_proration_during_a_trial(world: World) -> None:
    w = world
    row = _sub(w, trial_days=14, quantity=2)
    w.clock.advance(timedelta(days=3))
    preview = preview_subscription_change(
        w.session, subscription_id=row.id, quantity=6, clock=w.clock
    )
    assert preview.pending_proration_after == 0
    assert preview.next_invoice_total == Decimal("60.00")


def test_extend_then_end_a_trial(world: World) -> None:
    w = world
    row = _sub(w, trial_days=7)
    later = row.trial_end + timedelta(days=7)
    extended = extend_trial(
        w.session, subscription_id=row.id, trial_end=later, gateway=w.gateway, clock=w.clock
    )
    assert (extended.status, extended.trial_end, extended.current_period_end) == (
        m.SubscriptionStatus.TRIALING,
        later,
        later,
    )
    w.clock.advance(timedelta(days=1))
    ended = end_trial(w.session, subscription_id=row.id, gateway=w.gateway, clock=w.clock)
    assert ended.status is m.SubscriptionStatus.ACTIVE
    assert ended.current_period_start == w.clock.now()
    with pytest.raises(errors.ValidationError):
        end_trial(w.session, subscription_id=row.id, gateway=w.gateway, clock=w.clock)


def test_a_trial_cannot_move_into_the_past_or_for_a_stranger(world: World) -> None:
    w = world
    row = _sub(w, trial_days=7)
    before = row.trial_end
    with pytest.raises(errors.ValidationError):
        extend_trial(
            w.session,
            subscription_id=row.id,
            trial_end=T0 - timedelta(days=1),
            gateway=w.gateway,
            clock=w.clock,
        )
    with pytest.raises(errors.NotFound):
        end_trial(
            w.session,
            subscription_id=row.id,
            gateway=w.gateway,
            actor=Actor.of(f.user(w.session)),
        )
    assert row.trial_end == before
    assert "set_trial_end" not in [c for c, _ in w.gateway.calls]


def test_items_follow_the_gateway(world: World) -> None:
    w = world
    row = _sub(w, quantity=3)

    def items() -> list[tuple[str, int, Decimal]]:
        w.session.expire_all()
        found = w.session.scalars(
            sa.select(m.SubscriptionItem).where(m.SubscriptionItem.subscription_id == row.id)
        ).all()
        return [(i.price_id, i.quantity, i.unit_amount) for i in found]

    assert items() == [(w.seat.id, 3, Decimal("10.00"))]
    change_subscription(
        w.session, subscription_id=row.id, quantity=7, gateway=w.gateway, clock=w.clock
    )
    assert items() == [(w.seat.id, 7, Decimal("10.00"))]
    change_subscription(
        w.session, subscription_id=row.id, price_id=w.team.id, gateway=w.gateway, clock=w.clock
    )
    assert items() == [(w.team.id, 7, Decimal("15.00"))]
