"""Enum columns set to their plain string values, as hosts and SQLAlchemy allow.

Every enum column of every model is found in the metadata. Assigning a member's
value (``"ADMIN"``) must give the member (``UserRole.ADMIN``), and the services
that read the column must behave as they do with the member. A new enum column
without a scenario here fails ``test_every_enum_column_has_a_scenario``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests import factories as f
from tests.stripe_server import fixture, make_event

import paykit
from paykit import models as m
from paykit.clock import FrozenClock
from paykit.errors import PermissionDenied, ValidationError
from paykit.gateways import FakeGateway, GatewayRefund
from paykit.security import Action, Actor
from paykit.security.policy import require
from paykit.services import admin, support
from paykit.services.subscriptions import (
    cancel_subscription,
    ensure_gateway_customer,
    subscribe,
    sync_invoice,
)

CLOCK = FrozenClock(datetime(2026, 3, 1, tzinfo=UTC))
ADDRESS = {"line1": "1 Main St", "city": "Springfield", "country": "US"}


def enum_columns() -> list[tuple[type[m.Base], str, type[StrEnum]]]:
    found = []
    for mapper in m.Base.registry.mappers:
        for attr in mapper.column_attrs:
            column = attr.columns[0]
            if isinstance(column.type, sa.Enum) and column.type.enum_class is not None:
                found.append((mapper.class_, attr.key, column.type.enum_class))
    return sorted(found, key=lambda item: (item[0].__name__, item[1]))


COLUMNS = enum_columns()


def _ids(item: tuple[type[m.Base], str, type[StrEnum]]) -> str:
    return f"{item[0].__name__}.{item[1]}"


@pytest.mark.parametrize("column", COLUMNS, ids=_ids)
def test_a_plain_string_becomes_the_member(column: tuple[type[m.Base], str, type[StrEnum]]) -> None:
    model, key, enum_class = column
    for member in enum_class:
        row = model(**{key: member.value})
        assert getattr(row, key) is member
        setattr(row, key, str(member.value))
        assert getattr(row, key) is member
    with pytest.raises(ValidationError) as caught:
        model(**{key: "NOT-A-MEMBER"})
    assert caught.value.details["field"] == f"{model.__tablename__}.{key}"


def test_actor_roles_are_members() -> None:
    actor = Actor("u1", "ADMIN")  # type: ignore[arg-type]
    assert actor.role is m.UserRole.ADMIN
    assert actor.is_staff
    with pytest.raises(PermissionDenied):
        require(Actor("u1", "CUSTOMER"), Action.LIST_USERS)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Actor("u1", "ROOT")  # type: ignore[arg-type]


# --- the services that read each column, given rows whose enums were set as strings ------


def _price_type(session: Session) -> None:
    gateway = FakeGateway(clock=CLOCK)
    user = f.user(session)
    customer = ensure_gateway_customer(session, user, gateway, clock=CLOCK)
    gateway.attach_payment_method("pm_card_visa", customer_id=customer, idempotency_key="pm")
    product = f.product(session, type="SUBSCRIPTION")
    stripe_id = gateway.add_price(unit_amount=1000, currency="usd")
    price = f.price(
        session,
        product,
        stripe_price_id=stripe_id,
        type="RECURRING",
        recurring={"interval": "month", "interval_count": 1},
    )
    row = subscribe(session, user_id=user.id, price_id=price.id, gateway=gateway, clock=CLOCK)
    assert row.status is m.SubscriptionStatus.ACTIVE


def _user_role(session: Session) -> None:
    boss = f.user(session, role="ADMIN")
    target = f.user(session, role="CUSTOMER")
    admin_actor = Actor.of(boss)
    assert admin_actor.role is m.UserRole.ADMIN
    paykit.set_user_role(session, actor=admin_actor, user_id=target.id, role="SUPPORT")
    assert target.role is m.UserRole.SUPPORT
    assert [u.user.id for u in paykit.list_users(session, actor=admin_actor, limit=500)]


def _user_status(session: Session) -> None:
    boss = f.user(session, role=m.UserRole.ADMIN, status="ACTIVE")
    product = admin.create_product(
        session,
        actor=Actor.of(boss),
        data={
            "name": "Plan",
            "description": "A plan for enum tests.",
            "base_price": "5.00",
            "type": "ONE_TIME",
            "slug": "enum-status-plan",
        },
    )
    assert product.status is m.ProductStatus.DRAFT


def _order_status(session: Session) -> None:
    owner = f.user(session)
    order = f.order(session, owner, status="PENDING", payment_status="PENDING")
    view = support.view_order(session, actor=Actor.of(owner), order_id=order.id)
    assert (view.status, view.payment_status) == (m.OrderStatus.PENDING, m.PaymentStatus.PENDING)
    assert view.status is m.OrderStatus.PENDING
    assert view.payment_status is m.PaymentStatus.PENDING
    cancelled = paykit.cancel_order(session, order_id=order.id, actor=Actor.of(owner))
    assert cancelled.status is m.OrderStatus.CANCELLED


def _refund(session: Session) -> None:
    gateway = FakeGateway(clock=CLOCK)
    product = f.product(session, base_price=Decimal("40.00"))
    order = paykit.place_order(
        session,
        customer_id=f.user(session).id,
        billing_address=ADDRESS,
        items=[{"price_id": f.price(session, product).id, "quantity": 1}],
        payment_method_id="pm_card_visa",
        gateway=gateway,
        clock=CLOCK,
    ).order
    order = paykit.pay_order(session, order_id=order.id, gateway=gateway, clock=CLOCK).order
    assert order.stripe_payment_intent_id is not None
    refund = m.Refund(
        order_id=order.id,
        stripe_refund_id="re_enum_1",
        amount=Decimal("10.00"),
        currency="USD",
        reason="DUPLICATE",
        status="PENDING",
    )
    session.add(refund)
    session.flush()
    session.add(m.AuditLog(action="refund.created", resource="refund", resource_id=refund.id))
    assert (refund.reason, refund.status) == (m.RefundReason.DUPLICATE, m.RefundStatus.PENDING)
    synced = paykit.sync_refund(
        session,
        gateway_refund=GatewayRefund(
            id="re_enum_1",
            payment_id=order.stripe_payment_intent_id,
            amount_minor=1000,
            currency="usd",
            status="succeeded",  # type: ignore[arg-type]
        ),
        clock=CLOCK,
    )
    assert synced.status is m.RefundStatus.SUCCEEDED
    session.refresh(order)
    assert order.refunded_amount == Decimal("10.00")


def _invoice_status(session: Session) -> None:
    _gateway, _, customer, sub = _subscribed(session)
    invoice = m.Invoice(
        subscription_id=sub.id,
        stripe_invoice_id="in_enum_1",
        number="INV-ENUM-1",
        status="OPEN",
        subtotal=Decimal("10.00"),
        total=Decimal("10.00"),
        amount_due=Decimal("10.00"),
        period_start=CLOCK.now(),
        period_end=CLOCK.now(),
        stripe_event_created_at=CLOCK.now(),
    )
    session.add(invoice)
    session.flush()
    assert invoice.status is m.InvoiceStatus.OPEN
    when = int(CLOCK.now().timestamp())
    obj = fixture("invoice")
    obj.update(
        id="in_enum_1",
        customer=customer,
        subscription=sub.stripe_subscription_id,
        currency="usd",
        number="INV-ENUM-1",
        status="paid",
        subtotal=1000,
        total=1000,
        total_taxes=[],
        amount_paid=1000,
        amount_due=1000,
        due_date=None,
        period_start=when,
        period_end=when,
        status_transitions={"paid_at": when, "finalized_at": when},
    )
    row = sync_invoice(session, make_event("invoice.paid", obj, created=when + 60), clock=CLOCK)
    assert row is not None
    assert row.status is m.InvoiceStatus.PAID


def _ticket(session: Session) -> None:
    owner = f.user(session)
    ticket = m.SupportTicket(
        customer_id=owner.id, subject="Help", description="Broken.", status="OPEN", priority="HIGH"
    )
    session.add(ticket)
    session.flush()
    assert (ticket.status, ticket.priority) == (m.TicketStatus.OPEN, m.TicketPriority.HIGH)
    support.add_ticket_message(
        session, actor=Actor.of(owner), ticket_id=ticket.id, content="Any news?", clock=CLOCK
    )
    assert len(support.ticket_messages(session, actor=Actor.of(owner), ticket_id=ticket.id)) == 1


def _discount_type(session: Session) -> None:
    session.add(m.Discount(code="ENUMTEN", name="Ten", type="PERCENTAGE", value=Decimal("10")))
    product = f.product(session, base_price=Decimal("20.00"))
    order = paykit.place_order(
        session,
        customer_id=f.user(session).id,
        billing_address=ADDRESS,
        items=[{"price_id": f.price(session, product).id, "quantity": 1}],
        discount_code="ENUMTEN",
        gateway=FakeGateway(clock=CLOCK),
        clock=CLOCK,
    ).order
    assert order.discount_amount == Decimal("2.00")


def _product_status(session: Session) -> None:
    product = f.product(session, status="PUBLISHED", published_at=None)
    boss = Actor.of(f.user(session, role=m.UserRole.ADMIN))
    admin.update_product(
        session, actor=boss, product_id=product.id, changes={"name": "Renamed"}, clock=CLOCK
    )
    assert product.published_at == CLOCK.now()
    admin.update_product(
        session, actor=boss, product_id=product.id, changes={"status": "ARCHIVED"}, clock=CLOCK
    )
    assert product.status is m.ProductStatus.ARCHIVED


def _product_type(session: Session) -> None:
    product = f.product(session, type="ONE_TIME", base_price=Decimal("7.00"))
    order = paykit.place_order(
        session,
        customer_id=f.user(session).id,
        billing_address=ADDRESS,
        items=[{"price_id": f.price(session, product).id, "quantity": 2}],
        gateway=FakeGateway(clock=CLOCK),
        clock=CLOCK,
    ).order
    assert order.subtotal == Decimal("14.00")


def _subscribed(session: Session) -> tuple[FakeGateway, m.User, str, m.Subscription]:
    gateway = FakeGateway(clock=CLOCK)
    user = f.user(session)
    customer = ensure_gateway_customer(session, user, gateway, clock=CLOCK)
    gateway.attach_payment_method("pm_card_visa", customer_id=customer, idempotency_key="pm")
    stripe_id = gateway.add_price(unit_amount=1000, currency="usd")
    price = f.price(
        session,
        f.product(session, type=m.ProductType.SUBSCRIPTION),
        stripe_price_id=stripe_id,
        type=m.PriceType.RECURRING,
        recurring={"interval": "month", "interval_count": 1},
    )
    row = subscribe(session, user_id=user.id, price_id=price.id, gateway=gateway, clock=CLOCK)
    return gateway, user, customer, row


def _subscription_status(session: Session) -> None:
    gateway, user, _, row = _subscribed(session)
    row.status = "ACTIVE"
    assert row.status is m.SubscriptionStatus.ACTIVE
    ended = cancel_subscription(
        session,
        subscription_id=row.id,
        gateway=gateway,
        at_period_end=False,
        clock=CLOCK,
        actor=Actor.of(user),
    )
    assert ended.status is m.SubscriptionStatus.CANCELLED


SCENARIOS: dict[str, Callable[[Session], None]] = {
    "Price.type": _price_type,
    "User.role": _user_role,
    "User.status": _user_status,
    "Order.status": _order_status,
    "Order.payment_status": _order_status,
    "Refund.reason": _refund,
    "Refund.status": _refund,
    "Invoice.status": _invoice_status,
    "SupportTicket.status": _ticket,
    "SupportTicket.priority": _ticket,
    "Discount.type": _discount_type,
    "Product.status": _product_status,
    "Product.type": _product_type,
    "Subscription.status": _subscription_status,
}


def test_every_enum_column_has_a_scenario() -> None:
    assert {_ids(c) for c in COLUMNS} == set(SCENARIOS)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_services_read_string_set_enums(session: Session, name: str) -> None:
    SCENARIOS[name](session)
