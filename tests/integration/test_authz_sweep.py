"""The authorization sweep: every public service that takes an actor, found by signature.

Each one is called by a customer on another customer's resource and must refuse
(``permission_denied`` or ``not_found``) without changing a row or calling the
gateway. Then, for every role, the policy table says who else may act, and the
service must agree with it. A new actor-taking function with no entry in
``CASES`` (or ``EXEMPT``) fails this module, and so does a policy row that no
case exercises.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests import factories as f

import paykit
from paykit import models as m
from paykit.clock import FrozenClock
from paykit.errors import NotFound, PaykitError, PermissionDenied
from paykit.gateways import FakeGateway
from paykit.security import POLICY, Action, Actor, Keyring, use_keyring
from paykit.services.billing import store_payment_method, sync_invoice_details
from paykit.services.subscriptions import cancel_subscription, ensure_gateway_customer, subscribe

ACTOR_PARAMS = ("actor", "actor_id")
T0 = datetime(2026, 3, 1, tzinfo=UTC)
ADDRESS = {"line1": "1 Main St", "city": "Springfield", "country": "US"}
_seq = itertools.count(1)


@dataclass
class World:
    session: Session
    clock: FrozenClock
    gateway: FakeGateway
    price: m.Price  # recurring
    other_price: m.Price  # recurring, for change_subscription


Builder = Callable[[World, m.User], dict[str, Any]]


def _subscription(w: World, owner: m.User) -> m.Subscription:
    customer = ensure_gateway_customer(w.session, owner, w.gateway, clock=w.clock)
    w.gateway.attach_payment_method(
        "pm_card_visa", customer_id=customer, idempotency_key=f"pm-{owner.id}"
    )
    return subscribe(
        w.session, user_id=owner.id, price_id=w.price.id, gateway=w.gateway, clock=w.clock
    )


def _saved_method(w: World, owner: m.User) -> dict[str, Any]:
    customer = ensure_gateway_customer(w.session, owner, w.gateway, clock=w.clock)
    method = w.gateway.attach_payment_method(
        "pm_card_visa", customer_id=customer, idempotency_key=f"pm-saved-{owner.id}"
    )
    row = store_payment_method(w.session, method, user_id=owner.id, clock=w.clock)
    return {"payment_method_id": row.id, "gateway": w.gateway}


def _open_invoice(w: World, owner: m.User) -> dict[str, Any]:
    sub = _subscription(w, owner)
    details = w.gateway.add_invoice(
        customer_id=sub.user.stripe_customer_id or "",
        subscription_id=sub.stripe_subscription_id,
        lines=[{"amount": 2000, "description": "Pro plan"}],
    )
    row = sync_invoice_details(w.session, details, clock=w.clock)
    assert row is not None
    return {"invoice_id": row.id, "gateway": w.gateway}


def _paid_order(w: World, owner: m.User) -> m.Order:
    product = f.product(w.session, base_price=Decimal("40.00"))
    placed = paykit.place_order(
        w.session,
        customer_id=owner.id,
        billing_address=ADDRESS,
        items=[{"price_id": f.price(w.session, product).id, "quantity": 1}],
        payment_method_id="pm_card_visa",
        gateway=w.gateway,
        clock=w.clock,
    ).order
    return paykit.pay_order(w.session, order_id=placed.id, gateway=w.gateway, clock=w.clock).order


def _ticket(w: World, owner: m.User) -> m.SupportTicket:
    return paykit.open_ticket(
        w.session, actor=Actor.of(owner), subject="Help", description="It broke.", clock=w.clock
    )


def _review(w: World, owner: m.User, *, hidden: bool = False) -> str:
    review = paykit.create_review(
        w.session,
        actor=Actor.of(owner),
        product_id=f.product(w.session).id,
        rating=4,
        content="Fine.",
        clock=w.clock,
    )
    if hidden:
        row = w.session.get(m.ProductReview, review.id)
        assert row is not None
        row.hidden_at = T0
        w.session.flush()
    return review.id


def _digital_item(w: World, owner: m.User) -> dict[str, Any]:
    product = f.product(
        w.session, type=m.ProductType.DIGITAL_DOWNLOAD, download_url="https://example.com/f"
    )
    order = f.order(w.session, owner, product=product, status=m.OrderStatus.COMPLETED)
    item = order.items[0]
    return {"order_item_id": item.id}


def _trialing(w: World, owner: m.User) -> m.Subscription:
    return subscribe(
        w.session,
        user_id=owner.id,
        price_id=w.price.id,
        gateway=w.gateway,
        clock=w.clock,
        trial_days=14,
    )


def _cancel_scheduled(w: World, owner: m.User) -> dict[str, Any]:
    sub = _subscription(w, owner)
    cancel_subscription(w.session, subscription_id=sub.id, gateway=w.gateway, clock=w.clock)
    return {"subscription_id": sub.id, "gateway": w.gateway}


def _with_session_row(w: World, owner: m.User) -> dict[str, Any]:
    w.session.add(
        m.Session(user_id=owner.id, token=f"hash-{next(_seq)}", expires_at=T0 + timedelta(days=1))
    )
    w.session.flush()
    return {"user_id": owner.id}


def _product_data() -> dict[str, Any]:
    n = next(_seq)
    return {
        "name": "Pro plan",
        "description": "Everything, monthly.",
        "base_price": "29.00",
        "type": "ONE_TIME",
        "slug": f"sweep-product-{n}",
    }


@dataclass(frozen=True)
class Case:
    """How to act on ``owner``'s resource, and who besides the owner may."""

    build: Builder
    # The policy row that lets a user who is not the owner act; None: nobody else.
    action: Action | None
    # Whether the owner (a CUSTOMER) may do it to their own resource.
    owner_may: bool


