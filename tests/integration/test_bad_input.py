"""Findings of the public-surface sweep, one test each, on SQLite and PostgreSQL.

Each refused call raises a registered ``PaykitError`` and leaves the database as
it was; the sweep itself is ``tests/property/test_public_surface.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.orm import Session
from tests import factories as f

import paykit
from paykit import models as m
from paykit.gateways import FakeGateway
from paykit.security import Actor

ADDRESS = {"line1": "1 Main St", "city": "Springfield", "country": "US"}


def test_two_default_fake_gateways_never_issue_the_same_ids(session: Session) -> None:
    customer = f.user(session)
    price = f.price(session, f.product(session, base_price=Decimal("5.00")))
    results = [
        paykit.place_order(
            session,
            customer_id=customer.id,
            items=[{"price_id": price.id}],
            billing_address=ADDRESS,
            payment_method_id="pm_card_visa",
            gateway=FakeGateway(),
        )
        for _ in range(2)
    ]
    orders = [r.order for r in results]
    assert orders[0].stripe_payment_intent_id != orders[1].stripe_payment_intent_id
    first, second = FakeGateway(), FakeGateway()
    assert first.create_customer(email="a@example.com", idempotency_key="k").id != (
        second.create_customer(email="a@example.com", idempotency_key="k").id
    )


def test_an_explicit_namespace_keeps_ids_deterministic() -> None:
    gateway = FakeGateway(namespace="shop")
    assert gateway.create_customer(email="a@example.com", idempotency_key="k").id == (
        "cus_shop_000001"
    )


@pytest.mark.parametrize("namespace", ["", "a b", "x" * 65, "ü", 7])
def test_a_bad_namespace_is_a_validation_error(namespace: object) -> None:
    with pytest.raises(paykit.errors.ValidationError):
        FakeGateway(namespace=namespace)  # type: ignore[arg-type]


# ----------------------------------------------------------------- wrong arguments


@dataclass
class Shop:
    session: Session
    admin: Actor
    customer: m.User
    price: m.Price
    order: m.Order
    gateway: FakeGateway


@pytest.fixture
def shop(session: Session) -> Shop:
    admin = f.user(session, role=m.UserRole.ADMIN)
    customer = f.user(session)
    price = f.price(session, f.product(session, base_price=Decimal("5.00")))
    return Shop(
        session=session,
        admin=Actor.of(admin),
        customer=customer,
        price=price,
        order=f.order(session, customer),
        gateway=FakeGateway(),
    )


def _order(shop: Shop, **kw: Any) -> Any:
    args: dict[str, Any] = {
        "customer_id": shop.customer.id,
        "items": [{"price_id": shop.price.id}],
        "billing_address": ADDRESS,
        "gateway": shop.gateway,
    }
    return paykit.place_order(shop.session, **{**args, **kw})


def _product(shop: Shop, **kw: Any) -> Any:
    data = {
        "name": "Gadget",
        "description": "A gadget of some kind.",
        "base_price": Decimal("10.00"),
        "type": "ONE_TIME",
        "slug": "gadget-x",
    }
    return paykit.create_product(shop.session, actor=shop.admin, data={**data, **kw})


# Each kind of wrong argument the sweep found, as (id, call, expected code).
CASES: list[tuple[str, Callable[[Shop], Any], str]] = [
    ("none-for-a-string", lambda s: _order(s, customer_id=None), "invalid_argument"),
    ("integer-idempotency-key", lambda s: _order(s, idempotency_key=123), "invalid_argument"),
    ("nul-in-a-string", lambda s: _order(s, notes="a\x00b"), "invalid_argument"),
    (
        "string-limit",
        lambda s: paykit.list_users(s.session, actor=s.admin, limit="10"),
        "invalid_argument",
    ),
    (
        "negative-limit",
        lambda s: paykit.list_users(s.session, actor=s.admin, limit=-1),
        "invalid_argument",
    ),
    (
        "tax-rate-five-decimals",
        lambda s: _product(s, tax_rate=Decimal("0.08125")),
        "validation_error",
    ),
    ("price-past-its-column", lambda s: _product(s, base_price=Decimal("1e8")), "validation_error"),
    ("stock-past-its-column", lambda s: _product(s, stock_quantity=2**40), "validation_error"),
    (
        "unit-amount-past-its-column",
        lambda s: paykit.create_price(
            s.session,
            actor=s.admin,
            product_id=s.price.product_id,
            data={"stripe_price_id": "price_big", "unit_amount": Decimal("100000000")},
        ),
        "validation_error",
    ),
    (
        "none-for-a-bool",
        lambda s: paykit.set_price_active(
            s.session, actor=s.admin, price_id=s.price.id, active=None
        ),
        "invalid_argument",
    ),
    (
        "none-for-an-actor",
        lambda s: paykit.view_order(s.session, actor=None, order_id=s.order.id),
        "invalid_argument",
    ),
    (
        "integer-for-a-clock",
        lambda s: paykit.cancel_order(s.session, order_id=s.order.id, clock=0),
        "invalid_argument",
    ),
    (
        "limit-past-64-bits",
        lambda s: paykit.replay_failed(s.session, gateway=s.gateway, limit=2**63),
        "invalid_argument",
    ),
    (
        "endless-ttl",
        lambda s: paykit.request_email_verification(
            s.session, user_id=s.customer.id, ttl=timedelta.max
        ),
        "invalid_argument",
    ),
    (
        "negative-refund-is-invalid-amount",
        lambda s: paykit.issue_refund(
            s.session,
            order_id=_paid(s).id,
            amount=Decimal("-1"),
            reason="REQUESTED_BY_CUSTOMER",
            gateway=s.gateway,
            actor=s.admin,
        ),
        "invalid_amount",
    ),
    (
        "none-for-a-refund-reason",
        lambda s: paykit.record_gateway_refund(
            s.session, order=s.order, gateway_refund=object(), reason=None
        ),
        "invalid_argument",
    ),
    (
        "empty-subscription-object",
        lambda s: paykit.sync_subscription(s.session, {}),
        "invalid_argument",
    ),
    ("empty-revision", lambda s: paykit.migrate("sqlite://", ""), "invalid_argument"),
    ("at-sign-revision", lambda s: paykit.downgrade("sqlite://", "@"), "invalid_argument"),
    ("none-for-bcrypt-rounds", lambda s: paykit.PasswordHasher(rounds=None), "invalid_argument"),
    ("integer-for-a-start-time", lambda s: paykit.FrozenClock(0), "invalid_argument"),
    ("integer-for-keys", lambda s: paykit.Keyring(-1, "k"), "invalid_argument"),
    ("none-for-a-gateway", lambda s: _order(s, gateway=None), "invalid_argument"),
    (
        "integer-for-registration-data",
        lambda s: paykit.register_user(s.session, 5),
        "invalid_argument",
    ),
]


def _paid(shop: Shop) -> m.Order:
    placed = _order(shop, payment_method_id="pm_card_visa").order
    return paykit.pay_order(  # type: ignore[no-any-return]
        shop.session, order_id=placed.id, gateway=shop.gateway
    ).order


@pytest.mark.parametrize(("call", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_wrong_argument_is_a_registered_paykit_error(
    shop: Shop, call: Callable[[Shop], Any], code: str
) -> None:
    with pytest.raises(paykit.PaykitError) as info:
        call(shop)
    assert info.value.code == code
    assert paykit.errors.is_registered(code)
    assert not shop.session.new
    assert not shop.session.dirty
    shop.session.flush()  # the transaction is still usable


def test_an_unknown_actor_is_refused_before_the_gateway_cancels(session: Session) -> None:
    gateway = FakeGateway()
    user = f.user(session)
    monthly = gateway.add_price(unit_amount=900, currency="usd")
    price = f.price(
        session,
        f.product(session, type=m.ProductType.SUBSCRIPTION),
        stripe_price_id=monthly,
        type=m.PriceType.RECURRING,
    )
    sub = paykit.subscribe(
        session,
        user_id=user.id,
        price_id=price.id,
        gateway=gateway,
        payment_method_id="pm_card_visa",
    )
    # docs/security.md: an unknown acting user is refused (permission_denied).
    with pytest.raises(paykit.errors.PermissionDenied):
        paykit.cancel_subscription(
            session, subscription_id=sub.id, gateway=gateway, actor_id="no-such-user"
        )
    assert gateway.subscriptions[sub.stripe_subscription_id].cancel_at_period_end is False


def test_a_webhook_body_that_is_not_utf8_is_answered_400(session: Session) -> None:
    response = paykit.handle_webhook(
        session, b"\x80", "t=1,v1=x", secrets="whsec_x", gateway=FakeGateway()
    )
    assert response.status_code == 400
    assert response.body["error"]["code"] == "webhook_payload_invalid"
