"""list_orders / get_order: visibility per role, keyset pagination, cursors, bad arguments."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.orm import Session
from tests import factories as f

import paykit
from paykit import models as m
from paykit.errors import NotFound, PermissionDenied, ValidationError
from paykit.security import Actor

# Each test works in its own far-future window, so staff listings (which see
# every customer) only meet rows this test made, whatever the shared database holds.
_windows = itertools.count()


def _window() -> datetime:
    return datetime(2090, 1, 1, tzinfo=UTC) + timedelta(days=30 * next(_windows))


def _actor(session: Session, role: m.UserRole = m.UserRole.CUSTOMER, **kw: Any) -> Actor:
    return Actor.of(f.user(session, role=role, **kw))


def _order(session: Session, owner: Actor, at: datetime, **kw: Any) -> m.Order:
    user = session.get(m.User, owner.user_id)
    assert user is not None
    return f.order(session, user, created_at=at, updated_at=at, **kw)


def _ids(page: paykit.Page[paykit.OrderOut]) -> list[str]:
    return [o.id for o in page.items]


def _walk(session: Session, actor: Actor, **kw: Any) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        page = paykit.list_orders(session, actor=actor, cursor=cursor, **kw)
        seen += _ids(page)
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


# --- visibility ---------------------------------------------------------------------


def test_a_customer_lists_only_their_own_orders(session: Session) -> None:
    t = _window()
    alice, bob = _actor(session), _actor(session)
    mine = [_order(session, alice, t + timedelta(minutes=i)).id for i in range(3)]
    _order(session, bob, t)
    page = paykit.list_orders(session, actor=alice)
    assert _ids(page) == mine[::-1]
    assert paykit.list_orders(session, actor=alice, customer_id=alice.user_id).items == page.items


def test_a_customer_naming_another_customer_is_refused(session: Session) -> None:
    alice, bob = _actor(session), _actor(session)
    _order(session, bob, _window())
    with pytest.raises(PermissionDenied):
        paykit.list_orders(session, actor=alice, customer_id=bob.user_id)


def test_another_customers_order_is_not_found(session: Session) -> None:
    alice, bob = _actor(session), _actor(session)
    theirs = _order(session, bob, _window())
    with pytest.raises(NotFound) as caught:
        paykit.get_order(session, actor=alice, order_id=theirs.id)
    assert caught.value.code == "not_found"
    with pytest.raises(NotFound):
        paykit.get_order(session, actor=alice, order_id="no-such-order")
    assert paykit.get_order(session, actor=bob, order_id=theirs.id).id == theirs.id


@pytest.mark.parametrize("role", [m.UserRole.SUPPORT, m.UserRole.ADMIN])
def test_staff_see_everyones_orders(session: Session, role: m.UserRole) -> None:
    t = _window()
    staff, alice, bob = _actor(session, role), _actor(session), _actor(session)
    a = _order(session, alice, t)
    b = _order(session, bob, t + timedelta(minutes=1))
    window = {"created_from": t, "created_to": t + timedelta(days=1)}
    assert _ids(paykit.list_orders(session, actor=staff, **window)) == [b.id, a.id]
    only_alice = paykit.list_orders(session, actor=staff, customer_id=alice.user_id, **window)
    assert _ids(only_alice) == [a.id]
    assert paykit.get_order(session, actor=staff, order_id=b.id).customer_id == bob.user_id


def test_internal_notes_reach_staff_and_never_a_customer(session: Session) -> None:
    alice, staff = _actor(session), _actor(session, m.UserRole.SUPPORT)
    order = _order(session, alice, _window(), internal_notes="fraud check done", notes="gift")
    own = paykit.get_order(session, actor=alice, order_id=order.id)
    assert (own.notes, own.internal_notes) == ("gift", None)
    assert paykit.list_orders(session, actor=alice).items[0].internal_notes is None
    assert "fraud" not in own.model_dump_json()
    seen = paykit.get_order(session, actor=staff, order_id=order.id)
    assert seen.internal_notes == "fraud check done"


def test_the_stored_role_counts_not_the_actors_claim(session: Session) -> None:
    alice, bob = _actor(session), _actor(session)
    theirs = _order(session, bob, _window(), internal_notes="secret")
    forged = Actor(alice.user_id, m.UserRole.ADMIN)
    with pytest.raises(NotFound):
        paykit.get_order(session, actor=forged, order_id=theirs.id)
    with pytest.raises(PermissionDenied):
        paykit.list_orders(session, actor=forged, customer_id=bob.user_id)


def test_an_inactive_or_unknown_reader_is_refused(session: Session) -> None:
    suspended = _actor(session, status=m.UserStatus.SUSPENDED)
    order = _order(session, suspended, _window())
    with pytest.raises(PermissionDenied):
        paykit.list_orders(session, actor=suspended)
    with pytest.raises(PermissionDenied):
        paykit.get_order(session, actor=suspended, order_id=order.id)
    with pytest.raises(PermissionDenied):
        paykit.list_orders(session, actor=Actor("nobody", m.UserRole.ADMIN))


# --- contents and serialization --------------------------------------------------------


def test_get_order_has_items_refunds_and_payment_state(session: Session) -> None:
    alice = _actor(session)
    product = f.product(session)
    price = f.price(session, product)
    t = _window()
    order = _order(
        session,
        alice,
        t,
        status=m.OrderStatus.COMPLETED,
        payment_status=m.PaymentStatus.SUCCEEDED,
        refunded_amount=Decimal("2.50"),
        stripe_payment_intent_id=f"pi_reads_{t.timestamp()}",
        product=product,
        item={"price_id": price.id, "quantity": 2, "unit_price": Decimal("5.00")},
    )
    session.flush()
    session.expire_all()
    view = paykit.get_order(session, actor=alice, order_id=order.id)
    assert [(i.price_id, i.quantity, i.total_price) for i in view.items] == [
        (price.id, 2, Decimal("10.00"))
    ]
    assert [(r.amount, r.status) for r in view.refunds] == [(Decimal("2.50"), "SUCCEEDED")]
    assert view.payment.status == "SUCCEEDED"
    assert view.payment.refunded_amount == Decimal("2.50")
    data = json.loads(view.model_dump_json())
    assert (data["total_amount"], data["currency"]) == ("10.00", "USD")
    assert data["items"][0]["unit_price"] == "5.00"
    assert data["refunds"][0] == data["refunds"][0] | {"amount": "2.50", "currency": "USD"}
    assert data["payment"]["refunded_amount"] == "2.50"


def test_a_listed_order_is_exactly_the_order_get_order_returns(session: Session) -> None:
    """The listing's assembled models (one statement, JSON children) equal get_order's."""
    alice = _actor(session)
    staff = _actor(session, m.UserRole.SUPPORT)
    product = f.product(session)
    price = f.price(session, product)
    t = _window()
    placed = [
        _order(
            session,
            alice,
            t + timedelta(minutes=n),
            status=m.OrderStatus.COMPLETED,
            refunded_amount=Decimal("1.25") * n,
            internal_notes=f"note {n}",
            product=product,
            item={"price_id": price.id, "quantity": 2, "unit_price": Decimal("5.00")},
        )
        for n in range(3)
    ]
    session.flush()
    session.expire_all()  # get_order reads the database, as the listing does
    for reader in (alice, staff):
        page = paykit.list_orders(
            session, actor=reader, customer_id=alice.user_id, created_from=t, limit=2
        )
        rest = paykit.list_orders(
            session,
            actor=reader,
            customer_id=alice.user_id,
            created_from=t,
            limit=2,
            cursor=page.next_cursor,
        )
        listed = page.items + rest.items
        assert [o.id for o in listed] == [o.id for o in reversed(placed)]
        for order in listed:
            single = paykit.get_order(session, actor=reader, order_id=order.id)
            assert order == single
            assert order.model_dump_json() == single.model_dump_json()
            assert order.model_dump() == single.model_dump()
            assert type(order.items[0].unit_price) is Decimal


def test_status_and_date_filters(session: Session) -> None:
    t = _window()
    alice = _actor(session)
    old = _order(session, alice, t)
    paid = _order(session, alice, t + timedelta(hours=1), status=m.OrderStatus.COMPLETED)
    late = _order(session, alice, t + timedelta(hours=2))
    assert _ids(paykit.list_orders(session, actor=alice, status="COMPLETED")) == [paid.id]
    ranged = paykit.list_orders(
        session, actor=alice, created_from=t, created_to=t + timedelta(hours=2)
    )
    assert _ids(ranged) == [paid.id, old.id]
    assert late.id not in _ids(ranged)


# --- pagination -------------------------------------------------------------------------


def test_pages_walk_every_order_once_with_inserts_in_between(session: Session) -> None:
    t = _window()
    alice = _actor(session)
    # Five orders share one timestamp: the id breaks the tie.
    ids = {_order(session, alice, t + timedelta(minutes=i // 5)).id for i in range(23)}
    seen: list[str] = []
    cursor = None
    for n in itertools.count():
        page = paykit.list_orders(session, actor=alice, limit=4, cursor=cursor)
        assert len(page.items) <= 4
        seen += _ids(page)
        # A newer order arrives between pages; it must not shift the walk.
        _order(session, alice, t + timedelta(days=1, minutes=n))
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert len(seen) == len(set(seen)) == len(ids)
    assert set(seen) == ids
    orders = [session.get(m.Order, i) for i in seen]
    keys = [(o.created_at, o.id) for o in orders if o is not None]
    assert keys == sorted(keys, reverse=True)


def test_last_page_has_no_cursor_and_staff_walk_matches(session: Session) -> None:
    t = _window()
    alice, staff = _actor(session), _actor(session, m.UserRole.ADMIN)
    made = [_order(session, alice, t + timedelta(seconds=i)).id for i in range(7)]
    window = {"created_from": t, "created_to": t + timedelta(days=1)}
    assert _walk(session, staff, limit=3, **window) == made[::-1]
    assert paykit.list_orders(session, actor=alice, limit=7).next_cursor is None


def test_a_cursor_cannot_be_reused_with_another_filter_or_reader(session: Session) -> None:
    t = _window()
    alice, staff = _actor(session), _actor(session, m.UserRole.SUPPORT)
    for i in range(3):
        _order(session, alice, t + timedelta(seconds=i))
    cursor = paykit.list_orders(session, actor=alice, limit=1).next_cursor
    assert cursor is not None
    for kw in (
        {"status": "PENDING"},
        {"created_from": t},
        {"created_to": t + timedelta(days=1)},
    ):
        with pytest.raises(ValidationError) as caught:
            paykit.list_orders(session, actor=alice, limit=1, cursor=cursor, **kw)
        assert caught.value.code == "invalid_cursor"
    with pytest.raises(ValidationError) as other:
        paykit.list_orders(session, actor=staff, customer_id=alice.user_id, cursor=cursor)
    assert other.value.code == "invalid_cursor"


def test_an_altered_or_forged_cursor_is_refused(session: Session) -> None:
    import base64

    t = _window()
    alice, bob = _actor(session), _actor(session)
    for i in range(3):
        _order(session, alice, t + timedelta(seconds=i))
    cursor = paykit.list_orders(session, actor=alice, limit=1).next_cursor
    assert cursor is not None
    body = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    # Bob takes Alice's cursor and keeps its position: bound to Alice's filter, refused.
    forged_for_bob = body | {"t": (t + timedelta(days=9)).isoformat()}
    for bad in (
        cursor[:-2],
        cursor + "x",
        "not-a-cursor",
        base64.urlsafe_b64encode(json.dumps(forged_for_bob).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps(body | {"f": "0" * 32}).encode()).decode(),
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        "",
    ):
        with pytest.raises(ValidationError) as caught:
            paykit.list_orders(session, actor=bob, cursor=bad)
        assert caught.value.code == "invalid_cursor", bad


@pytest.mark.parametrize(
    ("kw", "code"),
    [
        ({"limit": 0}, "invalid_limit"),
        ({"limit": 101}, "invalid_limit"),
        ({"limit": "5"}, "invalid_argument"),
        ({"limit": True}, "invalid_argument"),
        ({"status": "SHIPPED"}, "invalid_status"),
        ({"created_from": datetime(2030, 1, 1)}, "invalid_argument"),
        ({"created_to": "2030-01-01"}, "invalid_argument"),
        (
            {
                "created_from": datetime(2031, 1, 1, tzinfo=UTC),
                "created_to": datetime(2030, 1, 1, tzinfo=UTC),
            },
            "invalid_range",
        ),
        ({"customer_id": 5}, "invalid_argument"),
        ({"cursor": 5}, "invalid_argument"),
    ],
)
def test_bad_arguments_are_refused_with_a_code(
    session: Session, kw: dict[str, Any], code: str
) -> None:
    alice = _actor(session)
    with pytest.raises(ValidationError) as caught:
        paykit.list_orders(session, actor=alice, **kw)
    assert caught.value.code == code


def test_a_non_actor_is_refused(session: Session) -> None:
    with pytest.raises(ValidationError):
        paykit.list_orders(session, actor="alice")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        paykit.get_order(session, actor=_actor(session), order_id=5)  # type: ignore[arg-type]


def test_listed_children_times_are_utc_in_any_session_time_zone(session: Session) -> None:
    """On PostgreSQL items and refunds come as JSON with times in the session's zone:
    the listing still gives UTC datetimes, as get_order does."""
    alice = _actor(session)
    t = _window()
    order = _order(
        session,
        alice,
        t,
        status=m.OrderStatus.COMPLETED,
        item={"access_expires_at": t + timedelta(days=30, microseconds=120000)},
    )
    f.refund(session, order, Decimal("1.00"), created_at=t + timedelta(hours=1))
    session.flush()
    session.expire_all()
    if session.get_bind().dialect.name == "postgresql":
        session.connection().exec_driver_sql("SET LOCAL TIME ZONE 'Asia/Kolkata'")
    (listed,) = paykit.list_orders(session, actor=alice, created_from=t).items
    (item,) = listed.items
    (refund,) = listed.refunds
    assert item.access_expires_at == t + timedelta(days=30, microseconds=120000)
    for moment in (listed.created_at, item.access_expires_at, refund.created_at):
        assert moment is not None
        assert moment.tzinfo is UTC
    assert refund.processed_at is not None
    assert refund.processed_at.tzinfo is UTC
    assert listed == paykit.get_order(session, actor=alice, order_id=order.id)