CASES: dict[str, Case] = {
    "add_ticket_message": Case(
        lambda w, o: {"ticket_id": _ticket(w, o).id, "content": "Any news?"},
        Action.WRITE_ANY_TICKET,
        owner_may=True,
    ),
    "ticket_messages": Case(
        lambda w, o: {"ticket_id": _ticket(w, o).id}, Action.READ_ANY_TICKET, owner_may=True
    ),
    "view_order": Case(
        lambda w, o: {"order_id": f.order(w.session, o).id}, Action.READ_ANY_ORDER, owner_may=True
    ),
    "get_order": Case(
        lambda w, o: {"order_id": f.order(w.session, o).id}, Action.READ_ANY_ORDER, owner_may=True
    ),
    # A customer naming another customer's id is refused, not given an empty page.
    "list_orders": Case(lambda w, o: {"customer_id": o.id}, Action.READ_ANY_ORDER, owner_may=True),
    "set_order_internal_notes": Case(
        lambda w, o: {"order_id": f.order(w.session, o).id, "notes": "VIP"},
        Action.WRITE_INTERNAL_NOTES,
        owner_may=False,
    ),
    "cancel_order": Case(
        lambda w, o: {"order_id": f.order(w.session, o).id, "gateway": w.gateway},
        Action.CANCEL_ANY_ORDER,
        owner_may=True,
    ),
    "issue_refund": Case(
        lambda w, o: {
            "order_id": _paid_order(w, o).id,
            "reason": "REQUESTED_BY_CUSTOMER",
            "gateway": w.gateway,
        },
        Action.ISSUE_REFUND,
        owner_may=False,
    ),
    "cancel_subscription": Case(
        lambda w, o: {"subscription_id": _subscription(w, o).id, "gateway": w.gateway},
        Action.MANAGE_ANY_SUBSCRIPTION,
        owner_may=True,
    ),
    "change_subscription": Case(
        lambda w, o: {
            "subscription_id": _subscription(w, o).id,
            "gateway": w.gateway,
            "price_id": w.other_price.id,
        },
        Action.MANAGE_ANY_SUBSCRIPTION,
        owner_may=True,
    ),
    "resume_subscription": Case(_cancel_scheduled, Action.MANAGE_ANY_SUBSCRIPTION, owner_may=True),
    "extend_trial": Case(
        lambda w, o: {
            "subscription_id": _trialing(w, o).id,
            "gateway": w.gateway,
            "trial_end": w.clock.now() + timedelta(days=30),
        },
        Action.MANAGE_ANY_SUBSCRIPTION,
        owner_may=True,
    ),
    "end_trial": Case(
        lambda w, o: {"subscription_id": _trialing(w, o).id, "gateway": w.gateway},
        Action.MANAGE_ANY_SUBSCRIPTION,
        owner_may=True,
    ),
    "preview_subscription_change": Case(
        lambda w, o: {"subscription_id": _subscription(w, o).id, "quantity": 3},
        Action.MANAGE_ANY_SUBSCRIPTION,
        owner_may=True,
    ),
    "set_subscription_default_payment_method": Case(
        lambda w, o: {
            "subscription_id": _subscription(w, o).id,
            "payment_method_id": _saved_method(w, o)["payment_method_id"],
            "gateway": w.gateway,
        },
        Action.MANAGE_ANY_SUBSCRIPTION,
        owner_may=True,
    ),
    "upcoming_invoice": Case(
        lambda w, o: {"subscription_id": _subscription(w, o).id},
        Action.MANAGE_ANY_SUBSCRIPTION,
        owner_may=True,
    ),
    "update_profile": Case(
        lambda w, o: {"user_id": o.id, "changes": {"name": "Mallory"}},
        Action.MANAGE_USERS,
        owner_may=True,
    ),
    "delete_user": Case(lambda w, o: {"user_id": o.id}, Action.MANAGE_USERS, owner_may=True),
    "revoke_all_sessions": Case(_with_session_row, Action.MANAGE_USERS, owner_may=True),
    "set_user_role": Case(
        lambda w, o: {"user_id": o.id, "role": "ADMIN"}, Action.MANAGE_USERS, owner_may=False
    ),
    "set_user_status": Case(
        lambda w, o: {"user_id": o.id, "status": "SUSPENDED"}, Action.MANAGE_USERS, owner_may=False
    ),
    "list_users": Case(lambda w, o: {}, Action.LIST_USERS, owner_may=False),
    # Catalog rows belong to no customer: only the policy row lets anyone act.
    "create_product": Case(
        lambda w, o: {"data": _product_data()}, Action.MANAGE_PRODUCTS, owner_may=False
    ),
    "update_product": Case(
        lambda w, o: {"product_id": f.product(w.session).id, "changes": {"name": "Renamed"}},
        Action.MANAGE_PRODUCTS,
        owner_may=False,
    ),
    "create_price": Case(
        lambda w, o: {
            "product_id": f.product(w.session).id,
            "data": {"stripe_price_id": f"price_sweep_{next(_seq)}", "unit_amount": "5.00"},
        },
        Action.MANAGE_PRICES,
        owner_may=False,
    ),
    "set_price_active": Case(
        lambda w, o: {"price_id": f.price(w.session, f.product(w.session)).id, "active": False},
        Action.MANAGE_PRICES,
        owner_may=False,
    ),
    "create_discount": Case(
        lambda w, o: {
            "data": {
                "code": f"SWEEP{next(_seq)}",
                "name": "Sweep",
                "type": "PERCENTAGE",
                "value": "10",
            }
        },
        Action.MANAGE_DISCOUNTS,
        owner_may=False,
    ),
    # Reviews: the author's row; staff moderate (hide, delete) but never edit.
    "get_review": Case(
        lambda w, o: {"review_id": _review(w, o, hidden=True)},
        Action.MODERATE_REVIEWS,
        owner_may=True,
    ),
    "edit_review": Case(
        lambda w, o: {"review_id": _review(w, o), "rating": 1}, None, owner_may=True
    ),
    "delete_review": Case(
        lambda w, o: {"review_id": _review(w, o)}, Action.MODERATE_REVIEWS, owner_may=True
    ),
    "hide_review": Case(
        lambda w, o: {"review_id": _review(w, o)}, Action.MODERATE_REVIEWS, owner_may=False
    ),
    "download_link": Case(_digital_item, Action.READ_ANY_ORDER, owner_may=True),
    "set_ticket_status": Case(
        lambda w, o: {"ticket_id": _ticket(w, o).id, "status": "CLOSED"},
        Action.WRITE_ANY_TICKET,
        owner_may=True,
    ),
    "assign_ticket": Case(
        lambda w, o: {"ticket_id": _ticket(w, o).id, "assignee_id": None},
        Action.WRITE_ANY_TICKET,
        owner_may=False,
    ),
    "list_tickets": Case(
        lambda w, o: {"customer_id": o.id}, Action.READ_ANY_TICKET, owner_may=True
    ),
    "set_config": Case(
        lambda w, o: {"key": "store.name", "value": "Sweep shop"},
        Action.MANAGE_CONFIG,
        owner_may=False,
    ),
    "update_discount": Case(
        lambda w, o: {
            "discount_id": _discount(w).id,
            "changes": {"active": False},
        },
        Action.MANAGE_DISCOUNTS,
        owner_may=False,
    ),
    # The catalog read side: staff views and category writes; a draft is no one's resource.
    "list_products": Case(
        lambda w, o: {"status": "DRAFT"}, Action.MANAGE_PRODUCTS, owner_may=False
    ),
    "get_product": Case(
        lambda w, o: {"id": f.product(w.session, status=m.ProductStatus.DRAFT).id},
        Action.MANAGE_PRODUCTS,
        owner_may=False,
    ),
    "list_products_admin": Case(lambda w, o: {}, Action.MANAGE_PRODUCTS, owner_may=False),
    "list_discounts": Case(lambda w, o: {}, Action.MANAGE_DISCOUNTS, owner_may=False),
    "low_stock_report": Case(lambda w, o: {}, Action.MANAGE_PRODUCTS, owner_may=False),
    "create_category": Case(
        lambda w, o: {"name": "Sweep", "slug": f"sweep-category-{next(_seq)}"},
        Action.MANAGE_PRODUCTS,
        owner_may=False,
    ),
    "rename_category": Case(
        lambda w, o: {"category_id": f.category(w.session).id, "name": "Renamed"},
        Action.MANAGE_PRODUCTS,
        owner_may=False,
    ),
    "move_category": Case(
        lambda w, o: {
            "category_id": f.category(w.session).id,
            "parent_id": f.category(w.session).id,
        },
        Action.MANAGE_PRODUCTS,
        owner_may=False,
    ),
    "revenue": Case(
        lambda w, o: {"start": T0, "end": T0 + timedelta(days=30)},
        Action.READ_ANY_ORDER,
        owner_may=False,
    ),
    "monthly_revenue": Case(
        lambda w, o: {"year": 2026, "month": 3}, Action.READ_ANY_ORDER, owner_may=False
    ),
    "user_subscriptions": Case(
        lambda w, o: {"user_id": o.id}, Action.MANAGE_ANY_SUBSCRIPTION, owner_may=True
    ),
    # Saved cards, invoices, hosted checkout (docs/billing.md).
    "start_payment_method_setup": Case(
        lambda w, o: {"user_id": o.id, "gateway": w.gateway},
        Action.MANAGE_ANY_BILLING,
        owner_may=True,
    ),
    "list_payment_methods": Case(
        lambda w, o: {"user_id": o.id}, Action.MANAGE_ANY_BILLING, owner_may=True
    ),
    "set_default_payment_method": Case(_saved_method, Action.MANAGE_ANY_BILLING, owner_may=True),
    "detach_payment_method": Case(_saved_method, Action.MANAGE_ANY_BILLING, owner_may=True),
    "list_expiring_payment_methods": Case(
        lambda w, o: {"user_id": o.id}, Action.MANAGE_ANY_BILLING, owner_may=True
    ),
    "list_invoices": Case(
        lambda w, o: {"user_id": o.id}, Action.MANAGE_ANY_BILLING, owner_may=True
    ),
    "get_invoice": Case(
        lambda w, o: {"invoice_id": _open_invoice(w, o)["invoice_id"]},
        Action.MANAGE_ANY_BILLING,
        owner_may=True,
    ),
    "pay_invoice": Case(_open_invoice, Action.MANAGE_ANY_BILLING, owner_may=True),
    "retry_invoice": Case(_open_invoice, Action.MANAGE_ANY_BILLING, owner_may=True),
    "void_invoice": Case(_open_invoice, Action.VOID_INVOICE, owner_may=False),
    "create_checkout_session": Case(
        lambda w, o: {
            "user_id": o.id,
            "mode": "setup",
            "success_url": "https://shop.example/ok",
            "cancel_url": "https://shop.example/no",
            "gateway": w.gateway,
        },
        Action.MANAGE_ANY_BILLING,
        owner_may=True,
    ),
}

