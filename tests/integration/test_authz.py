"""Authorization: the policy table, admin catalog services, internal notes and messages, refunds."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests import factories as f

from paykit import models as m
from paykit.clock import FrozenClock
from paykit.errors import Conflict, NotFound, PermissionDenied, ValidationError
from paykit.gateways import FakeGateway
from paykit.security import POLICY, Action, Actor
from paykit.services import admin, support
from paykit.services.refunds import REFUND_ROLES, issue_refund

CLOCK = FrozenClock(datetime(2025, 4, 1, tzinfo=UTC))
ROLES = list(m.UserRole)


def actor(session: Session, role: m.UserRole) -> Actor:
    return Actor.of(f.user(session, role=role))


PRODUCT = {
    "name": "Pro plan",
    "description": "Everything, monthly.",
    "base_price": "29.00",
    "type": "SUBSCRIPTION",
    "billing_interval": "month",
    "slug": "pro-plan",
}


def test_refund_roles_are_the_policy_row() -> None:
    assert REFUND_ROLES == POLICY[Action.ISSUE_REFUND] == {m.UserRole.SUPPORT, m.UserRole.ADMIN}


@pytest.mark.parametrize("role", ROLES)
def test_product_price_and_discount_management_is_admin_only(
    session: Session, role: m.UserRole
) -> None:
    who = actor(session, role)
    if role is not m.UserRole.ADMIN:
        with pytest.raises(PermissionDenied):
            admin.create_product(session, actor=who, data=PRODUCT)
        product = f.product(session)
        with pytest.raises(PermissionDenied):
            admin.update_product(session, actor=who, product_id=product.id, changes={"name": "X"})
        with pytest.raises(PermissionDenied):
            admin.create_price(
                session,
                actor=who,
                product_id=product.id,
                data={"stripe_price_id": "p", "unit_amount": "1"},
            )
        with pytest.raises(PermissionDenied):
            admin.create_discount(
                session,
                actor=who,
                data={"code": "SAVE10", "name": "Save", "type": "PERCENTAGE", "value": "10"},
            )
        return
    product = admin.create_product(session, actor=who, data=PRODUCT, clock=CLOCK)
    assert (product.status, product.base_price) == (m.ProductStatus.DRAFT, Decimal("29.00"))
    admin.update_product(
        session, actor=who, product_id=product.id, changes={"status": "PUBLISHED"}, clock=CLOCK
    )
    assert product.published_at == CLOCK.now()
    price = admin.create_price(
        session,
        actor=who,
        product_id=product.id,
        data={
            "stripe_price_id": "price_pro",
            "unit_amount": "29.00",
            "type": "RECURRING",
            "interval": "month",
        },
    )
    assert price.recurring == {"interval": "month", "interval_count": 1}
    admin.set_price_active(session, actor=who, price_id=price.id, active=False)
    assert price.active is False
    discount = admin.create_discount(
        session,
        actor=who,
        data={
            "code": "SAVE10",
            "name": "Save ten",
            "type": "PERCENTAGE",
            "value": "10",
            "product_ids": [product.id],
        },
    )
    assert [pd.product_id for pd in discount.product_discounts] == [product.id]
    admin.update_discount(session, actor=who, discount_id=discount.id, changes={"active": False})
    assert discount.active is False
    with pytest.raises(Conflict):
        admin.create_product(session, actor=who, data=PRODUCT)


def test_admin_input_is_validated(session: Session) -> None:
    boss = actor(session, m.UserRole.ADMIN)
    for bad in (
        {**PRODUCT, "description": "too short"},
        {**PRODUCT, "base_price": "0"},
        {**PRODUCT, "base_price": 29.0},
        {**PRODUCT, "billing_interval": None},
    ):
        with pytest.raises(ValidationError):
            admin.create_product(session, actor=boss, data=bad)
    with pytest.raises(ValidationError):
        admin.create_discount(
            session,
            actor=boss,
            data={"code": "BIG", "name": "Big", "type": "PERCENTAGE", "value": "150"},
        )


@pytest.mark.partial_state("sets current_uses without usage rows, to reach the limit quickly")
def test_max_uses_cannot_drop_below_uses_made(session: Session) -> None:
    boss = actor(session, m.UserRole.ADMIN)
    discount = admin.create_discount(
        session,
        actor=boss,
        data={"code": "FIVE", "name": "Five", "type": "FIXED_AMOUNT", "value": "5"},
    )
    discount.current_uses = 3
    session.flush()
    with pytest.raises(ValidationError):
        admin.update_discount(session, actor=boss, discount_id=discount.id, changes={"max_uses": 2})


@pytest.fixture
def order_with_notes(session: Session) -> m.Order:
    return f.order(session, f.user(session), internal_notes="customer was rude on the phone")


def test_customers_never_see_internal_notes(session: Session, order_with_notes: m.Order) -> None:
    owner = session.get(m.User, order_with_notes.user_id)
    assert owner is not None
    view = support.view_order(session, actor=Actor.of(owner), order_id=order_with_notes.id)
    assert view.internal_notes is None
    assert view.total_amount == order_with_notes.total_amount
    for role in (m.UserRole.SUPPORT, m.UserRole.ADMIN):
        staff = support.view_order(
            session, actor=actor(session, role), order_id=order_with_notes.id
        )
        assert staff.internal_notes == "customer was rude on the phone"


def test_customers_see_only_their_own_orders(session: Session, order_with_notes: m.Order) -> None:
    stranger = actor(session, m.UserRole.CUSTOMER)
    with pytest.raises(NotFound):
        support.view_order(session, actor=stranger, order_id=order_with_notes.id)


def test_only_staff_write_internal_notes(session: Session, order_with_notes: m.Order) -> None:
    owner = Actor(order_with_notes.user_id, m.UserRole.CUSTOMER)
    with pytest.raises(PermissionDenied):
        support.set_order_internal_notes(
            session, actor=owner, order_id=order_with_notes.id, notes="hi"
        )
    staff = actor(session, m.UserRole.SUPPORT)
    support.set_order_internal_notes(session, actor=staff, order_id=order_with_notes.id, notes="ok")
    assert order_with_notes.internal_notes == "ok"


def test_ticket_messages_hide_internal_ones_from_customers(session: Session) -> None:
    customer = actor(session, m.UserRole.CUSTOMER)
    staff = actor(session, m.UserRole.SUPPORT)
    ticket = support.open_ticket(session, actor=customer, subject="Refund?", description="Please.")
    support.add_ticket_message(session, actor=customer, ticket_id=ticket.id, content="Any news?")
    support.add_ticket_message(
        session, actor=staff, ticket_id=ticket.id, content="Fraud risk, hold.", internal=True
    )
    support.add_ticket_message(
        session, actor=staff, ticket_id=ticket.id, content="Looking into it."
    )
    seen = [
        msg.content for msg in support.ticket_messages(session, actor=customer, ticket_id=ticket.id)
    ]
    assert seen == ["Any news?", "Looking into it."]
    everything = support.ticket_messages(session, actor=staff, ticket_id=ticket.id)
    assert len(everything) == 3
    with pytest.raises(PermissionDenied):
        support.add_ticket_message(
            session, actor=customer, ticket_id=ticket.id, content="sneaky", internal=True
        )
    stranger = actor(session, m.UserRole.CUSTOMER)
    with pytest.raises(NotFound):
        support.ticket_messages(session, actor=stranger, ticket_id=ticket.id)
    with pytest.raises(NotFound):
        support.add_ticket_message(session, actor=stranger, ticket_id=ticket.id, content="hello")


def test_suspended_staff_can_do_nothing(session: Session, order_with_notes: m.Order) -> None:
    staff = f.user(session, role=m.UserRole.SUPPORT, status=m.UserStatus.SUSPENDED)
    with pytest.raises(PermissionDenied):
        support.view_order(session, actor=Actor.of(staff), order_id=order_with_notes.id)


@pytest.mark.parametrize("role", ROLES)
def test_refunds_accept_an_actor(session: Session, role: m.UserRole) -> None:
    who = actor(session, role)
    call = {"order_id": "missing", "reason": "OTHER", "gateway": FakeGateway(), "actor": who}
    if role is m.UserRole.CUSTOMER:
        with pytest.raises(PermissionDenied):
            issue_refund(session, **call)  # type: ignore[arg-type]
    else:
        with pytest.raises(NotFound):  # authorized; then the order is missing
            issue_refund(session, **call)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        issue_refund(session, **call, actor_id="someone-else")  # type: ignore[arg-type]
    assert session.scalar(sa.select(sa.func.count()).select_from(m.Refund)) == 0