#: Actor-taking public names that are not services acting on someone's resource.
EXEMPT: dict[str, str] = {
    "open_ticket": "acts only on the actor's own account: it takes no resource id",
    "set_actor": "not a service: sets the row-level-security actor of a connection (test_rls)",
}

#: Actor-taking functions on public rows (the catalog, anyone's visible review):
#: any active user may call them on any id, so there is no owner to protect.
PUBLIC: dict[str, str] = {
    "create_review": "reviews a public product; one per actor (test_reviews)",
    "list_reviews": "a public listing; staff see hidden reviews too (test_reviews)",
    "vote_review_helpful": "votes on anyone's visible review but one's own (test_reviews)",
}

#: Policy rows that filter what an allowed call returns rather than refuse it.
FILTERS: dict[Action, str] = {
    Action.READ_INTERNAL_NOTES: "view_order, get_order and list_orders hide internal_notes "
    "(test_authz, test_order_reads)",
    Action.READ_INTERNAL_MESSAGES: "ticket_messages hides internal messages (test_authz)",
    Action.WRITE_INTERNAL_MESSAGES: "add_ticket_message(internal=True) (test_authz)",
}


def _discount(w: World) -> m.Discount:
    row = m.Discount(
        code=f"SWEEPD{next(_seq)}", name="d", type=m.DiscountType.PERCENTAGE, value=Decimal("10")
    )
    w.session.add(row)
    w.session.flush()
    return row


def actor_taking() -> dict[str, tuple[str, ...]]:
    """Public callables with an ``actor`` or ``actor_id`` parameter -> those parameters."""
    found = {}
    for name in paykit.__all__:
        obj = getattr(paykit, name)
        if not inspect.isfunction(obj):
            continue
        params = tuple(p for p in inspect.signature(obj).parameters if p in ACTOR_PARAMS)
        if params:
            found[name] = params
    return found


FOUND = actor_taking()
SWEEP = [
    (name, param)
    for name, params in sorted(FOUND.items())
    if name not in EXEMPT and name not in PUBLIC
    for param in params
]


def test_every_actor_taking_function_has_a_case() -> None:
    missing = set(FOUND) - set(CASES) - set(EXEMPT) - set(PUBLIC)
    assert missing == set(), "add a Case (or an EXEMPT or PUBLIC reason)"
    assert set(PUBLIC) <= set(FOUND)
    assert set(CASES) - set(FOUND) == set(), "a case for a function that is gone or takes no actor"
    assert set(EXEMPT) <= set(FOUND)
    # The cases at work: at least the functions the issue found unchecked.
    assert {"cancel_subscription", "change_subscription", "resume_subscription"} <= set(CASES)


def test_every_policy_row_is_exercised() -> None:
    covered = {case.action for case in CASES.values()} | set(FILTERS)
    assert set(POLICY) - covered == set()


def test_exempt_functions_take_no_resource_id() -> None:
    for name in EXEMPT:
        params = inspect.signature(getattr(paykit, name)).parameters
        assert not [p for p in params if p.endswith("_id") and p not in ACTOR_PARAMS], name


@pytest.fixture(autouse=True)
def _keyring() -> Any:
    with use_keyring(Keyring.generate()):  # download links are signed
        yield


@pytest.fixture
def world(session: Session) -> World:
    clock = FrozenClock(T0)
    gateway = FakeGateway(clock=clock)
    product = f.product(session, type=m.ProductType.SUBSCRIPTION, base_price=Decimal("20.00"))
    prices = []
    for cents in (2000, 3000):
        stripe_id = gateway.add_price(unit_amount=cents, currency="usd")
        prices.append(
            f.price(
                session,
                product,
                stripe_price_id=stripe_id,
                unit_amount=Decimal(cents) / 100,
                type=m.PriceType.RECURRING,
                recurring={"interval": "month", "interval_count": 1},
            )
        )
    return World(session, clock, gateway, prices[0], prices[1])


def snapshot(session: Session) -> dict[str, list[str]]:
    """Every row of every paykit table, in a comparable form."""
    session.flush()
    return {
        table.name: sorted(repr(tuple(row)) for row in session.execute(sa.select(table)))
        for table in m.Base.metadata.sorted_tables
    }


def _call(w: World, name: str, kwargs: dict[str, Any], who: m.User, param: str) -> Any:
    acting: Any = Actor.of(who) if param == "actor" else who.id
    function = getattr(paykit, name)
    if "clock" in inspect.signature(function).parameters:
        kwargs = {**kwargs, "clock": w.clock}
    return function(w.session, **kwargs, **{param: acting})


def _refuses(w: World, name: str, kwargs: dict[str, Any], who: m.User, param: str) -> str:
    before, calls = snapshot(w.session), len(w.gateway.calls)
    with pytest.raises((PermissionDenied, NotFound)) as caught:
        _call(w, name, kwargs, who, param)
    assert caught.value.code in ("permission_denied", "not_found")
    assert snapshot(w.session) == before, f"{name} changed rows while refusing"
    assert len(w.gateway.calls) == calls, f"{name} called the gateway while refusing"
    return caught.value.code


@pytest.mark.parametrize(("name", "param"), SWEEP, ids=[f"{n}-{p}" for n, p in SWEEP])
def test_a_customer_cannot_act_on_another_customers_resource(
    world: World, name: str, param: str
) -> None:
    owner, intruder = f.user(world.session), f.user(world.session)
    kwargs = CASES[name].build(world, owner)
    _refuses(world, name, kwargs, intruder, param)


ROLE_CASES = [
    (name, role) for name in sorted(CASES) for role in (*m.UserRole, "owner", "suspended")
]


@pytest.mark.parametrize(("name", "role"), ROLE_CASES, ids=[f"{n}-{r}" for n, r in ROLE_CASES])
def test_the_policy_table_decides_who_else_may_act(world: World, name: str, role: str) -> None:
    case = CASES[name]
    owner = f.user(world.session)
    kwargs = case.build(world, owner)
    param = FOUND[name][0]
    if role == "owner":
        who, allowed = owner, case.owner_may
    elif role == "suspended":
        # A suspended admin holds every role's rights on paper, and none in fact.
        who, allowed = f.user(world.session, role=m.UserRole.ADMIN), False
        who.status = m.UserStatus.SUSPENDED
    else:
        who = f.user(world.session, role=m.UserRole(role))
        allowed = case.action is not None and m.UserRole(role) in POLICY[case.action]
    if not allowed:
        _refuses(world, name, kwargs, who, param)
        return
    try:
        _call(world, name, kwargs, who, param)
    except PaykitError as exc:  # pragma: no cover - the failure message says which
        pytest.fail(f"{name} refused an allowed {role}: {exc!r}")
